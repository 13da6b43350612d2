"""`rtrec record --journal PATH --journal-size MIB`: bad input is one line, nothing half-made."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from recorder.cli import cli
from recorder.console import Console

UNREACHABLE = "postgresql://bob@127.0.0.1:1/rec"  # nothing listens on port 1


def rtrec(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="rtrec")


def test_a_journal_for_a_sqlite_db_is_a_usage_error_that_says_what_to_do(tmp_path: Path) -> None:
    result = rtrec("record", "--db", str(tmp_path / "r.db"), "--journal", str(tmp_path / "j"))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: --journal is for PostgreSQL stores (a SQLite --db is on local disk already): "
        "drop --journal, or record into a postgresql:// URL; see 'rtrec record --help'")
    assert list(tmp_path.iterdir()) == []


def test_a_journal_size_out_of_range_is_clicks_range_error(tmp_path: Path) -> None:
    result = rtrec("record", "--db", UNREACHABLE, "--journal", str(tmp_path / "j"),
                   "--journal-size", "0")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--journal-size': 0 is not in the range 1<=x<=1048576; see "
        "'rtrec record --help'")
    assert list(tmp_path.iterdir()) == []


def test_a_journal_path_nobody_may_write_is_one_line() -> None:
    result = rtrec("record", "--db", UNREACHABLE, "--journal", "/proc/rtrec-journal.db")
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: cannot write the journal /proc/rtrec-journal.db (")
    assert line.endswith("): give a --journal path in a writable directory")
    assert not Path("/proc/rtrec-journal.db").exists()


def test_a_journal_in_a_missing_directory_is_one_line(tmp_path: Path) -> None:
    result = rtrec("record", "--db", UNREACHABLE, "--journal", str(tmp_path / "no" / "j.db"))
    assert (result.exit_code, result.stderr) == (1, (
        f"Error: cannot create the journal {tmp_path / 'no' / 'j.db'}: directory "
        f"{tmp_path / 'no'} does not exist\n"))
    assert list(tmp_path.iterdir()) == []


def test_a_store_that_cannot_be_reached_leaves_no_new_journal_behind(tmp_path: Path) -> None:
    result = rtrec("record", "--db", UNREACHABLE, "--journal", str(tmp_path / "j.db"))
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: cannot connect to postgresql+asyncpg://bob@127.0.0.1:1")
    assert list(tmp_path.iterdir()) == []


def test_the_consoles_health_line_shows_the_journal(capsys: object) -> None:
    health = {"store": "down", "down_for_s": 3.5, "queue_frames": 10, "queue_bytes": 2**20,
              "queue_limit_bytes": 64 * 2**20, "lag_s": 3.5, "frames_lost": 0, "gaps": 0,
              "sessions_shed": 0, "journal_frames": 1200, "journal_bytes": 5 * 2**20,
              "journal_limit_bytes": 1024 * 2**20}
    lines: list[str] = []
    console = Console()
    console._error = lines.append  # type: ignore[method-assign]
    console.health(health)
    without = {k: v for k, v in health.items() if not k.startswith("journal")}
    console.health(without)
    assert lines == [
        "rtrec: status: store down for 3.5s, queue 10 frames (1.0 MiB of 64.0 MiB), lag 3.5s, "
        "0 frames lost in 0 gaps, 0 sessions shed, journal 1200 frames (5.0 MiB of 1024.0 MiB)",
        "rtrec: status: store down for 3.5s, queue 10 frames (1.0 MiB of 64.0 MiB), lag 3.5s, "
        "0 frames lost in 0 gaps, 0 sessions shed",
    ]
