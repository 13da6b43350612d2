"""The store under load: frames in write order (migration 0003), shedding whole sessions."""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import create_async_engine

from recorder.console import Console
from recorder.proxy import ProxyConfig, RecordingProxy
from recorder.store import open_log
from recorder.store import writer as writer_module
from recorder.store.migrate import migrations_dir
from recorder.store.urls import parse_db
from recorder.store.writer import _SHED_PAUSE, ShedRecord
from recorder.wire import Direction, Frame, Opcode


def _frame(t_ns: int, size: int = 1000) -> Frame:
    payload = '{"type":"response.output_text.delta","delta":"' + "x" * size + '"}'
    return Frame(Direction.SERVER, t_ns, Opcode.TEXT, payload.encode())


async def _seqs(db: str, sid: str) -> list[int]:
    async with await open_log(db) as log:
        return [f.seq async for batch in log.read(sid) for f in batch]


# -- shedding ----------------------------------------------------------------------------------


async def test_the_newest_session_is_shed_first_and_the_others_stay_whole(db: str) -> None:
    shed: list[ShedRecord] = []
    log = await open_log(db, flush_interval=60.0, batch_size=10**6, max_queue_bytes=120_000,
                         on_shed=shed.append)
    sids = [await log.begin_session("ga", None, None) for _ in range(3)]
    for i in range(40):  # 120 frames of ~1 KB, round robin: half the bound is crossed at ~57
        for sid in sids:
            log.append(sid, _frame(i))
    for sid in sids:
        await log.end_session(sid)
    await log.close()
    [record] = shed  # within one _SHED_PAUSE, one session goes
    assert record.sid == sids[2]
    oldest, middle, newest = [await _seqs(db, sid) for sid in sids]
    assert oldest == middle == list(range(1, 41))
    assert newest == list(range(1, len(newest) + 1)) and 10 < len(newest) < 25
    assert (record.first_seq, record.last_seq, record.frames) == (
        len(newest) + 1, 40, 40 - len(newest)
    )
    async with await open_log(db) as reopened:
        statuses = [(await reopened.get_session(sid)).status for sid in sids]
    assert statuses == ["complete", "complete", "incomplete"]


async def test_while_the_queue_keeps_growing_the_next_newest_session_is_shed(
    tmp_path: Path,
) -> None:
    log = await open_log(str(tmp_path / "log.db"), flush_interval=60.0, batch_size=10**6,
                         max_queue_bytes=100_000)
    sids = [await log.begin_session("ga", None, None) for _ in range(3)]
    for i in range(60):  # past half the bound: the newest goes
        log.append(sids[i % 2], _frame(i))
    assert [r.sid for r in log.shed] == [sids[2]]
    await asyncio.sleep(_SHED_PAUSE * 2)
    for i in range(5):  # the queue still grows: the next newest goes
        log.append(sids[0], _frame(i))
    assert [r.sid for r in log.shed] == [sids[2], sids[1]]
    await log.close()


async def test_a_full_queue_still_sheds_the_newest_first(tmp_path: Path) -> None:
    db = str(tmp_path / "log.db")
    log = await open_log(db, flush_interval=60.0, batch_size=10**6, max_queue_bytes=20_000)
    a, b, c = [await log.begin_session("ga", None, None) for _ in range(3)]
    for i in range(45):  # ~1 KB each, in one pause: half full sheds c; past twice the bound,
        # each frame sheds the newest left: b, then a
        log.append(a, _frame(i))
    assert [r.sid for r in log.shed] == [c, b, a]
    assert [r.reason.split(" (")[0] for r in log.shed] == [
        "shed: the writer fell behind", "shed: the queue was full", "shed: the queue was full"
    ]
    await log.close()
    kept = await _seqs(db, a)
    assert kept == list(range(1, len(kept) + 1)) and log.shed[2].first_seq == len(kept) + 1
    assert len(kept) * len(_frame(0).data) > 20_000  # b went first: a frame of a past the bound


async def test_shedding_a_frame_does_not_walk_the_open_sessions(tmp_path: Path) -> None:
    log = await open_log(str(tmp_path / "log.db"), flush_interval=60.0, batch_size=10**6,
                         max_queue_bytes=20_000)
    sids = [await log.begin_session("ga", None, None) for _ in range(200)]
    writer = log._writer
    walks = 0
    open_sessions = writer._open_sessions

    def counting() -> list[int]:
        nonlocal walks
        walks += 1
        return open_sessions()

    writer._open_sessions = counting
    for i in range(12):  # past half the bound: the newest session is shed
        log.append(sids[0], _frame(i))
    assert walks == 1 and [r.session for r in log.shed] == [200]  # pks count from 1
    for i in range(1000):
        log.append(sids[-1], _frame(i))
    assert walks == 1  # each shed frame: one lookup, not a walk of the 200 sessions
    assert log.shed[0].frames == 1000
    await log.close()


