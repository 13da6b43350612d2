"""Figures computed as recording sessions end (recorder.stats.worker), in one worker process
of the recorder (never on its loop nor in its process), on a SQLite file and the real
PostgreSQL. The folds below are module functions: the worker process imports them by name."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from recorder.stats import table
from recorder.stats.figures import SessionFigures, TurnFigures
from recorder.stats.worker import CANCELLED, Computed, FiguresWorker, rest_after
from recorder.store import EventLog, open_log
from recorder.wire import Direction, Frame, Opcode

COUNT = "test_stats_worker:count_frames"
BROKEN = "test_stats_worker:broken"
GATED = "test_stats_worker:gated"
FOREVER = "test_stats_worker:forever"
TEXT_BROKEN = "test_stats_worker:text_broken"


def figures_of(frames: int, pid: int | None = None) -> SessionFigures:
    return SessionFigures(model=f"pid {pid if pid is not None else os.getpid()}", turns=[
        TurnFigures(index=1, item_id="i", voice_to_voice_ms=float(frames))
    ])


async def count_frames(log: EventLog, session_id: str) -> SessionFigures:
    """Counts the frames of the session as the worker's log reads them; notes its pid."""
    frames = 0
    async for batch in log.read(session_id):
        frames += len(batch)
    return figures_of(frames)


async def broken(log: EventLog, session_id: str) -> SessionFigures:
    raise ValueError("sk-secret-in-a-message")


async def text_broken(log: EventLog, session_id: str) -> Computed:
    """Figures, and more rows from the same fold whose keeping fails (odd sessions) or not."""
    figures = await count_frames(log, session_id)

    async def also(_into: EventLog) -> bool:
        if frames_counted(figures) == 1:
            raise ValueError("sk-secret-in-a-message")
        return True

    return Computed(figures, also)


async def gated(log: EventLog, session_id: str) -> SessionFigures:
    """Waits for the file DB.go (the test opens the gate), then counts."""
    gate = Path(log.display + ".go")
    while not gate.exists():
        await asyncio.sleep(0.02)
    return await count_frames(log, session_id)


async def forever(log: EventLog, session_id: str) -> SessionFigures:
    Path(log.display + ".started").touch()
    await asyncio.Event().wait()
    raise AssertionError("not reached")


def frames_counted(figures: SessionFigures | None) -> float | None:
    assert figures is not None
    return figures.turns[0].voice_to_voice_ms


def computed_in(figures: SessionFigures | None) -> int:
    assert figures is not None and figures.model is not None
    return int(figures.model.removeprefix("pid "))


