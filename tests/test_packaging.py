"""Every package of recorder/ is listed in pyproject.toml, so it ships in the wheel (a package
left out installs without error and fails at import)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_recorder_package_is_in_the_wheels_package_list() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "recorder").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert "recorder.live" in found
    assert found <= listed, sorted(found - listed)
