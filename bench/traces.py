"""Issue 16 item 4: `rtrec record --otlp` must not slow recording, even with a slow collector.

One process, one in-process RecordingProxy recording into SQLite, the scripted upstream of
bench/proxy.py. A long session streams 50 frames/s each way (its one-way latency through the
proxy is measured on one clock); meanwhile short sessions open and end back to back, so a
trace is due every fraction of a second. Two setups, alternated in the same run:

  none    no traces (the baseline)
  traces  each ended session's trace: figures from a stand-in fold that burns FOLD_CPU_S of
          CPU (a long session's fold), sent to a collector that answers after SLOW_S

Figure: p99 latency of the long session's frames with traces <= 1.5x without (the traces'
thread shares the GIL with the proxy's loop, so some cost is expected; the fold on the loop
itself would stall every frame for FOLD_CPU_S).

Run: python bench/run.py traces   (or python bench/traces.py)
"""

from __future__ import annotations

import asyncio
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


async def one_run(with_traces: bool, port: int) -> tuple[list[int], int, dict[str, Any]]:
    """(latencies of the long session's frames (ns), short sessions ended, trace counts)."""
    from recorder.console import Console
    from recorder.proxy import ProxyConfig, RecordingProxy
    from recorder.stats.otlp import otlp_target
    from recorder.stats.sender import TraceSender
    from recorder.store import open_log

    upstream = Upstream()
    await upstream.start()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        log = await open_log(db, live=True)
        console = Console(io.StringIO(), io.StringIO())
        proxy = RecordingProxy(log, ProxyConfig(upstream=upstream.url, port=0), console)
        sender = None
        if with_traces:
            sender = TraceSender(otlp_target(f"http://127.0.0.1:{port}"),
                                 "traces:stand_in_fold", console=console)
            sender.start(db)
            proxy.listener = sender
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
            counts = sender.health()
            await sender.close(drain_s=0.1)
        await log.close()
    await upstream.stop()
    return inbound.latencies + outbound.latencies, ended, counts


def p99(values: list[int]) -> float:
    return statistics.quantiles(values, n=100)[98] / 1e6


def figures() -> list[Figure]:
    best: dict[bool, float] = {False: float("inf"), True: float("inf")}
    p50s: dict[bool, float] = {False: float("inf"), True: float("inf")}
    notes: dict[bool, str] = {}
    with SlowCollector() as collector:
        for _ in range(ROUNDS):
            for with_traces in (False, True):  # alternated, same run
                latencies, ended, counts = asyncio.run(one_run(with_traces, collector.port))
                best[with_traces] = min(best[with_traces], p99(latencies))
                p50s[with_traces] = min(p50s[with_traces], statistics.median(latencies) / 1e6)
                notes[with_traces] = (
                    f"{ended} sessions ended" + (
                        f", {counts['traces_sent']} traces sent, {counts['traces_dropped']} "
                        "dropped by then" if counts else "")
                )
    ratio = best[True] / best[False]
    return [Figure(
        ISSUE, "long session's p99 frame latency while traces go to a slow collector",
        "<= 1.5x no traces",
        f"no traces p99 {best[False]:.2f} ms (p50 {p50s[False]:.2f}; {notes[False]})",
        f"--otlp p99 {best[True]:.2f} ms (p50 {p50s[True]:.2f}; {notes[True]})",
        ratio, ratio <= 1.5,
    )]


if __name__ == "__main__":
    print_figures(figures())
