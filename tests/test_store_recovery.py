"""A store that fails and comes back: recording pauses, keeps frames in memory, and resumes.

Each fault is real (a lock held by another process, a SQLite file capped at its size with
max_page_count, a PostgreSQL connection killed with pg_terminate_backend) and each test waits
for events (the writer's notices), not for time. After the fault clears, new frames and new
sessions are stored, and every frame appended is either stored (once) or inside a recorded gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from recorder.store import EventLog, open_log
from recorder.store.writer import Notice
from recorder.wire import Direction, Frame, Opcode

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[1]


def _frame(t_ns: int, size: int = 100) -> Frame:
    payload = '{"type":"response.output_text.delta","delta":"' + "x" * size + '"}'
    return Frame(Direction.SERVER, t_ns, Opcode.TEXT, payload.encode())


class Notices:
    """The writer's notices, each kind awaitable."""

    def __init__(self) -> None:
        self.seen: list[Notice] = []
        self._events: dict[str, asyncio.Event] = {}

    def __call__(self, notice: Notice) -> None:
        self.seen.append(notice)
        self._event(notice.kind).set()

    def _event(self, kind: str) -> asyncio.Event:
        return self._events.setdefault(kind, asyncio.Event())

    async def wait(self, kind: str) -> Notice:
        await asyncio.wait_for(self._event(kind).wait(), 60)
        return [n for n in self.seen if n.kind == kind][-1]

    @property
    def kinds(self) -> list[str]:
        return [n.kind for n in self.seen]


async def _stored_or_gap(log: EventLog, sid: str, appended: int) -> tuple[list[int], list[int]]:
    """(stored seqs, seqs in gaps); asserts together they are 1..appended, each once."""
    stored = [f.seq async for batch in log.read(sid) for f in batch]
    lost = [seq for gap in await log.gaps(sid) for seq in range(gap.first_seq, gap.last_seq + 1)]
    assert sorted(stored + lost) == list(range(1, appended + 1))
    return stored, lost


_HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    connection.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.readline()
    connection.rollback()
    """
)


@contextlib.asynccontextmanager
async def _lock_held_by_another_process(path: Path) -> AsyncIterator[subprocess.Popen[str]]:
    holder = subprocess.Popen([PYTHON, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert await asyncio.to_thread(holder.stdout.readline) == "locked\n"
        yield holder
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.wait()


def _release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(30) == 0


async def test_a_lock_held_past_the_busy_timeout_pauses_recording_and_it_resumes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    notices = Notices()
    log = await open_log(str(path), on_notice=notices, busy_timeout=0.2, max_queue_bytes=60_000)
    sid = await log.begin_session("ga", None, None)
    for i in range(10):
        log.append(sid, _frame(i))
    await log.flush()
    async with _lock_held_by_another_process(path) as holder:
        log.append(sid, _frame(10))
        paused = await notices.wait("paused")
        assert str(paused.error) == (
            f"{path} is locked by another process: wait for it to finish (or stop it) and retry"
        )
        with pytest.raises(Exception, match="is locked by another process"):
            await log.begin_session("ga", None, None)  # no row yet: the proxy retries it
        for i in range(11, 200):
            log.append(sid, _frame(i, 1000))  # ~1 KB each: past the 60 KB buffer
        assert notices.kinds == ["paused", "dropping"]
        assert log.health()["store"] == "down"
        _release(holder)
        resumed = await notices.wait("resumed")
    later = await _one_frame_session(log)  # a new session is recorded at once
    log.append(sid, _frame(200))  # shed only by the outage: its session records again
    assert await log.end_session(sid) == "incomplete"  # its gap stays
    health = log.health()
    await log.close()
    assert notices.kinds == ["paused", "dropping", "resumed"]  # once each
    assert resumed.lost == log.frames_lost > 0  # nothing lost after the outage
    assert health["store"] == "ok" and health["gaps"] == 1 and health["sessions_shed"] == 1
    [record] = log.shed
    async with await open_log(str(path)) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 201)
        assert stored[:11] == list(range(1, 12))
        assert stored == [*range(1, lost[0]), 201]  # the gap ends at the outage's end
        assert lost == list(range(lost[0], 201))
        assert len(lost) == log.frames_lost == record.frames
        [gap] = await reopened.gaps(sid)
        assert (gap.first_seq, gap.last_seq) == (record.first_seq, record.last_seq) == (
            lost[0], 200)
        assert gap.reason == record.reason
        assert gap.reason.startswith("shed: the store is down (")
        assert (await reopened.get_session(sid)).status == "incomplete"
        assert [f.seq async for batch in reopened.read(later) for f in batch] == [1]


async def test_an_outage_that_fills_the_buffer_sheds_the_newest_session_into_a_gap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    notices = Notices()
    shed: list[object] = []
    log = await open_log(str(path), on_notice=notices, on_shed=shed.append, busy_timeout=0.2,
                         max_queue_bytes=100_000)
    older = await log.begin_session("ga", None, None)
    newer = await log.begin_session("ga", None, None)
    async with _lock_held_by_another_process(path) as holder:
        log.append(older, _frame(0))
        await notices.wait("paused")
        for i in range(1, 61):  # one burst: ~120 KB in all, past half the 100 KB buffer
            log.append(older, _frame(i, 1000))
            log.append(newer, _frame(i, 1000))
        assert notices.kinds == ["paused", "dropping"]
        assert "the newest sessions are shed" in str(notices.seen[-1].error)
        _release(holder)
        await notices.wait("resumed")
    assert await log.end_session(older) == "complete"  # every frame waited in memory
    assert await log.end_session(newer) == "incomplete"
    health = log.health()
    await log.close()
    [record] = log.shed
    assert shed == [record] and health["sessions_shed"] == 1
    assert record.reason.startswith("shed: the store is down (")
    async with await open_log(str(path)) as reopened:
        assert [f.seq async for batch in reopened.read(older) for f in batch] == list(
            range(1, 62))
        assert await reopened.gaps(older) == []
        stored, lost = await _stored_or_gap(reopened, newer, 60)
        [gap] = await reopened.gaps(newer)
        assert (gap.first_seq, gap.last_seq, gap.reason) == (
            record.first_seq, record.last_seq, record.reason)
        assert lost == list(range(len(stored) + 1, 61)) and log.frames_lost == len(lost)
        assert (await reopened.get_session(newer)).status == "incomplete"


async def test_a_full_disk_then_freed_pauses_recording_and_it_resumes(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    notices = Notices()
    log = await open_log(str(path), on_notice=notices, max_queue_bytes=200_000)
    sid = await log.begin_session("ga", None, None)
    for i in range(20):
        log.append(sid, _frame(i))
    await log.flush()
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection: Any, _record: object) -> None:  # the disk is full
        dbapi_connection.cursor().execute(f"PRAGMA max_page_count={pages}")

    engine = log._db.engine
    await engine.dispose()
    event.listen(engine.sync_engine, "connect", cap)
    for i in range(20, 35):
        log.append(sid, _frame(i, 5000))  # fits in the buffer (under half: nothing is shed)
    paused = await notices.wait("paused")
    assert str(paused.error) == (
        f"{path} is full (no space left for it): free some space and retry; what was already "
        "stored is kept"
    )
    for i in range(35, 100):
        log.append(sid, _frame(i, 5000))  # past half the 200 KB buffer: shed, into a gap
    await notices.wait("dropping")
    event.remove(engine.sync_engine, "connect", cap)  # space is freed
    await engine.dispose()
    resumed = await notices.wait("resumed")
    later = await _one_frame_session(log)  # recorded once the store answers
    await log.end_session(sid)
    await log.close()
    assert notices.kinds == ["paused", "dropping", "resumed"]
    assert resumed.lost == log.frames_lost > 0
    async with await open_log(str(path)) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 100)
        assert stored[:20] == list(range(1, 21)) and len(stored) > 20 and lost
        assert (await reopened.get_session(later)).frames == 1


async def test_a_batch_whose_commit_answer_was_lost_is_not_stored_twice(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    notices = Notices()
    log = await open_log(str(path), on_notice=notices)
    sid = await log.begin_session("ga", None, None)
    database = log._db
    writing = database.writing
    broken = [True]

    @contextlib.asynccontextmanager
    async def answer_lost() -> AsyncIterator[Any]:
        async with writing() as connection:
            yield connection
        if broken[0]:  # committed, but the writer hears of a failure (as on a killed socket)
            broken[0] = False
            raise OSError("connection reset after COMMIT")

    database.writing = answer_lost  # type: ignore[method-assign]
    for i in range(50):
        log.append(sid, _frame(i))
    await log.flush()
    await log.end_session(sid)
    await log.close()
    assert notices.kinds == ["paused", "resumed"]
    async with await open_log(str(path)) as reopened:
        assert [f.seq async for batch in reopened.read(sid) for f in batch] == list(range(1, 51))
        info = await reopened.get_session(sid)
        assert (info.frames, info.status, info.gaps) == (50, "complete", 0)


@pytest.mark.postgres
async def test_a_killed_postgresql_connection_pauses_recording_and_it_resumes(
    pg_url: str,
) -> None:
    import asyncpg

    notices = Notices()
    log = await open_log(pg_url, on_notice=notices)
    sid = await log.begin_session("ga", None, None)
    for i in range(10):
        log.append(sid, _frame(i))
    await log.flush()
    url = make_url(pg_url)
    admin = await asyncpg.connect(
        url.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False), timeout=10)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()", url.database)
    finally:
        await admin.close()
    assert killed >= 1  # the writer's pooled connection
    for i in range(10, 100):
        log.append(sid, _frame(i))
    paused = await notices.wait("paused")
    resumed = await notices.wait("resumed")
    later = await _one_frame_session(log)  # recorded once the store answers
    await log.end_session(sid)
    await log.close()
    message = str(paused.error)
    assert message.startswith(f"lost the connection to {log.display} (")
    assert message.endswith(
        "): the server closed it (it restarted, or the connection was terminated); check that "
        "the server is running"
    )
    assert (notices.kinds, resumed.lost, log.frames_lost) == (["paused", "resumed"], 0, 0)
    async with await open_log(pg_url) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 100)
        assert (stored, lost) == (list(range(1, 101)), [])  # every frame, once
        assert (await reopened.get_session(sid)).status == "complete"
        assert (await reopened.get_session(later)).frames == 1


async def test_a_quiet_live_session_beside_a_busy_one_keeps_its_heartbeat_and_is_not_deleted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    log = await open_log(str(path), flush_interval=0.2, max_queue_bytes=2**30)
    quiet = await log.begin_session("ga", None, None)
    busy = await log.begin_session("ga", None, None)
    await log.flush()
    first_seen = _last_seen(path, quiet)
    flooding = True

    async def flood() -> None:  # the writer's queue is never empty while this runs
        n = 0
        while flooding:
            for _ in range(2000):
                log.append(busy, _frame(n))
                n += 1
            await asyncio.sleep(0)

    flooder = asyncio.ensure_future(flood())
    try:
        while _last_seen(path, quiet) == first_seen:  # the heartbeat: event, not a sleep
            await asyncio.sleep(0.05)
        assert log.health()["queue_frames"] > 0
        # (the flood stops here: a writer holding the lock back to back would starve the
        # delete's BEGIN IMMEDIATE past its busy timeout on a loaded machine)
        flooding = False
        await flooder
        delete = await asyncio.create_subprocess_exec(
            PYTHON, "-c", "from recorder.cli import main; main()", "delete", str(path), quiet,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=ROOT,
        )
        out, err = await asyncio.wait_for(delete.communicate(), 120)
    finally:
        flooding = False
        await flooder
    await log.end_session(quiet)
    await log.end_session(busy)
    await log.close()
    assert (delete.returncode, out, err.decode()) == (1, b"", (
        f"Error: session {quiet} is still being recorded by {socket.gethostname()}:{os.getpid()}"
        ": wait for it to end (or for it to read as interrupted)\n"
    ))
    async with await open_log(str(path)) as reopened:
        assert (await reopened.get_session(quiet)).status == "complete"


async def _one_frame_session(log: EventLog) -> str:
    """A new session of one frame, ended complete: recording goes on after the fault."""
    sid = await log.begin_session("ga", None, None)
    log.append(sid, _frame(0))
    assert await log.end_session(sid) == "complete"
    return sid


def _last_seen(path: Path, sid: str) -> float:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return float(connection.execute(
            "SELECT last_seen FROM sessions WHERE id = ?", (sid,)).fetchone()[0])


def test_sessions_replay_and_export_show_a_sessions_gaps(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from recorder.cli import cli

    path = tmp_path / "log.db"

    async def record() -> str:
        log = await open_log(str(path), flush_interval=60.0, batch_size=10**6,
                             max_queue_bytes=10_000)
        sid = await log.begin_session("ga", "m", None)
        created = b'{"type":"session.created","session":{"type":"realtime","model":"m"}}'
        log.append(sid, Frame(Direction.SERVER, 0, Opcode.TEXT, created))
        for i in range(1, 8):
            log.append(sid, _frame(i * 10**9, 1000))  # half the bound is crossed at the 5th
        await log.end_session(sid)
        await log.close()
        return sid

    sid = asyncio.run(record())
    runner = CliRunner()
    listed = runner.invoke(cli, ["sessions", str(path)], catch_exceptions=False)
    assert listed.exit_code == 0
    assert listed.stdout.splitlines()[1].split()[-5:] == [
        "incomplete", "3", "in", "1", "gap"]
    note = (f"note: session {sid} is incomplete: 3 frames not recorded, in 1 gap: seq 6-8 "
            "(3 frames, 5.00s-7.00s): shed: the writer fell behind (4 KiB waiting)")
    assert listed.stdout.splitlines()[2] == (
        f"  gap in {sid}: seq 6-8 (3 frames, 5.00s-7.00s): shed: the writer fell behind "
        "(4 KiB waiting)"
    )
    replayed = runner.invoke(cli, ["replay", str(path)], catch_exceptions=False)
    assert replayed.exit_code == 0 and replayed.stderr.splitlines() == [note]
    exported = runner.invoke(cli, ["export", str(path), "--out", str(tmp_path / "out")],
                             catch_exceptions=False)
    assert exported.exit_code == 0 and note in exported.stderr.splitlines()

    async def served() -> str | None:
        from recorder.serve import load_recording

        async with await open_log(str(path)) as log:
            return (await load_recording(log, sid)).gaps_note

    assert asyncio.run(served()) == note  # rtrec serve prints it under its banner


async def test_a_batch_the_store_refuses_for_good_is_a_gap_and_recording_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    notices = Notices()
    log = await open_log(str(path), on_notice=notices, batch_size=10)
    sid = await log.begin_session("ga", None, None)
    insert = log._writer._insert_sqlite  # SQLite's: in the driver's thread
    refused = [True]

    def refuse_once(db: Any, rows: list[tuple[Any, ...]]) -> None:
        if refused[0]:
            refused[0] = False
            raise TypeError("a value the driver cannot bind")
        insert(db, rows)

    log._writer._insert_sqlite = refuse_once  # type: ignore[method-assign]
    for i in range(10):
        log.append(sid, _frame(i))
    await log.flush()
    for i in range(10, 20):
        log.append(sid, _frame(i))
    assert await log.end_session(sid) == "incomplete"
    await log.close()
    assert notices.kinds == ["dropping"]
    assert "a write was refused and is not retried" in str(notices.seen[0].error)
    async with await open_log(str(path)) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 20)
        assert (stored, lost) == (list(range(11, 21)), list(range(1, 11)))
        [gap] = await reopened.gaps(sid)
        assert gap.reason == "refused by the store"
