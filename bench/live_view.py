"""Issue 17/18: the view index of a Live session (recorder.view.live_index), first build.

Data: bench/live_fold.live_frames(minutes) (a Live call with a Responses backend and the
client's microphone appends) recorded into SQLite with protocol "live". Alternating for ROUNDS
rounds in one run (best of each kept): the baseline, `EventLog.read` of the whole session
(audio as bytes, as bench/view.py reads); and the view server's index build (its read_parts
with the Live step class, LiveIndexBuilder.feed per batch, finish). An information figure
beside issue 17's goal for the first build (<= 1.5x the read).

Run: python bench/live_view.py [minutes]
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures
from live_fold import live_frames
from view import BUILD_GOAL, _read

from recorder.store import open_log
from recorder.stream import step_class
from recorder.testing import arecord_frames
from recorder.view.live_index import LiveIndexBuilder

MINUTES = 10
ROUNDS = 5


async def _build(db: str) -> tuple[float, int]:
    """Seconds of the read + the Live index build (as ViewState._index), and its ticks."""
    log = await open_log(db)
    try:
        info = await log.get_session()
        start = time.perf_counter()
        builder = LiveIndexBuilder()
        async for batch in log.read_parts(info.id, step_class(info.protocol), batch_size=5000):
            builder.feed(batch)
        index = builder.finish()
        return time.perf_counter() - start, index.frames
    finally:
        await log.close()


def figures(minutes: int = MINUTES) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-live-view-") as tmp:
        db = os.path.join(tmp, "live.db")
        asyncio.run(arecord_frames(db, live_frames(minutes), protocol="live", model="gpt-live-1"))
        reads, builds, frames = [], [], 0
        for _ in range(ROUNDS):
            reads.append(asyncio.run(_read(db)))
            seconds, frames = asyncio.run(_build(db))
            builds.append(seconds)
    ratios = sorted(b / r for b, r in zip(builds, reads, strict=True))
    read, build = min(reads), min(builds)
    return [Figure(17, f"Live view first build ({minutes} min, {frames:,} frames)",
                   f"(information; issue 17's goal <= {BUILD_GOAL}x EventLog.read)",
                   f"EventLog.read {read:.3f} s", f"read + LiveIndexBuilder {build:.3f} s "
                   f"(round ratios {ratios[0]:.2f}-{ratios[-1]:.2f}x)", build / read, True)]


if __name__ == "__main__":
    print_figures(figures(int(sys.argv[1]) if len(sys.argv) > 1 else MINUTES))
