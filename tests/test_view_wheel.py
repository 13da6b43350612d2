"""rtrec view's pages ship inside the wheel: an installed rtrec serves them with no checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.test_store_wheel import BUILD_WHEEL, ROOT, _python_that_builds_wheels

ASSETS = ("api.js", "session.html", "session.js", "sessions.html", "sessions.js", "style.css")


@pytest.mark.slow
def test_the_wheel_holds_the_pages_and_an_install_serves_them(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT, source, symlinks=True,
        ignore=shutil.ignore_patterns(".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info",
                                      "__pycache__", ".*_cache", "out", "*.db", "*.jsonl"),
    )
    dist = tmp_path / "dist"
    built = subprocess.run(
        [_python_that_builds_wheels(), "-c", BUILD_WHEEL.format(out=str(dist))],
        cwd=source, capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = dist / built.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"recorder/view/static/{name}" for name in ASSETS} <= names
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
         "--target", str(site), str(wheel)], capture_output=True, text=True,
    )
    assert installed.returncode == 0, installed.stderr
    script = ("import recorder.view.server as s; print(s.__file__); "
              f"print(all(s.asset(n) for n in {ASSETS!r}))")
    ran = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(site)})
    assert ran.returncode == 0, ran.stderr
    module_file, every = ran.stdout.split()
    assert Path(module_file).is_relative_to(site) and every == "True"
