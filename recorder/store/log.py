"""EventLog: the append-only log of Realtime sessions, on SQLite or PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from recorder.errors import (
    AmbiguousSession,
    NoSessions,
    NotAnEventLog,
    RtrecError,
    UnknownSession,
)
from recorder.redact import Redaction
from recorder.store import schema
from recorder.store.codec import KIND_COLUMNS, REDACTIONS, ROW_COLUMNS, RowReader, SplitFrame
from recorder.store.codec import StoredFrame as StoredFrame  # its public home: recorder.store
from recorder.store.db import Database
from recorder.store.journal import Journal
from recorder.store.revision import HEAD_REVISION
from recorder.store.urls import parse_db, scrub_endpoint
from recorder.store.writer import BatchWriter, Notice, ShedRecord
from recorder.wire import Frame

if TYPE_CHECKING:
    from recorder.stats.sender import TraceSender
    from recorder.stats.worker import FiguresWorker

STATUSES = ("complete", "interrupted", "incomplete")
CLOSED_BY = ("client", "server", "proxy")
# Seconds between commits. Each commit rewrites the page at the end of the table and a page of
# the (session, seq) index per open session: at 50 interleaved sessions of 4 KB frames at
# 2,000 frames/s, sqlite3 alone wrote 3.3x the wire bytes at 0.05 s, 2.5x at 0.1 s, 2.1x at
# 0.2 s, 1.7x at 1 s; `rtrec record` at 0.2 s writes 2.5x (bench/proxy.py). A SIGKILL loses
# about two intervals' worth.
FLUSH_INTERVAL = 0.2
_MAX_SEQ = 2**31 - 1  # the seq column is a 32-bit signed integer


class _SessionRow(NamedTuple):
    """A sessions row as the log reads it: each field is the column of that name."""

    pk: int
    id: str
    started_at: float | None
    ended_at: float | None
    last_seen: float
    heartbeat: float
    recorder: str | None
    protocol: str | None
    model: str | None
    endpoint: str | None
    status: str
    close_code: int | None
    close_reason: str | None
    closed_by: str | None
    frames: int
    client_frames: int
    server_frames: int
    upstream_id: str | None
    connection: str | None
    parent_id: str | None


_SESSION_COLUMNS = schema.column_list(schema.sessions, _SessionRow._fields)
# Sessions sort by start; one whose start is unknown (an import) by when it was written.
_STARTED = "COALESCE(started_at, last_seen)"
T = TypeVar("T")  # what read_parts makes of each frame
# what read_parts selects: a step's columns (each fewer column is ~0.03 s an hour of frames)
_PART_COLUMNS = ("seq", "t_ns", "direction", "opcode", "type", "stripped", "data", "audio_at",
                 "audio")


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: str
    started_at: datetime | None  # None: unknown (an imported file does not say)
    ended_at: datetime | None  # None: not ended yet, or unknown (started_at None too)
    protocol: str | None
    model: str | None
    endpoint: str | None
    status: str  # recording | complete | interrupted | incomplete
    close_code: int | None
    close_reason: str | None
    closed_by: str | None
    frames: int
    client_frames: int
    server_frames: int
    gaps: int = 0  # runs of frames the recorder could not keep (see EventLog.gaps)
    frames_lost: int = 0  # frames inside those gaps
    # The API's own id of the session (Live: from session.started), how it was reached (Live:
    # primary, attach, fork) and, for a sideband or fork, the API id of the session it
    # belongs to (from the handshake's path). None: not known (every Realtime session).
    upstream_id: str | None = None
    connection: str | None = None
    parent_id: str | None = None


@dataclass(frozen=True, slots=True)
class GapInfo:
    """Frames first_seq..last_seq of a session were not kept (session times first_t..last_t)."""

    first_seq: int
    last_seq: int
    first_t_ns: int
    last_t_ns: int
    frames: int
    reason: str

    def describe(self) -> str:
        """One short line: 'seq 12-40 (29 frames, 1.20s-2.35s): store down, buffer full'."""
        seqs = f"{self.first_seq}" if self.first_seq == self.last_seq else (
            f"{self.first_seq}-{self.last_seq}"
        )
        return (
            f"seq {seqs} ({self.frames} frame{'s' if self.frames != 1 else ''}, "
            f"{self.first_t_ns / 1e9:.2f}s-{self.last_t_ns / 1e9:.2f}s): {self.reason}"
        )


# GapInfo's fields are gaps columns of the same names: the select is derived from them.
_GAP_FIELDS = tuple(field.name for field in fields(GapInfo))
_GAP_COLUMNS = schema.column_list(schema.gaps, _GAP_FIELDS)


def gaps_line(session_id: str, gaps: list[GapInfo]) -> str | None:
    """What replay, export and serve say about a session with gaps (None: it has none)."""
    if not gaps:
        return None
    lost = sum(gap.frames for gap in gaps)
    shown = "; ".join(gap.describe() for gap in gaps[:3])
    more = f"; and {len(gaps) - 3} more" if len(gaps) > 3 else ""
    return (
        f"note: session {session_id} is incomplete: {lost} frame{'s' if lost != 1 else ''} "
        f"not recorded, in {len(gaps)} gap{'s' if len(gaps) != 1 else ''}: {shown}{more}"
    )


def scanned_line(seqs: list[int]) -> str | None:
    """What replay says of a session's frames redacted by a byte scan (None: it has none)."""
    if not seqs:
        return None
    shown = ", ".join(str(seq) for seq in seqs[:10])
    more = f" and {len(seqs) - 10} more" if len(seqs) > 10 else ""
    many = len(seqs) != 1
    return (
        f"note: {len(seqs)} frame{'s' if many else ''} could not be parsed and "
        f"{'were' if many else 'was'} redacted by a byte scan (seq {shown}{more})"
    )