async def wait_for_file(path: Path, seconds: float = 30.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if path.exists():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


async def _record(log: EventLog, frames: int = 5, status: str = "complete") -> str:
    sid = await log.begin_session("ga", "m", None)
    for n in range(frames):
        log.append(sid, Frame(Direction.CLIENT, n, Opcode.TEXT, b'{"type":"x.y"}'))
    await log.end_session(sid, status=status)
    return sid


async def test_a_session_that_ends_has_its_figures_kept_from_every_frame_in_another_process(
    db: str,
) -> None:
    async with await open_log(db, figures=COUNT, flush_interval=0.05) as log:
        assert log.figures is not None
        first = await _record(log, frames=7)
        second = await _record(log, frames=3, status="interrupted")
        assert await log.figures.wait_idle(60)
        kept = await table.load(log, first)
        assert frames_counted(kept) == 7  # all its frames were stored
        assert frames_counted(await table.load(log, second)) == 3
        assert await table.stale(log) == []
        rows = {row.group: row.sessions for row in await table.summarise(log, by="status")}
        assert rows == {"complete": 1, "interrupted": 1}
        # the fold ran in the worker process, never in the recorder's
        assert computed_in(kept) != os.getpid()
        assert log.figures.worker_pids == {computed_in(kept)}
        assert log.health()["figures_computed"] == 2


async def test_a_failing_compute_fails_alone_and_leaves_the_session_stale(db: str) -> None:
    async with await open_log(db, figures=BROKEN, flush_interval=0.05) as log:
        assert log.figures is not None
        sid = await _record(log)
        assert await log.figures.wait_idle(60)
        after = await _record(log)  # recording goes on
        assert await log.figures.wait_idle(60)
        health = log.health()
        assert (health["figures_failed"], health["figures_computed"]) == (2, 0)
        assert health["figures_errors"] == {"ValueError": 2}  # the type, never the text
        assert "sk-secret" not in repr(health)
        assert log.figures.last_error == "ValueError"
        assert [info.id for info in await table.stale(log)] == [sid, after]


async def test_rows_kept_from_the_same_fold_fail_alone_counted_by_type(db: str) -> None:
    async with await open_log(db, figures=TEXT_BROKEN, flush_interval=0.05) as log:
        assert log.figures is not None
        broken_text = await _record(log, frames=1)
        kept_text = await _record(log, frames=4)
        assert await log.figures.wait_idle(60)
        health = log.health()
        assert (health["figures_computed"], health["figures_failed"], health["text_kept"],
                health["text_failed"], health["text_errors"]) == (2, 0, 1, 1, {"ValueError": 1})
        assert "sk-secret" not in repr(health)
        # the figures of both are kept: the failure was the text's alone
        assert frames_counted(await table.load(log, broken_text)) == 1
        assert frames_counted(await table.load(log, kept_text)) == 4


async def test_sessions_beyond_the_bound_are_left_stale_and_ensure_computes_them(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "log.db")
    async with await open_log(db, flush_interval=0.05) as log:
        worker = FiguresWorker(db, GATED, share=1.0, max_pending=1)
        sids = []
        for _ in range(4):
            sid = await _record(log)
            sids.append(sid)
            worker.submit(sid)
        # the first is being computed or waits; at most one waits: 2 or 3 were dropped
        assert worker.dropped in (2, 3)
        Path(db + ".go").touch()
        assert await worker.wait_idle(60)
        await worker.close()
        assert worker.computed == 4 - worker.dropped
        stale = [i.id for i in await table.stale(log)]
        assert len(stale) == worker.dropped
        assert await table.ensure(log, count_frames) == worker.dropped
        assert await table.stale(log) == []
        assert {frames_counted(await table.load(log, sid)) for sid in sids} == {5.0}


async def test_closing_stops_a_compute_in_progress_and_leaves_its_session_stale(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "log.db")
    log = await open_log(db, figures=FOREVER, flush_interval=0.05)
    sid = await _record(log)
    await wait_for_file(Path(db + ".started"))
    assert log.figures is not None
    worker = log.figures
    await asyncio.wait_for(log.close(), 20)
    assert worker.failed == 1 and worker.computed == 0  # stopped
    assert worker.errors == {CANCELLED: 1}
    async with await open_log(db) as reopened:
        assert [info.id for info in await table.stale(reopened)] == [sid]


async def test_a_recorder_that_is_behind_holds_the_figures_back(tmp_path: Path) -> None:
    import threading

    db = str(tmp_path / "log.db")
    behind = threading.Event()
    behind.set()
    async with await open_log(db, flush_interval=0.05) as log:
        worker = FiguresWorker(db, COUNT, busy=behind.is_set)
        sid = await _record(log)
        worker.submit(sid)
        assert not await worker.wait_idle(timeout=1.0)
        assert await table.load(log, sid) is None
        behind.clear()
        assert await worker.wait_idle(60)
        assert frames_counted(await table.load(log, sid)) == 5
        await worker.close()


def test_a_fold_is_named_not_passed() -> None:
    with pytest.raises(ValueError, match="compute must be 'module:function'"):
        FiguresWorker("x.db", count_frames)  # type: ignore[arg-type]


def test_the_rest_keeps_the_thread_within_its_share_of_a_core() -> None:
    assert rest_after(0.2, 0.25) == pytest.approx(0.6)  # 0.2 / (0.2 + 0.6) = 0.25
    assert rest_after(0.3, 1.0) == 0.0
    assert rest_after(-1.0, 0.5) == 0.0
    with pytest.raises(ValueError, match="share must be in"):
        rest_after(1.0, 0.0)


async def test_a_call_through_the_recording_proxy_has_its_figures_when_it_ends(
    tmp_path: Path,
) -> None:
    """The hook end to end: the proxy records a call (official SDK, fake upstream), the call
    ends, and the session's figures are kept, computed from every stored frame, in a process
    other than the recorder's."""
    from test_proxy import ScriptedUpstream, sdk_conversation, start_proxy

    db = str(tmp_path / "rec.db")
    upstream = await ScriptedUpstream().start()
    log = await open_log(db, flush_interval=0.01, figures=COUNT)
    try:
        recorder = await start_proxy(log, upstream.url)
        try:
            await sdk_conversation(recorder.url)
            await recorder.settled()
        finally:
            await recorder.proxy.close()
        assert log.figures is not None
        assert await log.figures.wait_idle(60)
        [info] = await log.list_sessions()
        kept = await table.load(log, info.id)
        assert frames_counted(kept) == info.frames
        assert computed_in(kept) != os.getpid()
    finally:
        await log.close()
        await upstream.stop()


async def test_rtrec_record_says_at_stop_which_figures_were_not_computed(tmp_path: Path) -> None:
    """Counted by /rtrec/status while it runs, said once at stop: by error type, never text."""
    import io
    import re

    import aiohttp

    from recorder.console import Console
    from recorder.fake.client import play_client
    from recorder.fake.server import FakeUpstream
    from recorder.proxy import ProxyConfig, record

    db = str(tmp_path / "rec.db")
    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()
    async with FakeUpstream("voice_turns", pace=0) as fake:
        config = ProxyConfig(upstream=fake.url, host="127.0.0.1", port=0)
        running = asyncio.ensure_future(
            record(db, config, Console(out, err), stop=stop, figures=BROKEN)
        )
        for _ in range(1500):
            if "listening on" in out.getvalue():
                break
            await asyncio.sleep(0.02)
        found = re.search(r"listening on (ws://\S+)/v1/realtime", out.getvalue())
        assert found is not None
        base = found.group(1)
        await play_client(f"{base}/v1/realtime", "voice_turns", pace=0, api_key="sk-x-0123",
                          model="gpt-realtime")
        status_url = base.replace("ws", "http", 1) + "/rtrec/status"
        health: dict[str, object] = {}
        async with aiohttp.ClientSession() as http:
            for _ in range(1500):
                async with http.get(status_url) as response:
                    health = await response.json()
                if health.get("figures_failed") == 1:
                    break
                await asyncio.sleep(0.02)
        assert health["figures_errors"] == {"ValueError": 1}
        stop.set()
        assert await running == 0
    assert err.getvalue().splitlines()[-1] == (
        "rtrec: figures of 1 session(s) not computed as they ended (0 computed; 1 failed "
        "(ValueError x1)): rtrec stats computes them on first use"
    )
    assert "sk-secret" not in err.getvalue()
