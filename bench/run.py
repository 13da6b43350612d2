"""Run every benchmark in bench/ and print one table: figure, goal, baseline, rtrec, ratio.

Usage: python bench/run.py [NAME ...]   (NAME is a script name without .py; default: all)
Exits 1 when a figure misses its goal.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, print_figures

SKIP = {"run", "common"}


def load_figures(path: Path) -> list[Figure]:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look their module up by name
    spec.loader.exec_module(module)
    return list(module.figures())


def main(names: list[str]) -> int:
    here = Path(__file__).resolve().parent
    scripts = sorted(p for p in here.glob("*.py") if p.stem not in SKIP)
    if names:
        scripts = [p for p in scripts if p.stem in names]
    figures: list[Figure] = []
    for script in scripts:
        print(f"running bench/{script.name} ...", file=sys.stderr)
        figures.extend(load_figures(script))
    figures.sort(key=lambda f: f.issue)
    print_figures(figures)
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