AudioMode = Literal["base64", "bytes"]


@dataclass
class _Recording:
    pk: int
    last_seq: int = 0


async def open_log(
    db: str,
    *,
    flush_interval: float = FLUSH_INTERVAL,
    batch_size: int = 1000,
    on_failure: Callable[[Exception], object] | None = None,
    busy_timeout: float = 5.0,
    max_queue_bytes: int = 64 * 2**20,
    create: bool = True,
    on_notice: Callable[[Notice], object] | None = None,
    close_timeout: float = 10.0,
    on_shed: Callable[[ShedRecord], object] | None = None,
    live: bool = False,
    journal: str | os.PathLike[str] | None = None,
    journal_bytes: int = 1024 * 2**20,
    figures: str | None = None,
    figures_share: float = 0.25,
    traces: TraceSender | None = None,
) -> EventLog:
    """Open (creating and migrating as needed) the event log at `db`: a path or a URL.

    create=False refuses a SQLite path that does not exist (commands that only read use it,
    so a mistyped path is an error, not a new empty log). on_failure hears of each outage as
    it begins; on_notice of each outage, its end, and frames dropped (writer.Notice).
    close_timeout: how long close() keeps retrying a store that is down before giving up.
    on_shed hears of each session whose recording is shed because the writer fell behind
    (see recorder.store.writer). live=True (a proxy in front of calls) also sheds recording
    when the event loop runs late. journal (PostgreSQL only): a local file where frames go
    when the store is down past max_queue_bytes, up to journal_bytes (recorder.store.journal);
    one left by an earlier run is written into the store first.
    figures: "module:function" of the fold (a recorder.stats.table.Compute) that computes
    each session's figures once its end is stored, in one worker process of the recorder,
    within figures_share of one core (recorder.stats.worker); traces (rtrec record --otlp):
    the same process encodes each session's trace from those figures and this sender sends
    it. Without figures, figures are computed on first use.
    """
    target = parse_db(db)
    if not create and target.path is not None and not target.path.exists():
        raise NotAnEventLog(
            f"{target.path} does not exist: check the path (recording or importing creates it)"
        )
    if journal is not None and target.is_sqlite:
        raise RtrecError(JOURNAL_NEEDS_POSTGRESQL)
    spill, existed = None, False
    if journal is not None:
        journal_path = Path(journal)
        existed = journal_path.exists()
        spill = Journal(journal_path, journal_bytes, target.display)
    try:
        database = Database(target, busy_timeout=busy_timeout)
    except BaseException:
        _discard(spill, existed=existed)
        raise
    try:
        await database.prepare()
        if not await _at_head(database):  # no write lock needed to see that: readers skip it
            from recorder.store import migrate  # Alembic: only for a database to upgrade

            async with database.writing() as connection:
                await migrate.upgrade(connection, database.display)
    except Exception as error:
        await database.dispose()
        _discard(spill, existed=existed)
        explained = database.error(error)  # error is its __cause__ (unless it is one already)
        raise explained from explained.__cause__
    log = EventLog(
        database, flush_interval, batch_size, on_failure, max_queue_bytes, on_shed,
        on_notice=on_notice, close_timeout=close_timeout, live=live, journal=spill,
    )
    if figures is not None:
        from recorder.stats.worker import FiguresWorker

        log.figures = FiguresWorker(
            db, figures, share=figures_share, busy=log.behind,
            open_options={"busy_timeout": busy_timeout}, traces=traces,
        )
    return log


