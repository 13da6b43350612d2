"""Issue 14 figure: `rtrec --help` against a bare click program's `--help`, wall time.

Both run as scripts in a fresh interpreter (what a user's shell does), alternating so a busy
moment of the machine weighs on both alike; the figure is the ratio of the medians. Nearly all
of rtrec's time is imports, so this is what the lazy command table (recorder/cli/commands.py)
buys: listing the commands imports none of them.

Run: python bench/run.py cli   (or python bench/cli_help.py); RTREC_BENCH_CLI_RUNS sets N.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, print_figures

ROOT = Path(__file__).resolve().parents[1]
GOAL = 1.5
RUNS = int(os.environ.get("RTREC_BENCH_CLI_RUNS", "41"))

RTREC = "from recorder.cli import main\nmain()\n"
BARE = '''import click


@click.group()
@click.version_option("0.1.0", prog_name="bare")
def cli() -> None:
    """A bare click program."""


@cli.command()
def hello() -> None:
    """Say hello."""


cli()
'''


def wall_time(script: Path) -> float:
    """Seconds for `python SCRIPT --help`, start to exit."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([sys.executable, str(script), "--help"], check=True, env=env,
                   stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def figures() -> list[Figure]:
    with tempfile.TemporaryDirectory() as tmp:
        rtrec, bare = Path(tmp, "rtrec_help.py"), Path(tmp, "bare_help.py")
        rtrec.write_text(RTREC)
        bare.write_text(BARE)
        wall_time(rtrec), wall_time(bare)  # warm the file cache and the bytecode
        rtrec_times: list[float] = []
        bare_times: list[float] = []
        for _ in range(RUNS):
            rtrec_times.append(wall_time(rtrec))
            bare_times.append(wall_time(bare))
    rtrec_ms = statistics.median(rtrec_times) * 1000
    bare_ms = statistics.median(bare_times) * 1000
    ratio = rtrec_ms / bare_ms
    return [Figure(
        issue=14, name="rtrec --help wall time", goal=f"<= {GOAL}x a bare click program",
        baseline=f"bare click --help {bare_ms:.0f} ms (median of {RUNS})",
        measured=f"rtrec --help {rtrec_ms:.0f} ms (median of {RUNS}, alternating)",
        ratio=ratio, passed=ratio <= GOAL,
    )]


if __name__ == "__main__":
    print_figures(figures())
