"""The command line's error boundary: a usage mistake is one line that says what to do."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from recorder.cli import cli


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["record", "--foo"], "Error: No such option '--foo'; see 'rtrec record --help'"),
        (["export"], "Error: Missing argument 'DB'; see 'rtrec export --help'"),
        (["nope"], "Error: No such command 'nope'; see 'rtrec --help'"),
        (["--bogus"], "Error: No such option '--bogus'; see 'rtrec --help'"),
        (
            ["replay", "x.db", "--speed", "0"],
            "Error: Invalid value for '--speed': 0.0 is not in the range x>0; "
            "see 'rtrec replay --help'",
        ),
    ],
)
def test_a_usage_mistake_is_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = CliRunner().invoke(cli, args, prog_name="rtrec")
    assert result.exit_code == 2
    assert result.output.splitlines() == [line]


def test_help_and_version_still_work() -> None:
    assert CliRunner().invoke(cli, ["--version"]).output.startswith("rtrec, version ")
    result = CliRunner().invoke(cli, ["export", "--help"], prog_name="rtrec")
    assert result.exit_code == 0
    assert result.output.startswith("Usage: rtrec export [OPTIONS] DB")