JOURNAL_NEEDS_POSTGRESQL = (
    "--journal is for PostgreSQL stores (a SQLite --db is on local disk already): drop "
    "--journal, or record into a postgresql:// URL"
)


def _discard(journal: Journal | None, *, existed: bool) -> None:
    """Opening the store failed: close the journal, and remove it if this run made it."""
    if journal is None:
        return
    journal.close()
    if not existed and not journal.frames:
        for name in (str(journal.path), f"{journal.path}-wal", f"{journal.path}-shm"):
            Path(name).unlink(missing_ok=True)


async def _at_head(database: Database) -> bool:
    try:
        async with database.reading() as connection:
            rows = await database.fetch(connection, "SELECT version_num FROM alembic_version")
    except Exception:  # no such table yet, or unreadable: the migration step will say
        return False
    return rows == [(HEAD_REVISION,)]


class EventLog:
    def __init__(
        self,
        database: Database,
        flush_interval: float,
        batch_size: int,
        on_failure: Callable[[Exception], object] | None,
        max_queue_bytes: int,
        on_shed: Callable[[ShedRecord], object] | None = None,
        *,
        on_notice: Callable[[Notice], object] | None = None,
        close_timeout: float = 10.0,
        live: bool = False,
        journal: Journal | None = None,
    ) -> None:
        self._db = database
        self._recording: dict[str, _Recording] = {}
        self._heartbeat = max(flush_interval, 1.0)
        self._recorder = f"{socket.gethostname()}:{os.getpid()}"
        self._writer = BatchWriter(
            database,
            flush_interval=flush_interval,
            batch_size=max(1, batch_size),
            max_queue_bytes=max_queue_bytes,
            heartbeat=self._heartbeat,
            on_failure=on_failure,
            open_sessions=lambda: [r.pk for r in self._recording.values()],
            on_notice=on_notice,
            close_timeout=close_timeout,
            on_shed=self._naming(on_shed),
            watch_loop=live,
            journal=journal,
        )
        self._rows = RowReader()
        self._closed = False
        # computes each ended session's figures off the forwarding path (see open_log)
        self.figures: FiguresWorker | None = None

    @property
    def database(self) -> Database:
        """The engine behind the log, for the derived tables' readers and writers
        (recorder.stats.table): SQL in its paramstyle, its transactions, its errors."""
        return self._db

    @property
    def display(self) -> str:
        """The database as shown to users: its path, or its URL without password."""
        return self._db.display

    @property
    def failure(self) -> Exception | None:
        """The latest store failure (None if the store never failed); see .health()."""
        return self._writer.state.failure

    @property
    def frames_lost(self) -> int:
        """Frames appended but not stored (inside gaps, shed ones included, or given up when
        closing)."""
        return self._writer.state.frames_lost

    def health(self) -> dict[str, Any]:
        """The recorder's state: store ok/down, queue depth and lag, frames lost, gaps, shed
        (and the figures worker's counts, when there is one)."""
        figures = self.figures.health() if self.figures is not None else {}
        return {**self._writer.health(), "sessions_recording": len(self._recording), **figures}

    def behind(self) -> bool:
        """Whether the writer is behind (store down, queue an eighth full, sessions shed):
        work that can wait (figures) waits. Read from any thread."""
        writer, state = self._writer, self._writer.state
        return (state.down_since is not None or bool(state.shed)
                or writer.queued_bytes > writer.max_queue_bytes // 8)

    def _naming(
        self, on_shed: Callable[[ShedRecord], object] | None
    ) -> Callable[[ShedRecord], object]:
        """on_shed, after filling in the record's session id (the writer knows only its pk)."""

        def named(record: ShedRecord) -> object:
            record.sid = next(
                (sid for sid, r in self._recording.items() if r.pk == record.session), None
            )
            return None if on_shed is None else on_shed(record)

        return named

    @property
    def shed(self) -> list[ShedRecord]:
        """Sessions whose recording was shed (the writer fell behind), in the order shed
        (those shed in an outage that record again since come first)."""
        state = self._writer.state
        return [*state.released, *state.shed.values()]

    async def keep_up(self) -> None:
        """For bulk writers (import): wait for the writer when a quarter of its queue bound is
        used (shedding starts at half), so appending faster than the disk never drops frames.
        A live proxy does not call this."""
        if self._writer.queued_bytes > self._writer.max_queue_bytes // 4:
            await self.flush()

    async def spill_done(self) -> None:
        """Wait for frames on their way to the journal (a thread writes them; none: at once).
        For bulk writers in an outage: a live proxy does not call this."""
        await self._writer.spill_done()

    # -- writing -----------------------------------------------------------------------------

    async def begin_session(
        self,
        protocol: str | None,
        model: str | None,
        endpoint: str | None,
        *,
        started_at: float | Literal["now"] | None = "now",
    ) -> str:
        """A new session, started now, or at started_at (unix seconds; None: unknown, as for
        an import of events that carry no time)."""
        session_id = _new_session_id()
        now = time.time()
        try:
            rows = await self._db.write(
                "INSERT INTO sessions (id, started_at, last_seen, heartbeat, recorder, "
                "protocol, model, endpoint, status, frames, client_frames, server_frames) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'recording', 0, 0, 0) RETURNING pk",
                (session_id, now if started_at == "now" else started_at, now, self._heartbeat,
                 self._recorder, protocol, model,
                 scrub_endpoint(endpoint)),
            )
        except Exception as error:
            explained = self._db.error(error)
            self._writer.failed(explained)  # part of the outage the writer reports, once
            raise explained from explained.__cause__  # error, unless it was an RtrecError
        self._writer.answered()
        self._recording[session_id] = _Recording(rows[0][0])
        self._writer.session_began()
        return session_id

    def update_session(
        self,
        sid: str,
        *,
        protocol: str | None = None,
        model: str | None = None,
        upstream_id: str | None = None,
        connection: str | None = None,
        parent_id: str | None = None,
    ) -> None:
        """Set what was learnt of a session being recorded (None: leave as it is)."""
        recording = self._recording_of(sid)
        given = (("protocol", protocol), ("model", model), ("upstream_id", upstream_id),
                 ("connection", connection), ("parent_id", parent_id))
        changes = {schema.sessions.c[name].name: value for name, value in given
                   if value is not None}
        if not changes:
            return
        assignments = ", ".join(f"{name} = ?" for name in changes)

        async def apply() -> None:
            await self._db.write(f"UPDATE sessions SET {assignments} WHERE pk = ?",
                                 (*changes.values(), recording.pk))

        self._writer.put_op(apply)

    def append(self, sid: str, frame: Frame | SplitFrame) -> None:
        """Queue a frame (or an audio event codec.split_frame split already); never blocks,
        never raises for storage failures (see .failure)."""
        recording = self._recording.get(sid)  # _recording_of, inlined: this runs per frame
        if recording is None:
            recording = self._recording_of(sid)  # raises, naming the session
        recording.last_seq += 1
        self._writer.put_frame(recording.pk, recording.last_seq, frame)

    def skip(self, sid: str, frames: int, first_t_ns: int, last_t_ns: int, reason: str) -> None:
        """Count `frames` frames that passed but could not be kept (a gap in the session)."""
        recording = self._recording_of(sid)
        for n in range(frames):
            recording.last_seq += 1
            self._writer.drop(recording.pk, recording.last_seq,
                              first_t_ns if n == 0 else last_t_ns, reason)

    async def end_session(
        self,
        sid: str,
        *,
        status: str = "complete",
        close_code: int | None = None,
        close_reason: str | None = None,
        closed_by: str | None = None,
        ended_at: float | Literal["now"] | None = "now",
    ) -> str:
        """End the session now, or at ended_at (unix seconds; None: unknown); returns its
        status as far as known: `status`, or 'incomplete' when frames of it were lost (see
        gaps) or its recording was shed, with ' (not stored yet: the store is down)' when the
        store is down (the end is queued and written when it answers; this does not wait for
        that: a live call must not wait through an outage)."""
        if status not in STATUSES:
            raise RtrecError(f"unknown session status {status!r}: use one of {', '.join(STATUSES)}")
        if closed_by is not None and closed_by not in CLOSED_BY:
            raise RtrecError(f"unknown closed_by {closed_by!r}: use one of {', '.join(CLOSED_BY)}")
        recording = self._recording_of(sid)
        del self._recording[sid]
        degraded, shed = self._writer.state.degraded, self._writer.state.shed
        writer = self._writer

        def final_status() -> str:
            return "incomplete" if recording.pk in degraded or recording.pk in shed else status

        async def apply() -> None:
            final = final_status()
            writer.forget(recording.pk)
            await self._db.write(
                "UPDATE sessions SET status = ?, ended_at = ?, last_seen = ?, close_code = ?, "
                "close_reason = ?, closed_by = ? WHERE pk = ?",
                (final, time.time() if ended_at == "now" else ended_at, time.time(), close_code,
                 close_reason, closed_by,
                 recording.pk),
            )

        done = self._writer.put_op(apply)
        if self.figures is not None:
            figures = self.figures

            def ended(stored: asyncio.Future[None]) -> None:  # its frames are all written
                if not stored.cancelled() and stored.exception() is None:
                    figures.submit(sid)

            done.add_done_callback(ended)
        await self._writer.unless_down(done)
        final = final_status()
        return final if done.done() else f"{final} (not stored yet: the store is down)"

    async def flush(self) -> None:
        """Wait until everything appended so far is written (or has failed)."""
        await self._writer.put_op(None)

    async def close(self) -> None:
        """Flush everything; sessions still open are ended as interrupted."""
        if self._closed:
            return
        self._closed = True
        for sid in list(self._recording):
            with contextlib.suppress(RtrecError):
                await self.end_session(sid, status="interrupted", closed_by="proxy")
        await self._writer.close()
        if self.figures is not None:
            await self.figures.close()
        await self._db.dispose()

    async def __aenter__(self) -> EventLog:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _recording_of(self, sid: str) -> _Recording:
        recording = self._recording.get(sid)
        if recording is None:
            raise RtrecError(
                f"session {sid} is not being recorded in {self.display}: "
                "call begin_session first, and append before end_session"
            )
        return recording

    # -- reading -----------------------------------------------------------------------------

    async def list_sessions(self) -> list[SessionInfo]:
        rows = await self._query(
            f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY {_STARTED}, pk", ()
        )
        lost = {pk: (count, frames) for pk, count, frames in await self._query(
            "SELECT session, count(*), sum(frames) FROM gaps GROUP BY session", ()
        )}
        return [self._session_info(row, *lost.get(row.pk, (0, 0)))
                for row in map(_SessionRow._make, rows)]

    async def select_sessions(
        self, where: str = "", params: tuple[Any, ...] = (), order: str = "pk",
        limit: int | None = None, offset: int = 0,
    ) -> list[SessionInfo]:
        """One page of sessions, chosen and ordered in SQL: `where` and `order` are conditions
        and an ORDER BY over the sessions table's columns (with ? parameters); the gaps are
        counted for those rows alone (the sessions page of rtrec view: recorder.view.listing)."""
        page = f" LIMIT {int(limit)} OFFSET {int(offset)}" if limit is not None else ""
        rows = [_SessionRow._make(row) for row in await self._query(
            f"SELECT {_SESSION_COLUMNS} FROM sessions{f' WHERE {where}' if where else ''} "
            f"ORDER BY {order}{page}", params
        )]
        lost: dict[int, tuple[int, int]] = {}
        if rows:
            marks = ", ".join("?" * len(rows))
            lost = {pk: (count, frames) for pk, count, frames in await self._query(
                f"SELECT session, count(*), sum(frames) FROM gaps WHERE session IN ({marks}) "
                "GROUP BY session", tuple(row.pk for row in rows)
            )}
        return [self._session_info(row, *lost.get(row.pk, (0, 0))) for row in rows]

    async def query(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """The rows of a read-only statement over the store's tables (? placeholders), a
        failure explained as the log's own reads are (the derived tables' readers)."""
        return await self._query(statement, params)

    async def dead_recordings(self) -> list[int]:
        """The keys (sessions.pk) of the sessions stored as recording whose recorder is gone:
        they read as interrupted (SessionInfo.status). Few rows, found by their status."""
        rows = await self._query(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE status = 'recording'", ()
        )
        return [row.pk for row in map(_SessionRow._make, rows)
                if not self._alive(row.id, row.recorder, row.last_seen, row.heartbeat)]

    async def get_session(self, sid: str | None = None) -> SessionInfo:
        """A session by id (or unique id prefix); the newest one when sid is None."""
        row = await self._session_row(sid)
        [(count, frames)] = await self._query(
            "SELECT count(*), coalesce(sum(frames), 0) FROM gaps WHERE session = ?", (row.pk,)
        )
        return self._session_info(row, count, frames)

    async def gaps(self, sid: str) -> list[GapInfo]:
        """The runs of frames of a session the recorder could not keep, in seq order."""
        pk = (await self._session_row(sid)).pk
        rows = await self._query(
            f"SELECT {_GAP_COLUMNS} FROM gaps WHERE session = ? ORDER BY first_seq", (pk,)
        )
        return [GapInfo(**dict(zip(_GAP_FIELDS, row, strict=True))) for row in rows]

    async def redacted(self, sid: str) -> list[tuple[int, Redaction]]:
        """(seq, how) of the session's redacted frames, in seq order (a partial index has them:
        the session's frames are not read)."""
        pk = (await self._session_row(sid)).pk
        rows = await self._query(
            "SELECT seq, redaction FROM frames WHERE session = ? AND redaction IS NOT NULL "
            "ORDER BY seq", (pk,)
        )
        return [(int(seq), REDACTIONS.get(how, Redaction.SCANNED)) for seq, how in rows]

    async def delete_session(self, sid: str) -> None:
        """Delete a session and its frames; refused while a recorder (any process) is live."""
        pk = (await self._session_row(sid)).pk
        try:
            async with self._db.writing() as connection:
                # Checked inside the write transaction: a live recorder's next insert would
                # otherwise meet a missing session (a broken foreign key, or a reused pk).
                rows = await self._db.fetch(
                    connection, f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE pk = ?", (pk,)
                )
                if not rows:  # deleted meanwhile by someone else
                    return
                row = _SessionRow._make(rows[0])
                if self._session_info(row).status == "recording":
                    raise RtrecError(
                        f"session {row.id} is still being recorded by {row.recorder}: "
                        "wait for it to end (or for it to read as interrupted)"
                    )
                # SQLite does not enforce the foreign keys' cascade: every table by name
                # (the derived stats and view tables too: the session's, rebuilt from frames;
                # view_text's FTS5 rows go by its trigger)
                for statement in ("DELETE FROM frames WHERE session = ?",
                                  "DELETE FROM gaps WHERE session = ?",
                                  *(f"DELETE FROM {table.name} WHERE session = ?"
                                    for table in (*schema.DERIVED, *schema.VIEW_DERIVED)),
                                  "DELETE FROM sessions WHERE pk = ?"):
                    await connection.exec_driver_sql(self._db.sql(statement), (pk,))
        except RtrecError:
            raise
        except Exception as error:
            raise self._db.error(error) from error

    async def read(
        self,
        sid: str,
        *,
        until_seq: int | None = None,
        batch_size: int = 5000,
        audio: AudioMode = "base64",
    ) -> AsyncIterator[list[StoredFrame]]:
        """The session's frames in seq order, in batches (memory stays bounded).

        audio="bytes" hands over the audio of audio events as bytes instead of splicing its
        base64 text back into the frame (see StoredFrame): for readers that want the audio
        itself (export), which would only decode that text again.
        """
        if audio not in ("base64", "bytes"):
            raise ValueError(f"audio must be 'base64' or 'bytes', not {audio!r}")
        as_bytes = audio == "bytes"
        convert = self._rows.reading(ROW_COLUMNS, as_bytes=as_bytes)
        type_at = ROW_COLUMNS.index("type")

        def frames(rows: list[tuple[Any, ...]]) -> list[StoredFrame]:
            return [convert(row) for row in rows]

        async for batch in self._read_rows(
            sid, schema.column_list(schema.frames, ROW_COLUMNS), frames, until_seq, batch_size,
            ROW_COLUMNS.index("seq"), type_at=type_at,
        ):
            yield batch

    async def read_parts(
        self,
        sid: str,
        make: Callable[..., T],
        *,
        until_seq: int | None = None,
        batch_size: int = 5000,
        whole: bool = False,
        skip_types: Collection[str] = (),
        skip_client: bool = False,
        after_seq: int = 0,
    ) -> AsyncIterator[list[T]]:
        """The session's frames in seq order as read(audio="bytes") gives them (whole: as
        read() gives them, audio None), each handed to make(seq, t_ns, direction, type, data,
        audio, opcode) instead of becoming a StoredFrame (see RowReader.reading_parts):
        recorder.stream's steps. after_seq: only the frames after that seq (a window of a
        session, read by its index: the viewer's frames and audio).

        skip_types (server frames of these types) and skip_client (every client frame) leave
        frames out, never read from the database: for a reader that could not observe them
        (recorder.driver.skippable_types); frame_span counts what the read went over.
        """
        convert: Callable[[list[tuple[Any, ...]]], list[T]]
        if whole:
            parts = self._rows.reading_parts(_PART_COLUMNS, make, whole=True)

            def each(rows: list[tuple[Any, ...]]) -> list[T]:
                return [parts(row) for row in rows]

            convert = each

            select, seq_at = schema.column_list(schema.frames, _PART_COLUMNS), 0
        else:
            convert = self._rows.reading_kinds(make)
            select, seq_at = ", ".join(KIND_COLUMNS), 0
        where = ""
        if skip_client:
            where += f" AND direction <> {schema.DIRECTION_CODES['client']}"
        if skip_types:
            await self._learn_types()
            ids = sorted(i for i, name in self._rows.type_names.items() if name in skip_types)
            if ids:
                listed = ", ".join(str(int(i)) for i in ids)
                where += (f" AND (type IS NULL OR type NOT IN ({listed}) OR direction <> "
                          f"{schema.DIRECTION_CODES['server']})")
        async for batch in self._read_rows(sid, select, convert, until_seq, batch_size, seq_at,
                                           where=where, after_seq=after_seq):
            yield batch

    async def frame_span(self, sid: str, until_seq: int | None = None) -> tuple[int, int | None]:
        """(frames of the session up to and including seq until_seq, the last one's seq or
        None): what a read of it goes over (an index-only count, no frame read)."""
        pk = (await self._session_row(sid)).pk
        last = min(until_seq, _MAX_SEQ) if until_seq is not None else _MAX_SEQ
        [(count, top)] = await self._query(
            "SELECT count(*), max(seq) FROM frames WHERE session = ? AND seq <= ?", (pk, last)
        )
        return int(count), None if top is None else int(top)

    async def _read_rows(
        self,
        sid: str,
        select: str,
        convert: Callable[[list[tuple[Any, ...]]], list[T]],
        until_seq: int | None,
        batch_size: int,
        seq_at: int,
        *,
        type_at: int | None = None,
        where: str = "",
        after_seq: int = 0,
    ) -> AsyncIterator[list[T]]:
        """Rows of `select` (seq at seq_at) of the session's frames, in seq order, in batches,
        each batch made into T's by convert. The type names are learned when a batch holds a
        type id not known yet: checked first if type_at says where the type is (convert reads
        an unknown id as no type), else when convert raises KeyError for it (no check per
        row: RowReader.reading_kinds). where: more conditions, ' AND ...'."""
        pk = (await self._session_row(sid)).pk
        statement = (
            f"SELECT {select} FROM frames "
            f"WHERE session = ? AND seq > ? AND seq <= ?{where} ORDER BY seq LIMIT ?"
        )
        last = min(until_seq, _MAX_SEQ) if until_seq is not None else _MAX_SEQ
        after = max(0, after_seq)
        size = max(1, batch_size)
        async with self._batch_reader(statement) as fetch:
            while True:
                try:
                    rows = await fetch((pk, after, last, size))
                except Exception as error:
                    raise self._db.error(error) from error
                if not rows:
                    return
                if type_at is not None:
                    if not self._rows.knows_types(row[type_at] for row in rows):
                        await self._learn_types()
                    batch = convert(rows)
                else:
                    try:
                        batch = convert(rows)
                    except KeyError:  # a type not learned yet (what else raises it, raises again)
                        await self._learn_types()
                        batch = convert(rows)
                after = rows[-1][seq_at]
                yield batch
                if len(rows) < size:
                    return

    @contextlib.asynccontextmanager
    async def _batch_reader(
        self, statement: str
    ) -> AsyncIterator[Callable[[tuple[Any, ...]], Awaitable[list[tuple[Any, ...]]]]]:
        """Database.batch_reader, a failure to open it explained as _query's are."""
        try:
            reader = self._db.batch_reader(statement)
            fetch = await reader.__aenter__()
        except Exception as error:
            raise self._db.error(error) from error
        try:
            yield fetch
        finally:
            await reader.__aexit__(None, None, None)

    async def _learn_types(self) -> None:
        self._rows.learn(await self._query("SELECT id, name FROM event_types", ()))

    async def _query(self, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            async with self._db.reading() as connection:
                return await self._db.fetch(connection, statement, params)
        except Exception as error:
            raise self._db.error(error) from error

    async def _session_row(self, sid: str | None) -> _SessionRow:
        if sid is None:
            rows = await self._query(
                f"SELECT {_SESSION_COLUMNS} FROM sessions ORDER BY {_STARTED} DESC, pk DESC "
                "LIMIT 1", ()
            )
            if not rows:
                raise NoSessions(f"no sessions in {self.display} yet: record or import one first")
            return _SessionRow._make(rows[0])
        rows = await self._query(f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id = ?", (sid,))
        if not rows and sid:
            pattern = sid.replace("\\", "").replace("%", "").replace("_", "") + "%"
            rows = await self._query(
                f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE id LIKE ? LIMIT 2", (pattern,)
            )
            if len(rows) > 1:
                raise AmbiguousSession(
                    f"session id {sid} is ambiguous in {self.display}: give more of it"
                )
        if not rows:
            raise UnknownSession(
                f"no session {sid} in {self.display}: "
                f"run `rtrec sessions {self.display}` to list them"
            )
        return _SessionRow._make(rows[0])

    def _session_info(
        self, row: _SessionRow, gaps: int = 0, frames_lost: int = 0
    ) -> SessionInfo:
        status = row.status
        if status == "recording" and not self._alive(
            row.id, row.recorder, row.last_seen, row.heartbeat
        ):
            status = "interrupted"
        started, ended = row.started_at, row.ended_at
        return SessionInfo(
            id=row.id,
            started_at=datetime.fromtimestamp(started, UTC) if started is not None else None,
            ended_at=datetime.fromtimestamp(ended, UTC) if ended is not None else None,
            protocol=row.protocol,
            model=row.model,
            endpoint=row.endpoint,
            status=status,
            close_code=row.close_code,
            close_reason=row.close_reason,
            closed_by=row.closed_by,
            frames=row.frames,
            client_frames=row.client_frames,
            server_frames=row.server_frames,
            gaps=int(gaps),
            frames_lost=int(frames_lost or 0),
            upstream_id=row.upstream_id,
            connection=row.connection,
            parent_id=row.parent_id,
        )

    def _alive(self, sid: str, recorder: str | None, last_seen: float, heartbeat: float) -> bool:
        """Whether a session still marked 'recording' has a live recorder behind it."""
        if sid in self._recording:
            return True
        host, _, pid = (recorder or "").rpartition(":")
        if host == socket.gethostname() and pid.isdigit() and not _process_exists(int(pid)):
            return False
        return time.time() - last_seen <= 3 * heartbeat + 2.0


def _new_session_id() -> str:
    """Sortable by creation time (milliseconds), unique by 48 random bits."""
    return f"{int(time.time() * 1000):012x}{secrets.token_hex(6)}"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
