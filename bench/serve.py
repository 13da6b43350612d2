"""Issue 8 figures: rtrec serve plays a 10-minute session asap in < 2 s, and paces frames at
--speed 1 within 5 ms (p99) of their recorded times.

Both figures use recorder.fake.scenarios.long_session (audio-heavy: the microphone streams an
append every 20 ms, the assistant answers in audio deltas), stored in and loaded from a SQLite
EventLog as `rtrec serve` does. The client is a loopback aiohttp client that plays the
recording's client side.

Baseline, measured in the same run on the same frames and the same client: a bare aiohttp
server that sends the server frames (asap: back to back; paced: each at its recorded offset
with asyncio.sleep) and drains what the client sends, with no matching and no ordering.

    python bench/serve.py            (or: python bench/run.py serve)
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Self

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures

from recorder.fake.scenarios import long_session
from recorder.localserver import LocalServer
from recorder.serve import Recording, ReplayServer, load_recording
from recorder.store import open_log
from recorder.wire import Direction, Frame

ASAP_MINUTES = 10
PACED_SECONDS = 20
REPEATS = 3


async def store_and_load(frames: list[Frame], db: Path) -> tuple[Recording, float]:
    event_log = await open_log(str(db))
    sid = await event_log.begin_session("ga", "gpt-realtime", None)
    for f in frames:
        event_log.append(sid, f)
        await event_log.keep_up()  # a bulk writer waits for the disk (else it is shed)
    await event_log.end_session(sid, closed_by="client", close_code=1000)
    await event_log.close()
    assert not event_log.shed and event_log.failure is None, "the bench session was not kept"
    event_log = await open_log(str(db))
    started = time.perf_counter()
    recording = await load_recording(event_log, sid)
    loaded = time.perf_counter() - started
    await event_log.close()
    return recording, loaded


class BareSender:
    """A bare sender's server: its handle() answers `path`; lateness_ns of each timed frame."""

    path = "/v1/realtime"

    def __init__(self) -> None:
        self.lateness_ns: list[int] = []
        self.server: LocalServer | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        app = web.Application()
        app.router.add_get(self.path, self.handle)
        self.server = LocalServer(app)
        await self.server.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        await self.server.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.url("/v1")


