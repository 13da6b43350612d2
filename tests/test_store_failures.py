"""Bad databases and failing disks: one clear line, and nothing already stored is lost."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import event

from recorder.errors import RtrecError
from recorder.store import open_log
from recorder.store.writer import Notice
from recorder.wire import Direction, Frame, Opcode

PYTHON = sys.executable
ROOT = Path(__file__).resolve().parents[1]


def _frame(t_ns: int, size: int = 100) -> Frame:
    payload = '{"type":"response.output_text.delta","delta":"' + "x" * size + '"}'
    return Frame(Direction.SERVER, t_ns, Opcode.TEXT, payload.encode())


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def _open_error(db: str, **kwargs: float) -> str:
    with pytest.raises(RtrecError) as caught:
        log = await open_log(db, **kwargs)
        await log.close()
    return str(caught.value)


async def test_a_text_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 20)
    before = _digest(path)
    message = await _open_error(str(path))
    assert message == (
        f"{path} is not an rtrec database (not SQLite, or corrupt): check the path, or move the "
        "file away to start a new log"
    )
    assert _digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.db"]


async def test_a_corrupt_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with await open_log(str(path)) as log:
        sid = await log.begin_session("ga", None, None)
        for i in range(200):
            log.append(sid, _frame(i, 2000))
    data = bytearray(path.read_bytes())
    data[100:32768] = b"\xa5" * (32768 - 100)  # smash the schema page
    path.write_bytes(bytes(data))
    message = await _open_error(str(path))
    assert message.startswith(f"{path} is ")
    assert "move" in message and "\n" not in message


async def test_someone_elses_sqlite_database_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE users (name TEXT)")
    before = _digest(path)
    message = await _open_error(str(path))
    assert message == (
        f"{path} is a SQLite database but not an rtrec event log (it has other tables): "
        "give another path"
    )
    assert _digest(path) == before


async def test_a_missing_directory_and_a_directory_are_refused(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "log.db"
    assert await _open_error(str(missing)) == (
        f"cannot create {missing}: directory {missing.parent} does not exist"
    )
    assert await _open_error(str(tmp_path)) == (
        f"{tmp_path} is a directory: give a database file path"
    )


async def test_a_database_from_a_newer_rtrec_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with await open_log(str(path)) as log:
        await log.begin_session("ga", None, None)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    message = await _open_error(str(path))
    assert message == (
        f"{path} was written by a newer rtrec (schema revision 9999_from_the_future): "
        "upgrade rtrec to open it"
    )
    with sqlite3.connect(path) as connection:  # and it was not touched
        assert connection.execute("SELECT count(*) FROM sessions").fetchone() == (1,)


async def test_a_database_from_a_newer_rtrec_with_tables_of_its_own_is_refused_as_newer(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    async with await open_log(str(path)) as log:
        await log.begin_session("ga", None, None)
    with sqlite3.connect(path) as connection:  # a later migration added a table
        connection.execute("CREATE TABLE tables_of_a_later_rtrec (x INTEGER)")
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    assert await _open_error(str(path)) == (
        f"{path} was written by a newer rtrec (schema revision 9999_from_the_future): "
        "upgrade rtrec to open it"
    )


async def test_a_database_with_rtrec_like_tables_but_no_frames_is_not_taken(
    tmp_path: Path,
) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:  # another tool's, with its own alembic history
        connection.execute("CREATE TABLE alembic_version (version_num TEXT)")
        connection.execute("CREATE TABLE sessions (id INTEGER)")
        connection.execute("CREATE TABLE users (id INTEGER)")
    assert await _open_error(str(path)) == (
        f"{path} is a SQLite database but not an rtrec event log (it has other tables): "
        "give another path"
    )


async def test_a_locked_database_gives_up_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with await open_log(str(path)) as log:
        await log.begin_session("ga", None, None)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        message = await _open_error(str(path), busy_timeout=0.05)
    finally:
        holder.rollback()
        holder.close()
    assert message == (
        f"{path} is locked by another process: wait for it to finish (or stop it) and retry"
    )


async def test_a_read_only_database_is_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with await open_log(str(path)) as log:
        first = await log.begin_session("ga", None, None)
    if os.geteuid() != 0:
        for entry in (*tmp_path.iterdir(), tmp_path):
            entry.chmod(0o555 if entry.is_dir() else 0o444)
    try:
        log = await open_log(str(path))
        if os.geteuid() == 0:
            # root ignores file modes: make SQLite itself refuse writes, as it does for a
            # read-only file
            await log._db.engine.dispose()
            event.listen(log._db.engine.sync_engine, "connect", _query_only)
        with pytest.raises(RtrecError) as caught:
            await log.begin_session("ga", None, None)
        listed = [s.id for s in await log.list_sessions()]
        await log.close()
    finally:
        tmp_path.chmod(0o755)
        for entry in tmp_path.iterdir():
            entry.chmod(0o644)
    assert str(caught.value) == f"{path} is read-only: fix its permissions or give a writable path"
    assert listed == [first]


def _query_only(dbapi_connection: object, _record: object) -> None:
    dbapi_connection.cursor().execute("PRAGMA query_only=1")  # type: ignore[attr-defined]


async def test_a_disk_that_stays_full_is_given_up_at_close_and_earlier_frames_survive(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    failures: list[Exception] = []
    notices: list[Notice] = []
    log = await open_log(str(path), on_failure=failures.append, on_notice=notices.append,
                         batch_size=50, close_timeout=0.3)
    sid = await log.begin_session("ga", None, None)
    for i in range(20):
        log.append(sid, _frame(i))
    await log.flush()
    # Simulate a full disk: cap the file at its current size for every new connection.
    pages = sqlite3.connect(path).execute("PRAGMA page_count").fetchone()[0]

    def cap(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.cursor().execute(f"PRAGMA max_page_count={pages + 1}")  # type: ignore[attr-defined]

    await log._db.engine.dispose()
    event.listen(log._db.engine.sync_engine, "connect", cap)
    for i in range(20, 2000):
        log.append(sid, _frame(i, 5000))  # never raises, never blocks
    await log.end_session(sid)  # does not wait through the outage
    await log.close()  # gives up after close_timeout: the disk stayed full
    assert len(failures) == 1 and str(log.failure) == str(failures[0])  # once per outage
    assert str(failures[0]) == (
        f"{path} is full (no space left for it): free some space and retry; what was already "
        "stored is kept"
    )
    assert [n.kind for n in notices] == ["paused", "gave_up"]
    assert log.frames_lost == 1980
    async with await open_log(str(path)) as reopened:
        info = await reopened.get_session(sid)
        seqs = [f.seq async for batch in reopened.read(sid) for f in batch]
    assert info.ended_at is None  # its end could not be written either
    assert seqs == list(range(1, 21))


async def test_a_queue_past_half_its_bound_sheds_the_session_and_records_it_as_a_gap(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    failures: list[Exception] = []
    notices: list[Notice] = []
    shed: list[object] = []
    log = await open_log(
        str(path), on_failure=failures.append, flush_interval=60.0, batch_size=10**6,
        max_queue_bytes=50_000, on_shed=shed.append, on_notice=notices.append,
    )
    sid = await log.begin_session("ga", None, None)
    for i in range(100):
        log.append(sid, _frame(i, 1000))  # ~1 KB each: half the bound is crossed near frame 24
    assert await log.end_session(sid) == "incomplete"
    await log.close()
    assert failures == [] and notices == []  # the store did not fail: recording was shed
    [record] = shed
    assert log.shed == [record]
    assert log.frames_lost == record.frames
    async with await open_log(str(path)) as reopened:
        info = await reopened.get_session(sid)
        [gap] = await reopened.gaps(sid)
        seqs = [f.seq async for batch in reopened.read(sid) for f in batch]
    assert info.status == "incomplete"
    assert 20 < len(seqs) < 30 and seqs == list(range(1, len(seqs) + 1))
    # the record names exactly the frames that are not in the log
    assert (record.first_seq, record.last_seq) == (len(seqs) + 1, 100)
    assert record.frames == 100 - len(seqs)
    assert (record.first_t_ns, record.last_t_ns) == (len(seqs), 99)
    assert record.reason == "shed: the writer fell behind (23 KiB waiting)"
    # and the log keeps it as the session's gap
    assert (gap.first_seq, gap.last_seq, gap.first_t_ns, gap.last_t_ns) == (
        record.first_seq, record.last_seq, record.first_t_ns, record.last_t_ns)
    assert (gap.frames, gap.reason) == (record.frames, record.reason)
    assert (info.gaps, info.frames_lost) == (1, gap.frames)


async def test_one_frame_larger_than_the_buffer_is_a_gap_and_recording_goes_on(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    notices: list[Notice] = []
    log = await open_log(str(path), on_notice=notices.append, max_queue_bytes=20_000)
    sid = await log.begin_session("ga", None, None)
    log.append(sid, _frame(0))
    log.append(sid, _frame(1, 30_000))
    log.append(sid, _frame(2))
    await log.end_session(sid)
    later = await log.begin_session("ga", None, None)
    log.append(later, _frame(0))
    await log.end_session(later)
    await log.close()
    assert [(n.kind, str(n.error)) for n in notices] == [("dropping", (
        "a 29 KiB frame is larger than the whole recording buffer (19 KiB): it is not recorded "
        "(a gap of one frame, the session is marked incomplete); to keep frames this big, give "
        "rtrec record a larger --buffer"
    ))]
    async with await open_log(str(path)) as reopened:
        assert [f.seq async for batch in reopened.read(sid) for f in batch] == [1, 3]
        [gap] = await reopened.gaps(sid)
        assert (gap.first_seq, gap.last_seq) == (2, 2)
        assert gap.reason == "frame larger than the recording buffer"
        assert (await reopened.get_session(sid)).status == "incomplete"
        assert (await reopened.get_session(later)).status == "complete"


def test_a_killed_recorder_loses_at_most_the_last_window_and_reads_as_interrupted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from recorder.store import open_log
        from recorder.wire import Direction, Frame, Opcode
        async def main():
            log = await open_log({str(path)!r})
            sid = await log.begin_session("ga", "m", None)
            print(sid, flush=True)
            for i in range(30):
                log.append(sid, Frame(Direction.SERVER, i, Opcode.TEXT, b'{{"type":"x"}}'))
            await log.flush()
            for i in range(30, 40):
                log.append(sid, Frame(Direction.SERVER, i, Opcode.TEXT, b'{{"type":"x"}}'))
            os.kill(os.getpid(), signal.SIGKILL)
        asyncio.run(main())
        """
    )
    result = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == -9, result.stderr
    sid = result.stdout.strip()

    async def check() -> None:
        async with await open_log(str(path)) as log:
            info = await log.get_session(sid)
            seqs = [f.seq async for batch in log.read(sid) for f in batch]
        assert info.status == "interrupted"
        assert seqs[:30] == list(range(1, 31))

    asyncio.run(check())


