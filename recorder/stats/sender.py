"""`rtrec record --otlp`: each session's trace sent as it ends, never in the forwarding path.

In rtrec record, the recorder's one worker process (recorder.stats.worker) computes each
ended session's figures once, stores them and encodes its trace from them: send_encoded hands
the encoded trace to the sending thread here, which only sends it. Standalone (no figures
worker, as in tests and bench/traces.py), the rest of this text holds:
The proxy calls TraceSender.session_ended(sid) as a session ends: a counter check and a hand-off
to another thread, nothing else (no I/O, no waiting). That thread runs an event loop of its own
and sends the traces in order; each trace is computed in a worker process (one, started with
the first trace), which opens the store itself, waits until the session's end is stored (its
frames are written before it), reads its row and its figures (`figures`, "module:function" of
an async (log, SessionInfo) -> SessionFigures: recorder.stats.fold.log_figures in rtrec
record) and encodes its trace. So neither the fold's CPU (it would hold the proxy's GIL in a
thread) nor a slow collector ever delays a frame. At most `queue_size` sessions wait; past that
the next sessions' traces are dropped, and every trace not delivered (dropped from a full
queue, failed to compute or send, not out when rtrec stopped) is counted. The console says so
once, at the first one lost (and the total when rtrec stops); GET /rtrec/status carries the
counts (health()).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import multiprocessing
import signal
import threading
import time
from typing import Any

import aiohttp

from recorder.console import Console
from recorder.errors import RtrecError
from recorder.stats.otlp import OtlpTarget, encode_traces, send_traces
from recorder.stats.trace import SessionFacts, session_trace

DEFAULT_QUEUE = 64  # sessions waiting for their trace to be sent; past it they are dropped
DRAIN_S = 5.0  # at stop: how long the traces still queued may take to go out
END_WAIT_S = 30.0  # how long a session's end may take to be stored (the store is down: longer)
_POLL_S = 0.05
FOLD = "recorder.cli.trace:fold_figures"  # the fold rtrec record uses


def facts_of(info: Any) -> SessionFacts | None:
    """SessionFacts from a recorder.store.SessionInfo; None when its start time is unknown
    (an imported file that did not say): such a trace cannot be placed in time."""
    if info.started_at is None:
        return None
    return SessionFacts(
        session_id=info.id, started_ns=round(info.started_at.timestamp() * 1e9),
        model=info.model, protocol=info.protocol, status=info.status, endpoint=info.endpoint,
    )


# -- the worker process -------------------------------------------------------------------------


def _worker_start() -> None:
    """Ctrl-C reaches the whole process group: rtrec record stops the worker itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def compute_trace(
    db: str, sid: str, figures: str, with_text: bool, end_wait_s: float
) -> tuple[str, bytes | str]:
    """In the worker process: ("trace", the encoded request), ("skipped", why) or ("failed",
    why) for one session of the store at db."""
    try:
        return asyncio.run(_compute(db, sid, figures, with_text, end_wait_s))
    except RtrecError as error:
        return "failed", str(error)
    except Exception as error:  # the fold or the store failed: that trace only
        return "failed", f"its figures could not be computed ({type(error).__name__}: {error})"


async def _compute(
    db: str, sid: str, figures: str, with_text: bool, end_wait_s: float
) -> tuple[str, bytes | str]:
    from recorder.store import open_log

    module, _, attribute = figures.partition(":")
    figures_of = getattr(importlib.import_module(module), attribute)
    async with await open_log(db, create=False) as reader:
        deadline = time.monotonic() + end_wait_s
        while (info := await reader.get_session(sid)).status == "recording":
            if time.monotonic() > deadline:
                raise RtrecError(f"its end was not stored within {end_wait_s:g}s "
                                 "(the store is down or behind)")
            await asyncio.sleep(_POLL_S)
        facts = facts_of(info)
        if facts is None:
            return "skipped", "it has no start time"
        session_figures = await figures_of(reader, info)
    return "trace", encode_traces([session_trace(session_figures, facts, with_text=with_text)])


# -- the proxy's side and the sending thread ----------------------------------------------------


