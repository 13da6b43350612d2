"""The batched background writer: appends go to a queue, a task writes them in batches.

The caller (a live proxy) must never wait for the disk and never see a storage error, so
append() only puts on an in-memory queue. A task writes batches every flush_interval, or sooner
when batch_size frames are waiting; one commit per interval, more only for a whole batch.

A failed write is an outage, never the end: the batch is kept and retried with backoff (frames
meanwhile wait in the bounded queue) until the store answers; a batch that did commit before
its answer was lost is recognised on the retry, so nothing is stored twice. Each outage is
reported once when it begins and once when it ends (Notice). A separate task writes the
heartbeat of the open sessions (sessions.last_seen) whatever the queue holds, so a live
session never reads as interrupted. Only close() gives up, close_timeout after it began, on a
store still down.

When the writer cannot keep up (the queue holds more than half its byte bound: a slow store,
or one that is down), recording is shed a whole session at a time, the newest open session
first, one more every _SHED_PAUSE while the queue still grows (and one per frame once it holds
twice its bound), and a session that begins before the overload is over goes at its first
frame (it is the newest then): the shed session's later frames are counted into its
ShedRecord (session, seq range, time range, reason) and not queued, so the sessions still
recorded stay whole.
Shedding a frame costs a dict lookup, whatever the number of sessions. Shedding decides which
frames are not stored; each ShedRecord is written as a gap (the gaps table), like a frame
larger than the whole queue bound or a batch the store refuses for good, and its session
ends incomplete. A session shed because the store was down records again once it answers
(its gap stays; shedding by a slow store lasts to the session's end).

With a journal (recorder.store.journal; PostgreSQL stores), a store outage that fills half
the queue moves the frames waiting in memory (the oldest) to the journal instead of shedding;
when the store answers, the journal is written first (in order, skipping rows already there:
a re-drain after a crash stores nothing twice), then the queue. Only what the journal cannot
hold is shed. In the normal path (store up, journal empty) no frame touches the journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, Literal, cast

from sqlalchemy.ext.asyncio import AsyncConnection

from recorder.errors import RtrecError
from recorder.store import schema
from recorder.store.codec import (
    ROW_AT,
    ROW_COLUMNS,
    Row,
    SplitFrame,
    frame_row,
    split_row,
    with_type_id,
)
from recorder.store.db import Database
from recorder.store.failures import is_transient
from recorder.store.journal import ROW_OVERHEAD, Journal
from recorder.wire import Frame

# The codec's row (no id: the database assigns it, at the end of the table; see schema).
_VALUES = "(" + ", ".join("?" * len(ROW_COLUMNS)) + ")"
_INSERT_FRAME = (
    f"INSERT INTO frames ({schema.column_list(schema.frames, ROW_COLUMNS)}) VALUES {_VALUES}"
)
# SQLite: many rows per INSERT statement. The driver binds parameters holding the GIL and
# steps the statement without it; one step per row means one GIL hand-back per row, and each
# waits for the event loop thread to let go (up to the 5 ms switch interval when it is busy
# forwarding or preparing the next batch). Per _ROWS_PER_INSERT rows, the writer thread
# needs the GIL once, and the disk work of those rows overlaps the loop's own work.
_ROWS_PER_INSERT = 64  # x 14 columns = 896 parameters: under 999, the oldest SQLite default
assert _ROWS_PER_INSERT * len(ROW_COLUMNS) <= 999, "fewer rows per INSERT: SQLite's limit"
# Where a row (codec.frame_row) holds the values the writer looks at, found by column name.
_SESSION, _SEQ, _T_NS, _DIRECTION, _TYPE = (
    ROW_AT[name] for name in ("session", "seq", "t_ns", "direction", "type")
)
_INSERT_ROWS = _INSERT_FRAME + f", {_VALUES}" * (_ROWS_PER_INSERT - 1)
# Rows built between two turns of the event loop (~10 us each for a 4 KB audio frame here).
_PREPARE_CHUNK = 64
_COUNT_FRAMES = (
    "UPDATE sessions SET frames = frames + ?, client_frames = client_frames + ?, "
    "server_frames = server_frames + ?, last_seen = ? WHERE pk = ?"
)


# What the queue holds of a frame: the frame, or the audio event split_frame split already
# (while it was hot; it is stored as it is, and made a Frame again only for the journal).
Queued = Frame | SplitFrame


def _wire_size(frame: Queued) -> int:
    """The frame's length on the wire (what the queue's byte bound counts)."""
    return frame.size if isinstance(frame, SplitFrame) else len(frame.data)


def _whole(frame: Queued) -> Frame:
    return frame.frame() if isinstance(frame, SplitFrame) else frame


@dataclass
class _Op:
    """Session metadata work, applied in queue order after the frames appended before it."""

    apply: Callable[[], Awaitable[None]] | None  # its own write (Database.write)
    done: asyncio.Future[None] | None = None


@dataclass
class _Counts:
    client: int = 0
    server: int = 0


@dataclass
class _Prepared:
    rows: list[Row]  # codec.frame_row's
    counts: dict[int, _Counts]
    missing: set[str]  # type names without an id yet
    batch: list[tuple[int, int, Queued]] = field(default_factory=list)  # the frames themselves
    older_than_journal: bool = False  # taken while the journal was empty: what it gets is newer


# The most one move to the journal takes from the queue (one thread hop, one transaction).
_SPILL_CHUNK = 4 * 2**20

# Seconds between shedding one session and the next while the queue stays over half full:
# long enough for the writer to show that it catches up, short enough to shed 20 sessions a
# second when far behind (at the queue's byte bound, every frame that does not fit sheds one).
_SHED_PAUSE = 0.05
# Live recording (watch_loop): the loop is looked at every _LAG_TICK; running more than
# _LAG_LIMIT late (forwarding waits that long) sheds one session per _LAG_STEP of lateness.
# Lateness spent waiting for a CPU (the machine is busy with other processes) is not counted:
# recording is not what delays the loop then, and shedding it would lose frames for nothing.
_LAG_TICK = 0.05
_LAG_LIMIT = 0.2
_LAG_STEP = 0.1
# BatchWriter._shed_above while no overload is on: no session is newer than that.
_NOT_SHEDDING = sys.maxsize


def runqueue_wait() -> float | None:
    """Seconds this thread has spent runnable but waiting for a CPU (Linux schedstat), or None
    where the kernel does not say."""
    try:
        with open("/proc/thread-self/schedstat", "rb") as stat:
            return int(stat.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


class ThreadRunqueueWait:
    """runqueue_wait of the thread that made it, read by os.pread on a file kept open (about
    1 us a look here, against about 19 us to open, read and close it). /proc/thread-self
    resolves at open time: make it on the thread it is to watch (the event loop's)."""

    def __init__(self) -> None:
        try:
            self._fd: int | None = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None

    def __call__(self) -> float | None:
        if self._fd is None:
            return None
        try:
            return int(os.pread(self._fd, 128, 0).split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return None

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


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
    outage: bool = False  # shed because the store was down: it records again once it answers

    def drop(self, seq: int, t_ns: int) -> None:
        if self.first_seq is None:
            self.first_seq, self.first_t_ns = seq, t_ns
        self.last_seq, self.last_t_ns = seq, t_ns
        self.frames += 1


@dataclass
class Gap:
    """A run of frames of one session that could not be kept (seq and session time ranges)."""

    session_pk: int
    first_seq: int
    last_seq: int
    first_t_ns: int
    last_t_ns: int
    reason: str

    @property
    def frames(self) -> int:
        return self.last_seq - self.first_seq + 1


@dataclass(frozen=True)
class Notice:
    """What the writer tells a person watching (the console formats it).

    paused: a write failed and the store is down (error says how), once per outage;
    dropping: frames are being dropped into gaps (error says why): sessions shed while the
    store is down (once per outage; shedding by a slow store is on_shed's), an oversize frame,
    a write refused for good; resumed: the store answers again after `seconds`, having lost `lost`
    frames in that time (0: every frame waited in memory and is stored); gave_up: close()
    stopped waiting for a store still down after `seconds`, `lost` frames were not stored
    (frames kept in a journal are not lost: the next start writes them); journaling: the store
    is down and frames go to the journal (error says where), once per outage.
    """

    kind: Literal["paused", "dropping", "resumed", "gave_up", "journaling"]
    error: Exception | None = None
    seconds: float = 0.0
    lost: int = 0


@dataclass
class WriterState:
    failure: Exception | None = None  # the latest store failure (None: there was none)
    degraded: set[int] = field(default_factory=set)  # session pks with gaps: end incomplete
    shed: dict[int, ShedRecord] = field(default_factory=dict)  # by session pk, in shed order
    down_since: float | None = None  # monotonic time the current outage began
    outages: int = 0
    dropped: int = 0  # frames in gaps other than shed ones, and frames given up at close
    gap_runs: int = 0  # gaps other than shed ones
    unwritten: int = 0  # lost frames whose gap could not be written either (store gone)
    released: list[ShedRecord] = field(default_factory=list)  # shed in an outage, recording again

    @property
    def frames_lost(self) -> int:
        """Frames appended but not stored: in gaps (shed ones included), or given up (a
        released shed record's frames are counted in `dropped`)."""
        return self.dropped + sum(record.frames for record in self.shed.values())

    @property
    def gaps(self) -> int:
        return self.gap_runs + sum(1 for record in self.shed.values() if record.frames)


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
        on_notice: Callable[[Notice], object] | None = None,
        close_timeout: float = 10.0,
        on_shed: Callable[[ShedRecord], object] | None = None,
        watch_loop: bool = False,
        journal: Journal | None = None,
    ) -> None:
        self._db = db
        self._journal = journal
        self._journal_said = False  # journaling, said once in this outage
        self._flush_interval = flush_interval
        self._batch_size = batch_size
        self._max_queue_bytes = max_queue_bytes
        self._shed_at = max_queue_bytes // 2
        self._last_shed = float("-inf")
        self._queued_at_shed = 0  # queued bytes when the last session was shed
        self._on_shed = on_shed
        # While an overload is on (sessions shed because the writer or the loop fell behind,
        # not yet caught up), a session newer than the newest one open at the first shed, so
        # begun since, is shed at its first frame: it is newer than every session shed so far.
        self._shed_above = _NOT_SHEDDING
        self._shed_cause = ""  # why the overload's first session was shed
        self._loop_late = False  # the watch's latest look found the loop late
        # the loop thread's own schedstat, kept open (watch_loop only); tests stand in for it
        self._schedstat = ThreadRunqueueWait() if watch_loop else None
        self._cpu_wait: Callable[[], float | None] = self._schedstat or runqueue_wait
        self._heartbeat = heartbeat
        self._on_failure = on_failure
        self._on_notice = on_notice
        self._close_timeout = close_timeout
        self._give_up_at: float | None = None  # set by close(): retries end there
        self._given_up = False
        self._retrying = 0  # writes in a retry loop: only their success ends an outage
        self._lost_before_outage = 0
        self._loss_reported = False  # shedding, said once in this outage
        self._shed_saved: dict[int, int] = {}  # per shed session pk: frames in its written gap
        self._open_gaps: dict[int, Gap] = {}  # per session: its latest gap, extended in place
        self._unsaved_gaps: dict[tuple[int, int], Gap] = {}  # gaps to (re)write
        self._caught_up = time.monotonic()  # when the queue was last found empty
        self._down = asyncio.Event()  # set while the store is down
        self._open_sessions = open_sessions
        self._queue: deque[tuple[int, int, Queued] | _Op] = deque()
        self._ops_queued = 0  # _Op items in the queue: none (the usual case) = frames only
        self._queued_bytes = 0
        self._wake = asyncio.Event()
        # Idle (no open session, nothing queued): the writer, the loop watch and the heartbeat
        # sleep without a timer until work arrives (_rouse, session_began), instead of waking
        # 25+ times a second for nothing.
        self._work = asyncio.Event()  # the writer sleeps on it while idle
        self._sleeping = False
        self._sessions_open = asyncio.Event()  # set by session_began: the watch and beats go on
        self._closing = False
        self._type_ids: dict[str, int] = {}
        self._in_flight: asyncio.Task[None] | None = None
        # Moving frames to the journal runs in a thread (a 32 MiB spill takes ~0.4 s of SQLite
        # writes here): the task, the bytes on their way, and the lock that keeps the journal's
        # one connection to one thread at a time and its order (a chunk on its way is older
        # than anything the drain could take from the queue).
        self._spill: asyncio.Task[None] | None = None
        self._spilling_bytes = 0
        self._journal_lock = asyncio.Lock()
        self.state = WriterState()
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._run(), name="rtrec-log-writer")
        self._beats = loop.create_task(self._heartbeats(), name="rtrec-log-heartbeat")
        # The loop watch (watch_loop): one timer callback every _LAG_TICK while a session is
        # open, none otherwise; it also ends the writer's flush wait (one timer, not two).
        self._loop = loop
        self._watching = watch_loop
        self._watch: asyncio.TimerHandle | None = None
        self._watch_due = 0.0
        self._watch_waited: float | None = None
        self._flush_at: float | None = None  # set while the writer waits on the watch's ticks
        if journal is not None and journal.frames:  # left by a run that ended without draining
            self._wake.set()

    # -- called by EventLog, synchronously, on the event loop ------------------------------

    def put_frame(self, session_pk: int, seq: int, frame: Queued) -> None:
        shed = self.state.shed.get(session_pk)
        if shed is not None:  # the usual case under overload: one lookup, whatever else is open
            shed.drop(seq, frame.t_ns)
            return
        if session_pk > self._shed_above:  # begun during an overload: newer than the shed ones
            self._shed(session_pk, f"it began while recording was shed ({self._shed_cause})"
                       ).drop(seq, frame.t_ns)
            return
        size = _wire_size(frame)
        if size > self._max_queue_bytes:  # it could never be queued: a gap of its own
            self.drop(session_pk, seq, frame.t_ns, self._oversize(size))
            return
        if self._queued_bytes + size > self._shed_at and (
            self._journal is None or not self._spilled(size)
        ) and self._shed_for(session_pk, size):
            self.state.shed[session_pk].drop(seq, frame.t_ns)
            return
        if self._sleeping:
            self._rouse()
        self._queue.append((session_pk, seq, frame))
        self._queued_bytes += size
        # Appends grow the queue one by one, so it passes batch_size exactly; above it the
        # writer is awake already and drains the whole queue.
        if len(self._queue) == self._batch_size:
            self._wake.set()

    def _spilled(self, size: int) -> bool:
        """The queue is over half full and there is a journal: while the store is down (or the
        journal still drains, so newer frames must follow it), the oldest queued frames move to
        the journal, in a thread (_spill_run); meanwhile the queue may fill up to the whole
        buffer. True if the frame of `size` may be queued (False: shed it)."""
        journal = self._journal
        assert journal is not None
        if self.state.down_since is None and not journal.frames and self._spill is None:
            return False  # a slow store, not an outage: shed as without a journal
        if journal.room_for([size]) == 0 and self._spill is None:
            return self._queued_bytes + size <= self._shed_at  # full: shed as without one
        if self._spill is None:
            self._spill = asyncio.get_running_loop().create_task(
                self._spill_run(), name="rtrec-journal-spill")
        return self._queued_bytes + self._spilling_bytes + size <= self._max_queue_bytes

    async def _spill_run(self) -> None:
        """Move the oldest queued frames to the journal, a chunk at a time off the loop, until
        the queue is under a quarter of the buffer, the store is back (and the journal empty),
        or the journal is full."""
        try:
            while (journal := self._journal) is not None and (
                self.state.down_since is not None or journal.frames
            ) and self._queued_bytes > self._shed_at // 2:
                moved = self._take_for_journal(journal)
                if not moved:
                    return
                size = sum(len(item[2].data) for item in moved)  # Frames (_take_for_journal)
                self._spilling_bytes += size
                try:
                    async with self._journal_lock:
                        await asyncio.to_thread(journal.append, moved)
                except RtrecError as error:
                    self._queue.extendleft(reversed(moved))  # kept in memory, in order
                    self._queued_bytes += size
                    self._journal_failed(error)
                    return
                finally:
                    self._spilling_bytes -= size
                self._journaling()
                self._queued_at_shed = 0
        finally:
            self._spill = None

    async def spill_done(self) -> None:
        """Wait for frames on their way to the journal (none: at once)."""
        spill = self._spill
        if spill is not None:
            await asyncio.shield(spill)

    def _take_for_journal(self, journal: Journal) -> list[tuple[int, int, Frame]]:
        """The oldest queued frames that fit in the journal (up to _SPILL_CHUNK bytes), taken
        out of the queue; the ops among them stay at its head, in order."""
        moved: list[tuple[int, int, Frame]] = []
        ops: list[_Op] = []
        free = min(journal.max_bytes - journal.bytes, _SPILL_CHUNK)
        queue = self._queue
        while queue:
            item = queue[0]
            if isinstance(item, _Op):
                queue.popleft()
                ops.append(item)
                continue
            free -= _wire_size(item[2]) + ROW_OVERHEAD
            if free < 0:
                break
            queue.popleft()
            moved.append((item[0], item[1], _whole(item[2])))
        queue.extendleft(reversed(ops))
        self._queued_bytes -= sum(len(item[2].data) for item in moved)
        return moved

    def _journaling(self) -> None:
        """Said once per outage (not again for frames that follow a journal still draining)."""
        if self._journal_said or self.state.down_since is None:
            return
        self._journal_said = True
        assert self._journal is not None
        self._notice(Notice("journaling", RtrecError(
            f"recording to {self._db.display}: the store is down and the recording buffer "
            f"({_size(self._max_queue_bytes)}) is full: frames go to the journal "
            f"{self._journal.path} (up to {_size(self._journal.max_bytes)}) and are written "
            "to the store when it answers"
        )))

    def _journal_failed(self, error: RtrecError) -> None:
        """The journal itself failed (its disk): stop using it; what it holds stays there."""
        journal, self._journal = self._journal, None
        if journal is not None:
            with contextlib.suppress(Exception):
                journal.close()
        self._notice(Notice("dropping", RtrecError(
            f"{error}; the journal is no longer used: frames it holds stay in it for the next "
            "start, and sessions are shed as without a journal"
        )))

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
        if self.state.down_since is not None:
            why = f"the store is down ({waiting} waiting)"
        elif full:
            why = f"the queue was full ({waiting} waiting)"
        else:
            why = f"the writer fell behind ({waiting} waiting)"
        victims = self._shed_newest(1, why, outage=self.state.down_since is not None)
        return session_pk in victims

    def session_began(self) -> None:
        """A session is open: the loop watch and the heartbeat wake if they slept."""
        self._sessions_open.set()
        if self._watching and self._watch is None and not self._closing:
            self._next_look()

    async def _until_sessions_open(self) -> None:
        """Return at once while a session is open; else sleep until one begins."""
        while not self._open_sessions():
            self._sessions_open.clear()
            await self._sessions_open.wait()

    def _rouse(self) -> None:
        """Work arrived: wake the writer if it sleeps idle (it then waits one flush_interval
        for more, as usual, unless _wake is set)."""
        if self._sleeping:
            self._sleeping = False
            self._work.set()

    def _idle(self) -> bool:
        """Nothing for the writer to do until something is queued or dropped."""
        return not (
            self._queue or self._unsaved_gaps or self._closing or self._wake.is_set()
            or self._journal_due or self._spill is not None or self._retrying
            or self.state.down_since is not None
            or (self.state.shed and self._open_sessions())  # shed frames grow their gaps
        )

    def _next_look(self) -> None:
        loop = self._loop
        self._watch_due, self._watch_waited = loop.time() + _LAG_TICK, self._cpu_wait()
        self._watch = loop.call_at(self._watch_due, self._look)

    def _look(self) -> None:
        """Live recording: when the event loop that forwards frames runs late, recording is
        what gives way: shed one session per _LAG_STEP of lag, at most a quarter of those
        still recorded per look, while the lag lasts. With no session open it stops (until
        session_began); a flush the writer waits for is due at the look nearest its time."""
        self._watch = None
        if self._closing:
            return
        now = self._loop.time()
        try:
            lag = now - self._watch_due
            if lag > _LAG_LIMIT:
                waited, now_waited = self._watch_waited, self._cpu_wait()
                if waited is not None and now_waited is not None:
                    lag -= now_waited - waited  # the machine, not this process, held the loop
            self._looked(lag)
        finally:  # whatever went wrong, the flush and the next look stay due
            self._flush_or_next_look(now)

    def _looked(self, lag: float) -> None:
        """One look of the watch: the loop ran `lag` s late (time spent waiting for a CPU
        left out). Past _LAG_LIMIT the newest sessions are shed; on time, an overload that
        the writer has caught up with is over."""
        self._loop_late = lag > _LAG_LIMIT
        if not self._loop_late:
            self._overload_over()
            return
        recorded = [pk for pk in self._open_sessions() if pk not in self.state.shed]
        count = min(int(lag / _LAG_STEP), len(recorded) // 4) or 1
        self._shed_newest(count, f"the event loop ran {lag * 1000:.0f} ms late")

    def _overload_over(self) -> None:
        """The queue is down to half the shedding mark (a queue hovering at the mark is still
        behind) and the loop on time: sessions that begin from now on are recorded (a later
        overload sheds the newest again)."""
        if not self._loop_late and self._queued_bytes < self._shed_at // 2:
            self._shed_above = _NOT_SHEDDING

    def _flush_or_next_look(self, now: float) -> None:
        if self._flush_at is not None and now >= self._flush_at - _LAG_TICK / 2:
            self._flush_at = None
            self._wake.set()
        if self._open_sessions():
            self._next_look()
            return
        # The last session ended: the watch stops; a lateness seen with none open is not
        # recording's doing, so an overload the writer has caught up with ends here.
        self._loop_late = False
        self._overload_over()
        if self._flush_at is not None:  # the writer's own timer from now on
            self._flush_at = None
            self._wake.set()

    def _shed_newest(self, count: int, reason: str, *, outage: bool = False) -> list[int]:
        """Shed the `count` newest sessions still recorded; their pks (one walk per call).
        Unless they are shed for a store outage (outage: they record again once it answers),
        sessions begun after these are shed too until the overload is over (see put_frame)."""
        candidates = sorted(pk for pk in self._open_sessions() if pk not in self.state.shed)
        victims = candidates[-count:] if count else []  # pks grow with each session begun
        if victims:
            self._shedding_while_down()
            if not outage and self._shed_above == _NOT_SHEDDING:
                self._shed_above, self._shed_cause = victims[-1], reason
            self._rouse()  # their frames now grow gaps, which the writer saves each interval
        for victim in reversed(victims):
            self._shed(victim, reason, outage=outage)
        return victims

    def _shed(self, session_pk: int, reason: str, *, outage: bool = False) -> ShedRecord:
        """From now on the session's frames are not stored (they count into its record)."""
        record = self.state.shed[session_pk] = ShedRecord(
            session_pk, f"shed: {reason}", outage=outage)
        if self._on_shed is not None:
            with contextlib.suppress(Exception):  # a broken callback must not stop recording
                self._on_shed(record)
        return record

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    @property
    def max_queue_bytes(self) -> int:
        return self._max_queue_bytes

    def put_op(self, apply: Callable[[], Awaitable[None]] | None) -> asyncio.Future[None]:
        """Queue metadata work (or a barrier, apply=None); the result completes after it."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Op(apply, done))
        self._ops_queued += 1
        self._wake.set()
        self._rouse()
        return done

    async def close(self) -> None:
        """Write what waits; on a store still down after close_timeout, give the rest up."""
        self._closing = True
        self._give_up_at = time.monotonic() + self._close_timeout
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._schedstat is not None:
            self._schedstat.close()
            self._cpu_wait = runqueue_wait
        self._wake.set()
        self._rouse()
        try:
            await self._task
        finally:
            self._beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beats
        if self._given_up:
            self._notice(Notice("gave_up", self.state.failure, seconds=self._close_timeout,
                                lost=self.state.unwritten))

    async def unless_down(self, done: Awaitable[None]) -> None:
        """Wait for `done`, but not through an outage: a live call that ends while the store
        is down must not wait for it (the work stays queued and is written later)."""
        if self.state.down_since is not None:
            return
        down = asyncio.ensure_future(self._down.wait())
        try:
            await asyncio.wait({asyncio.ensure_future(done), down},
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            down.cancel()

    # -- outages, retries and gaps ------------------------------------------------------------

    def drop(self, session_pk: int, seq: int, t_ns: int, reason: str) -> None:
        """Keep frame `seq` of a session as lost: it extends (or starts) the session's gap."""
        gap = self._open_gaps.get(session_pk)
        if gap is not None and gap.last_seq == seq - 1 and gap.reason == reason:
            gap.last_seq, gap.last_t_ns = seq, t_ns
        else:
            gap = Gap(session_pk, seq, seq, t_ns, t_ns, reason)
            self._open_gaps[session_pk] = gap
            self.state.gap_runs += 1
        self._unsaved_gaps[(session_pk, gap.first_seq)] = gap
        self.state.degraded.add(session_pk)
        self.state.dropped += 1
        self._rouse()

    def _oversize(self, size: int) -> str:
        """Why a frame of `size` bytes (more than the whole queue bound) is not recorded."""
        self._notice(Notice("dropping", RtrecError(
            f"a {_size(size)} frame is larger than the whole recording buffer "
            f"({_size(self._max_queue_bytes)}): it is not recorded (a gap of one frame, the "
            "session is marked incomplete); to keep frames this big, give rtrec record a "
            "larger --buffer"
        )))
        return "frame larger than the recording buffer"

    def _shedding_while_down(self) -> None:
        """Sessions are shed because the store is down: said once per outage (a slow store's
        shedding is said per session, by on_shed)."""
        if self.state.down_since is None or self._loss_reported:
            return
        self._loss_reported = True
        self._notice(Notice("dropping", RtrecError(
            f"recording to {self._db.display}: the store is down and the recording buffer "
            f"({_size(self._max_queue_bytes)}) is filling: the newest sessions are shed (their "
            "later frames are not stored) until it answers again; they are recorded as gaps "
            "and those sessions are marked incomplete"
        )))

    def failed(self, error: Exception) -> None:
        """A write failed: the store is down until a write succeeds; said once per outage."""
        self.state.failure = error
        if self.state.down_since is not None:
            return
        self.state.down_since = time.monotonic()
        self._down.set()
        self.state.outages += 1
        self._lost_before_outage = self.state.frames_lost
        self._loss_reported = False
        if self._on_failure is not None:
            with contextlib.suppress(Exception):  # a broken callback must not stop recording
                self._on_failure(error)
        self._notice(Notice("paused", error))

    def answered(self) -> None:
        """A write succeeded: the outage (if any) is over, unless another write still retries."""
        if self.state.down_since is None or self._retrying:
            return
        seconds = time.monotonic() - self.state.down_since
        self.state.down_since = None
        self._down.clear()
        self._loss_reported = False
        self._journal_said = False
        self._release_shed()
        lost = self.state.frames_lost - self._lost_before_outage
        self._notice(Notice("resumed", seconds=seconds, lost=lost))
        self._wake.set()
        self._rouse()

    def _release_shed(self) -> None:
        """The store answers: the sessions shed because it was down record again. What each
        lost is a gap of its own (it no longer grows); one that lost nothing has none."""
        state = self.state
        for pk, record in list(state.shed.items()):
            if not record.outage:
                continue
            del state.shed[pk]
            self._shed_saved.pop(pk, None)
            state.released.append(record)
            if record.first_seq is None:
                continue
            assert record.last_seq is not None and record.last_t_ns is not None
            assert record.first_t_ns is not None
            self._unsaved_gaps[(pk, record.first_seq)] = Gap(
                pk, record.first_seq, record.last_seq, record.first_t_ns, record.last_t_ns,
                record.reason,
            )
            state.degraded.add(pk)
            state.dropped += record.frames
            state.gap_runs += 1

    def _refused(self, error: Exception) -> None:
        """The store refused a write for good (not an outage): said, never retried."""
        self.state.failure = self._db.error(error)
        self._notice(Notice("dropping", RtrecError(
            f"recording to {self._db.display}: a write was refused and is not retried "
            f"({self.state.failure}); its frames are recorded as a gap"
        )))

    def _notice(self, notice: Notice) -> None:
        if self._on_notice is not None:
            with contextlib.suppress(Exception):
                self._on_notice(notice)

    async def _retrying_write(
        self, write: Callable[[bool], Awaitable[None]], frames: int
    ) -> bool:
        """Run write(retry) until it succeeds (True), or close() gives up (False: `frames`
        frames are lost). Backoff 50 ms doubling to 500 ms: a store that answers again is
        written to within half a second."""
        delay = 0.05
        retry = False
        while True:
            if self._given_up:
                if retry:
                    self._retrying -= 1
                self.state.dropped += frames
                self.state.unwritten += frames
                return False
            try:
                await write(retry)
            except Exception as error:
                if not is_transient(error):  # retrying would fail the same way forever
                    if retry:
                        self._retrying -= 1
                    self._refused(error)
                    return False
                self.failed(self._db.error(error))
            else:
                if retry:
                    self._retrying -= 1
                self.answered()
                return True
            if not retry:
                retry = True
                self._retrying += 1
            if self._give_up_at is not None and time.monotonic() >= self._give_up_at:
                self._given_up = True
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _gaps_of_shed(self) -> None:
        """Each shed session's frames so far as its gap (one run: every frame after the shed),
        queued for writing when it grew since it was last written."""
        saved = self._shed_saved
        for pk, record in self.state.shed.items():
            if record.frames == saved.get(pk, 0) or record.first_seq is None:
                continue
            assert record.last_seq is not None and record.last_t_ns is not None
            assert record.first_t_ns is not None
            saved[pk] = record.frames
            self._unsaved_gaps[(pk, record.first_seq)] = Gap(
                pk, record.first_seq, record.last_seq, record.first_t_ns, record.last_t_ns,
                record.reason,
            )

    async def _save_gaps(self) -> None:
        """Write the gaps not written yet (upsert: a gap still growing is rewritten)."""
        self._gaps_of_shed()
        if not self._unsaved_gaps:
            return
        gaps, self._unsaved_gaps = self._unsaved_gaps, {}

        async def write(_retry: bool) -> None:
            async with self._db.writing() as connection:
                await connection.exec_driver_sql(
                    self._db.sql(_UPSERT_GAP),
                    [(g.session_pk, g.first_seq, g.last_seq, g.first_t_ns, g.last_t_ns,
                      g.frames, g.reason) for g in gaps.values()],
                )

        if not await self._retrying_write(write, 0):
            self.state.unwritten += sum(g.frames for g in gaps.values())
        # a gap that grew meanwhile is in the new _unsaved_gaps again (drop puts it there)

    def forget(self, session_pk: int) -> None:
        """The session ended: its open gap (if any) cannot grow any more."""
        self._open_gaps.pop(session_pk, None)

    def health(self) -> dict[str, Any]:
        """The recorder's state for an operator (the status endpoint and the console)."""
        state = self.state
        now = time.monotonic()
        return {
            "store": "down" if state.down_since is not None else "ok",
            "store_error": str(state.failure) if state.down_since is not None else None,
            "down_for_s": round(now - state.down_since, 3) if state.down_since else 0.0,
            "outages": state.outages,
            "queue_frames": len(self._queue) - self._ops_queued,
            "queue_bytes": self._queued_bytes,
            "queue_limit_bytes": self._max_queue_bytes,
            "lag_s": round(now - self._caught_up, 3) if self._queue or self._journaled else 0.0,
            "frames_lost": state.frames_lost,
            "gaps": state.gaps,
            "sessions_with_gaps": len(state.degraded),
            "sessions_shed": len(state.shed) + len(state.released),
            **self._journal_health(),
        }

    def _journal_health(self) -> dict[str, Any]:
        journal = self._journal
        if journal is None:
            return {}
        return {"journal": str(journal.path), "journal_frames": journal.frames,
                "journal_bytes": journal.bytes, "journal_limit_bytes": journal.max_bytes}

    @property
    def _journaled(self) -> int:
        """Frames waiting in the journal (0 without one)."""
        return self._journal.frames if self._journal is not None else 0

    # -- the task ----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if self._idle():
                self._sleeping = True
                await self._work.wait()
                self._work.clear()
                self._sleeping = False
            if self._watch is not None:  # the watch's ticks end the wait (_look)
                self._flush_at = self._loop.time() + self._flush_interval
                await self._wake.wait()
                self._flush_at = None
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            try:
                await self._drain()
                await self._settle()
                self._caught_up = time.monotonic()
                await self._save_gaps()
            except Exception as error:  # a bug here must not stop the call or hang close()
                self.failed(error)
                if self._closing:
                    self._given_up = True
            if self._closing and not self._queue and not self._unsaved_gaps and (
                not self._journaled or self._given_up
            ) and self._spill is None:
                if self._journal is not None:
                    self._journal.close()
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
        while (self._queue or self._journal_due) and (
            first or self._ops_queued or self._closing or len(self._queue) >= self._batch_size
            or self._journal_due
        ):
            first = False
            await self._write_some()

    @property
    def _journal_due(self) -> bool:
        """The journal holds frames to write first (unless close() gave up on the store)."""
        return bool(self._journaled or self._spill is not None) and not self._given_up

    async def _write_some(self) -> None:
        """Start writing the frames at the head of the queue (up to batch_size), or apply an op.

        Rows for the next batch are prepared (CPU, on this loop) while the previous batch is
        being written (in the driver's thread or on the server), so the two overlap.
        """
        if self._journal_due:
            await self._settle()  # the batch in flight is older than the journal
            await self._write_journaled()
            return
        head = self._queue[0]
        if isinstance(head, _Op):
            self._queue.popleft()
            self._ops_queued -= 1
            await self._settle()
            await self._apply(head)
            return
        batch = self._take_frames()
        prepared = await self._prepare(batch)
        if self._journal is not None:
            prepared.batch = batch  # journaled if close() gives up on the store
            prepared.older_than_journal = not self._journal.frames
        await self._settle()
        self._in_flight = asyncio.get_running_loop().create_task(self._store(prepared))
        await asyncio.sleep(0)  # let it start: its rows go to the driver before we prepare more

    def _take_frames(self) -> list[tuple[int, int, Queued]]:
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
        batch = cast(list[tuple[int, int, Queued]], [popleft() for _ in range(count)])
        self._queued_bytes -= sum([_wire_size(item[2]) for item in batch])
        if self._queued_bytes < self._shed_at:  # caught up: a later overload starts afresh
            self._queued_at_shed = 0
            self._overload_over()
        return batch

    async def _settle(self) -> None:
        """Wait for the batch being written, if any."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def _apply(self, op: _Op) -> None:
        """Apply session metadata, retried like frames through an outage; a storage failure
        is reported (failure, on_failure), never raised into the live call awaiting it."""
        apply = op.apply
        if apply is not None:
            await self._save_gaps()  # a session's gaps are in before its final status

            async def write(_retry: bool) -> None:
                await apply()

            await self._retrying_write(write, 0)
        if op.done is not None and not op.done.done():
            op.done.set_result(None)

    async def _prepare(self, batch: list[tuple[int, int, Queued]]) -> _Prepared:
        """The batch's rows, built _PREPARE_CHUNK frames at a time: between chunks the loop
        forwards frames (a whole batch at once held it for 10 ms on this box)."""
        type_ids = self._type_ids
        rows: list[Row] = []
        for start in range(0, len(batch), _PREPARE_CHUNK):
            if start:
                await asyncio.sleep(0)
            rows += [split_row(session_pk, seq, frame, type_ids) if isinstance(frame, SplitFrame)
                     else frame_row(session_pk, seq, frame, type_ids)
                     for session_pk, seq, frame in batch[start:start + _PREPARE_CHUNK]]
        missing = {row[_TYPE] for row in rows if isinstance(row[_TYPE], str)}
        counts: dict[int, _Counts] = {}
        server = schema.DIRECTION_CODES["server"]
        for (session_pk, direction), frames in Counter(
            [(row[_SESSION], row[_DIRECTION]) for row in rows]
        ).items():
            tally = counts.setdefault(session_pk, _Counts())
            if direction == server:
                tally.server += frames
            else:
                tally.client += frames
        return _Prepared(rows, counts, missing)

    async def _store(self, prepared: _Prepared) -> None:
        """Write a batch, through any outage (see _retrying_write)."""

        async def write(retry: bool) -> None:
            if prepared.missing:  # committed on its own: a retried batch finds its ids valid
                async with self._db.writing() as connection:
                    await self._ensure_types(connection, prepared.missing)
                prepared.rows = [with_type_id(row, self._type_ids) for row in prepared.rows]
                prepared.missing = set()
            await self._write_batch(prepared, retry)

        if await self._retrying_write(write, len(prepared.rows)):
            return
        if self._given_up:  # at close: lost (and said so in the counts), unless journaled
            if self._kept_for_next_start(prepared.batch, first=prepared.older_than_journal):
                return
            self.state.degraded.update(row[_SESSION] for row in prepared.rows)
            return
        for row in prepared.rows:  # refused for good: a gap, and recording goes on
            self.drop(row[_SESSION], row[_SEQ], row[_T_NS], "refused by the store")

    def _kept_for_next_start(self, batch: list[tuple[int, int, Queued]], *, first: bool) -> bool:
        """close() gave up on the store: a batch that fits in the journal waits there for the
        next start (not lost), before what the journal holds if `first`; True if kept."""
        journal = self._journal
        if journal is None or not batch or journal.room_for(
            [_wire_size(item[2]) for item in batch]
        ) < len(batch):
            return False
        try:
            journal.append([(pk, seq, _whole(frame)) for pk, seq, frame in batch], first=first)
        except RtrecError as error:
            self._journal_failed(error)
            return False
        self.state.dropped -= len(batch)  # counted as lost when the retry gave up
        self.state.unwritten -= len(batch)
        return True

    async def _write_journaled(self) -> None:
        """Write the oldest batch of the journal into the store, then delete it there.

        One statement inserts the batch, skipping rows the store has already (a batch stored
        before a crash or a lost answer, whose journal rows were not deleted yet) and rows of
        sessions deleted since; the session counts grow by the rows it returns, in the same
        transaction, so they stay exact whatever is re-drained."""
        journal = self._journal
        assert journal is not None
        async with self._journal_lock:  # a chunk on its way in lands first
            head = await asyncio.to_thread(journal.head, self._batch_size)
        if not head:
            await asyncio.sleep(0.01)  # a spill in flight got nothing yet, or took none
            return
        prepared = await self._prepare([(f.session, f.seq, f.frame) for f in head])

        async def write(_retry: bool) -> None:
            if prepared.missing:
                async with self._db.writing() as connection:
                    await self._ensure_types(connection, prepared.missing)
                prepared.rows = [with_type_id(row, self._type_ids) for row in prepared.rows]
                prepared.missing = set()
            async with self._db.writing() as connection:
                columns = list(zip(*prepared.rows, strict=True))
                result = await connection.exec_driver_sql(
                    _INSERT_JOURNALED, tuple(list(column) for column in columns))
                counts: dict[int, _Counts] = {}
                for session_pk, direction in [tuple(row) for row in result.all()]:
                    tally = counts.setdefault(session_pk, _Counts())
                    if direction:
                        tally.server += 1
                    else:
                        tally.client += 1
                if counts:
                    await connection.exec_driver_sql(self._db.sql(_ADD_COUNTS), [
                        (t.client + t.server, t.client, t.server, pk)
                        for pk, t in counts.items()
                    ])

        if not await self._retrying_write(write, 0) and not self._given_up:
            for row in prepared.rows:  # refused for good: a gap, and the journal goes on
                self.drop(row[_SESSION], row[_SEQ], row[_T_NS], "refused by the store")
        if self._given_up:
            return  # still in the journal, for the next start
        try:
            async with self._journal_lock:
                await asyncio.to_thread(journal.delete_through, head[-1].id)
        except RtrecError as error:
            self._journal_failed(error)

    async def _write_batch(self, prepared: _Prepared, retry: bool) -> None:
        if self._db.is_sqlite:  # the whole batch in one call to the driver's thread
            rows = prepared.rows
            counts = [(t.client + t.server, t.client, t.server, time.time(), pk)
                      for pk, t in prepared.counts.items()]
            await self._db.in_sqlite_thread(lambda db: self._write_sqlite(db, rows, counts, retry))
            return
        async with self._db.writing() as connection:
            # A retried batch may have committed before the answer was lost (a connection
            # killed after COMMIT): a batch is one transaction, so its first row tells.
            if retry and prepared.rows and await self._db.fetch(
                connection, "SELECT 1 FROM frames WHERE session = ? AND seq = ?",
                (prepared.rows[0][_SESSION], prepared.rows[0][_SEQ]),
            ):
                return
            await self._insert(connection, prepared.rows)
            now = time.time()
            await connection.exec_driver_sql(
                self._db.sql(_COUNT_FRAMES),
                [
                    (t.client + t.server, t.client, t.server, now, pk)
                    for pk, t in prepared.counts.items()
                ],
            )

    async def _insert(self, connection: AsyncConnection, rows: list[Row]) -> None:
        """PostgreSQL: asyncpg pipelines executemany already (SQLite: _insert_sqlite)."""
        await self._db.executemany(connection, _INSERT_FRAME, rows)

    def _write_sqlite(
        self, db: sqlite3.Connection, rows: list[Row], counts: list[tuple[Any, ...]],
        retry: bool,
    ) -> None:
        """_write_batch's work for SQLite, in the driver's thread (inside the transaction
        Database.in_sqlite_thread opens): one hop there and back per batch. A retried batch
        may have committed before its answer was lost: its first row tells."""
        if retry and rows and db.execute(
            "SELECT 1 FROM frames WHERE session = ? AND seq = ?",
            (rows[0][_SESSION], rows[0][_SEQ]),
        ).fetchone():
            return
        self._insert_sqlite(db, rows)
        db.executemany(_COUNT_FRAMES, counts)

    @staticmethod
    def _insert_sqlite(db: sqlite3.Connection, rows: list[Row]) -> None:
        size = _ROWS_PER_INSERT
        whole = len(rows) - len(rows) % size
        if whole:
            db.executemany(_INSERT_ROWS, [
                tuple(chain.from_iterable(rows[start:start + size]))
                for start in range(0, whole, size)
            ])
        if whole < len(rows):
            db.executemany(_INSERT_FRAME, rows[whole:])

    async def _ensure_types(self, connection: AsyncConnection, names: set[str]) -> None:
        await connection.exec_driver_sql(
            self._db.sql("INSERT INTO event_types (name) VALUES (?) ON CONFLICT (name) DO NOTHING"),
            [(name,) for name in sorted(names)],
        )
        found = await self._db.fetch(connection, "SELECT name, id FROM event_types")
        # the caller commits next; ids of a transaction that fails are never kept
        self._type_ids = {str(name): int(type_id) for name, type_id in found}

    async def _heartbeats(self) -> None:
        """Every heartbeat seconds, whatever the queue holds: the open sessions are alive.
        With no session open it sleeps until one begins."""
        while True:
            await self._until_sessions_open()
            await asyncio.sleep(self._heartbeat)
            await self.beat()

    async def beat(self) -> None:
        """Tell readers the open sessions are alive (a stale heartbeat reads as interrupted);
        a failure is part of the outage the writer reports, never raised."""
        pks = self._open_sessions()
        if not pks:
            return
        now = time.time()
        try:
            await self._db.write("UPDATE sessions SET last_seen = ? WHERE pk = ?",
                                 [(now, pk) for pk in pks], many=True)
        except Exception as error:
            self.failed(self._db.error(error))
        else:
            self.answered()


# PostgreSQL (journals are for PostgreSQL stores): a batch of rows as one array per column.
_JOURNALED_ARRAYS = ", ".join(
    f"${n}::{kind}[]" for n, kind in enumerate(schema.pg_types(schema.frames, ROW_COLUMNS), 1)
)
_INSERT_JOURNALED = (
    f"INSERT INTO frames ({schema.column_list(schema.frames, ROW_COLUMNS)}) "
    f"SELECT {', '.join('r.' + name for name in ROW_COLUMNS)} "
    f"FROM unnest({_JOURNALED_ARRAYS}) WITH ORDINALITY AS r({', '.join(ROW_COLUMNS)}, n) "
    "WHERE EXISTS (SELECT 1 FROM sessions WHERE sessions.pk = r.session) "
    "ORDER BY r.n "  # ids (the write order) follow the journal's order
    "ON CONFLICT (session, seq) DO NOTHING RETURNING session, direction"
)
_ADD_COUNTS = (
    "UPDATE sessions SET frames = frames + ?, client_frames = client_frames + ?, "
    "server_frames = server_frames + ? WHERE pk = ?"
)

_UPSERT_GAP = (
    "INSERT INTO gaps (session, first_seq, last_seq, first_t_ns, last_t_ns, frames, reason) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session, first_seq) DO UPDATE SET "
    "last_seq = excluded.last_seq, last_t_ns = excluded.last_t_ns, frames = excluded.frames"
)


def _size(n: int) -> str:
    return f"{n // 2**20} MiB" if n >= 2**20 else f"{n // 2**10} KiB"
