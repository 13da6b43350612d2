"""Issue 18 item 5 figures: exporting a Live session, against its floor.

Data: bench/live_fold.live_frames (a primary Live socket: the client's 100 ms microphone appends,
the 100 ms output track, transcript buckets, delegations), RTREC_BENCH_LIVE_EXPORT_MINUTES
(default 60) minutes, recorded into a SQLite log with protocol "live".

The floor, as bench/export.py measures it for Realtime (issue 14): a bare read of the session's
steps (audio as bytes, as the export reads it) plus the stdlib wave module writing WAV files of
the same names, rates, channel counts and lengths as the export's user.wav, assistant.wav and
conversation.wav (read from the headers of a first, untimed export), in 1 MiB writes. rtrec:
`export_db` in a fresh subprocess, timed inside it around the export alone, with its peak
resident memory (ru_maxrss). Floor and export alternate for ROUNDS rounds; the best of each is
kept.

Run: python bench/run.py live_export   (or python bench/live_export.py [minutes])
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures
from live_fold import live_frames

from recorder.store import open_log
from recorder.stream import log_steps
from recorder.testing import arecord_frames

ISSUE = 18
MINUTES = float(os.environ.get("RTREC_BENCH_LIVE_EXPORT_MINUTES", "60"))
FLOOR_GOAL = 2.0  # bench/export.py's goal for Realtime: the export against read + wave
RSS_GOAL_MB = 200.0
ROUNDS = 2
WAV_FILES = ("user.wav", "assistant.wav", "conversation.wav")

_CHILD = """
import asyncio, json, resource, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from recorder.export import export_db
start = time.perf_counter()
report = asyncio.run(export_db(sys.argv[1], Path(sys.argv[2])))
seconds = time.perf_counter() - start
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"seconds": seconds, "peak_mb": peak_mb, "audio": report.had_audio}}))
"""


def _export(db: str, out: Path) -> dict[str, float]:
    shutil.rmtree(out, ignore_errors=True)
    code = _CHILD.format(root=str(Path(__file__).resolve().parents[1]))
    result = subprocess.run([sys.executable, "-c", code, db, str(out)], check=True,
                            capture_output=True, text=True)
    data: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["audio"], "the export wrote audio"
    return data


async def _read(db: str, sid: str) -> int:
    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        n = 0
        async for batch in log_steps(log, info):
            n += len(batch)
        return n
    finally:
        await log.close()


def _shapes(out: Path) -> list[tuple[str, int, int, int]]:
    shapes = []
    for name in WAV_FILES:
        with wave.open(str(out / name)) as wav:
            shapes.append((name, wav.getframerate(), wav.getnchannels(), wav.getnframes()))
    return shapes


def _wave_write(shapes: list[tuple[str, int, int, int]], folder: Path) -> None:
    block = bytes(1 << 20)
    for name, rate, channels, frames in shapes:
        with wave.open(str(folder / name), "wb") as wav:
            wav.setnchannels(channels)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            remaining = frames * channels * 2
            while remaining > 0:
                wav.writeframesraw(block[: min(remaining, len(block))])
                remaining -= len(block)


def figures(minutes: float = MINUTES) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-live-export-") as tmp:
        db = os.path.join(tmp, "live.db")
        sid = asyncio.run(arecord_frames(db, live_frames(int(minutes)), protocol="live",
                                         model="gpt-live-1"))
        out = Path(tmp) / "out"
        _export(db, out)  # untimed: the shapes of the files the floor writes
        shapes = _shapes(out)
        floor_dir = Path(tmp) / "floor"
        floor_dir.mkdir()
        best_floor = best_export = float("inf")
        peak = 0.0
        for _ in range(ROUNDS):
            start = time.perf_counter()
            n = asyncio.run(_read(db, sid))
            _wave_write(shapes, floor_dir)
            best_floor = min(best_floor, time.perf_counter() - start)
            result = _export(db, out)
            best_export = min(best_export, result["seconds"])
            peak = max(peak, result["peak_mb"])
    ratio = best_export / best_floor
    return [
        Figure(ISSUE, f"Live export ({minutes:g} min, {n:,} frames)",
               f"<= {FLOOR_GOAL}x its floor (read the steps + wave writes the same files)",
               f"floor {best_floor:.2f} s", f"export_db {best_export:.2f} s", ratio,
               ratio <= FLOOR_GOAL),
        Figure(ISSUE, f"Live export ({minutes:g} min): peak RSS", f"< {RSS_GOAL_MB:.0f} MB",
               "(the goal)", f"{peak:.0f} MB", peak / RSS_GOAL_MB, peak < RSS_GOAL_MB),
    ]


if __name__ == "__main__":
    print_figures(figures(float(sys.argv[1]) if len(sys.argv) > 1 else MINUTES))