class BareServer(BareSender):
    """The baseline: server frames out (asap or at their offsets), client frames drained."""

    def __init__(self, frames: list[Frame], speed: float | None) -> None:
        super().__init__()
        self.server_frames = [f for f in frames if f.direction is Direction.SERVER]
        self.speed = speed

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        start = time.monotonic_ns()

        async def drain() -> None:
            async for _ in ws:
                pass

        drainer = asyncio.create_task(drain())
        for f in self.server_frames:
            if self.speed is not None:
                due = start + int(f.t_ns / self.speed)
                delay = (due - time.monotonic_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send_frame(f.data, aiohttp.WSMsgType.TEXT)
                self.lateness_ns.append(time.monotonic_ns() - due)
            else:
                await ws.send_frame(f.data, aiohttp.WSMsgType.TEXT)
        await drainer
        return ws



async def play_client(url: str, frames: list[Frame], *, paced: bool) -> tuple[float, list[int]]:
    """Play the client side; returns (seconds until the last server frame arrived, and for
    paced runs how late each server frame arrived after its recorded offset, in ns)."""
    client_frames = [f for f in frames if f.direction is Direction.CLIENT]
    server_times = [f.t_ns for f in frames if f.direction is Direction.SERVER]
    arrival_lateness: list[int] = []
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        async with http.ws_connect(url + "/realtime", max_msg_size=0, compress=0) as ws:
            opened = time.monotonic_ns()

            async def send() -> None:
                for f in client_frames:
                    if paced:
                        delay = (opened + f.t_ns - time.monotonic_ns()) / 1e9
                        if delay > 0:
                            await asyncio.sleep(delay)
                    await ws.send_frame(f.data, aiohttp.WSMsgType.TEXT)

            sender = asyncio.create_task(send())
            for t_ns in server_times:
                message = await ws.receive()
                assert message.type is aiohttp.WSMsgType.TEXT, message
                arrival_lateness.append(time.monotonic_ns() - opened - t_ns)
            elapsed = time.perf_counter() - started
            await sender
    return elapsed, arrival_lateness


def p99(values: list[int]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] / 1e6


async def best_serve(
    serve: Callable[[], Awaitable[tuple[float, list[int]]]], repeats: int
) -> float:
    return min([(await serve())[0] for _ in range(repeats)])


async def asap_figure(tmp: Path) -> Figure:
    frames = list(long_session(ASAP_MINUTES, seed=8))
    recording, loaded = await store_and_load(frames, tmp / "asap.db")

    async def rtrec() -> tuple[float, list[int]]:
        async with ReplayServer(recording) as server:
            outcome = await play_client(server.url, frames, paced=False)
            result = await server.next_result()
            assert result.ok, (result.mismatches[:1], result.unused_client_frames[:1])
            return outcome

    async def bare() -> tuple[float, list[int]]:
        async with BareServer(frames, None) as server:
            return await play_client(server.url, frames, paced=False)

    baseline = await best_serve(bare, REPEATS)
    measured = await best_serve(rtrec, REPEATS)
    megabytes = sum(len(f.data) for f in frames) / 1e6
    return Figure(
        issue=8,
        name=f"serve a {ASAP_MINUTES}-min session, --speed asap",
        goal="< 2 s (client connect to last server frame)",
        baseline=f"bare aiohttp sender {baseline:.2f} s",
        measured=(
            f"rtrec serve {measured:.2f} s ({len(frames):,} frames, {megabytes:.0f} MB both "
            f"ways, every client frame matched); session loaded from SQLite once in "
            f"{loaded:.2f} s"
        ),
        ratio=measured / baseline,
        passed=measured < 2.0,
    )


def paced_frames() -> list[Frame]:
    return list(long_session(PACED_SECONDS / 60, seed=9))


async def paced_client_process(url: str) -> list[int]:
    """Play the client side from another process, so that the client's own work never delays
    the server's event loop (as with a real app); returns its arrival lateness (ns)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--paced-client", url, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"paced client failed with exit code {process.returncode}")
    return [int(x) for x in json.loads(out)]


async def paced_figure(tmp: Path) -> Figure:
    frames = paced_frames()
    recording, _ = await store_and_load(frames, tmp / "paced.db")

    async with ReplayServer(recording, speed=1.0) as server:
        arrivals = await paced_client_process(server.url)
        result = await server.next_result()
    assert result.ok
    async with BareServer(frames, 1.0) as bare:
        await paced_client_process(bare.url)
    rtrec_p99, bare_p99 = p99(result.lateness_ns), p99(bare.lateness_ns)
    return Figure(
        issue=8,
        name=f"--speed 1 send lateness, {PACED_SECONDS} s session",
        goal="p99 <= 5 ms after the recorded time",
        baseline=f"bare asyncio.sleep sender p99 {bare_p99:.2f} ms",
        measured=(
            f"rtrec serve p99 {rtrec_p99:.2f} ms, max {max(result.lateness_ns) / 1e6:.2f} ms "
            f"over {len(result.lateness_ns)} server frames (client-side arrival vs recorded "
            f"offset from its connect: p99 {p99(arrivals):.2f} ms)"
        ),
        ratio=rtrec_p99 / bare_p99 if bare_p99 > 0 else float("inf"),
        passed=rtrec_p99 <= 5.0,
    )


async def measure() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-serve-") as tmp:
        return [await asap_figure(Path(tmp)), await paced_figure(Path(tmp))]


def figures() -> list[Figure]:
    return asyncio.run(measure())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--paced-client"]:
        _, lateness = asyncio.run(play_client(sys.argv[2], paced_frames(), paced=True))
        print(json.dumps(lateness))
    else:
        print_figures(figures())
