"""Memory per frame (issue 13, deliverable 7): what one 16 MiB frame costs the proxy's heap.

The hop under test runs in this process with tracemalloc; the client and the upstream run in
processes of their own, so only the hop's allocations count. Per variant and frame kind: the
peak of traced memory while one frame is forwarded (and recorded, and written), above what was
allocated before, in copies of the frame. Variants, alternated round by round in one run:

  bare      an aiohttp hop with two pumps and nothing else (the floor)
  dry run   rtrec's proxy with recording off
  record    rtrec record into SQLite (forwarded, redacted, queued, row built, written)

Frame kinds: an input_audio_buffer.append carrying 16 MiB of base64 (what a large frame of a
session is), a conversation.item.create with 16 MiB of text and a 16 MiB binary frame (client
to upstream: the hop unmasks and masks again), and a response.output_audio.delta of 16 MiB
(upstream to client: no masking either way).

tracemalloc sees the Python allocators only: what SQLite copies into its own page cache with
its own malloc is not in these figures.

Usage: python bench/memory.py [--size MIB] [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import sys
import tempfile
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from aiohttp import WSMsgType, web

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Figure

GOAL_COPIES = 3.0
Flush = Callable[[], Awaitable[None]] | None
KINDS = ("audio append", "text", "binary", "audio delta")  # the last: server to client


def frame_of(kind: str, size: int) -> tuple[bytes, WSMsgType]:
    if kind == "binary":
        return bytes(range(256)) * (size // 256), WSMsgType.BINARY
    if kind == "audio delta":
        audio = base64.b64encode(bytes(range(256)) * (size * 3 // 4 // 256))
        return (b'{"type":"response.output_audio.delta","response_id":"r","item_id":"i",'
                b'"output_index":0,"content_index":0,"delta":"' + audio + b'"}', WSMsgType.TEXT)
    if kind == "text":
        return (b'{"type":"conversation.item.create","item":{"type":"message","role":"user",'
                b'"content":[{"type":"input_text","text":"' + b"x" * size + b'"}]}}',
                WSMsgType.TEXT)
    audio = base64.b64encode(bytes(range(256)) * (size * 3 // 4 // 256))
    return b'{"type":"input_audio_buffer.append","audio":"' + audio + b'"}', WSMsgType.TEXT


# -- the other processes ----------------------------------------------------------------------


async def upstream_main() -> None:
    """A sink: every data frame is answered with a tiny "ok" frame, except {"type":"go","size":N}:
    that one with an audio delta of N bytes (the server-to-client direction)."""

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0, decode_text=False, compress=False)
        await ws.prepare(request)
        async for message in ws:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                if message.data.startswith(b'{"type":"go"'):
                    size = json.loads(message.data)["size"]
                    await ws.send_frame(frame_of("audio delta", size)[0], WSMsgType.TEXT)
                else:
                    await ws.send_str('{"type":"ok"}')
        return ws

    runner = await listen(handle)
    print(runner.addresses[0][1], flush=True)
    await asyncio.Event().wait()


async def listen(
    handle: Callable[[web.Request], Awaitable[web.WebSocketResponse]],
) -> web.AppRunner:
    """An aiohttp server on 127.0.0.1 (a free port) with `handle` on /v1/realtime."""
    app = web.Application()
    app.router.add_get("/v1/realtime", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def client_main(url: str, kind: str, size: int) -> None:
    if kind == "audio delta":
        data, opcode = b'{"type":"go","size":%d}' % size, WSMsgType.TEXT
    else:
        data, opcode = frame_of(kind, size)
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url + "/v1/realtime?model=m", headers={"Authorization": "Bearer sk-bench-memory-0123456"},
        max_msg_size=0, compress=0,
    ) as ws:
        await ws.send_frame(data, opcode)
        del data
        message = await ws.receive(timeout=120)
        assert message.type is WSMsgType.TEXT, message
        if kind == "audio delta":
            assert len(message.data) > size, "the upstream sent no large frame"
        await ws.close()


# -- the hops under test (in this process) ----------------------------------------------------


@asynccontextmanager
async def bare_hop(upstream: str) -> AsyncIterator[tuple[str, Flush]]:
    http = aiohttp.ClientSession()

    async def pump(source: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                   sink: web.WebSocketResponse | aiohttp.ClientWebSocketResponse) -> None:
        async for message in source:
            if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                await sink.send_frame(message.data, message.type)
        await sink.close()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        up = await http.ws_connect(upstream + "?" + request.query_string, max_msg_size=0,
                                   decode_text=False, compress=0)
        down = web.WebSocketResponse(max_msg_size=0, decode_text=False, compress=False)
        await down.prepare(request)
        await asyncio.gather(pump(down, up), pump(up, down))
        return down

    runner = await listen(handle)
    try:
        yield f"ws://127.0.0.1:{runner.addresses[0][1]}", None
    finally:
        await runner.cleanup()
        await http.close()


@asynccontextmanager
async def rtrec_hop(upstream: str, db: Path | None) -> AsyncIterator[tuple[str, Flush]]:
    import io

    from recorder.console import Console
    from recorder.proxy import ProxyConfig, RecordingProxy
    from recorder.store import open_log

    log = await open_log(str(db), flush_interval=0.05) if db is not None else None
    proxy = RecordingProxy(log, ProxyConfig(upstream=upstream, port=0),
                           Console(io.StringIO(), io.StringIO()))
    url = await proxy.start()
    try:
        yield url, (log.flush if log is not None else None)
    finally:
        await proxy.close()
        if log is not None:
            await log.close()


async def one_frame(url: str, kind: str, size: int, flush: Flush) -> int:
    """Peak traced bytes above the start while the client sends one frame through `url`."""
    gc.collect()
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", url, kind, str(size))
    assert await process.wait() == 0, "the client failed"
    if flush is not None:  # written: the row was built and handed to the database
        await flush()
    return tracemalloc.get_traced_memory()[1] - before


async def measure(size: int, rounds: int) -> dict[tuple[str, str], float]:
    upstream = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--upstream", stdout=asyncio.subprocess.PIPE)
    assert upstream.stdout is not None
    port = int((await upstream.stdout.readline()).decode())
    base = f"ws://127.0.0.1:{port}/v1/realtime"
    best: dict[tuple[str, str], float] = {}
    tracemalloc.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for round_ in range(rounds):
                for variant in ("bare", "dry run", "record"):
                    for kind in KINDS:
                        wire = len(frame_of(kind, size)[0])
                        if variant == "bare":
                            hop = bare_hop(base)
                        else:
                            db = Path(tmp) / f"m{round_}{kind}.db" if variant == "record" else None
                            hop = rtrec_hop(base, db)
                        async with hop as (url, flush):
                            await one_frame(url, kind, 1024, flush)  # warm up: imports, caches
                            copies = await one_frame(url, kind, size, flush) / wire
                        key = (variant, kind)
                        best[key] = min(best.get(key, float("inf")), copies)
    finally:
        tracemalloc.stop()
        upstream.terminate()
        await upstream.wait()
    return best


def recording_work(kind: str, size: int, view_from: int | None) -> float:
    """Copies of the frame the per-frame recording work itself allocates at its peak (redact,
    Frame, row building), beside the frame it is handed; view_from=None: as shipped, else with
    codec._VIEW_FROM set to that (a huge value: spans copied out, as before deliverable 7)."""
    from recorder.redact import FrameRedactor
    from recorder.store import codec
    from recorder.store.codec import ROW_AT, frame_row
    from recorder.wire import Direction, Frame, Opcode

    data, opcode = frame_of(kind, size)
    shipped = codec._VIEW_FROM
    if view_from is not None:
        codec._VIEW_FROM = view_from
    redact = FrameRedactor(["sk-bench-memory-0123456"])
    try:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        frame = Frame(Direction.CLIENT, 1, Opcode(opcode.value), redact(data))
        row = frame_row(1, 1, frame, {})
        peak = tracemalloc.get_traced_memory()[1] - before
        tracemalloc.stop()
    finally:
        codec._VIEW_FROM = shipped
    assert row[ROW_AT["data"]] is not None  # the stored body
    return peak / len(data)


def figures(size_mib: int = 16, rounds: int = 2) -> list[Figure]:
    size = size_mib * 2**20
    best = asyncio.run(measure(size, rounds))
    out = []
    for kind in KINDS:
        record, bare, dry = best[("record", kind)], best[("bare", kind)], best[("dry run", kind)]
        work = min(recording_work(kind, size, None) for _ in range(rounds))
        copied = min(recording_work(kind, size, 2**62) for _ in range(rounds))
        out.append(Figure(
            13, f"heap per {size_mib} MiB {kind} frame", f"<= {GOAL_COPIES:g} copies",
            f"bare hop {bare:.2f} copies (floor), dry run {dry:.2f}",
            f"record {record:.2f} copies; its recording work alone {work:.2f} "
            f"(spans copied out: {copied:.2f})",
            record, record <= GOAL_COPIES,
        ))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--upstream":
        asyncio.run(upstream_main())
    elif len(sys.argv) == 5 and sys.argv[1] == "--client":
        asyncio.run(client_main(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    else:
        parser = argparse.ArgumentParser(description="heap per large frame in the proxy")
        parser.add_argument("--size", type=int, default=16, help="frame size in MiB")
        parser.add_argument("--rounds", type=int, default=2)
        options = parser.parse_args()
        from common import print_figures

        print_figures(figures(options.size, options.rounds))
