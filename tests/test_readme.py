"""The README's examples are tests: each fenced python block runs as written in a fresh project.

A fresh project is a folder holding only what a user would have: the block as a test file and
the bundled recordings under fixtures/ (each as its .db and its .jsonl dump). No conftest and no
pytest configuration of this repository (so pytest-asyncio runs in its default strict mode), the
installed rtrec plugin, and a subprocess per run. A block that uses the cassette fixture is
recorded once from the fake upstream (`--record-mode=once --realtime-upstream ...`), then run
again offline, as a user would. The shell set-up commands are checked where that is cheap: CI
runs the README's test command verbatim, and the first look at the bundled recording works.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.fake.server import FakeUpstream

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of every ```python block of the README."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = python_blocks()


def shell_line(containing: str) -> str:
    """The README's indented command line that contains `containing`."""
    for line in README.read_text().splitlines():
        if line.startswith("    ") and containing in line:
            return line.strip()
    raise AssertionError(f"README has no command line with {containing!r}")


def fresh_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    (project / "fixtures").mkdir(parents=True)
    for recording in (ROOT / "fixtures").glob("*.db"):
        shutil.copy(recording, project / "fixtures" / recording.name)
    for dump in (ROOT / "fixtures").glob("*.jsonl"):  # the same recordings as `rtrec dump` files
        shutil.copy(dump, project / "fixtures" / dump.name)
    return project


def user_env() -> dict[str, str]:
    """The environment without anything that would point rtrec or pytest at this checkout."""
    dropped = {"PYTHONPATH", "RTREC_UPSTREAM", "OPENAI_API_KEY", "PYTEST_ADDOPTS",
               "PYTEST_PLUGINS"}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project, env=user_env(), capture_output=True, text=True, timeout=300,
    )


def passed(run: subprocess.CompletedProcess[str]) -> bool:
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    return run.returncode == 0 and " passed" in summary and "failed" not in summary \
        and "error" not in summary and "skipped" not in summary


def test_the_readme_has_its_examples() -> None:
    uses = [code for _, code in BLOCKS]
    assert len(uses) >= 2
    assert any("replay(" in code for code in uses), "the receiver example"
    assert any("realtime_url" in code for code in uses), "the cassette example"


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{n}" for n, _ in BLOCKS])
async def test_every_python_block_runs_as_written(tmp_path: Path, line: int, code: str) -> None:
    project = fresh_project(tmp_path)
    (project / "test_example.py").write_text(code)
    assert not list(project.glob("conftest.py")) and not list(project.glob("*.ini"))
    if "realtime_url" not in code:
        run = await asyncio.to_thread(run_pytest, project)
        assert passed(run), f"README.md:{line}\n{run.stdout}\n{run.stderr}"
        return
    # a cassette example: nothing to serve yet, then recorded once, then served offline
    offline = await asyncio.to_thread(run_pytest, project)
    assert offline.returncode == 1, offline.stdout
    assert "record it once with --record-mode=once" in offline.stdout
    assert not (project / "cassettes").exists()
    async with FakeUpstream("voice_turns", pace=0) as upstream:
        recorded = await asyncio.to_thread(
            run_pytest, project, "--record-mode=once", f"--realtime-upstream={upstream.url}"
        )
        assert passed(recorded), f"README.md:{line}\n{recorded.stdout}\n{recorded.stderr}"
        assert len(upstream.sessions) >= 1
    cassettes = list((project / "cassettes").rglob("*.db"))
    assert [c.relative_to(project).as_posix() for c in cassettes] == [
        "cassettes/test_example/test_voice_app.db"
    ]
    served = await asyncio.to_thread(run_pytest, project)  # the upstream is gone
    assert passed(served), f"README.md:{line}\n{served.stdout}\n{served.stderr}"


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    command = shell_line("-m pytest")
    assert command.startswith("python3 -m venv .venv && ")
    assert "-c constraints.txt" in command
    assert command in (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_first_look_at_a_bundled_recording_works(tmp_path: Path) -> None:
    command = shell_line("rtrec replay fixtures/barge_in.db")
    steps = command.split(" && ")
    assert steps[:2] == [
        "python3 -m venv .venv", ".venv/bin/pip install -q -c constraints.txt -e ."
    ]
    project = fresh_project(tmp_path)
    bin_dir = Path(sys.executable).parent  # this venv stands for the one the command makes
    for step in steps[2:]:
        argv = shlex.split(step)
        assert argv[0].startswith(".venv/bin/"), step
        argv[0] = str(bin_dir / argv[0].removeprefix(".venv/bin/"))
        run = subprocess.run(argv, cwd=project, env=user_env(), capture_output=True, text=True,
                             timeout=300)
        assert run.returncode == 0, f"{step}\n{run.stdout}\n{run.stderr}"
        assert run.stdout.strip(), step
    out = project / "out" / "barge_in"
    assert {"user.wav", "assistant.wav", "transcript.md"} <= {p.name for p in out.iterdir()}
