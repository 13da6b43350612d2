"""The migrations ship in the wheel: an installed rtrec creates and upgrades a database."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILD_WHEEL = "from setuptools import build_meta; print(build_meta.build_wheel({out!r}))"


def _python_that_builds_wheels() -> str:
    """This interpreter, or the system one: building offline needs setuptools and wheel."""
    for python in (sys.executable, "/usr/bin/python3"):
        probe = subprocess.run(
            [python, "-c", "import setuptools.build_meta, wheel"], capture_output=True
        )
        if probe.returncode == 0:
            return python
    pytest.fail("no Python here has setuptools and wheel to build rtrec's wheel offline")


@pytest.mark.slow
def test_an_installed_wheel_migrates_a_fresh_database(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info",
                                      "__pycache__", ".*_cache", "out"),
    )
    dist = tmp_path / "dist"
    built = subprocess.run(
        [_python_that_builds_wheels(), "-c", BUILD_WHEEL.format(out=str(dist))],
        cwd=source, capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = dist / built.stdout.strip().splitlines()[-1]
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(site), str(wheel)],
        capture_output=True, text=True,
    )
    assert installed.returncode == 0, installed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    script = textwrap.dedent(
        """
        import asyncio, sqlite3
        import recorder
        from recorder.store import open_log
        from recorder.store.migrate import head_revision, migrations_dir

        async def main():
            async with await open_log("fresh.db") as log:
                await log.begin_session("ga", None, None)

        asyncio.run(main())
        version = sqlite3.connect("fresh.db").execute("SELECT version_num FROM alembic_version")
        print(recorder.__file__)
        print(migrations_dir())
        print(version.fetchone()[0] == head_revision())
        """
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], cwd=elsewhere, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(site)},
    )
    assert ran.returncode == 0, ran.stderr
    module_file, migrations, at_head = ran.stdout.split()
    assert Path(module_file).is_relative_to(site)
    assert Path(migrations).is_relative_to(site)
    assert at_head == "True"