async def test_a_session_that_begins_while_sessions_are_shed_is_shed_before_older_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Newest first holds for sessions that begin during an overload too: the one begun after
    c was shed is newer than c, so it goes before a or b lose a frame; once the writer has
    caught up, a session that begins then records whole."""
    monkeypatch.setattr(writer_module, "_SHED_PAUSE", 3600.0)  # no second shed by the queue
    db = str(tmp_path / "log.db")
    log = await open_log(db, flush_interval=60.0, batch_size=10**6, max_queue_bytes=100_000)
    a, b, c = [await log.begin_session("ga", None, None) for _ in range(3)]
    for i in range(60):  # past half the bound: the newest goes
        log.append((a, b)[i % 2], _frame(i))
    assert [r.sid for r in log.shed] == [c]
    d = await log.begin_session("ga", None, None)  # the writer is still behind
    for i in range(5):
        log.append(d, _frame(i))
        log.append(a, _frame(30 + i))
    assert [r.sid for r in log.shed] == [c, d]
    assert log.shed[1].reason.startswith("shed: it began while recording was shed (the writer ")
    assert (log.shed[1].first_seq, log.shed[1].frames) == (1, 5)
    await log.flush()  # caught up: the overload is over
    e = await log.begin_session("ga", None, None)
    for i in range(5):
        log.append(e, _frame(i))
    assert [r.sid for r in log.shed] == [c, d]
    for sid in (a, b, c, d, e):
        await log.end_session(sid)
    await log.close()
    assert await _seqs(db, a) == list(range(1, 36))
    assert await _seqs(db, b) == list(range(1, 31))
    assert await _seqs(db, d) == []
    assert await _seqs(db, e) == list(range(1, 6))


async def test_an_overload_is_over_only_once_the_queue_is_down_to_half_the_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue just under the shedding mark after one batch is still behind: a session that
    begins then is shed; once the queue is under half the mark, the next one records."""
    monkeypatch.setattr(writer_module, "_SHED_PAUSE", 3600.0)
    log = await open_log(str(tmp_path / "log.db"), flush_interval=60.0, batch_size=10**6,
                         max_queue_bytes=100_000)
    writer = log._writer
    a, b = [await log.begin_session("ga", None, None) for _ in range(2)]
    for i in range(60):  # ~63 KB: past the mark (50 KB), b goes
        log.append(a, _frame(i))
    assert [r.sid for r in log.shed] == [b]
    writer._batch_size = 20
    writer._take_frames()  # the writer takes a batch: ~42 KB wait, under the mark
    c = await log.begin_session("ga", None, None)
    log.append(c, _frame(0))
    assert [r.sid for r in log.shed] == [b, c]
    writer._take_frames()  # ~21 KB: under half the mark
    d = await log.begin_session("ga", None, None)
    log.append(d, _frame(0))
    assert [r.sid for r in log.shed] == [b, c]
    writer._batch_size = 10**6
    await log.close()


async def test_a_session_that_begins_while_the_loop_is_late_is_shed_at_its_first_frame(
    tmp_path: Path,
) -> None:
    log = await open_log(str(tmp_path / "log.db"))
    writer = log._writer
    sids = [await log.begin_session("ga", None, None) for _ in range(8)]
    writer._looked(0.35)  # the watch found the loop late: the newest two go
    assert [r.sid for r in log.shed] == [sids[7], sids[6]]
    late = await log.begin_session("ga", None, None)
    log.append(sids[0], _frame(0))
    log.append(late, _frame(0))
    assert [r.sid for r in log.shed] == [sids[7], sids[6], late]
    assert log.shed[2].reason == (
        "shed: it began while recording was shed (the event loop ran 350 ms late)")
    writer._looked(0.01)  # on time again, and the queue is short: the overload is over
    after = await log.begin_session("ga", None, None)
    log.append(after, _frame(0))
    assert [r.sid for r in log.shed] == [sids[7], sids[6], late]
    await log.close()

