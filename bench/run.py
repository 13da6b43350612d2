"""Run every benchmark in bench/ and print one table: figure, goal, baseline, rtrec, ratio.

Usage: python bench/run.py [--seconds N] [--rounds N] [NAME ...]
  NAME is a script name without .py (default: all); --seconds and --rounds shorten the load
  figures of bench/proxy.py (issue 13: the issue's setup is --seconds 30) for development.
Exits 1 when a figure misses its goal.

Each script runs in a fresh interpreter of its own, so one benchmark's heap, garbage and threads
cannot weigh on the next one's numbers.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import Figure, print_figures  # noqa: E402  (bench/ is not a package)

SKIP = {"run", "common", "load", "loadgen"}  # load.py (and its generator, loadgen.py): the
# figures bench/proxy.py reports
ALIASES = {"cli": "cli_help", "live": "live_decode"}  # short names a NAME may use


def load_figures(path: Path) -> list[Figure]:
    """Import one script and call its figures() (in this process)."""
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look their module up by name
    spec.loader.exec_module(module)
    return list(module.figures())


def figures_in_subprocess(path: Path) -> list[Figure]:
    """Run one script's figures() in a fresh interpreter and read them back as JSON."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--json", path.stem],
        stdout=subprocess.PIPE, text=True, check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench/{path.name} failed (exit {done.returncode}); run it alone to see")
    last_line = done.stdout.strip().splitlines()[-1]  # what a script printed itself comes first
    return [Figure(**record) for record in json.loads(last_line)]


def main(args: list[str]) -> int:
    if args[:1] == ["--json"]:  # the child side: one script, figures as JSON on stdout
        figures = load_figures(HERE / f"{args[1]}.py")
        print(json.dumps([dataclasses.asdict(f) for f in figures]))
        return 0
    import os

    while args[:1] in (["--seconds"], ["--rounds"]) and len(args) > 1:  # read by bench/load.py
        os.environ[f"RTREC_BENCH_{args[0][2:].upper()}"] = args[1]
        args = args[2:]
    scripts = sorted(p for p in HERE.glob("*.py") if p.stem not in SKIP)
    if args:
        wanted = {ALIASES.get(name, name) for name in args}
        scripts = [p for p in scripts if p.stem in wanted]
    figures: list[Figure] = []
    for script in scripts:
        print(f"running bench/{script.name} ...", file=sys.stderr)
        figures.extend(figures_in_subprocess(script))
    figures.sort(key=lambda f: f.issue)
    print_figures(figures)
    return 0 if all(f.passed for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
