"""Figures (and traces) computed as recording sessions end, in ONE worker process per recorder.

A recorder (EventLog opened with figures="module:function") hands each session whose end the
writer has stored (its frames are all written before it: the writer keeps queue order) to one
FiguresWorker. The loop that forwards only puts the session id on a bounded queue (submit).
A dispatch thread of the recorder takes it from there and waits (blocked, off the GIL) on one
spawned worker process, which opens the store itself, computes the session's figures once
(the fold named by `compute`: an async (log, session id) -> SessionFigures), keeps them in the
derived tables (recorder.stats.table.store) and, when a TraceSender is given (rtrec record
--otlp), encodes the session's trace from the same figures; the encoded trace is handed to the
sender's thread, which only sends it. So the fold's CPU never holds the proxy's GIL (on a
thread of the recorder it cost the calls' p99 latency 3.56x: bench/traces.py), and it runs once
per session however many outputs there are.

The thread of earlier versions is gone: a fold that must run in the recorder's own process
can call recorder.stats.table.ensure, as `rtrec stats` does on first use.

It stays inside the recorder's CPU budget by being bounded three ways:
- one session at a time, in one process;
- after each session, the dispatcher rests so that the worker's CPU time stays under `share`
  of one core (a session that cost 0.2 s of CPU at share 0.25 is followed by 0.6 s of rest);
- while the recorder is behind (busy(): the writer's queue filling, sessions shed) it waits;
  and at most max_pending sessions wait their turn: the rest (and those still waiting when the
  recorder closes) are left stale, computed on first use (recorder.stats.table.ensure).
A compute that fails fails alone: counted by the type of its error (never its text: it may
carry a secret), its session left stale, recording untouched.

A compute may return Computed instead of the figures: the figures and `also`, which keeps more
rows derived from the same fold (rtrec record: the session's transcript text for rtrec view's
search, recorder.view.ended), run after the figures are kept; counted apart (text_kept,
text_failed, text_errors by type), its failure leaving those rows stale and the figures kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recorder.stats.figures import SessionFigures
    from recorder.stats.sender import TraceSender
    from recorder.store import EventLog

# How long a busy recorder makes the worker wait before it looks again.
_BUSY_WAIT = 0.5
_POLL_S = 0.05
CANCELLED = "Cancelled"  # the error type counted for a compute stopped by close()


@dataclass(frozen=True)
class Computed:
    """What a compute may return: the session's figures, and `also` (the open log -> whether
    it kept its rows: False when the session changed meanwhile) for more rows from the same
    fold."""

    figures: SessionFigures
    also: Callable[[EventLog], Awaitable[bool]]


def rest_after(cpu_seconds: float, share: float) -> float:
    """Seconds to rest after `cpu_seconds` of CPU so that the worker's CPU stays within
    `share` (0 < share <= 1) of one core over the work and the rest together."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share!r}")
    return max(0.0, cpu_seconds) * (1 / share - 1)


# -- the worker process -------------------------------------------------------------------------


