"""Issue 16 figure: computing one 60-minute session's turn figures, against replaying it.

Data: recorder.fake.scenarios.long_session(60) (audio-heavy GA: the microphone streams 20 ms
appends continuously, the assistant answers in audio, every turn transcribed, every seventh
turn a barge-in), written to a SQLite event log in a temporary directory.

Baseline, in the same run on the same open log: a replay of the session into a receiver that
does nothing (recorder.replay.replay_session: read, decode, dispatch). rtrec: its figures
(recorder.stats.fold.log_figures: the conversation fold, the timeline and the turn figures).
The two alternate for ROUNDS rounds (the order swapped every round) and the fastest of each is
kept, so a load swing on the shared box hits both sides. Goal: figures <= 1.5x the replay.

Run: python bench/run.py stats   (or python bench/stats.py [minutes])
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

from recorder.receiver import RealtimeEventReceiver
from recorder.replay import replay_session
from recorder.stats.fold import log_figures
from recorder.store import open_log
from recorder.testing import arecord_frames

ISSUE = 16
MINUTES = 60
ROUNDS = 5
GOAL = 1.5


class Nothing(RealtimeEventReceiver):
    """A receiver that overrides nothing: replay's own cost, dispatch included."""


async def _build(db: str, minutes: float) -> str:
    from recorder.fake.scenarios import long_session

    return await arecord_frames(db, long_session(minutes), protocol="ga", model="bench")


async def _measure(db: str, sid: str) -> tuple[float, float, int, int]:
    """(best replay s, best figures s, frames, turns), alternating the two on one open log."""
    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        replays, folds, frames, turns = [], [], 0, 0
        for round_no in range(ROUNDS):
            for side in ("replay", "figures") if round_no % 2 == 0 else ("figures", "replay"):
                start = time.perf_counter()
                if side == "replay":
                    frames = (await replay_session(log, Nothing(), info)).frames
                    replays.append(time.perf_counter() - start)
                else:
                    turns = len((await log_figures(log, info)).turns)
                    folds.append(time.perf_counter() - start)
        return min(replays), min(folds), frames, turns
    finally:
        await log.close()


def figures(minutes: float = MINUTES) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-stats-") as tmp:
        db = os.path.join(tmp, "hour.db")
        sid = asyncio.run(_build(db, minutes))
        replay_s, figures_s, frames, turns = asyncio.run(_measure(db, sid))
    ratio = figures_s / replay_s
    return [Figure(
        ISSUE, f"{minutes:g}-minute session: its turn figures", f"<= {GOAL}x a do-nothing replay",
        f"replay into a do-nothing receiver {replay_s:.2f} s ({frames:,} frames)",
        f"figures {figures_s:.2f} s ({turns} turns)", ratio, ratio <= GOAL,
    )]


if __name__ == "__main__":
    print_figures(figures(float(sys.argv[1]) if len(sys.argv) > 1 else MINUTES))