class TraceSender:
    """The bounded hand-off, the thread that sends each ended session's trace, the worker
    process that computes it."""

    def __init__(
        self,
        target: OtlpTarget,
        figures: str = FOLD,
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
        self.db = ""
        self.sent = 0
        self.dropped = 0  # traces not delivered: the queue was full, a send failed, stopped
        self.skipped = 0  # sessions without a start time (nothing to place the spans at)
        self._lock = threading.Lock()
        self._waiting = 0  # handed off and not done yet (queued, or being sent)
        self._warned = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[str | tuple[str, bytes] | None] | None = None
        self._thread: threading.Thread | None = None
        self._main: asyncio.Task[None] | None = None
        self._in_flight = False
        self._pool: Any = None  # multiprocessing.pool.Pool, made with the first trace

    def start(self, db: str) -> None:
        """Start the sending thread for the store at db (the worker opens it to read)."""
        self.db = db
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            self._queue = asyncio.Queue()
            self._main = loop.create_task(self._run())
            ready.set()
            with contextlib.suppress(BaseException):  # cancelled at stop
                loop.run_until_complete(self._main)
            loop.close()

        self._thread = threading.Thread(target=run, name="rtrec-traces", daemon=True)
        self._thread.start()
        ready.wait()

    def session_ended(self, sid: str) -> None:
        """The proxy's hook as a session ends: hand it to the thread, or count it dropped.
        Never waits."""
        self._hand_off(sid, sid)

    def _hand_off(self, sid: str, item: str | tuple[str, bytes]) -> None:
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
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the thread has ended
            with self._lock:
                self._waiting -= 1
            self._lost(sid, "the trace sender has stopped")

    def send_encoded(self, sid: str, body: bytes) -> None:
        """A trace already encoded (by recorder.stats.worker's process, from the figures it
        computed and stored: the fold runs once): the thread only sends it. Never waits."""
        self._hand_off(sid, (sid, body))

    def lost(self, sid: str, why: str) -> None:
        """A session whose trace will not come (its figures were dropped or failed)."""
        self._lost(sid, why)

    def skip(self) -> None:
        """A session without a start time: no trace to place (counted, not lost)."""
        self.skipped += 1

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
        counted), stop the thread and the worker."""
        thread, loop, queue = self._thread, self._loop, self._queue
        if thread is None or loop is None or queue is None:
            return
        with contextlib.suppress(RuntimeError):  # the thread's loop already ended
            loop.call_soon_threadsafe(queue.put_nowait, None)  # after the sessions queued
        await asyncio.to_thread(thread.join, drain_s)
        if thread.is_alive():
            if self._pool is not None:
                self._pool.terminate()  # a trace being computed: abandoned
            main = self._main
            if main is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(main.cancel)
            await asyncio.to_thread(thread.join, 5.0)
        self._thread = None
        if self._pool is not None:
            self._pool.terminate()
            await asyncio.to_thread(self._pool.join)
            self._pool = None
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

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        async with aiohttp.ClientSession() as http:
            while (item := await queue.get()) is not None:
                sid, body = item if isinstance(item, tuple) else (item, None)
                self._in_flight = True
                try:
                    await self._send(http, sid, body)
                except asyncio.CancelledError:  # stopping mid-send: it did not go out
                    with self._lock:
                        self.dropped += 1
                    raise
                except RtrecError as error:
                    self._lost(sid, str(error))
                finally:
                    self._in_flight = False
                    with self._lock:
                        self._waiting -= 1

    async def _in_worker(self, sid: str) -> tuple[str, bytes | str]:
        if self._pool is None:
            # spawn: a fresh interpreter (forking a process that runs threads is unsafe)
            self._pool = multiprocessing.get_context("spawn").Pool(1, _worker_start)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[str, bytes | str]] = loop.create_future()

        def finished(result: tuple[str, bytes | str]) -> None:
            loop.call_soon_threadsafe(_settle, done, result, None)

        def failed(error: BaseException) -> None:
            loop.call_soon_threadsafe(_settle, done, None, error)

        self._pool.apply_async(
            compute_trace, (self.db, sid, self.figures, self.with_text, self.end_wait_s),
            callback=finished, error_callback=failed,
        )
        return await done

    async def _send(self, http: aiohttp.ClientSession, sid: str, body: bytes | None) -> None:
        kind: str
        value: bytes | str
        if body is not None:  # encoded by recorder.stats.worker's process
            kind, value = "trace", body
        else:
            try:
                kind, value = await self._in_worker(sid)
            except Exception as error:  # the worker itself broke (killed, cannot start)
                raise RtrecError(
                    f"the process computing traces failed ({type(error).__name__})"
                ) from error
        if kind == "skipped":
            self.skipped += 1
            return
        if kind == "failed" or not isinstance(value, bytes):
            raise RtrecError(str(value))
        rejected, why = await send_traces(self.target, value, http)
        if rejected:
            raise RtrecError(f"the collector rejected {rejected} spans of it"
                             + (f": {why}" if why else ""))
        self.sent += 1


def _settle(
    future: asyncio.Future[tuple[str, bytes | str]],
    result: tuple[str, bytes | str] | None,
    error: BaseException | None,
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        assert result is not None
        future.set_result(result)