@pytest.mark.parametrize("live", [True, False])
async def test_a_late_event_loop_sheds_the_newest_sessions_of_a_live_log(
    tmp_path: Path, live: bool
) -> None:
    log = await open_log(str(tmp_path / "log.db"), live=live)
    sids = [await log.begin_session("ga", None, None) for _ in range(8)]
    await asyncio.sleep(0.01)
    time.sleep(0.5)  # the loop is stuck: forwarding waits as long
    await asyncio.sleep(0.1)
    if live:  # at most a quarter of the sessions at a time, the newest first
        assert [r.sid for r in log.shed] == [sids[7], sids[6]]
        assert log.shed[0].reason.startswith("shed: the event loop ran ")
        assert log.shed[0].reason.endswith(" ms late")
    else:  # an import or a test appending flat out is not a late forwarder
        assert log.shed == []
    await log.close()


async def test_a_loop_late_only_because_the_machine_gave_it_no_cpu_sheds_nothing(
    tmp_path: Path,
) -> None:
    """Lateness the kernel spent with the loop runnable but not running (other processes had
    the CPUs) is not recording's doing: shedding would lose frames and speed up nothing."""
    log = await open_log(str(tmp_path / "log.db"), live=True)
    sids = [await log.begin_session("ga", None, None) for _ in range(8)]
    starved = 0.0

    def cpu_wait() -> float:
        return starved

    log._writer._cpu_wait = cpu_wait
    await asyncio.sleep(0.06)  # the watch now reads the stand-in
    starved = 0.5  # the whole stall below was a wait for a CPU
    time.sleep(0.5)
    await asyncio.sleep(0.1)
    assert log.shed == []
    starved += 0.1  # the next stall: 0.1 s of 0.5 s waiting for a CPU, 0.4 s the loop's own
    time.sleep(0.5)
    await asyncio.sleep(0.1)
    assert [r.sid for r in log.shed] == [sids[7], sids[6]]
    assert int(log.shed[0].reason.split(" ran ")[1].split(" ms")[0]) >= 250
    await log.close()


async def test_an_idle_live_log_sleeps_until_a_session_or_a_frame_arrives(tmp_path: Path) -> None:
    """No open session and nothing queued: the writer, the loop watch and the heartbeat sleep
    without a timer (counted by their calls, not by time); a session or a frame wakes them."""
    path = tmp_path / "log.db"
    log = await open_log(str(path), live=True)
    writer = log._writer
    calls: Counter[str] = Counter()
    cpu_wait, drain, open_sessions = writer._cpu_wait, writer._drain, writer._open_sessions
    idle_again = asyncio.Event()

    def counted_cpu_wait() -> float | None:
        calls["watch"] += 1
        return cpu_wait()

    async def counted_drain() -> None:
        calls["drain"] += 1
        await drain()

    def counted_open_sessions() -> list[int]:
        calls["open"] += 1
        pks = open_sessions()
        if not pks:
            idle_again.set()
        return pks

    writer._cpu_wait, writer._open_sessions = counted_cpu_wait, counted_open_sessions
    writer._drain = counted_drain  # type: ignore[method-assign]
    await asyncio.sleep(0.05)  # the tasks reach their sleep
    calls.clear()
    await asyncio.sleep(0.3)  # six looks of the watch and a flush or two, were it awake
    assert calls == {}
    sid = await log.begin_session("ga", None, None)
    while calls["watch"] < 2:  # the session woke the watch
        await asyncio.sleep(0.01)
    log.append(sid, _frame(1))
    while _stored_frames(path) < 1:  # written at the next flush, with no flush() to ask
        await asyncio.sleep(0.01)
    await log.end_session(sid)
    idle_again.clear()
    await idle_again.wait()  # the watch (or the heartbeat) found no session open
    await asyncio.sleep(0.05)
    calls.clear()
    await asyncio.sleep(0.3)
    assert calls == {}
    await log.close()
    assert _stored_frames(path) == 1


async def test_a_session_begun_after_the_late_loop_sessions_all_ended_is_recorded(
    tmp_path: Path,
) -> None:
    """The watch stops with the last session: a lateness seen then no longer sheds the
    sessions that begin later (they are not newer than an overload still on)."""
    log = await open_log(str(tmp_path / "log.db"), live=True)
    sids = [await log.begin_session("ga", None, None) for _ in range(8)]
    await asyncio.sleep(0.01)
    time.sleep(0.5)  # the loop is stuck: the newest sessions are shed
    while not log.shed:
        await asyncio.sleep(0.01)
    for sid in sids:
        await log.end_session(sid)
    while log._writer._watch is not None:  # the watch found no session open and stopped
        await asyncio.sleep(0.01)
    late = await log.begin_session("ga", None, None)
    log.append(late, _frame(1))
    assert late not in [r.sid for r in log.shed]
    await log.close()
    assert await _seqs(str(tmp_path / "log.db"), late) == [1]


def _stored_frames(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("SELECT count(*) FROM frames").fetchone()[0])


