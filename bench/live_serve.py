"""Issue 18 figure: rtrec serve plays a 10-minute Live session; the p99 lateness of each server
frame against its recorded time (counted from the client's session.start) is at most 1.5x that
of a bare asyncio.sleep sender measured in the same run.

The session: bench/live_decode.py's server stream (100 ms output audio frames, transcripts,
usage, a Responses delegation every 20 s) with the client's side added: session.start, a
microphone append every 100 ms, the tool's output (response.item.create with the call_id just
given, and response.create) after each function call, and session.close before
session.closed. Stored in and loaded from SQLite as `rtrec serve` does.

Baseline, on the same frames and the same client: a bare aiohttp server (its socket opened by
rtrec serve's own accept, so the same stack and settings send the same bytes) that waits for the
client's first frame, then sends every server frame at its recorded offset from it with
asyncio.sleep (no matching, no answers held back, no ids), and drains what the client sends.

Lateness is measured twice: server side (each frame's send time after its due time, for every
server frame) and client side (each output audio frame's arrival after the client's
session.start plus its recorded offset, in another process so that the client's own work
never delays the server). rtrec and the baseline alternate, ROUNDS times each, and which side
goes first alternates from round to round; each server (fresh every round) first takes a
warm-up connection (the session's first WARMUP_S seconds, past its first delegation, then the
client hangs up) that is not measured, so that neither side pays the cold start (first aiohttp
connection, first decoders) in its timed run. p50 and p95 are printed beside p99 (with 300-500
audio frames a round, p99 is the 3rd-5th worst frame); the figure is the median round's p99
ratio, the range is printed.

    python bench/live_serve.py [--minutes N] [--rounds N]     (or: python bench/run.py live_serve)
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures
from live_decode import live_server_frames
from proxy import percentile
from serve import BareSender

from recorder.jsontext import frame_type
from recorder.serve import Recording, ReplayServer, accept, load_recording
from recorder.store import open_log
from recorder.testing import arecord_frames
from recorder.wire import Direction, Frame, Opcode

ISSUE = 18
MINUTES = 10
ROUNDS = 2
GOAL = 1.5
WARMUP_S = 11.0  # the first delegation (and the client's answer to it) is at 10 s
QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
MIC = json.dumps({"type": "session.input_audio.append",
                  "audio": __import__("base64").b64encode(bytes(4800)).decode()}).encode()
START = {"type": "session.start", "event_id": "evt_start",
         "session": {"model": "gpt-live-1", "audio": {"format": {"type": "audio/pcm",
                                                                  "rate": 24000}}}}
_encode = json.JSONEncoder(separators=(",", ":")).encode


def session_frames(minutes: float) -> list[Frame]:
    """Both sides of `minutes` of a Live call, in time order (see the module's doc)."""
    out = [Frame(Direction.CLIENT, 0, Opcode.TEXT, _encode(START).encode())]
    now_ms = 0
    calls = 0
    for event in live_server_frames(int(minutes) or 1):
        if minutes < 1 and now_ms >= minutes * 60_000 and event["type"] != "session.closed":
            continue
        t = now_ms * 1_000_000 + 20_000_000
        if event["type"] == "session.output_audio.delta":
            now_ms += 100
            t = now_ms * 1_000_000 + 20_000_000
            out.append(Frame(Direction.CLIENT, t - 50_000_000, Opcode.TEXT, MIC))
        if event["type"] == "session.closed":
            out.append(Frame(Direction.CLIENT, t, Opcode.TEXT, _encode(
                {"type": "session.close", "event_id": "evt_close"}).encode()))
            t += 600_000_000
        out.append(Frame(Direction.SERVER, t, Opcode.TEXT, _encode(event).encode()))
        nested = event.get("event", {})
        if nested.get("type") == "response.output_item.done":
            calls += 1
            out.append(Frame(Direction.CLIENT, t, Opcode.TEXT, _encode({
                "type": "response.item.create", "event_id": f"evt_tool_{calls}",
                "item": {"type": "function_call_output", "call_id": nested["item"]["call_id"],
                         "output": '{"temp_c":21}'}}).encode()))
            out.append(Frame(Direction.CLIENT, t, Opcode.TEXT, _encode(
                {"type": "response.create", "event_id": f"evt_go_{calls}"}).encode()))
    return out


class BareLiveServer(BareSender):
    """The baseline: after the client's first frame, server frames at their offsets."""

    path = "/v1/live/sessions"

    def __init__(self, frames: list[Frame]) -> None:
        super().__init__()
        self.frames = frames
        self.start_t = next(f.t_ns for f in frames if f.direction is Direction.CLIENT)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        # the socket rtrec serve opens (recorder.serve.accept: no compression, text frames as
        # bytes, the same subprotocol), so that both send through the same stack
        ws = await accept(request)
        assert isinstance(ws, web.WebSocketResponse)
        first: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def drain() -> None:
            async for _ in ws:
                if not first.done():
                    first.set_result(time.monotonic_ns())

        drainer = asyncio.create_task(drain())
        start = await first
        for f in self.frames:
            if f.direction is not Direction.SERVER:
                continue
            due = start + f.t_ns - self.start_t
            delay = (due - time.monotonic_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if ws.closed:
                break  # a warm-up client hung up
            try:
                await ws.send_frame(f.data, aiohttp.WSMsgType.TEXT)
            except ConnectionError:
                break
            self.lateness_ns.append(time.monotonic_ns() - due)
        await ws.close()
        await drainer
        return ws



async def play_client(url: str, minutes: float, stop_s: float | None = None) -> list[int]:
    """The client side at its recorded times (the tool's output sent as soon as the function
    call arrives, with the call_id it carries); each output audio frame's arrival lateness.
    With stop_s (a warm-up), the client hangs up after that many seconds of the session."""
    frames = session_frames(minutes)
    start_t = frames[0].t_ns
    audio_t = [f.t_ns for f in frames if f.direction is Direction.SERVER
               and f.data.startswith(b'{"type":"session.output_audio.delta"')]
    timed = [f for f in frames[1:] if f.direction is Direction.CLIENT
             and frame_type(f.data) in ("session.input_audio.append", "session.close")
             and (stop_s is None or f.t_ns - start_t < stop_s * 1e9)]
    lateness: list[int] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url + "/live/sessions", max_msg_size=0, compress=0
    ) as ws:
        await ws.send_str(frames[0].data.decode())
        opened = time.monotonic_ns()

        async def send() -> None:
            for f in timed:
                delay = (opened + f.t_ns - start_t - time.monotonic_ns()) / 1e9
                if delay > 0:
                    await asyncio.sleep(delay)
                await ws.send_frame(f.data, aiohttp.WSMsgType.TEXT)

        sender = asyncio.create_task(send())
        calls = 0
        async for message in ws:
            data: str = message.data
            if stop_s is not None and time.monotonic_ns() - opened >= stop_s * 1e9:
                break  # the warm-up is over: hang up
            if data.startswith('{"type":"session.output_audio.delta"'):
                lateness.append(time.monotonic_ns() - opened - (audio_t[len(lateness)] - start_t))
            elif data.startswith('{"type":"session.closed"'):
                break  # the app hangs up
            elif '"response.output_item.done"' in data:
                calls += 1
                call_id = json.loads(data)["event"]["item"]["call_id"]
                await ws.send_str(_encode({
                    "type": "response.item.create", "event_id": f"evt_tool_{calls}",
                    "item": {"type": "function_call_output", "call_id": call_id,
                             "output": '{"temp_c":21}'}}))
                await ws.send_str(_encode({"type": "response.create",
                                           "event_id": f"evt_go_{calls}"}))
        await sender
    return lateness


async def client_process(url: str, minutes: float, stop_s: float | None = None) -> list[int]:
    extra = [] if stop_s is None else [str(stop_s)]
    process = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--client", url, str(minutes), *extra,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the bench client failed with exit code {process.returncode}")
    return [int(x) for x in json.loads(out)]


