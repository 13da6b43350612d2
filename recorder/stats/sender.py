"""`rtrec record --otlp`: each session's trace sent as it ends, never in the forwarding path.

The proxy calls TraceSender.session_ended(sid) as a session ends: a put into a bounded queue,
nothing else (no I/O, no waiting). One task takes sessions from the queue in order: waits for
the session's frames to be stored, reads its row and its figures (the `figures` callable,
recorder.stats.fold.session_figures in rtrec record), builds its trace and POSTs it. A
collector that is down, slow or refusing costs that task time, never the proxy: once the queue
is full the next sessions' traces are dropped, and every trace not delivered (dropped from a
full queue or failed to send) is counted. The console says so once, when the first one is lost
(and the total when rtrec stops); GET /rtrec/status carries the counts (health()).
"""

from __future__ import annotations

import asyncio
import contextlib
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

FiguresOf = Callable[[Any, str], Awaitable[SessionFigures]]


class _Log(Protocol):
    async def flush(self) -> None: ...

    async def get_session(self, sid: str | None = None) -> Any: ...


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
    """The bounded queue and the one task that sends each ended session's trace."""

    def __init__(
        self,
        target: OtlpTarget,
        figures: FiguresOf,
        *,
        source: Any = None,
        console: Console | None = None,
        queue_size: int = DEFAULT_QUEUE,
        with_text: bool = False,
    ) -> None:
        self.target = target
        self.figures = figures
        self.source = source  # what `figures` reads the session from (the log, or its URL)
        self.log: _Log | None = None
        self.console = console or Console()
        self.with_text = with_text
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self.sent = 0
        self.dropped = 0  # traces not delivered: the queue was full, or the send failed
        self.skipped = 0  # sessions without a start time (nothing to place the spans at)
        self._warned = False

    def start(self, log: _Log, source: Any = None) -> None:
        """Begin sending (log: the recording's EventLog; source defaults to it)."""
        self.log = log
        if source is not None or self.source is None:
            self.source = source if source is not None else log
        self._http = aiohttp.ClientSession()
        self._task = asyncio.ensure_future(self._run())

    def session_ended(self, sid: str) -> None:
        """The proxy's hook as a session ends: queue it, or count it dropped. Never waits."""
        try:
            self._queue.put_nowait(sid)
        except asyncio.QueueFull:
            self._lost(sid, f"the queue of {self._queue.maxsize} traces waiting is full "
                            "(the collector is slow or down)")

    def health(self) -> dict[str, Any]:
        """The counts GET /rtrec/status shows."""
        return {
            "traces_endpoint": self.target.display,
            "traces_sent": self.sent,
            "traces_queued": self._queue.qsize(),
            "traces_dropped": self.dropped,
        }

    async def close(self, drain_s: float = DRAIN_S) -> None:
        """Send what is queued (for drain_s at most: the rest is dropped and counted), stop."""
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), drain_s)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        while not self._queue.empty():
            self._queue.get_nowait()
            self.dropped += 1
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self.dropped:
            self.console.traces_dropped(self.dropped, self.sent, self.target.display)

    def _lost(self, sid: str, why: str) -> None:
        self.dropped += 1
        if not self._warned:
            self._warned = True
            self.console.trace_dropping(sid, why)

    async def _run(self) -> None:
        while True:
            sid = await self._queue.get()
            try:
                await self._send(sid)
            except asyncio.CancelledError:
                self.dropped += 1  # stopping mid-send: that trace did not go out
                raise
            except RtrecError as error:
                self._lost(sid, str(error))
            except Exception as error:  # the fold or the store failed: that trace is lost
                self._lost(sid, f"its figures could not be computed ({type(error).__name__}: "
                                f"{error})")
            finally:
                self._queue.task_done()

    async def _send(self, sid: str) -> None:
        assert self.log is not None
        await self.log.flush()  # the session's frames and its end are stored
        facts = facts_of(await self.log.get_session(sid))
        if facts is None:
            self.skipped += 1
            return
        figures = await self.figures(self.source, sid)
        body = encode_traces([session_trace(figures, facts, with_text=self.with_text)])
        rejected = await send_traces(self.target, body, self._http)
        if rejected:
            raise RtrecError(f"the collector rejected {rejected} spans of it")
        self.sent += 1