def _worker_start() -> None:
    """Ctrl-C reaches the whole process group: the recorder stops the worker itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def compute_in_worker(
    db: str, compute: str, sid: str, open_options: dict[str, Any], trace: bool | None
) -> tuple[str, Any, float, int, bool | str | None]:
    """In the worker process: (kind, value, cpu seconds, pid, also) for one ended session.
    kind "stored": value is the encoded trace (bytes), None (no trace asked) or a str (why
    there is no trace); kind "failed": value is the error's type name. also (Computed's):
    None (none asked), True/False (kept or not), or the type name of the error it raised."""
    started = time.process_time()
    also: list[bool | str | None] = [None]
    try:
        value: Any = asyncio.run(_compute(db, compute, sid, open_options, trace, also))
        kind = "stored"
    except BaseException as error:  # that session only
        kind, value = "failed", type(error).__name__
    return kind, value, time.process_time() - started, os.getpid(), also[0]


async def _compute(
    db: str, compute: str, sid: str, open_options: dict[str, Any], trace: bool | None,
    also: list[bool | str | None],
) -> bytes | str | None:
    from recorder.stats import table
    from recorder.store import open_log

    module, _, attribute = compute.partition(":")
    figures_of = getattr(importlib.import_module(module), attribute)
    async with await open_log(db, create=False, **open_options) as log:
        computed = await figures_of(log, sid)
        figures = computed.figures if isinstance(computed, Computed) else computed
        await table.store(log, sid, figures)
        if isinstance(computed, Computed):
            try:
                also[0] = bool(await computed.also(log))
            except Exception as error:  # those rows only: the figures are kept
                also[0] = type(error).__name__
        if trace is None:
            return None
        from recorder.stats.otlp import encode_traces
        from recorder.stats.sender import facts_of
        from recorder.stats.trace import session_trace

        facts = facts_of(await log.get_session(sid))
        if facts is None:
            return "it has no start time"
        return encode_traces([session_trace(figures, facts, with_text=trace)])


# -- the recorder's side ------------------------------------------------------------------------


class FiguresWorker:
    def __init__(
        self,
        db: str,
        compute: str,
        *,
        share: float = 0.25,
        max_pending: int = 256,
        busy: Callable[[], bool] | None = None,
        open_options: dict[str, Any] | None = None,
        traces: TraceSender | None = None,
    ) -> None:
        rest_after(0.0, share)  # checks share
        if not isinstance(compute, str) or ":" not in compute:
            raise ValueError(f"compute must be 'module:function', not {compute!r}")
        self._db = db
        self._compute = compute
        self._share = share
        self._busy = busy or (lambda: False)
        self._open_options = open_options or {}
        self.traces = traces
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=max(1, max_pending))
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._pool: Any = None  # multiprocessing.pool.Pool(1), made with the first session
        self._grace_until: float | None = None
        self.computed = 0
        self.failed = 0
        self.dropped = 0  # not queued (the queue was full, or the worker stopping): left stale
        self.errors: dict[str, int] = {}  # failures by the type of their error (never its text)
        self.last_error: str | None = None
        self.worker_pids: set[int] = set()  # the process(es) the figures were computed in
        self.text_kept = 0  # Computed.also: the rows kept from the same fold (rtrec record: text)
        self.text_failed = 0
        self.text_errors: dict[str, int] = {}  # by the type of their error (never its text)

    def health(self) -> dict[str, Any]:
        counts = {"figures_computed": self.computed, "figures_failed": self.failed,
                  "figures_dropped": self.dropped, "figures_pending": self._pending,
                  "figures_errors": dict(self.errors), "text_kept": self.text_kept,
                  "text_failed": self.text_failed, "text_errors": dict(self.text_errors)}
        if self.traces is not None:
            counts.update(self.traces.health())
        return counts

    def submit(self, session_id: str) -> None:
        """Queue an ended session (never blocks; a full queue drops it: left stale)."""
        if self._stop.is_set():
            self._dropped(session_id, "the recorder is stopping")
            return
        with self._lock:
            try:
                self._queue.put_nowait(session_id)
            except queue.Full:
                full = True
            else:
                full = False
                self._pending += 1
                self._idle.clear()
        if full:
            self._dropped(session_id, f"the queue of {self._queue.maxsize} sessions waiting for "
                                      "their figures is full")
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rtrec-figures", daemon=True)
            self._thread.start()

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued session is done (for tests and tools; a recorder does not
        wait). False: still busy after timeout seconds."""
        return await asyncio.to_thread(self._idle.wait, timeout)

    async def close(self, grace: float = 1.0, timeout: float = 5.0) -> None:
        """Stop: sessions still queued are left stale; one being computed gets `grace`
        seconds to finish, then its process is stopped."""
        self._grace_until = time.monotonic() + grace
        self._stop.set()
        with self._lock:
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    self._pending -= 1
                    self._dropped(left, "the recorder stopped first")
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
        thread = self._thread
        if thread is not None:
            await asyncio.to_thread(thread.join, grace + timeout)
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            await asyncio.to_thread(pool.join)

    def _dropped(self, sid: str, why: str) -> None:
        self.dropped += 1
        if self.traces is not None:
            self.traces.lost(sid, f"its figures were not computed ({why})")

    # -- the dispatch thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            session_id = self._queue.get()
            if session_id is None:
                break
            while self._busy() and not self._stop.is_set():
                self._stop.wait(_BUSY_WAIT)
            cpu = 0.0
            try:
                if self._stop.is_set():
                    self._dropped(session_id, "the recorder stopped first")
                    continue
                cpu = self._one(session_id)
            except BaseException as error:  # the worker process itself broke
                self._failed(session_id, type(error).__name__)
            finally:
                self._done_one()
            self._stop.wait(rest_after(cpu, self._share))
        with self._lock:
            self._idle.set()

    def _one(self, session_id: str) -> float:
        if self._pool is None:
            # spawn: a fresh interpreter (forking a process that runs threads is unsafe)
            self._pool = multiprocessing.get_context("spawn").Pool(1, _worker_start)
        trace = None if self.traces is None else self.traces.with_text
        result = self._pool.apply_async(
            compute_in_worker, (self._db, self._compute, session_id, self._open_options, trace)
        )
        while not result.ready():
            result.wait(_POLL_S)
            until = self._grace_until
            if until is not None and time.monotonic() > until and not result.ready():
                self._failed(session_id, CANCELLED)
                pool, self._pool = self._pool, None
                pool.terminate()
                return 0.0
        kind, value, cpu, pid, also = result.get()
        self.worker_pids.add(pid)
        if also is True:
            self.text_kept += 1
        elif isinstance(also, str):
            self.text_failed += 1
            self.text_errors[also] = self.text_errors.get(also, 0) + 1
        if kind == "failed":
            self._failed(session_id, value)
            return float(cpu)
        self.computed += 1
        if self.traces is not None:
            if isinstance(value, bytes):
                self.traces.send_encoded(session_id, value)
            else:
                self.traces.skip()
        return float(cpu)

    def _failed(self, sid: str, kind: str) -> None:
        self.failed += 1
        self.last_error = kind
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if self.traces is not None:
            self.traces.lost(sid, f"its figures could not be computed ({kind})")

    def _done_one(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.set()
