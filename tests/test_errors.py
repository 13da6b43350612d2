"""Library failures are typed (subclasses of RtrecError) and keep their cause; the CLI's line
for each is pinned in the CLI tests."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest

from recorder.errors import (
    AmbiguousSession,
    BadReceiver,
    CannotListen,
    NewerSchema,
    NoCassette,
    NoSessions,
    NotAnEventLog,
    NotAnImportFile,
    OutputNotWritable,
    RtrecError,
    StoreFull,
    StoreLocked,
    StoreUnreachable,
    UnknownSession,
)
from recorder.export import check_output_dir
from recorder.output_dir import staged_output
from recorder.replay import load_receiver
from recorder.store import open_log
from recorder.store.failures import explain
from recorder.store.transfer import check_file
from recorder.stream import file_steps


@pytest.mark.parametrize(("driver", "kind", "advice"), [
    ("database is locked", StoreLocked,
     "is locked by another process: wait for it to finish (or stop it) and retry"),
    ("database or disk is full", StoreFull,
     "is full (no space left for it): free some space and retry; what was already stored is kept"),
    ("file is not a database", NotAnEventLog,
     "is not an rtrec database (not SQLite, or corrupt): check the path, or move the file away "
     "to start a new log"),
])
def test_sqlite_failures_have_their_type_and_message(
    driver: str, kind: type[RtrecError], advice: str
) -> None:
    driver_error = sqlite3.OperationalError(driver)
    error = explain(driver_error, "x.db", sqlite=True)
    assert type(error) is kind
    assert error.__cause__ is driver_error
    assert str(error) == f"x.db {advice}"


async def test_a_file_that_is_not_a_database_is_not_an_event_log_and_keeps_its_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(NotAnEventLog) as caught:
        await open_log(str(path), create=False)
    assert caught.value.__cause__ is not None


async def test_a_foreign_sqlite_file_is_not_an_event_log(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(NotAnEventLog):
        await open_log(str(path), create=False)


async def test_an_unknown_session_is_typed(tmp_path: Path) -> None:
    async with await open_log(str(tmp_path / "log.db")) as log:
        await log.begin_session("ga", None, None)
        with pytest.raises(UnknownSession, match=r"^no session zzz in "):
            await log.get_session("zzz")


async def test_an_empty_log_has_no_sessions_and_that_is_an_unknown_session(
    tmp_path: Path,
) -> None:
    async with await open_log(str(tmp_path / "log.db")) as log:
        with pytest.raises(NoSessions) as caught:
            await log.get_session()
    assert isinstance(caught.value, UnknownSession)
    assert str(caught.value) == f"no sessions in {log.display} yet: record or import one first"


async def test_a_prefix_of_two_sessions_is_ambiguous(tmp_path: Path) -> None:
    async with await open_log(str(tmp_path / "log.db")) as log:
        first = await log.begin_session("ga", None, None)
        second = await log.begin_session("ga", None, None)
        prefix = first[:8]  # the ids start with the creation time in hex milliseconds
        assert second.startswith(prefix)
        with pytest.raises(AmbiguousSession) as caught:
            await log.get_session(prefix)
    assert isinstance(caught.value, UnknownSession)
    assert str(caught.value) == (
        f"session id {prefix} is ambiguous in {log.display}: give more of it"
    )


async def test_a_refused_postgresql_connection_is_unreachable_and_keeps_its_cause() -> None:
    url = "postgresql+asyncpg://bob@127.0.0.1:1/rtrec"  # nothing listens on port 1
    with pytest.raises(StoreUnreachable) as caught:
        await open_log(url, create=False)
    assert str(caught.value).startswith(f"cannot connect to {url}: ")
    assert str(caught.value).endswith(
        "; check that the server is running and the URL (host, port, user, database) is right"
    )
    assert caught.value.__cause__ is not None
    assert not isinstance(caught.value.__cause__, RtrecError)


@pytest.mark.postgres
async def test_a_killed_postgresql_connection_is_unreachable_not_a_database_error(
    pg_url: str,
) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    async with await open_log(pg_url) as log:
        await log.begin_session("ga", None, None)
        await log.list_sessions()  # the pool now holds an open connection
        url = make_url(pg_url)
        admin = await asyncpg.connect(
            url.set(drivername="postgresql").render_as_string(hide_password=False), timeout=10)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()", url.database)
        finally:
            await admin.close()
        assert killed >= 1
        with pytest.raises(StoreUnreachable) as caught:
            await log.list_sessions()
        assert len(await log.list_sessions()) == 1  # the next read gets a new connection
    message = str(caught.value)
    assert message.startswith(f"lost the connection to {log.display} (")
    assert message.endswith(
        "): the server closed it (it restarted, or the connection was terminated); check that "
        "the server is running"
    )
    assert "\n" not in message
    assert caught.value.__cause__ is not None
    assert not isinstance(caught.value.__cause__, RtrecError)


def test_a_bad_line_of_an_import_file_is_not_an_import_file_and_keeps_its_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "session.update"}\n{not json\n')
    with pytest.raises(NotAnImportFile) as caught:
        check_file(path)
    assert str(caught.value) == (
        f"{path}:2 is not a JSON object: give JSONL (one event per line), a JSON array of "
        "events, or an `rtrec dump` file"
    )
    assert caught.value.__cause__ is not None
    assert not isinstance(caught.value.__cause__, RtrecError)


def test_an_unreadable_import_file_keeps_its_os_error(tmp_path: Path) -> None:
    path = tmp_path / "missing.jsonl"
    with pytest.raises(NotAnImportFile) as caught:
        check_file(path)
    assert str(caught.value) == f"cannot read {path}: No such file or directory"
    assert isinstance(caught.value.__cause__, FileNotFoundError)


def test_a_session_asked_of_a_file_is_an_unknown_session(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"type": "session.update"}\n')
    with pytest.raises(UnknownSession, match=r"holds one session and no session id"):
        list(file_steps(path, "abc"))


async def test_a_taken_port_is_cannot_listen_and_keeps_its_os_error() -> None:
    from recorder.serve import Recording, ReplayServer

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ReplayServer(Recording.from_frames([], session_id="s1"))
        with pytest.raises(CannotListen) as caught:
            await server.start("127.0.0.1", port)
    assert str(caught.value).startswith(f"cannot listen on 127.0.0.1:{port} (")
    assert str(caught.value).endswith("): choose another --listen")
    assert isinstance(caught.value.__cause__, OSError)


def test_an_output_directory_that_is_a_file_is_not_writable(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_text("a file, not a directory")
    with pytest.raises(OutputNotWritable) as caught:
        check_output_dir(out)
    assert str(caught.value) == (
        f"--out {out} is a file, not a folder: give the path of a folder (created if missing)"
    )
    with pytest.raises(OutputNotWritable, match=r" cannot be made: "):
        check_output_dir(out / "inside")


def test_an_error_naming_a_staged_file_keeps_its_type_and_cause(tmp_path: Path) -> None:
    out = tmp_path / "out"
    cause = OSError("disk")
    with pytest.raises(StoreFull) as caught, staged_output(out) as stage:
        raise StoreFull(f"{stage / 'user.wav'} is full") from cause
    assert str(caught.value) == f"{out / 'user.wav'} is full"
    assert caught.value.__cause__ is cause


async def test_a_log_from_a_newer_rtrec_is_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    async with await open_log(str(path)) as log:
        await log.begin_session("ga", None, None)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    with pytest.raises(NewerSchema, match=r"was written by a newer rtrec"):
        await open_log(str(path), create=False)


@pytest.mark.postgres
async def test_a_postgresql_database_with_other_tables_is_not_an_event_log(pg_url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    connection = await asyncpg.connect(
        make_url(pg_url).set(drivername="postgresql").render_as_string(hide_password=False),
        timeout=10)
    try:
        await connection.execute("CREATE TABLE users (name text)")
    finally:
        await connection.close()
    with pytest.raises(NotAnEventLog) as caught:
        await open_log(pg_url)
    assert str(caught.value).endswith(
        " is a postgresql database but not an rtrec event log (it has other tables): give "
        "another path"
    )


@pytest.mark.parametrize(("path", "message"), [
    ("nocolon", "--receiver 'nocolon': expected module:Class, e.g. myapp.agent:Agent"),
    ("recorder.errors:Missing", "--receiver recorder.errors:Missing: module recorder.errors "
     "has no Missing"),
    ("recorder.errors:RtrecError", "--receiver recorder.errors:RtrecError: RtrecError is not a "
     "subclass of recorder.RealtimeEventReceiver (or, for a Live session, of "
     "recorder.live.receiver.LiveEventReceiver)"),
])
def test_a_receiver_that_cannot_be_loaded_is_a_bad_receiver(path: str, message: str) -> None:
    with pytest.raises(BadReceiver) as caught:
        load_receiver(path)
    assert str(caught.value) == message


def test_a_receiver_module_that_fails_to_import_keeps_its_error() -> None:
    with pytest.raises(BadReceiver, match=r"cannot import no_such_module_e2 ") as caught:
        load_receiver("no_such_module_e2:Agent")
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


async def test_a_missing_log_or_a_directory_is_not_an_event_log(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(NotAnEventLog) as caught:
        await open_log(str(missing), create=False)
    assert str(caught.value) == (
        f"{missing} does not exist: check the path (recording or importing creates it)"
    )
    assert not missing.exists()
    with pytest.raises(NotAnEventLog) as caught:
        await open_log(str(tmp_path))
    assert str(caught.value) == f"{tmp_path} is a directory: give a database file path"


async def test_a_cassette_without_a_session_is_no_cassette(tmp_path: Path) -> None:
    from recorder.cassette import Cassette

    path = tmp_path / "t.db"
    await (await open_log(str(path))).close()  # an event log with no session in it
    cassette = Cassette(path, "none")
    with pytest.raises(NoCassette) as caught:
        await cassette.start()
    assert str(caught.value) == (
        f"cassette {path} holds no session: record it with --record-mode=once"
    )
