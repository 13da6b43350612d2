"""Issue 6 figures: replay and conversation reconstruction speed, and one-hour memory.

Data: recorder.fake.scenarios.long_session (audio-heavy GA: the microphone streams 20 ms
appends continuously, the assistant answers in audio, every turn transcribed), written to a
SQLite event log in a temporary directory with the EventLog.

Baseline, measured in the same run on the same session: a plain sqlite3 scan of its frames
(`SELECT seq, t_ns, direction, data, audio FROM frames WHERE session = ? ORDER BY seq`,
fetchmany), i.e. just getting the rows out of the file.

- replay into a receiver that does nothing: rtrec events/s (log.read + decode + dispatch),
  goal >= 150,000 events/s;
- full reconstruction (recorder.conversation.fold_log): goal >= 75,000 events/s;
- one hour replayed and reconstructed: peak RSS of a fresh subprocess (VmHWM from
  /proc/self/status, beside resource.getrusage's ru_maxrss, which on Linux inherits the
  parent's size across fork+exec), goal < 200 MB; the baseline is the peak RSS of a
  subprocess that only imports rtrec and opens the log.

Speed is measured on an open log: opening (connect, schema check) is a fixed cost of a few
milliseconds per replay, not a per-event one.

Run: python bench/run.py replay   (or python bench/replay.py [minutes for the memory figure])
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures

from recorder.conversation import fold_log
from recorder.receiver import RealtimeEventReceiver
from recorder.replay import replay_session
from recorder.store import open_log
from recorder.testing import arecord_frames
from recorder.wire import Frame

ISSUE = 6
SPEED_MINUTES = 10  # ~35,000 frames: long enough for a stable rate, short enough to build
MEMORY_MINUTES = 60
REPEATS = 5
REPLAY_GOAL = 150_000
RECONSTRUCT_GOAL = 75_000
RSS_GOAL_MB = 200.0


class Nothing(RealtimeEventReceiver):
    """A receiver that overrides nothing: replay's own cost, dispatch included."""


def _long_session(minutes: float) -> Iterator[Frame]:
    from recorder.fake.scenarios import long_session

    return long_session(minutes)


async def _build(db: str, minutes: float) -> str:
    return await arecord_frames(db, _long_session(minutes), protocol="ga", model="bench")


def _sqlite_scan(db: str, sid: str) -> int:
    connection = sqlite3.connect(db)
    try:
        (pk,) = connection.execute("SELECT pk FROM sessions WHERE id = ?", (sid,)).fetchone()
        cursor = connection.execute(
            "SELECT seq, t_ns, direction, data, audio FROM frames WHERE session = ? ORDER BY seq",
            (pk,),
        )
        n = 0
        while rows := cursor.fetchmany(5000):
            n += len(rows)
        return n
    finally:
        connection.close()


async def _replay_rate(db: str, sid: str, make: type[RealtimeEventReceiver]) -> tuple[float, int]:
    """(events/s of the fastest of REPEATS replays, events), on an already open log."""
    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        best, count = float("inf"), 0
        for _ in range(REPEATS):
            receiver = make()
            start = time.perf_counter()
            count = (await replay_session(log, receiver, info)).frames
            best = min(best, time.perf_counter() - start)
        return count / best, count
    finally:
        await log.close()


async def _fold_rate(db: str, sid: str) -> tuple[float, int]:
    """(events/s of the fastest of REPEATS folds of the session, events), on an open log."""
    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        best, count = float("inf"), 0
        for _ in range(REPEATS):
            start = time.perf_counter()
            count = (await fold_log(log, info)).frames
            best = min(best, time.perf_counter() - start)
        return count / best, count
    finally:
        await log.close()


def _scan_rate(db: str, sid: str) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(REPEATS):
        start = time.perf_counter()
        count = _sqlite_scan(db, sid)
        best = min(best, time.perf_counter() - start)
    return count / best, count


_CHILD = """
import asyncio, resource, sys
sys.path.insert(0, {root!r})
from recorder.conversation import fold_log
from recorder.store import open_log

async def main(work):
    log = await open_log({db!r})
    try:
        info = await log.get_session({sid!r})
        if work:
            builder = await fold_log(log, info)
            assert builder.frames == info.frames, (builder.frames, info.frames)
            print(len(builder.conversation.order), file=sys.stderr)
    finally:
        await log.close()

asyncio.run(main({work}))
# VmHWM is this process's own peak. ru_maxrss (getrusage) would be the same number but for a
# Linux quirk: after fork+exec it keeps the parent's RSS at fork time, and the parent here
# holds the speed benchmark's data. Both are printed; VmHWM is the figure.
status = open("/proc/self/status").read()
hwm_kb = int(status.split("VmHWM:")[1].split()[0])
print(hwm_kb, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _child_rss_mb(db: str, sid: str, work: bool) -> float:
    root = str(Path(__file__).resolve().parents[1])
    code = _CHILD.format(root=root, db=db, sid=sid, work=work)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    hwm_kb, _maxrss_kb = out.strip().splitlines()[-1].split()
    return int(hwm_kb) / 1024


def figures(memory_minutes: float = MEMORY_MINUTES) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-replay-") as tmp:
        db = os.path.join(tmp, "speed.db")
        sid = asyncio.run(_build(db, SPEED_MINUTES))
        base_rate, n = _scan_rate(db, sid)
        nothing_rate, n1 = asyncio.run(_replay_rate(db, sid, Nothing))
        build_rate, n2 = asyncio.run(_fold_rate(db, sid))
        assert n == n1 == n2, (n, n1, n2)

        long_db = os.path.join(tmp, "hour.db")
        long_sid = asyncio.run(_build(long_db, memory_minutes))
        frames = _sqlite_scan(long_db, long_sid)
        expected = sum(1 for _ in _long_session(memory_minutes))
        assert frames == expected, f"the log kept {frames} of {expected} frames"
        base_rss = _child_rss_mb(long_db, long_sid, work=False)
        rss = _child_rss_mb(long_db, long_sid, work=True)

    scan = f"sqlite3 scan {base_rate:,.0f} events/s ({n:,} frames, {SPEED_MINUTES} min)"
    return [
        Figure(ISSUE, "replay into a do-nothing receiver", f">= {REPLAY_GOAL:,} events/s",
               scan, f"{nothing_rate:,.0f} events/s", nothing_rate / base_rate,
               nothing_rate >= REPLAY_GOAL),
        Figure(ISSUE, "full conversation reconstruction", f">= {RECONSTRUCT_GOAL:,} events/s",
               scan, f"{build_rate:,.0f} events/s", build_rate / base_rate,
               build_rate >= RECONSTRUCT_GOAL),
        Figure(ISSUE, f"{memory_minutes:g}-minute session: replay + reconstruct peak RSS",
               f"< {RSS_GOAL_MB:.0f} MB (<= 1.0x of the goal)",
               f"open log only {base_rss:.0f} MB", f"{rss:.0f} MB for {frames:,} frames",
               rss / RSS_GOAL_MB, rss < RSS_GOAL_MB),
    ]


if __name__ == "__main__":
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else MEMORY_MINUTES
    print_figures(figures(minutes))