async def test_an_unreachable_postgresql_never_shows_the_password() -> None:
    message = await _open_error("postgresql+asyncpg://bob:hunter2@127.0.0.1:1/rtrec")
    assert "hunter2" not in message
    assert message.startswith("cannot connect to postgresql+asyncpg://bob:***@127.0.0.1:1/rtrec: ")
    assert message.endswith(
        "; check that the server is running and the URL (host, port, user, database) is right"
    )


async def test_an_unsupported_url_is_refused() -> None:
    assert await _open_error("mysql://bob:hunter2@db/x") == (
        "unsupported database URL mysql://bob:***@db/x: use a SQLite file path or "
        "postgresql+asyncpg://..."
    )


async def test_ending_a_session_on_a_failing_database_reports_instead_of_raising(
    tmp_path: Path,
) -> None:
    path = tmp_path / "log.db"
    failures: list[Exception] = []
    failed = asyncio.Event()

    def on_failure(error: Exception) -> None:
        failures.append(error)
        failed.set()

    log = await open_log(str(path), on_failure=on_failure, close_timeout=0.2)
    sid = await log.begin_session("ga", None, None)
    await log._db.engine.dispose()
    event.listen(log._db.engine.sync_engine, "connect", _query_only)
    log.update_session(sid, model="m")
    log.append(sid, _frame(1))
    await asyncio.wait_for(failed.wait(), 60)  # the writer tried, and failed
    ending = await log.end_session(sid, close_code=1000, closed_by="client")  # does not raise
    await log.close()
    assert ending == "complete (not stored yet: the store is down)"
    assert len(failures) == 1 and str(log.failure) == str(failures[0])  # once per outage
    assert str(failures[0]) == (
        f"{path} is read-only: fix its permissions or give a writable path"
    )
    assert log.frames_lost == 1  # given up at close