def test_the_schedstat_reader_gives_a_growing_wait_or_none() -> None:
    from recorder.store.writer import runqueue_wait

    first = runqueue_wait()
    if Path("/proc/thread-self/schedstat").exists():
        assert first is not None and first >= 0 and (runqueue_wait() or 0) >= first
    else:
        assert first is None


def test_the_console_names_a_shed_session_and_what_to_do() -> None:
    err = io.StringIO()
    proxy = RecordingProxy(None, ProxyConfig(port=0), Console(out=io.StringIO(), err=err))
    proxy.report_shed(ShedRecord(7, "shed: the writer fell behind (32 MiB waiting)", sid="0193ab"))
    assert err.getvalue() == (
        "rtrec: WARNING: session 0193ab: recording shed: the writer fell behind (32 MiB "
        "waiting); the call goes on, its later frames are not stored and it will read "
        "incomplete: use a faster disk or spread the calls over more recorders\n"
    )


# -- frames in write order -------------------------------------------------------------------


async def test_frames_are_stored_in_write_order_across_sessions(tmp_path: Path) -> None:
    db = str(tmp_path / "log.db")
    async with await open_log(db) as log:
        a = await log.begin_session("ga", None, None)
        b = await log.begin_session("ga", None, None)
        for i in range(6):
            log.append(a if i % 2 else b, _frame(i, 10))
        await log.flush()
        async with log._db.reading() as connection:
            rows = await log._db.fetch(connection, "SELECT session, seq FROM frames ORDER BY id")
            plan = await log._db.fetch(
                connection, "EXPLAIN QUERY PLAN SELECT * FROM frames WHERE session = 1 "
                "AND seq > 0 ORDER BY seq"
            )
    assert rows == [(2, 1), (1, 1), (2, 2), (1, 2), (2, 3), (1, 3)]  # as appended
    assert "frames_session_seq" in str(plan)  # a session is read through the index


def _migrate(step: Callable[[Config, str], None], revision: str) -> Callable[[Connection], None]:
    """alembic's upgrade or downgrade to revision, on the connection rtrec hands over."""

    def run(connection: Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(migrations_dir()))
        config.attributes["connection"] = connection
        step(config, revision)

    return run


async def test_a_log_keyed_by_session_migrates_to_write_order_with_every_byte(db: str) -> None:
    """A database at revision 0001 (id = session << 32 | seq) opens, reads back the same frames
    and takes new ones after them."""
    engine = create_async_engine(parse_db(db).url)
    frames = [(pk, seq, bytes([65 + seq]) * (seq * 100)) for pk in (1, 2) for seq in (1, 2, 3)]
    async with engine.begin() as connection:
        await connection.run_sync(_migrate(command.upgrade, "0001"))
        for pk in (1, 2):
            await connection.exec_driver_sql(
                "INSERT INTO sessions (id, started_at, last_seen, heartbeat, status) "
                f"VALUES ('s{pk}', {pk}, {pk}, 1, 'complete')"  # pk 1, then 2
            )
        await connection.execute(
            text("INSERT INTO frames (id, session, seq, t_ns, direction, opcode, data) "
                 "VALUES (:id, :session, :seq, :t_ns, 1, 2, :data)"),
            [{"id": (pk << 32) | seq, "session": pk, "seq": seq, "t_ns": seq * 10, "data": data}
             for pk, seq, data in frames],
        )
    await engine.dispose()
    async with await open_log(db) as log:
        for pk in (1, 2):
            got = [(f.seq, f.t_ns, f.opcode, f.data)
                   async for batch in log.read(f"s{pk}") for f in batch]
            assert got == [(seq, seq * 10, Opcode.BINARY, data) for p, seq, data in frames
                           if p == pk]
        sid = await log.begin_session("ga", None, None)
        log.append(sid, _frame(0, 10))
        await log.flush()
        assert [f.seq async for batch in log.read(sid) for f in batch] == [1]


async def test_downgrading_to_0001_keys_frames_by_session_again(db: str) -> None:
    async with await open_log(db) as log:
        a = await log.begin_session("ga", None, None)
        b = await log.begin_session("ga", None, None)
        for i in range(4):
            log.append(a if i % 2 else b, _frame(i, 10))
    engine = create_async_engine(parse_db(db).url)
    async with engine.begin() as connection:
        await connection.run_sync(_migrate(command.downgrade, "0001"))
        rows = (await connection.exec_driver_sql(
            "SELECT id, session, seq FROM frames ORDER BY id"
        )).all()
    await engine.dispose()
    assert [tuple(row) for row in rows] == [
        ((pk << 32) | seq, pk, seq) for pk in (1, 2) for seq in (1, 2)
    ]
