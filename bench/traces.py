"""Issue 16 item 4: `rtrec record --otlp` must not slow recording, even with a slow collector.

One process, one in-process RecordingProxy recording into SQLite, the scripted upstream of
bench/proxy.py. A long session streams 50 frames/s each way (its one-way latency through the
proxy is measured on one clock); meanwhile short sessions open and end back to back, so a
fold and a trace are due every fraction of a second. Three setups, alternated in the same run:

  none     no figures, no traces (the baseline)
  thread   what rtrec record did before one worker process: each ended session's figures
           folded on a thread of the recorder (a stand-in fold that burns FOLD_CPU_S of CPU,
           a long session's fold), beside the traces' own worker process
  process  rtrec record's wiring now (open_log(figures=..., traces=...)): the recorder's one
           worker process folds each session once, stores its figures and encodes its trace;
           the recorder only sends it, to a collector that answers after SLOW_S

Figure: p99 latency of the long session's frames with figures and traces <= 1.5x without; the
thread setup is printed beside it (the fold holding the proxy's GIL).

Run: python bench/run.py traces   (or python bench/traces.py)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures
from proxy import Upstream, session

ISSUE = 16
SECONDS = 6.0
RATE = 50.0
FOLD_CPU_S = 0.1
SLOW_S = 1.0
ROUNDS = 2


class SlowCollector:
    """POST /v1/traces answered after SLOW_S, on a thread of its own."""

    def __init__(self) -> None:
        self.port = 0
        self.received = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(SLOW_S)
        self.received += 1
        return web.Response(body=b"", content_type="application/x-protobuf")

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/traces", self._handle)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self.port = runner.addresses[0][1]

        self._loop.run_until_complete(serve())
        self._ready.set()
        self._loop.run_forever()

    def __enter__(self) -> SlowCollector:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        async def cancel_answers() -> None:
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(cancel_answers(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


async def stand_in_fold(_source: Any, _sid: str) -> Any:
    from recorder.stats.figures import ResponseFigures, SessionFigures, TurnFigures

    deadline = time.process_time() + FOLD_CPU_S
    spin = 0
    while time.process_time() < deadline:  # pure Python work, holding the GIL as a fold does
        spin += sum(range(200))
    return SessionFigures(
        duration_ms=1000.0,
        turns=[TurnFigures(index=1, item_id="i", speech_started_ms=1.0, response_id="r")],
        responses=[ResponseFigures(response_id="r", created_ms=2.0, done_ms=3.0,
                                   status="completed")],
    )


class ThreadFold:
    """The removed thread worker, for comparison: each ended session folded on one thread of
    the recorder (it holds the GIL the proxy's loop needs), resting to stay within 0.25 of a
    core as it did."""

    def __init__(self) -> None:
        import queue

        self.queue: queue.Queue[str | None] = queue.Queue(maxsize=256)
        self.done = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def session_ended(self, sid: str) -> None:
        import queue

        with contextlib.suppress(queue.Full):
            self.queue.put_nowait(sid)

    def _run(self) -> None:
        from recorder.stats.worker import rest_after

        while (sid := self.queue.get()) is not None:
            started = time.thread_time()
            asyncio.run(stand_in_fold(None, sid))
            self.done += 1
            time.sleep(rest_after(time.thread_time() - started, 0.25))  # its CPU share cap

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join(30)


SETUPS = ("none", "thread", "process")


async def one_run(setup: str, port: int) -> tuple[list[int], int, dict[str, Any]]:
    """(latencies of the long session's frames (ns), short sessions ended, worker counts)."""
    from recorder.console import Console
    from recorder.proxy import ProxyConfig, RecordingProxy
    from recorder.stats.otlp import otlp_target
    from recorder.stats.sender import TraceSender
    from recorder.store import open_log

    upstream = Upstream()
    await upstream.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        console = Console(io.StringIO(), io.StringIO())
        sender = None
        if setup != "none":
            sender = TraceSender(otlp_target(f"http://127.0.0.1:{port}"),
                                 "traces:stand_in_fold", console=console)
        if setup == "process":
            log = await open_log(db, live=True, figures="traces:stand_in_fold", traces=sender)
        else:
            log = await open_log(db, live=True)
        proxy = RecordingProxy(log, ProxyConfig(upstream=upstream.url, port=0), console)
        folds = None
        if sender is not None:
            sender.start(db)
        if setup == "thread":
            assert sender is not None
            folds = ThreadFold()
            both = (folds, sender)

            class Both:
                def session_ended(self, sid: str) -> None:
                    for listener in both:
                        listener.session_ended(sid)

                def health(self) -> dict[str, Any]:
                    return {}

            proxy.listener = Both()
        base = await proxy.start()
        done = asyncio.Event()
        ended = 0

        async def shorts() -> None:
            nonlocal ended
            while not done.is_set():
                await session(base, upstream, f"short{ended}", 10, 200.0)
                ended += 1

        background = asyncio.ensure_future(shorts())
        count = int(SECONDS * RATE)
        inbound, outbound = await session(base, upstream, "long", count, RATE)
        done.set()
        await background
        await proxy.close()
        counts: dict[str, Any] = {}
        if sender is not None:
            counts = dict(sender.health())
        if log.figures is not None:
            counts["figures"] = log.figures.computed
        if folds is not None:
            counts["figures"] = folds.done
            folds.close()
        await log.close()
        if sender is not None:
            await sender.close(drain_s=0.1)
    await upstream.stop()
    return inbound.latencies + outbound.latencies, ended, counts


def p99(values: list[int]) -> float:
    return statistics.quantiles(values, n=100)[98] / 1e6


def figures() -> list[Figure]:
    best = dict.fromkeys(SETUPS, float("inf"))
    p50s = dict.fromkeys(SETUPS, float("inf"))
    notes: dict[str, str] = {}
    with SlowCollector() as collector:
        for _ in range(ROUNDS):
            for setup in SETUPS:  # alternated, same run
                latencies, ended, counts = asyncio.run(one_run(setup, collector.port))
                best[setup] = min(best[setup], p99(latencies))
                p50s[setup] = min(p50s[setup], statistics.median(latencies) / 1e6)
                notes[setup] = (
                    f"{ended} sessions ended" + (
                        f", {counts['figures']} folded, {counts['traces_sent']} traces sent, "
                        f"{counts['traces_dropped']} dropped by then" if counts else "")
                )

    def shown(setup: str) -> str:
        return f"{setup} p99 {best[setup]:.2f} ms (p50 {p50s[setup]:.2f}; {notes[setup]})"

    out = []
    for setup, goal in (("process", 1.5), ("thread", None)):
        ratio = best[setup] / best["none"]
        out.append(Figure(
            ISSUE, f"long session's p99 frame latency, figures and traces ({setup} fold) "
            "to a slow collector", f"<= {goal}x none" if goal else "info (removed setup)",
            shown("none"), shown(setup), ratio, goal is None or ratio <= goal,
        ))
    return out


if __name__ == "__main__":
    print_figures(figures())
