"""Issue 18 item 4 figures: reconstructing a Live session (recorder.live.fold) from its log.

Data: bench/live_decode.live_server_frames (a primary Live socket with a Responses backend:
the 100 ms output track, 200 ms transcript buckets, usage, a delegated tool call every 20 s)
plus the client's 100 ms microphone appends, stamped on the session timeline and written to a
SQLite event log with protocol "live".

Baselines, measured in the same run: a plain sqlite3 scan of the session's frames (as
bench/replay.py), and the Realtime conversation fold (recorder.conversation.fold_log) over a
GA long_session of the same length. The goal is the read-path issue's (#6) for reconstruction,
>= 75,000 events/s; the ratio says how the Live fold compares with the Realtime one on this
machine in this run (a Live session has fewer audio frames per event: a lower share of frames
takes the fast path).

Memory: a 60-minute Live session replayed (`rtrec replay --json`'s path: fold_recording) in a
fresh subprocess, its peak RSS (VmHWM) against the issue's 200 MB, beside a subprocess that only
imports rtrec and opens the log.

Run: python bench/run.py live_fold   (or python bench/live_fold.py [minutes] [memory minutes])
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures
from live_decode import live_server_frames
from replay import _build, _fold_rate, _scan_rate

from recorder.live.fold import LiveFold
from recorder.store import open_log
from recorder.stream import log_steps
from recorder.testing import arecord_frames
from recorder.wire import Direction, Frame, Opcode

ISSUE = 18
MINUTES = 10
REPEATS = 5
RECONSTRUCT_GOAL = 75_000  # issue 6's goal for the Realtime fold
MEMORY_MINUTES = 60
RSS_GOAL_MB = 200.0

_CHILD = """
import asyncio, sys
sys.path.insert(0, {root!r})
from recorder.store import open_log

async def main():
    if {work!r}:
        from recorder.replay import fold_recording
        result, fold, _ = await fold_recording({db!r}, session={sid!r})
        assert fold.closed_reason == "close_requested", fold.notes
        fold.to_dict()
    else:
        log = await open_log({db!r}, create=False)
        await log.get_session({sid!r})
        await log.close()

asyncio.run(main())
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print(hwm)
"""


def _child_rss_mb(db: str, sid: str, work: bool) -> float:
    code = _CHILD.format(root=str(Path(__file__).resolve().parents[1]), db=db, sid=sid,
                         work=work)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024
MIC = json.dumps({"type": "session.input_audio.append",
                  "audio": __import__("base64").b64encode(bytes(4800)).decode()}).encode()


def live_frames(minutes: int) -> Iterator[Frame]:
    """Both directions of `minutes` of a Live call, in time order."""
    yield Frame(Direction.CLIENT, 0, Opcode.TEXT,
                b'{"type":"session.start","event_id":"evt_start","session":{"model":"gpt-live-1"}}')
    now_ms = 0
    for event in live_server_frames(minutes):
        if event["type"] == "session.output_audio.delta":
            now_ms += 100
            yield Frame(Direction.CLIENT, now_ms * 1_000_000 - 50_000_000, Opcode.TEXT, MIC)
        yield Frame(Direction.SERVER, now_ms * 1_000_000, Opcode.TEXT,
                    json.dumps(event, separators=(",", ":")).encode())


async def _live_fold_rate(db: str, sid: str) -> tuple[float, int, LiveFold]:
    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        best, fold = float("inf"), LiveFold()
        for _ in range(REPEATS):
            start = time.perf_counter()
            fold = LiveFold()
            async for batch in log_steps(log, info, batch_size=5000):
                fold.apply_batch(batch)  # as replay's fold_recording does
            fold.finish()
            best = min(best, time.perf_counter() - start)
        return fold.frames / best, fold.frames, fold
    finally:
        await log.close()


def figures(minutes: int = MINUTES, memory_minutes: int = MEMORY_MINUTES) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-live-fold-") as tmp:
        live_db = os.path.join(tmp, "live.db")
        sid = asyncio.run(arecord_frames(live_db, live_frames(minutes), protocol="live",
                                         model="gpt-live-1"))
        ga_db = os.path.join(tmp, "ga.db")
        ga_sid = asyncio.run(_build(ga_db, minutes))
        scan_rate, n = _scan_rate(live_db, sid)
        ga_rate, ga_n = asyncio.run(_fold_rate(ga_db, ga_sid))
        live_rate, live_n, fold = asyncio.run(_live_fold_rate(live_db, sid))
        hour_db = os.path.join(tmp, "hour.db")
        hour_sid = asyncio.run(arecord_frames(hour_db, live_frames(memory_minutes),
                                              protocol="live", model="gpt-live-1"))
        base_rss = _child_rss_mb(hour_db, hour_sid, work=False)
        rss = _child_rss_mb(hour_db, hour_sid, work=True)
    assert live_n == n, (live_n, n)
    assert fold.closed_reason == "close_requested" and fold.segments, "the fold saw the session"
    return [
        Figure(ISSUE, f"Live reconstruction ({minutes} min, {n:,} frames)",
               f">= {RECONSTRUCT_GOAL:,} events/s (issue 6's, for Realtime)",
               f"conversation fold {ga_rate:,.0f} events/s ({ga_n:,} GA frames)",
               f"LiveFold {live_rate:,.0f} events/s", live_rate / ga_rate,
               live_rate >= RECONSTRUCT_GOAL),
        Figure(ISSUE, "Live reconstruction vs reading the rows", "(information)",
               f"sqlite3 scan {scan_rate:,.0f} events/s", f"LiveFold {live_rate:,.0f} events/s",
               live_rate / scan_rate, True),
        Figure(ISSUE, f"{memory_minutes}-minute Live session: replay fold peak RSS",
               f"< {RSS_GOAL_MB:.0f} MB (<= 1.0x of the goal)", f"open log only {base_rss:.0f} MB",
               f"{rss:.0f} MB", rss / RSS_GOAL_MB, rss < RSS_GOAL_MB),
    ]


if __name__ == "__main__":
    print_figures(figures(int(sys.argv[1]) if len(sys.argv) > 1 else MINUTES,
                          int(sys.argv[2]) if len(sys.argv) > 2 else MEMORY_MINUTES))
