"""The engine behind an event log: SQLite (WAL) or PostgreSQL, and their few SQL differences."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from recorder.errors import NotAnEventLog, RtrecError
from recorder.store.failures import explain
from recorder.store.urls import Target

# The tables an rtrec SQLite file may have; any other table means it is someone else's file.
RTREC_TABLES = frozenset({
    "alembic_version", "sessions", "event_types", "frames", "gaps",
    "stats_sessions", "stats_turns", "stats_figures",
    "view_text", "view_index", "view_peaks",
    # view_text's FTS5 table and the shadow tables SQLite keeps for it
    "view_text_fts", "view_text_fts_data", "view_text_fts_idx", "view_text_fts_docsize",
    "view_text_fts_config",
})

# An rtrec file holds at least these: with them, tables this rtrec does not know are a newer
# rtrec's, and the schema revision (recorder.store.migrate) decides what to say.
OUR_CORE = frozenset({"alembic_version", "sessions", "frames", "gaps"})

# Measured with frames appended in write order (recorder.store.schema), 50 sessions, 4 KB
# frames: 64 KiB pages store 0.77x the wire bytes (a 3 KB row leaves little slack at a page
# end), 16-32 KiB 0.80x, 4-8 KiB 1.0x; bytes written per wire byte are about equal at 16-64 KiB.
SQLITE_PAGE_SIZE = 65536
WAL_LIMIT = 16 * 2**20  # bytes the WAL file is truncated to after a checkpoint


class Database:
    """An async engine plus: one writer at a time, dialect-specific SQL, errors as one line."""

    def __init__(self, target: Target, *, busy_timeout: float = 5.0) -> None:
        self.target = target
        self.display = target.display
        self.busy_timeout = busy_timeout
        if target.path is not None:
            if target.path.is_dir():
                raise NotAnEventLog(f"{target.path} is a directory: give a database file path")
            if not target.path.parent.is_dir():
                raise RtrecError(
                    f"cannot create {target.path}: directory {target.path.parent} does not exist"
                )
            self.engine: AsyncEngine = create_async_engine(
                target.url, connect_args={"timeout": busy_timeout}
            )
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            event.listen(self.engine.sync_engine, "begin", _sqlite_begin)
        else:
            self.engine = create_async_engine(target.url, pool_pre_ping=False)
        # SQLite has one writer; serializing our own writes avoids waiting on our own locks.
        self.write_lock = asyncio.Lock()

    @property
    def is_sqlite(self) -> bool:
        return self.target.is_sqlite

    def sql(self, statement: str) -> str:
        """`statement` written with '?' placeholders, in this driver's paramstyle."""
        if self.is_sqlite:
            return statement
        parts = statement.split("?")
        out = [parts[0]]
        for number, part in enumerate(parts[1:], start=1):
            out.append(f"${number}{part}")
        return "".join(out)

    def error(self, error: BaseException) -> RtrecError:
        return explain(error, self.display, sqlite=self.is_sqlite)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, one at a time within this process."""
        async with self.write_lock, self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as connection:
            yield connection

    async def fetch(
        self, connection: AsyncConnection, statement: str, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        """All rows of a query as plain tuples, straight from the driver (no per-row wrapping:
        reading back a session is mostly this)."""
        if self.is_sqlite and not connection.in_transaction():
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            return list(await driver.execute_fetchall(statement, tuple(params)))
        result = await connection.exec_driver_sql(self.sql(statement), tuple(params))
        return [tuple(row) for row in result.all()]

    @asynccontextmanager
    async def batch_reader(
        self, statement: str
    ) -> AsyncIterator[Callable[[Sequence[Any]], Awaitable[list[tuple[Any, ...]]]]]:
        """fetch(params): all rows of `statement` for params, for reading a session back batch
        after batch (each a query of its own: no snapshot is held between batches, so a long
        read beside a busy writer does not grow the WAL). Errors come as they are (self.error
        explains them).

        On SQLite the rows come from a stdlib sqlite3 connection on the calling thread: a batch
        costs what SQLite costs (~2 ms for 1000 frames), about what the consumer then spends on
        it on the same loop, and no thread hop. Through aiosqlite's worker thread each row
        would cost a GIL hand-off besides (sqlite3 releases the GIL around every step): a
        session read 1.3-1.7x slower than the stdlib scan of the same rows (bench/replay.py).
        """
        if self.target.path is None:
            async def fetch_async(params: Sequence[Any]) -> list[tuple[Any, ...]]:
                async with self.reading() as connection:
                    return await self.fetch(connection, statement, params)

            yield fetch_async
            return
        connection = sqlite3.connect(
            self.target.path, timeout=self.busy_timeout, isolation_level=None,
            check_same_thread=False,
        )
        try:
            async def fetch_sqlite(params: Sequence[Any]) -> list[tuple[Any, ...]]:
                return connection.execute(statement, tuple(params)).fetchall()

            yield fetch_sqlite
        finally:
            connection.close()

    async def executemany(
        self, connection: AsyncConnection, statement: str, rows: list[tuple[Any, ...]]
    ) -> None:
        """One statement for many rows, inside the connection's transaction."""
        if self.is_sqlite:  # the driver's own executemany, joining SQLAlchemy's transaction
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            await driver.executemany(statement, rows)
            return
        await connection.exec_driver_sql(self.sql(statement), rows)

    async def in_sqlite_thread(
        self, work: Callable[[sqlite3.Connection], Any]
    ) -> Any:
        """Run work(connection) in the SQLite driver's own thread, as one write transaction
        (BEGIN IMMEDIATE ... COMMIT, rolled back if it raises), one at a time within this
        process. For the writer's batches: one hop to the driver's thread and back per batch,
        instead of one per statement plus SQLAlchemy's begin and commit (at 10 sessions those
        cost ~7% of the event loop's time). A driver error is raised as SQLAlchemy would
        (DBAPIError, the driver's error as .orig), so failures read as on the usual path."""
        assert self.is_sqlite
        async with self.write_lock, self.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            try:
                return await driver._execute(_transaction, driver._conn, work)
            except sqlite3.Error as error:
                raise DBAPIError.instance(None, None, error, sqlite3.Error) from error

    async def write(
        self, statement: str, params: Sequence[Any] | list[Sequence[Any]], *, many: bool = False
    ) -> list[tuple[Any, ...]]:
        """One write transaction of one statement ('?' placeholders) with params (many: for
        each of a list of them); the rows it returns. On SQLite, one hop to the driver's
        thread and back (in_sqlite_thread): a session's row or a heartbeat through SQLAlchemy's
        begin and commit cost ~0.5-0.8 ms of the event loop's CPU each here, several times
        this. Errors come as they would from writing()."""
        if self.is_sqlite:
            def work(connection: sqlite3.Connection) -> list[tuple[Any, ...]]:
                if many:
                    connection.executemany(statement, params)
                    return []
                return connection.execute(statement, params).fetchall()

            rows: list[tuple[Any, ...]] = await self.in_sqlite_thread(work)
            return rows
        async with self.writing() as connection:
            result = await connection.exec_driver_sql(self.sql(statement), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []

    async def prepare(self) -> None:
        """Check a SQLite file is ours (or new) before touching it; set up a new one for WAL."""
        if self.target.path is not None:
            await asyncio.to_thread(_prepare_sqlite_file, self.target.path, self.busy_timeout)

    async def dispose(self) -> None:
        await self.engine.dispose()


def _transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], Any]) -> Any:
    """work(connection) inside BEGIN IMMEDIATE ... COMMIT (see Database.in_sqlite_thread)."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        result = work(connection)
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return result


def _prepare_sqlite_file(path: Path, busy_timeout: float) -> None:
    connection = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    try:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )}
        if not tables:  # new: page size and WAL must be chosen before the first table
            connection.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            _switch_to_wal(connection, busy_timeout)
        elif not tables <= RTREC_TABLES and not tables >= OUR_CORE:
            # other tables beside our core ones: a newer rtrec's (the revision check says so)
            raise NotAnEventLog(
                f"{path} is a SQLite database but not an rtrec event log (it has other tables): "
                "give another path"
            )
    finally:
        connection.close()


def _switch_to_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """PRAGMA journal_mode=WAL, retried: it fails at once, without the busy timeout, while
    another recorder opening the same new file holds it for a moment."""
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        time.sleep(0.01)


def _sqlite_begin(connection: Any) -> None:
    """Every transaction we open writes: take the write lock up front (waiting up to the busy
    timeout), so migrations are atomic and no transaction fails halfway on a lock upgrade."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # We say when transactions begin (see _sqlite_begin); the driver's own implicit BEGIN
    # before DML would leave DDL, and so migrations, outside any transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA synchronous=NORMAL")  # per connection; safe with WAL
        # Checkpoint every ~4 MiB, as SQLite does with its default page size, so the WAL is
        # copied back while the writer works instead of all at once on close.
        cursor.execute(f"PRAGMA wal_autocheckpoint={4 * 2**20 // SQLITE_PAGE_SIZE}")
        # A checkpoint cannot reset the WAL while a reader holds an old snapshot, so a long read
        # beside a busy writer grows it; this cuts it back to its bound at the next checkpoint.
        cursor.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
    finally:
        cursor.close()
