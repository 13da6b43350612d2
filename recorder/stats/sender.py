"""`rtrec record --otlp`: each session's trace sent as it ends, never in the forwarding path.

The proxy calls TraceSender.session_ended(sid) as a session ends: a counter check and a hand-off
to another thread, nothing else (no I/O, no waiting). That thread runs an event loop of its own
with its own connection to the store (`open_reader`), so neither the fold's CPU nor a collector
that is slow ever runs on the proxy's loop. It takes sessions in order: waits until the
session's end is stored (its frames are written before it), reads its row and its figures (the
`figures` callable, recorder.stats.fold.session_figures in rtrec record), builds its trace and
POSTs it. At most `queue_size` sessions wait; past that the next sessions' traces are dropped,
and every trace not delivered (dropped from a full queue, failed to send, not out when rtrec
stopped) is counted. The console says so once, at the first one lost (and the total when
rtrec stops); GET /rtrec/status carries the counts (health()).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import aiohttp

from recorder.console import Console
from recorder.errors import RtrecError
from recorder.stats.figures import SessionFigures
from recorder.stats.otlp import OtlpTarget, encode_traces, send_traces
from recorder.stats.trace import SessionFacts, session_trace

DEFAULT_QUEUE = 64  # sessions waiting for their trace to be sent; past it they are dropped
DRAIN_S = 5.0  # at stop: how long the traces still queued may take to go out
END_WAIT_S = 30.0  # how long a session's end may take to be stored (the store is down: longer)
_POLL_S = 0.05

FiguresOf = Callable[[Any, str], Awaitable[SessionFigures]]


class Reader(Protocol):
    """What the sender reads a session with (a recorder.store.EventLog opened to read)."""

    async def get_session(self, sid: str | None = None) -> Any: ...

    async def close(self) -> None: ...


def facts_of(info: Any) -> SessionFacts | None:
    """SessionFacts from a recorder.store.SessionInfo; None when its start time is unknown
    (an imported file that did not say): such a trace cannot be placed in time."""
    if info.started_at is None:
        return None
    return SessionFacts(
        session_id=info.id, started_ns=round(info.started_at.timestamp() * 1e9),
        model=info.model, protocol=info.protocol, status=info.status, endpoint=info.endpoint,
    )


class TraceSender:
    """The bounded hand-off and the thread that sends each ended session's trace."""

    def __init__(
        self,
        target: OtlpTarget,
        figures: FiguresOf,
        *,
        console: Console | None = None,
        queue_size: int = DEFAULT_QUEUE,
        with_text: bool = False,
        end_wait_s: float = END_WAIT_S,
    ) -> None:
        self.target = target
        self.figures = figures
        self.console = console or Console()
        self.with_text = with_text
        self.queue_size = queue_size
        self.end_wait_s = end_wait_s
        self.sent = 0
        self.dropped = 0  # traces not delivered: the queue was full, a send failed, stopped
        self.skipped = 0  # sessions without a start time (nothing to place the spans at)
        self._lock = threading.Lock()
        self._waiting = 0  # handed off and not done yet (queued, or being sent)
        self._warned = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[str | None] | None = None
        self._thread: threading.Thread | None = None
        self._main: asyncio.Task[None] | None = None
        self._in_flight = False

    # -- the proxy's side ---------------------------------------------------------------------

    def start(self, open_reader: Callable[[], Awaitable[Reader]]) -> None:
        """Start the sending thread; open_reader opens its own reader of the store (e.g.
        `lambda: open_log(db, create=False)`), in that thread's loop."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._queue = asyncio.Queue()
            self._main = loop.create_task(self._run(open_reader))
            ready.set()
            try:
                loop.run_until_complete(self._main)
            except BaseException:  # cancelled at stop, or the reader could not open
                pass
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="rtrec-traces", daemon=True)
        self._thread.start()
        ready.wait()

    def session_ended(self, sid: str) -> None:
        """The proxy's hook as a session ends: hand it to the thread, or count it dropped.
        Never waits."""
        with self._lock:
            full = self._waiting >= self.queue_size
            if not full:
                self._waiting += 1
        if full:
            self._lost(sid, f"the queue of {self.queue_size} traces waiting is full "
                            "(the collector is slow or down)")
            return
        assert self._loop is not None and self._queue is not None
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, sid)
        except RuntimeError:  # the thread has ended (its reader could not open)
            with self._lock:
                self._waiting -= 1
            self._lost(sid, "the trace sender has stopped (see the first warning)")

    def health(self) -> dict[str, Any]:
        """The counts GET /rtrec/status shows."""
        return {
            "traces_endpoint": self.target.display,
            "traces_sent": self.sent,
            "traces_queued": max(self._waiting - self._in_flight, 0),
            "traces_dropped": self.dropped,
        }

    async def close(self, drain_s: float = DRAIN_S) -> None:
        """Let the traces waiting go out (for drain_s at most: the rest is dropped and
        counted), stop the thread."""
        thread, loop, queue = self._thread, self._loop, self._queue
        if thread is None or loop is None or queue is None:
            return
        with contextlib.suppress(RuntimeError):  # the thread's loop already ended
            loop.call_soon_threadsafe(queue.put_nowait, None)  # after the sessions queued
        await asyncio.to_thread(thread.join, drain_s)
        if thread.is_alive():
            main = self._main
            if main is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(main.cancel)
            await asyncio.to_thread(thread.join, 5.0)
        self._thread = None
        with self._lock:
            self.dropped += self._waiting
            self._waiting = 0
        if self.dropped:
            self.console.traces_dropped(self.dropped, self.sent, self.target.display)

    def _lost(self, sid: str, why: str) -> None:
        with self._lock:
            self.dropped += 1
            first = not self._warned
            self._warned = True
        if first:
            self.console.trace_dropping(sid, why)

    # -- the sending thread -------------------------------------------------------------------

    async def _run(self, open_reader: Callable[[], Awaitable[Reader]]) -> None:
        assert self._queue is not None
        queue = self._queue
        try:
            reader = await open_reader()
        except Exception as error:
            self._lost("(every session)", f"the store could not be read ({error})")
            return
        try:
            async with aiohttp.ClientSession() as http:
                while (sid := await queue.get()) is not None:
                    self._in_flight = True
                    try:
                        await self._send(reader, http, sid)
                    except asyncio.CancelledError:  # stopping mid-send: it did not go out
                        with self._lock:
                            self.dropped += 1
                        raise
                    except RtrecError as error:
                        self._lost(sid, str(error))
                    except Exception as error:  # the fold or the store failed: that one
                        self._lost(sid, f"its figures could not be computed "
                                        f"({type(error).__name__}: {error})")
                    finally:
                        self._in_flight = False
                        with self._lock:
                            self._waiting -= 1
        finally:
            await reader.close()

    async def _ended(self, reader: Reader, sid: str) -> Any:
        """The session's row once its end is stored (and so every frame before it)."""
        deadline = time.monotonic() + self.end_wait_s
        while True:
            info = await reader.get_session(sid)
            if info.status != "recording":
                return info
            if time.monotonic() > deadline:
                raise RtrecError(f"its end was not stored within {self.end_wait_s:g}s "
                                 "(the store is down or behind)")
            await asyncio.sleep(_POLL_S)

    async def _send(self, reader: Reader, http: aiohttp.ClientSession, sid: str) -> None:
        facts = facts_of(await self._ended(reader, sid))
        if facts is None:
            self.skipped += 1
            return
        figures = await self.figures(reader, sid)
        body = encode_traces([session_trace(figures, facts, with_text=self.with_text)])
        rejected = await send_traces(self.target, body, http)
        if rejected:
            raise RtrecError(f"the collector rejected {rejected} spans of it")
        self.sent += 1