async def stored_session(frames: list[Frame]) -> Recording:
    """The session stored in SQLite and loaded back, as `rtrec serve` loads it."""
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-live-serve-") as tmp:
        db = str(Path(tmp) / "live.db")
        sid = await arecord_frames(db, frames, protocol="live", model="gpt-live-1")
        event_log = await open_log(db)
        recording = await load_recording(event_log, sid)
        await event_log.close()
    return recording


async def rounds(minutes: float, count: int) -> list[dict[str, Any]]:
    frames = session_frames(minutes)
    recording = await stored_session(frames)
    print(f"{len(frames):,} frames ({recording.server_frames:,} server), "
          f"{len(recording.live_plan.answers)} held back for the client", file=sys.stderr)
    warmup = min(WARMUP_S, minutes * 60 / 2)

    async def rtrec() -> tuple[list[int], list[int]]:
        async with ReplayServer(recording, speed=1.0) as server:
            await client_process(server.url, minutes, warmup)
            await server.next_result()  # the warm-up's (the client hung up): not measured
            arrivals = await client_process(server.url, minutes)
            result = await server.next_result()
        assert result.ok, ([m.message for m in result.mismatches[:2]],
                           result.unused_client_frames[:3])
        return result.lateness_ns, arrivals

    async def bare() -> tuple[list[int], list[int]]:
        async with BareLiveServer(frames) as server:
            await client_process(server.url, minutes, warmup)
            server.lateness_ns = []  # the warm-up's: not measured
            arrivals = await client_process(server.url, minutes)
        return server.lateness_ns, arrivals

    sides = {"rtrec": rtrec, "bare": bare}
    measured: list[dict[str, Any]] = []
    for n in range(count):
        order = ["rtrec", "bare"] if n % 2 == 0 else ["bare", "rtrec"]
        row: dict[str, Any] = {"first": order[0]}
        for side in order:
            send, arrivals = await sides[side]()
            for name, q in QUANTILES.items():
                row[f"{side}_send_{name}"] = percentile(send, q)
                row[f"{side}_arrival_{name}"] = percentile(arrivals, q)
            row[f"{side}_frames"], row[f"{side}_audio"] = len(send), len(arrivals)
        print(f"round {n + 1} ({order[0]} first, {row['rtrec_frames']:,} server frames, "
              f"{row['rtrec_audio']} audio frames):", file=sys.stderr)
        for kind in ("arrival", "send"):
            print(f"  {kind:7} " + "; ".join(
                f"{name} rtrec {row[f'rtrec_{kind}_{name}']:.2f} bare "
                f"{row[f'bare_{kind}_{name}']:.2f} ms ({_ratio(row, kind, name):.2f}x)"
                for name in QUANTILES), file=sys.stderr)
        measured.append(row)
    return measured


