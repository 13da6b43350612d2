"""A Live client for the serve tests: plays the client side of a recorded Live session the way
an app does, against whatever serves it.

It sends the recorded client frames in order, waiting where the recording has the client wait
for a server command's answer (recorder.fake.live_server.side_script), but like a real app it
uses the ids the server gave it on this connection: each received server frame is paired with
the recorded one of its type and place, and every recorded string it changed (call_id,
delegation ids, the session id...) is replaced in the client's later frames. Its own
event_ids are new ones (evt_client_N), so the server's client_event_id echoes can be checked.
Its microphone audio may be cut in other chunk sizes (`chunk_bytes`) or cut short (`audio`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from recorder.fake.live_server import side_script
from recorder.jsontext import frame_type
from recorder.wire import Direction, Frame

AUDIO = "session.input_audio.append"


def _json(data: bytes) -> Any:
    """The frame's JSON value; None for a frame that is not JSON (a hostile one)."""
    try:
        return json.loads(data)
    except ValueError:
        return None


def _strings(value: Any, path: str = "") -> dict[str, str]:
    if isinstance(value, str):
        return {path: value}
    found: dict[str, str] = {}
    if isinstance(value, dict):
        for key, child in value.items():
            found.update(_strings(child, f"{path}.{key}"))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found.update(_strings(child, f"{path}[{index}]"))
    return found


@dataclass
class LiveRun:
    """What the client sent and received, and the ids it learned (recorded -> given)."""

    received: list[bytes] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    learned: dict[str, str] = field(default_factory=dict)
    sent_at: dict[int, int] = field(default_factory=dict)  # sent index -> received count then

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        parsed = [e for e in map(_json, self.received) if isinstance(e, dict)]
        return [e for e in parsed if kind is None or e.get("type") == kind]


def rechunk(frames: list[Frame], chunk_bytes: int | None, keep: float = 1.0) -> list[Frame]:
    """Client audio cut into chunks of chunk_bytes (per run of appends), `keep` of it sent."""
    if chunk_bytes is None and keep == 1.0:
        return frames
    out: list[Frame] = []
    run: list[Frame] = []

    def flush() -> None:
        if not run:
            return
        audio = b"".join(base64.b64decode(json.loads(f.data)["audio"]) for f in run)
        audio = audio[: int(len(audio) * keep) // 2 * 2]
        size = chunk_bytes or len(audio)
        for at in range(0, len(audio), size):
            data = json.dumps({"type": AUDIO, "audio": base64.b64encode(
                audio[at:at + size]).decode()}).encode()
            out.append(Frame(Direction.CLIENT, run[0].t_ns, run[0].opcode, data))
        run.clear()

    for frame in frames:
        if frame.direction is Direction.CLIENT and frame_type(frame.data) == AUDIO:
            run.append(frame)
            continue
        flush()
        out.append(frame)
    flush()
    return out


async def play_live(
    frames: list[Frame],
    send: Callable[[dict[str, Any]], Awaitable[None]],
    receive: Callable[[], Awaitable[bytes | None]],
    *,
    chunk_bytes: int | None = None,
    audio: float = 1.0,
    echo_ids: bool = True,
    before: Callable[[dict[str, Any], LiveRun, Callable[[], Awaitable[bytes | None]]],
                     Awaitable[None]] | None = None,
) -> LiveRun:
    """Play the client side of `frames` over send/receive (receive: None once closed);
    before(event, run, take) runs before each frame is sent (take() receives one frame)."""
    run = LiveRun()
    recorded_server = [f for f in frames if f.direction is Direction.SERVER]
    by_type: dict[str | None, list[Frame]] = {}
    for f in recorded_server:
        by_type.setdefault(frame_type(f.data), []).append(f)
    seen: dict[str | None, int] = {}
    sent_ids = 0

    async def take() -> bytes | None:
        data = await receive()
        if data is None:
            return None
        run.received.append(data)
        kind = frame_type(data)
        place = seen.get(kind, 0)
        seen[kind] = place + 1
        if place < len(by_type.get(kind, [])) and _json(data) is not None:
            was = _strings(_json(by_type[kind][place].data))
            now = _strings(_json(data))
            for path, value in was.items():
                if path in now and now[path] != value and not path.endswith("client_event_id"):
                    run.learned.setdefault(value, now[path])
        return data

    script = rechunk(side_script(frames, Direction.CLIENT), chunk_bytes, audio)
    for frame in script:
        if frame.direction is Direction.SERVER:
            wanted = frame_type(frame.data)
            while True:
                data = await take()
                if data is None:
                    return run
                if frame_type(data) == wanted:
                    break
            continue
        text = frame.data.decode()
        if echo_ids:
            for old, new in run.learned.items():
                text = text.replace(json.dumps(old), json.dumps(new))
        event = json.loads(text)
        if "event_id" in event:
            sent_ids += 1
            event["event_id"] = f"evt_client_{sent_ids}"
        if before is not None:
            await before(event, run, take)  # it may receive meanwhile
        run.sent_at[len(run.sent)] = len(run.received)
        run.sent.append(event)
        await send(event)
    while await take() is not None:
        pass
    return run


async def play_live_ws(url: str, frames: list[Frame], **options: Any) -> tuple[LiveRun, int | None]:
    """play_live over an aiohttp WebSocket; (the run, the close code)."""
    import aiohttp

    async with aiohttp.ClientSession() as http, http.ws_connect(
        url, headers={"Authorization": "Bearer sk-test"}, max_msg_size=0
    ) as ws:
        async def send(event: dict[str, Any]) -> None:
            await ws.send_str(json.dumps(event))

        async def receive() -> bytes | None:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                return str(message.data).encode()
            if message.type is aiohttp.WSMsgType.BINARY:
                return bytes(message.data)
            return None

        run = await play_live(frames, send, receive, **options)
        return run, ws.close_code
