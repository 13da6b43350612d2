"""Issue 13: time from a store answering again to recording resuming, after each fault.

Faults (each real): a SQLite write lock held by another process for 6 s (past the 5 s busy
timeout), a SQLite file capped at its size (max_page_count, a full disk) and then freed, and a
PostgreSQL connection killed with pg_terminate_backend (skipped when no server answers at
RTREC_BENCH_PG_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test). Frames keep
arriving at 100 frames/s throughout. Time-to-resume: from the moment the fault clears to the
writer's "resumed" notice (its first successful write). Baseline: one healthy flush of the same
frames in the same run. Each run also checks that every frame is stored or inside a gap.

Usage: python bench/recovery.py   (prints the figures; bench/run.py collects them)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure, print_figures

from recorder.store import EventLog, open_log
from recorder.store.writer import Notice
from recorder.wire import Direction, Frame, Opcode

GOAL_S = 2.0
PG_SERVER = os.environ.get(
    "RTREC_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
_HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys, time
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    connection.rollback()
    print("released", flush=True)
    """
)


def _frame(n: int) -> Frame:
    body = '{"type":"response.output_text.delta","delta":"' + "x" * 500 + '"}'
    return Frame(Direction.SERVER, n, Opcode.TEXT, body.encode())


class _Resumed:
    def __init__(self) -> None:
        self.at: float | None = None
        self.event = asyncio.Event()

    def __call__(self, notice: Notice) -> None:
        if notice.kind == "resumed":
            self.at = time.monotonic()
            self.event.set()


async def _trickle(log: EventLog, sid: str, stop: asyncio.Event, count: list[int]) -> None:
    while not stop.is_set():
        count[0] += 1
        log.append(sid, _frame(count[0]))
        await asyncio.sleep(0.01)


async def _run_fault(
    db: str, fault: Callable[[EventLog], Awaitable[float]], **options: Any
) -> tuple[float, float, int, int]:
    """(healthy flush s, resume s after the fault cleared, frames appended, stored+gap check)."""
    resumed = _Resumed()
    log = await open_log(db, on_notice=resumed, **options)
    sid = await log.begin_session("ga", None, None)
    for n in range(100):
        log.append(sid, _frame(n))
    start = time.perf_counter()
    await log.flush()
    healthy = time.perf_counter() - start
    stop, count = asyncio.Event(), [100]
    trickle = asyncio.ensure_future(_trickle(log, sid, stop, count))
    cleared = await fault(log)
    await asyncio.wait_for(resumed.event.wait(), 60)
    assert resumed.at is not None
    stop.set()
    await trickle
    await log.end_session(sid)
    await log.close()
    async with await open_log(db) as reopened:
        stored = [f.seq async for batch in reopened.read(sid) for f in batch]
        lost = [s for g in await reopened.gaps(sid) for s in range(g.first_seq, g.last_seq + 1)]
    assert sorted(stored + lost) == list(range(1, count[0] + 1)), "a frame is lost outside any gap"
    return healthy, resumed.at - cleared, count[0], len(lost)


async def _sqlite_lock(path: Path) -> tuple[float, float, int, int]:
    async def fault(_log: EventLog) -> float:
        holder = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _HOLD_LOCK, str(path), "6",
            stdout=asyncio.subprocess.PIPE)
        assert holder.stdout is not None
        assert await holder.stdout.readline() == b"locked\n"
        assert await holder.stdout.readline() == b"released\n"
        cleared = time.monotonic()
        await holder.wait()
        return cleared

    return await _run_fault(str(path), fault)


async def _sqlite_full(path: Path) -> tuple[float, float, int, int]:
    from sqlalchemy import event

    async def fault(log: EventLog) -> float:
        pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]

        def cap(dbapi_connection: Any, _record: object) -> None:
            dbapi_connection.cursor().execute(f"PRAGMA max_page_count={pages}")

        engine = log._db.engine
        await engine.dispose()
        event.listen(engine.sync_engine, "connect", cap)
        await asyncio.sleep(3)  # full for 3 s while frames keep coming
        event.remove(engine.sync_engine, "connect", cap)
        await engine.dispose()
        return time.monotonic()

    return await _run_fault(str(path), fault)


async def _pg_terminate() -> tuple[float, float, int, int] | None:
    import asyncpg
    from sqlalchemy.engine import make_url

    server = make_url(PG_SERVER)
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"rtrec_bench_{uuid.uuid4().hex[:12]}"
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError):
        return None
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = server.set(database=name).render_as_string(hide_password=False)

        async def fault(_log: EventLog) -> float:
            await asyncio.sleep(0.5)
            await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1", name)
            return time.monotonic()  # the server answers at once: the fault is cleared

        return await _run_fault(url, fault)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _figure(name: str, result: tuple[float, float, int, int]) -> Figure:
    healthy, resume, frames, lost = result
    return Figure(
        13, f"recovery: {name}", f"resumes <= {GOAL_S:.0f} s after the store answers",
        f"healthy flush of 100 frames {healthy * 1000:.1f} ms",
        f"resumed {resume * 1000:.0f} ms after; {frames} frames, {lost} in gaps, rest stored",
        resume / GOAL_S, resume <= GOAL_S,
    )


def figures() -> list[Figure]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        out.append(_figure("SQLite lock held 6 s by another process",
                           asyncio.run(_sqlite_lock(Path(tmp) / "lock.db"))))
        out.append(_figure("SQLite full 3 s, then freed",
                           asyncio.run(_sqlite_full(Path(tmp) / "full.db"))))
    pg = asyncio.run(_pg_terminate())
    if pg is not None:
        out.append(_figure("PostgreSQL pg_terminate_backend", pg))
    return out


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        print_figures(figures())
