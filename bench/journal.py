"""Issue 13: how fast a journal left by an outage is written into a PostgreSQL store.

The same 4 KB audio frames (40 sessions' worth, interleaved) are written into a fresh
PostgreSQL database twice in the same run: baseline, appended and flushed on the normal path
(memory queue, batched commits); rtrec, put in a journal file (as an outage past the memory
buffer leaves it) and drained into the store at the next open_log. Ratio: baseline time /
drain time (1.0: draining is as fast as recording; the goal asks for at least half that, so an
outage's backlog is written at least at half the recording rate). Each run checks every frame
is stored once. Skipped when no server answers at RTREC_BENCH_PG_URL (default
postgresql+asyncpg://postgres@127.0.0.1:5432/test).

Usage: python bench/journal.py   (prints the figures; bench/run.py collects them)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, print_figures

from recorder.store import open_log
from recorder.store.journal import Journal
from recorder.wire import Direction, Frame, Opcode

GOAL = 0.5
PG_SERVER = os.environ.get(
    "RTREC_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
SESSIONS = 40
FRAMES = 250  # per session: 10,000 frames, ~40 MiB


def _frame(n: int) -> Frame:
    audio = base64.b64encode(bytes([n % 251]) * 3000).decode()
    data = ('{"type":"response.output_audio.delta","event_id":"e' + str(n)
            + '","response_id":"r","item_id":"i","output_index":0,"content_index":0,'
            '"delta":"' + audio + '"}').encode()
    return Frame(Direction.SERVER, n * 10**6, Opcode.TEXT, data)


async def _normal(url: str) -> float:
    log = await open_log(url)
    sids = [await log.begin_session("ga", None, None) for _ in range(SESSIONS)]
    start = time.perf_counter()
    for n in range(FRAMES):
        for sid in sids:
            log.append(sid, _frame(n))
        if n % 25 == 0:
            await log.keep_up()
    await log.flush()
    took = time.perf_counter() - start
    await log.close()
    return took


async def _drained(url: str, journal: Path) -> tuple[float, int]:
    log = await open_log(url)
    sids = [await log.begin_session("ga", None, None) for _ in range(SESSIONS)]
    pks = [log._recording[sid].pk for sid in sids]
    await log.close()
    spill = Journal(journal, 2**30, log.display)
    for n in range(FRAMES):
        spill.append([(pk, n + 1, _frame(n)) for pk in pks])
    spill.close()
    start = time.perf_counter()
    log = await open_log(url, journal=journal)  # a leftover journal: drained first
    await log.flush()
    took = time.perf_counter() - start
    left = log.health()["journal_frames"]
    await log.close()
    async with await open_log(url) as reopened:
        stored = sum([(await reopened.get_session(sid)).frames for sid in sids])
    assert left == 0 and stored == SESSIONS * FRAMES, (left, stored)
    return took, stored


async def _measure() -> tuple[float, float, int] | None:
    import asyncpg
    from sqlalchemy.engine import make_url

    server = make_url(PG_SERVER)
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError):
        return None
    names = [f"rtrec_bench_{uuid.uuid4().hex[:12]}" for _ in range(2)]
    try:
        for name in names:
            await admin.execute(f'CREATE DATABASE "{name}"')
        urls = [server.set(database=name).render_as_string(hide_password=False)
                for name in names]
        normal = await _normal(urls[0])
        with tempfile.TemporaryDirectory() as tmp:
            drained, frames = await _drained(urls[1], Path(tmp) / "journal.db")
        return normal, drained, frames
    finally:
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def figures() -> list[Figure]:
    result = asyncio.run(_measure())
    if result is None:
        return []
    normal, drained, frames = result
    ratio = normal / drained
    return [Figure(
        issue=13, name="journal drained into PostgreSQL", goal=f">= {GOAL}x the normal path",
        baseline=f"append + flush {frames / normal:,.0f} frames/s",
        measured=f"journal drain {frames / drained:,.0f} frames/s",
        ratio=ratio, passed=ratio >= GOAL,
    )]


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        print_figures(figures())
