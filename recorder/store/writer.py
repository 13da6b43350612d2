"""The batched background writer: appends go to a queue, a task writes them in batches.

The caller (a live proxy) must never wait for the disk and never see a storage error, so
append() only puts on an in-memory queue. A task writes batches every flush_interval, or sooner
when batch_size frames are waiting. A write failure is reported once (on_failure, .failure);
after it, frames are dropped and the sessions concerned are marked incomplete.

When the writer cannot keep up (the queue holds more than half its byte bound), recording is
shed a whole session at a time, the newest open session first, one more every _SHED_PAUSE
while the queue still grows (and one per frame that does not fit once it is full): the shed
session's later frames are counted into its
ShedRecord (session, seq range, time range, reason) and not queued, so the sessions still
recorded stay whole. Shedding a frame costs a dict lookup, whatever the number of sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from recorder.store.codec import NO_INDEX, StoredForm, split_audio_event, stored_form
from recorder.store.db import Database
from recorder.wire import Direction, Frame

# No id: the database assigns it, at the end of the table (see recorder.store.schema).
_INSERT_FRAME = (
    "INSERT INTO frames (session, seq, t_ns, direction, opcode, type, event_id, item_id, "
    "response_id, stripped, data, audio_at, audio) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# SQLite: many rows per INSERT statement. The driver binds parameters holding the GIL and
# steps the statement without it; one step per row means one GIL hand-back per row, and each
# waits for the event loop thread to let go (up to the 5 ms switch interval when it is busy
# forwarding or preparing the next batch). Per _ROWS_PER_INSERT rows, the writer thread
# needs the GIL once, and the disk work of those rows overlaps the loop's own work.
_ROWS_PER_INSERT = 64  # x 13 = 832 parameters: under 999, the oldest SQLite default limit
_INSERT_ROWS = _INSERT_FRAME + ", (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)" * (
    _ROWS_PER_INSERT - 1
)
# Rows built between two turns of the event loop (~10 us each for a 4 KB audio frame here).
_PREPARE_CHUNK = 64
_COUNT_FRAMES = (
    "UPDATE sessions SET frames = frames + ?, client_frames = client_frames + ?, "
    "server_frames = server_frames + ?, last_seen = ? WHERE pk = ?"
)


@dataclass
class _Op:
    """Session metadata work, applied in queue order after the frames appended before it."""

    apply: Callable[[AsyncConnection], Awaitable[None]] | None
    done: asyncio.Future[None] | None = None


@dataclass
class _Counts:
    client: int = 0
    server: int = 0


@dataclass
class _Prepared:
    rows: list[tuple[Any, ...]]
    counts: dict[int, _Counts]
    missing: set[str]  # type names without an id yet


# Seconds between shedding one session and the next while the queue stays over half full:
# long enough for the writer to show that it catches up, short enough to shed 20 sessions a
# second when far behind (at the queue's byte bound, every frame that does not fit sheds one).
_SHED_PAUSE = 0.05
# Live recording (watch_loop): the loop is looked at every _LAG_TICK; running more than
# _LAG_LIMIT late (forwarding waits that long) sheds one session per _LAG_STEP of lateness.
_LAG_TICK = 0.05
_LAG_LIMIT = 0.2
_LAG_STEP = 0.1


@dataclass
class ShedRecord:
    """Frames of one session that were not recorded because the writer fell behind.

    first_seq/last_seq and first_t_ns/last_t_ns (the frames' own t_ns) span the frames dropped
    so far: None until the first one. The record stays open while the session records; its
    range is final once the session has ended.
    """

    session: int  # the session's pk
    reason: str
    sid: str | None = None  # the session's id, as EventLog names it
    first_seq: int | None = None
    last_seq: int | None = None
    first_t_ns: int | None = None
    last_t_ns: int | None = None
    frames: int = 0

    def drop(self, seq: int, t_ns: int) -> None:
        if self.first_seq is None:
            self.first_seq, self.first_t_ns = seq, t_ns
        self.last_seq, self.last_t_ns = seq, t_ns
        self.frames += 1


@dataclass
class WriterState:
    failure: Exception | None = None
    degraded: set[int] = field(default_factory=set)  # session pks marked incomplete
    shed: dict[int, ShedRecord] = field(default_factory=dict)  # by session pk, in shed order


class BatchWriter:
    def __init__(
        self,
        db: Database,
        *,
        flush_interval: float,
        batch_size: int,
        max_queue_bytes: int,
        heartbeat: float,
        on_failure: Callable[[Exception], object] | None,
        open_sessions: Callable[[], list[int]],
        on_shed: Callable[[ShedRecord], object] | None = None,
        watch_loop: bool = False,
    ) -> None:
        self._db = db
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_queue_bytes = max_queue_bytes
        self._shed_at = max_queue_bytes // 2
        self._last_shed = float("-inf")
        self._queued_at_shed = 0  # queued bytes when the last session was shed
        self._on_shed = on_shed
        self._heartbeat = heartbeat
        self._on_failure = on_failure
        self._open_sessions = open_sessions
        self._queue: deque[tuple[int, int, Frame] | _Op] = deque()
        self._ops_queued = 0  # _Op items in the queue: none (the usual case) = frames only
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._last_heartbeat = time.time()
        self._type_ids: dict[str, int] = {}
        self._marked: set[int] = set()
        self._stopped = False
        self._in_flight: asyncio.Task[None] | None = None
        self.state = WriterState()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="rtrec-log-writer")
        self._watch: asyncio.Task[None] | None = None
        if watch_loop:
            self._watch = loop.create_task(self._watch_loop(), name="rtrec-loop-watch")

    # -- called by EventLog, synchronously, on the event loop ------------------------------

    def put_frame(self, session_pk: int, seq: int, frame: Frame) -> None:
        if self._stopped:
            return  # the log cannot be written; the live call goes on without it
        shed = self.state.shed.get(session_pk)
        if shed is not None:  # the usual case under overload: one lookup, whatever else is open
            shed.drop(seq, frame.t_ns)
            return
        size = len(frame.data)
        if self._queued_bytes + size > self._shed_at and self._shed_for(session_pk, size):
            self.state.shed[session_pk].drop(seq, frame.t_ns)
            return
        self._queue.append((session_pk, seq, frame))
        self._queued_bytes += size
        # Appends grow the queue one by one, so it passes batch_size exactly; above it the
        # writer is awake already and drains the whole queue.
        if len(self._queue) == self._batch_size:
            self._wake.set()

    def _shed_for(self, session_pk: int, size: int) -> bool:
        """The queue is over half full: shed the newest session still recorded, at most one
        per _SHED_PAUSE and only while the queue still grows (the sessions shed so far were
        not enough); once it is full, whether it grows or not. Only past twice the bound is one
        shed per frame (sooner, that would shed every session in one stall of the writer).
        True if the frame's own session is (now) shed; otherwise the frame is queued (past the
        bound, if full), so the older sessions stay whole."""
        queued = self._queued_bytes + size
        full = queued > self._max_queue_bytes
        now = time.monotonic()
        if queued <= 2 * self._max_queue_bytes and (
            now - self._last_shed < _SHED_PAUSE
            or (not full and self._queued_bytes <= self._queued_at_shed)
        ):
            return False
        self._last_shed, self._queued_at_shed = now, self._queued_bytes
        waiting = _size(self._queued_bytes)
        victims = self._shed_newest(
            1, f"the queue was full ({waiting} waiting)" if full
            else f"the writer fell behind ({waiting} waiting)"
        )
        return session_pk in victims

    async def _watch_loop(self) -> None:
        """Live recording: when the event loop that forwards frames runs late, recording is
        what gives way: shed one session per _LAG_STEP of lag, at most a quarter of those
        still recorded per look, while the lag lasts."""
        loop = asyncio.get_running_loop()
        while not self._closing:
            due = loop.time() + _LAG_TICK
            await asyncio.sleep(_LAG_TICK)
            lag = loop.time() - due
            if lag > _LAG_LIMIT:
                recorded = [pk for pk in self._open_sessions() if pk not in self.state.shed]
                count = min(int(lag / _LAG_STEP), len(recorded) // 4) or 1
                self._shed_newest(count, f"the event loop ran {lag * 1000:.0f} ms late")

    def _shed_newest(self, count: int, reason: str) -> list[int]:
        """Shed the `count` newest sessions still recorded; their pks (one walk per call)."""
        shed = self.state.shed
        candidates = sorted(pk for pk in self._open_sessions() if pk not in shed)
        victims = candidates[-count:] if count else []  # pks grow with each session begun
        for victim in reversed(victims):
            record = shed[victim] = ShedRecord(victim, f"shed: {reason}")
            if self._on_shed is not None:
                with contextlib.suppress(Exception):  # a broken callback must not stop recording
                    self._on_shed(record)
        return victims

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    @property
    def max_queue_bytes(self) -> int:
        return self._max_queue_bytes

    def put_op(self, apply: Callable[[AsyncConnection], Awaitable[None]] | None) -> Awaitable[None]:
        """Queue metadata work (or a barrier, apply=None); the result completes after it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Op(apply, done))
        self._ops_queued += 1
        self._wake.set()
        return done

    async def close(self) -> None:
        self._closing = True
        if self._watch is not None:
            self._watch.cancel()
        self._wake.set()
        await self._task

    # -- the task ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            try:
                await self._drain()
                await self._settle()
            except Exception as error:  # a bug here must not stop the call or hang close()
                self._stopped = True
                self._fail(error, [])
            await self._beat()
            if self.state.degraded - self._marked:
                await self._mark_incomplete()
            if self._closing and not self._queue:
                return

    async def _drain(self) -> None:
        """Write what the queue holds: one batch (the interval's commit), then more only while
        a whole batch_size is waiting, an op waits to be applied, or the log is closing.

        Frames that arrive while a batch is written wait for the next interval instead of
        going out as a string of small commits: each commit rewrites the last page of the
        table and an index page per session, so many small ones multiply the bytes written
        (measured: 6.1x the wire bytes, against 2.1x for one commit per interval).
        """
        first = True
        while self._queue and (
            first or self._ops_queued or self._closing or len(self._queue) >= self._batch_size
        ):
            first = False
            await self._write_some()

    async def _write_some(self) -> None:
        """Start writing the frames at the head of the queue (up to batch_size), or apply an op.

        Rows for the next batch are prepared (CPU, on this loop) while the previous batch is
        being written (in the driver's thread or on the server), so the two overlap.
        """
        head = self._queue[0]
        if isinstance(head, _Op):
            self._queue.popleft()
            self._ops_queued -= 1
            await self._settle()
            await self._apply(head)
            return
        batch = self._take_frames()
        if self._stopped:
            return
        prepared = await self._prepare(batch)
        await self._settle()
        self._in_flight = asyncio.get_running_loop().create_task(self._store(prepared))
        await asyncio.sleep(0)  # let it start: its rows go to the driver before we prepare more

    def _take_frames(self) -> list[tuple[int, int, Frame]]:
        """Up to batch_size frames from the head of the queue, stopping at an op."""
        queue = self._queue
        count = min(len(queue), self._batch_size)
        if self._ops_queued:  # find where the frames before the first op end
            for position in range(count):
                if isinstance(queue[position], _Op):
                    count = position
                    break
        popleft = queue.popleft
        # everything before the first op is a frame
        batch = cast(list[tuple[int, int, Frame]], [popleft() for _ in range(count)])
        self._queued_bytes -= sum([len(item[2].data) for item in batch])
        if self._queued_bytes < self._shed_at:  # caught up: a later overload starts afresh
            self._queued_at_shed = 0
        return batch

    async def _settle(self) -> None:
        """Wait for the batch being written, if any."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def _apply(self, op: _Op) -> None:
        """Apply session metadata; a storage failure is reported like a frame write failure
        (failure, on_failure), never raised into the live call awaiting end_session."""
        try:
            if op.apply is not None:
                async with self._db.writing() as connection:
                    await op.apply(connection)
        except Exception as error:
            self._fail(self._db.error(error), [])
        if op.done is not None and not op.done.done():
            op.done.set_result(None)

    async def _prepare(self, batch: list[tuple[int, int, Frame]]) -> _Prepared:
        """The batch's rows, built _PREPARE_CHUNK frames at a time: between chunks the loop
        forwards frames (a whole batch at once held it for 10 ms on this box)."""
        type_ids = self._type_ids
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(batch), _PREPARE_CHUNK):
            if start:
                await asyncio.sleep(0)
            rows += [_row(session_pk, seq, frame, type_ids)
                     for session_pk, seq, frame in batch[start:start + _PREPARE_CHUNK]]
        missing = {row[_TYPE] for row in rows if isinstance(row[_TYPE], str)}
        counts: dict[int, _Counts] = {}
        # frames per (session, direction); direction is 1 for server frames
        for (session_pk, direction), frames in Counter([(row[0], row[3]) for row in rows]).items():
            tally = counts.setdefault(session_pk, _Counts())
            if direction:
                tally.server += frames
            else:
                tally.client += frames
        return _Prepared(rows, counts, missing)

    async def _store(self, prepared: _Prepared) -> None:
        try:
            async with self._db.writing() as connection:
                if prepared.missing:
                    await self._ensure_types(connection, prepared.missing)
                    prepared.rows = [self._with_type_id(row) for row in prepared.rows]
                await self._insert(connection, prepared.rows)
                now = time.time()
                await connection.exec_driver_sql(
                    self._db.sql(_COUNT_FRAMES),
                    [
                        (t.client + t.server, t.client, t.server, now, pk)
                        for pk, t in prepared.counts.items()
                    ],
                )
        except Exception as error:
            self._stopped = True  # a failing database: stop writing frames, keep the call going
            self._fail(self._db.error(error), list(prepared.counts))

    async def _insert(self, connection: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        if not self._db.is_sqlite:  # asyncpg pipelines executemany already
            await self._db.executemany(connection, _INSERT_FRAME, rows)
            return
        size = _ROWS_PER_INSERT
        whole = len(rows) - len(rows) % size
        if whole:
            await self._db.executemany(connection, _INSERT_ROWS, [
                tuple(chain.from_iterable(rows[start:start + size]))
                for start in range(0, whole, size)
            ])
        if whole < len(rows):
            await self._db.executemany(connection, _INSERT_FRAME, rows[whole:])

    def _with_type_id(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        if not isinstance(row[_TYPE], str):
            return row
        return (*row[:_TYPE], self._type_ids[row[_TYPE]], *row[_TYPE + 1:])

    async def _ensure_types(self, connection: AsyncConnection, names: set[str]) -> None:
        await connection.exec_driver_sql(
            self._db.sql("INSERT INTO event_types (name) VALUES (?) ON CONFLICT (name) DO NOTHING"),
            [(name,) for name in sorted(names)],
        )
        found = await self._db.fetch(connection, "SELECT name, id FROM event_types")
        self._type_ids = {str(name): int(type_id) for name, type_id in found}

    async def _beat(self) -> None:
        """Tell readers the open sessions are alive (a stale heartbeat reads as interrupted)."""
        now = time.time()
        if now - self._last_heartbeat < self._heartbeat or self._stopped:
            return
        self._last_heartbeat = now
        pks = self._open_sessions()
        if not pks:
            return
        try:
            async with self._db.writing() as connection:
                await connection.exec_driver_sql(
                    self._db.sql("UPDATE sessions SET last_seen = ? WHERE pk = ?"),
                    [(now, pk) for pk in pks],
                )
        except Exception as error:
            self._stopped = True
            self._fail(self._db.error(error), pks)

    def _fail(self, error: Exception, session_pks: list[int]) -> None:
        """Remember the first failure and report it once; later ones only degrade sessions."""
        self.state.degraded.update(session_pks)
        self.state.degraded.update(self._open_sessions())
        if self.state.failure is not None:
            return
        self.state.failure = error
        if self._on_failure is not None:
            with contextlib.suppress(Exception):  # a broken callback must not stop recording
                self._on_failure(error)
        self._wake.set()

    async def _mark_incomplete(self) -> None:
        """If the database still answers, say that these sessions lost frames."""
        pks = sorted(self.state.degraded - self._marked)
        self._marked.update(pks)
        with contextlib.suppress(Exception):
            async with self._db.writing() as connection:
                await connection.exec_driver_sql(
                    self._db.sql("UPDATE sessions SET status = 'incomplete' WHERE pk = ?"),
                    [(pk,) for pk in pks],
                )


_TYPE = 5  # position of the type in a frames row


def _row(session_pk: int, seq: int, frame: Frame, type_ids: dict[str, int]) -> tuple[Any, ...]:
    """The frames row for one frame; the type's name stands in for an id not known yet."""
    direction = 0 if frame.direction is Direction.CLIENT else 1
    data = frame.data
    if frame.opcode != 1:  # binary frames are kept as they are, unindexed
        return (session_pk, seq, frame.t_ns, direction, int(frame.opcode), None,
                None, None, None, None, data, None, None)
    split = split_audio_event(data)
    if split is not None:  # most frames: audio out as binary, ids left inside the small body
        return (session_pk, seq, frame.t_ns, direction, 1, type_ids.get(split[0], split[0]),
                None, None, None, 1, split[1], split[2], split[3])
    try:
        form = stored_form(data)
    except Exception:  # never lose a frame to a codec surprise: keep it whole, unindexed
        form = StoredForm(NO_INDEX, False, data, None, None)
    type_name = form.index.type
    type_id = None if type_name is None else type_ids.get(type_name, type_name)
    flag = 1 if form.stripped else None
    if form.audio is not None:  # ids stay inside the (now small) body: not stored twice
        return (session_pk, seq, frame.t_ns, direction, 1, type_id,
                None, None, None, flag, form.body, form.audio_at, form.audio)
    index = form.index
    return (session_pk, seq, frame.t_ns, direction, 1, type_id,
            index.event_id, index.item_id, index.response_id, flag, form.body, None, None)


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n // 2**10} KiB"
