"""Figures computed as recording sessions end, off the forwarding path.

A recorder (EventLog opened with figures=compute) hands each session whose end the writer has
stored (its frames are all written before it: the writer keeps queue order) to one
FiguresWorker: a thread of its own, with an event loop and an EventLog of its own on the same
store, that computes the session's figures from the stored frames and keeps them
(recorder.stats.table.store). The loop that forwards only puts the session id on a queue.

It stays inside the recorder's CPU budget by being bounded three ways:
- one session at a time, on one thread;
- after each session, the thread rests so that its CPU time stays under `share` of one core
  (a session that cost 0.2 s of CPU at share 0.25 is followed by 0.6 s of rest);
- while the recorder is behind (busy(): the writer's queue filling, sessions shed) it waits;
  and at most max_pending sessions wait their turn: the rest (and those still waiting when the
  recorder closes) are left stale, computed on first use (recorder.stats.table.ensure).
A compute that fails fails alone: counted, its session left stale, recording untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recorder.stats.table import Compute
    from recorder.store import EventLog

# How long a busy recorder makes the worker wait before it looks again.
_BUSY_WAIT = 0.5


def rest_after(cpu_seconds: float, share: float) -> float:
    """Seconds to rest after `cpu_seconds` of CPU so that the thread's CPU stays within
    `share` (0 < share <= 1) of one core over the work and the rest together."""
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share!r}")
    return max(0.0, cpu_seconds) * (1 / share - 1)


class FiguresWorker:
    def __init__(
        self,
        db: str,
        compute: Compute,
        *,
        share: float = 0.25,
        max_pending: int = 256,
        busy: Callable[[], bool] | None = None,
        open_options: dict[str, Any] | None = None,
    ) -> None:
        rest_after(0.0, share)  # checks share
        self._db = db
        self._compute = compute
        self._share = share
        self._busy = busy or (lambda: False)
        self._open_options = open_options or {}
        self._queue: queue.Queue[str | None] = queue.Queue(maxsize=max(1, max_pending))
        self._stop = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._current: asyncio.Task[Any] | None = None
        self.computed = 0
        self.failed = 0
        self.dropped = 0  # not queued (the queue was full, or the worker stopping): left stale
        self.last_error: str | None = None  # the type of the last failure (never its text)

    def health(self) -> dict[str, Any]:
        return {"figures_computed": self.computed, "figures_failed": self.failed,
                "figures_dropped": self.dropped, "figures_pending": self._pending}

    def submit(self, session_id: str) -> None:
        """Queue an ended session (never blocks; a full queue drops it: left stale)."""
        if self._stop.is_set():
            self.dropped += 1
            return
        with self._lock:
            try:
                self._queue.put_nowait(session_id)
            except queue.Full:
                self.dropped += 1
                return
            self._pending += 1
            self._idle.clear()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="rtrec-figures", daemon=True)
            self._thread.start()

    async def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every queued session is done (for tests and tools; a recorder does not
        wait). False: still busy after timeout seconds."""
        return await asyncio.to_thread(self._idle.wait, timeout)

    async def close(self, grace: float = 1.0, timeout: float = 5.0) -> None:
        """Stop: sessions still queued are left stale; one being computed gets `grace`
        seconds to finish, then is cancelled (and given `timeout` to unwind)."""
        self._stop.set()
        with self._lock:
            while True:
                try:
                    left = self._queue.get_nowait()
                except queue.Empty:
                    break
                if left is not None:
                    self.dropped += 1
                    self._pending -= 1
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
        thread = self._thread
        if thread is None:
            return
        await asyncio.to_thread(thread.join, grace)
        loop, current = self._loop, self._current
        if thread.is_alive() and loop is not None and current is not None:
            with contextlib.suppress(RuntimeError):  # its loop closed meanwhile
                loop.call_soon_threadsafe(current.cancel)
            await asyncio.to_thread(thread.join, timeout)

    # -- the worker thread -------------------------------------------------------------------

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        log: EventLog | None = None
        try:
            while not self._stop.is_set():
                session_id = self._queue.get()
                if session_id is None:
                    break
                while self._busy() and not self._stop.is_set():
                    self._stop.wait(_BUSY_WAIT)
                started = time.thread_time()
                try:
                    if self._stop.is_set():
                        self.dropped += 1
                        continue
                    if log is None:
                        log = loop.run_until_complete(self._open())
                    self._current = loop.create_task(self._one(log, session_id))
                    loop.run_until_complete(self._current)
                    self.computed += 1
                except BaseException as error:  # a failed compute fails alone
                    self.failed += 1
                    self.last_error = type(error).__name__
                finally:
                    self._current = None
                    self._done_one()
                self._stop.wait(rest_after(time.thread_time() - started, self._share))
        finally:
            if log is not None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(log.close())
            loop.close()
            with self._lock:
                self._idle.set()

    def _done_one(self) -> None:
        with self._lock:
            self._pending -= 1
            if self._pending <= 0:
                self._idle.set()

    async def _open(self) -> EventLog:
        from recorder.store import open_log

        return await open_log(self._db, create=False, **self._open_options)

    async def _one(self, log: EventLog, session_id: str) -> None:
        from recorder.stats import table

        figures = await self._compute(log, session_id)
        await table.store(log, session_id, figures)
