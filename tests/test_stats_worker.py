"""Figures computed as recording sessions end (recorder.stats.worker), off the loop that
records, on a SQLite file and the real PostgreSQL."""

from __future__ import annotations

import asyncio
import threading

import pytest

from recorder.stats import table
from recorder.stats.figures import SessionFigures, TurnFigures
from recorder.stats.worker import FiguresWorker, rest_after
from recorder.store import EventLog, open_log
from recorder.wire import Direction, Frame, Opcode


def figures_of(frames: int) -> SessionFigures:
    return SessionFigures(model="m", turns=[
        TurnFigures(index=1, item_id="i", voice_to_voice_ms=float(frames))
    ])


class Compute:
    """Counts the frames of the session as the worker's log reads them, and notes the thread."""

    def __init__(self) -> None:
        self.threads: set[int] = set()
        self.asked: list[str] = []

    async def __call__(self, log: EventLog, session_id: str) -> SessionFigures:
        self.threads.add(threading.get_ident())
        self.asked.append(session_id)
        frames = 0
        async for batch in log.read(session_id):
            frames += len(batch)
        return figures_of(frames)


async def _record(log: EventLog, frames: int = 5, status: str = "complete") -> str:
    sid = await log.begin_session("ga", "m", None)
    for n in range(frames):
        log.append(sid, Frame(Direction.CLIENT, n, Opcode.TEXT, b'{"type":"x.y"}'))
    await log.end_session(sid, status=status)
    return sid


async def test_a_session_that_ends_has_its_figures_kept_from_every_frame_off_the_loop(
    db: str,
) -> None:
    compute = Compute()
    async with await open_log(db, figures=compute, flush_interval=0.05) as log:
        assert log.figures is not None
        first = await _record(log, frames=7)
        second = await _record(log, frames=3, status="interrupted")
        assert await log.figures.wait_idle()
        assert (await table.load(log, first)) == figures_of(7)  # all its frames were stored
        assert (await table.load(log, second)) == figures_of(3)
        assert await table.stale(log) == []
        rows = {row.group: row.sessions for row in await table.summarise(log, by="status")}
        assert rows == {"complete": 1, "interrupted": 1}
        assert threading.get_ident() not in compute.threads  # never on the recording loop
        assert log.health()["figures_computed"] == 2


async def test_a_failing_compute_fails_alone_and_leaves_the_session_stale(db: str) -> None:
    async def broken(log: EventLog, session_id: str) -> SessionFigures:
        raise ValueError("sk-secret-in-a-message")

    async with await open_log(db, figures=broken, flush_interval=0.05) as log:
        assert log.figures is not None
        sid = await _record(log)
        assert await log.figures.wait_idle()
        after = await _record(log)  # recording goes on
        assert await log.figures.wait_idle()
        health = log.health()
        assert (health["figures_failed"], health["figures_computed"]) == (2, 0)
        assert log.figures.last_error == "ValueError"  # the type, never the text
        assert [info.id for info in await table.stale(log)] == [sid, after]


async def test_sessions_beyond_the_bound_are_left_stale_and_ensure_computes_them(
    tmp_path: object,
) -> None:
    db = str(tmp_path) + "/log.db"  # type: ignore[operator]
    release = threading.Event()
    compute = Compute()

    async def slow(log: EventLog, session_id: str) -> SessionFigures:
        await asyncio.to_thread(release.wait, 10)
        return await compute(log, session_id)

    async with await open_log(db, flush_interval=0.05) as log:
        worker = FiguresWorker(db, slow, share=1.0, max_pending=1)
        sids = []
        for _ in range(4):
            sid = await _record(log)
            sids.append(sid)
            worker.submit(sid)
        # the first is being computed or waits; at most one waits: 2 or 3 were dropped
        assert worker.dropped in (2, 3)
        release.set()
        assert await worker.wait_idle()
        await worker.close()
        assert worker.computed == 4 - worker.dropped
        assert sorted(compute.asked + [i.id for i in await table.stale(log)]) == sorted(sids)
        assert await table.ensure(log, compute) == worker.dropped
        assert await table.stale(log) == []


async def test_closing_cancels_a_compute_in_progress_and_leaves_its_session_stale(
    tmp_path: object,
) -> None:
    db = str(tmp_path) + "/log.db"  # type: ignore[operator]
    started = threading.Event()

    async def forever(log: EventLog, session_id: str) -> SessionFigures:
        started.set()
        await asyncio.Event().wait()
        raise AssertionError("not reached")

    log = await open_log(db, figures=forever, flush_interval=0.05)
    sid = await _record(log)
    assert await asyncio.to_thread(started.wait, 10)
    assert log.figures is not None
    worker = log.figures
    await asyncio.wait_for(log.close(), 10)
    assert worker.failed == 1 and worker.computed == 0  # cancelled
    async with await open_log(db) as reopened:
        assert [info.id for info in await table.stale(reopened)] == [sid]


async def test_a_recorder_that_is_behind_holds_the_figures_back(tmp_path: object) -> None:
    db = str(tmp_path) + "/log.db"  # type: ignore[operator]
    behind = threading.Event()
    behind.set()
    compute = Compute()
    async with await open_log(db, flush_interval=0.05) as log:
        worker = FiguresWorker(db, compute, busy=behind.is_set)
        sid = await _record(log)
        worker.submit(sid)
        assert not await worker.wait_idle(timeout=1.0)
        assert compute.asked == []
        behind.clear()
        assert await worker.wait_idle()
        assert compute.asked == [sid]
        await worker.close()


def test_the_rest_keeps_the_thread_within_its_share_of_a_core() -> None:
    assert rest_after(0.2, 0.25) == pytest.approx(0.6)  # 0.2 / (0.2 + 0.6) = 0.25
    assert rest_after(0.3, 1.0) == 0.0
    assert rest_after(-1.0, 0.5) == 0.0
    with pytest.raises(ValueError, match="share must be in"):
        rest_after(1.0, 0.0)


async def test_a_call_through_the_recording_proxy_has_its_figures_when_it_ends(
    tmp_path: object,
) -> None:
    """The hook end to end: the proxy records a call (official SDK, fake upstream), the call
    ends, and the session's figures are kept, computed from every stored frame."""
    from test_proxy import ScriptedUpstream, sdk_conversation, start_proxy

    db = str(tmp_path) + "/rec.db"  # type: ignore[operator]
    compute = Compute()
    upstream = await ScriptedUpstream().start()
    log = await open_log(db, flush_interval=0.01, figures=compute)
    try:
        recorder = await start_proxy(log, upstream.url)
        try:
            await sdk_conversation(recorder.url)
            await recorder.settled()
        finally:
            await recorder.proxy.close()
        assert log.figures is not None
        assert await log.figures.wait_idle()
        [info] = await log.list_sessions()
        assert compute.asked == [info.id]
        assert await table.load(log, info.id) == figures_of(info.frames)
        assert threading.get_ident() not in compute.threads
    finally:
        await log.close()
        await upstream.stop()