def _ratio(row: dict[str, Any], kind: str, name: str = "p99") -> float:
    bare = row[f"bare_{kind}_{name}"]
    return row[f"rtrec_{kind}_{name}"] / bare if bare > 0 else float("inf")


def figures(minutes: float = MINUTES, count: int = ROUNDS) -> list[Figure]:
    measured = asyncio.run(rounds(minutes, count))
    arrival = [_ratio(r, "arrival") for r in measured]

    def spread(key: str) -> str:
        values = [r[key] for r in measured]
        return f"{min(values):.2f}-{max(values):.2f} ms"

    def side(who: str, kind: str) -> str:
        return ", ".join(f"{name} {spread(f'{who}_{kind}_{name}')}" for name in QUANTILES)

    def ratios(kind: str, name: str) -> str:
        values = [_ratio(r, kind, name) for r in measured]
        return f"{min(values):.2f}-{max(values):.2f}"

    ratio = statistics.median(arrival)
    return [Figure(
        issue=ISSUE,
        name=(f"Live serve p99 lateness, {minutes:g}-min session, {count} rounds alternated "
              "(first side alternating, each server warmed up)"),
        goal=f"p99 <= {GOAL}x a bare asyncio.sleep sender",
        baseline=(f"bare sender: audio arrival {side('bare', 'arrival')}; send "
                  f"{side('bare', 'send')}"),
        measured=(f"rtrec serve: audio arrival {side('rtrec', 'arrival')} (ratios "
                  + ", ".join(f"{name} {ratios('arrival', name)}" for name in QUANTILES)
                  + f"); send {side('rtrec', 'send')} over {measured[0]['rtrec_frames']:,} "
                  "server frames (ratios "
                  + ", ".join(f"{name} {ratios('send', name)}" for name in QUANTILES) + ")"),
        ratio=ratio,
        passed=max(arrival) <= GOAL,
    )]


if __name__ == "__main__":
    if sys.argv[1:2] == ["--client"]:
        stop = float(sys.argv[4]) if len(sys.argv) > 4 else None
        print(json.dumps(asyncio.run(play_client(sys.argv[2], float(sys.argv[3]), stop))))
    else:
        args = sys.argv[1:]
        minutes = float(args[args.index("--minutes") + 1]) if "--minutes" in args else MINUTES
        count = int(args[args.index("--rounds") + 1]) if "--rounds" in args else ROUNDS
        print_figures(figures(minutes, count))
