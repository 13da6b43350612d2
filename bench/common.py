"""What every benchmark script reports, so bench/run.py can print one table.

Each script in bench/ defines `figures() -> list[Figure]`: it measures the in-run baseline and
rtrec on the same data in the same process, and returns one Figure per goal of its issue. Run
alone (`python bench/x.py`), a script prints its own figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    issue: int
    name: str  # what is measured, e.g. "append throughput"
    goal: str  # the issue's goal, e.g. ">= 0.8x sqlite3.executemany"
    baseline: str  # the in-run baseline and its number, e.g. "sqlite3 executemany 120,000 frames/s"
    measured: str  # rtrec's number, e.g. "EventLog.append 110,000 frames/s"
    ratio: float  # rtrec / baseline in the goal's sense (higher is better unless the goal says <=)
    passed: bool


def best_of(repeats: int, work: Callable[[], object]) -> float:
    """Seconds taken by the fastest of `repeats` runs: the least noisy estimate on a busy box."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def print_figures(figures: list[Figure]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="rtrec benchmarks (ratios against a baseline measured in the same run)")
    for column in ("issue", "figure", "goal", "baseline", "rtrec", "ratio", "ok"):
        table.add_column(column)
    for f in figures:
        table.add_row(
            f"#{f.issue}", f.name, f.goal, f.baseline, f.measured, f"{f.ratio:.2f}",
            "yes" if f.passed else "NO",
        )
    Console().print(table)
