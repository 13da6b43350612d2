"""A fake Live upstream, and a scripted Live client: both sides of recorder.fake.live's scenarios.

FakeLiveUpstream answers like the Live API (LIVE.md §1): the primary socket at
/v1/live/sessions (also /live/sessions and Azure's /openai/v1/live/sessions), a sideband at
.../{session_id}/attach, a fork at .../{session_id}/fork; no query parameters needed, a key is
required (`Authorization: Bearer ...` or `api-key`; without one: HTTP 401 with a JSON error
body). The scenario is the server's default (or `?scenario=`); a sideband always plays
"sideband" on the session its path names, a fork plays the scenario in its fork form (an empty
`session.start`, a new session id).

The server plays its side of the script at the script's pace (scaled by `pace`; 0: as fast as
possible). It waits only where the script has the client send a command (session.start first,
response.item.create, response.create, the appends, session.close): the client's audio is
received and kept but never waited for, as Live's output stream runs on whatever the client
does. A command of another type than the script expects gets an `error` and close code 1008
naming what was expected. After `session.closed` the server closes the socket (1000).

    async with FakeLiveUpstream("tool_call") as upstream:
        url = upstream.url                                 # ws://127.0.0.1:<port>/v1/live/sessions
        result = await play_live_client(url, "tool_call", pace=0)

    python -m recorder.fake.live_server --scenario tool_call --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from types import TracebackType

import aiohttp
import msgspec
from aiohttp import web

from recorder.errors import RtrecError
from recorder.fake.live import FREE_RUNNING, LIVE_SCENARIOS, LiveIds, LiveScript, live_script
from recorder.fake.server import read_frames
from recorder.jsontext import frame_type
from recorder.localserver import LocalServer
from recorder.protocol import close
from recorder.protocol.paths import LIVE_PATH, LIVE_PATHS, split_live_path
from recorder.script_player import Inbox, NoReply, Verdict, play_script
from recorder.wire import Direction, Frame, Opcode

_encode = msgspec.json.Encoder().encode


def side_script(frames: list[Frame], mine: Direction) -> list[Frame]:
    """The script as one side plays it: its own frames, and the other side's frames it waits
    for (the other side's free-running audio and transcripts are passed over, not awaited)."""
    return [f for f in frames if f.direction is mine or frame_type(f.data) not in FREE_RUNNING]


@dataclass
class PlayedLiveSession:
    """What happened on one connection of the fake Live upstream."""

    scenario: str
    connection: str  # primary | attach | fork
    session_id: str
    received: list[Frame] = field(default_factory=list)
    sent: list[Frame] = field(default_factory=list)  # as sent, in order
    unexpected: list[Frame] = field(default_factory=list)
    completed: bool = False
    error: str | None = None


def _has_key(request: web.Request) -> bool:
    auth = request.headers.get("Authorization", "")
    bearer = auth.startswith("Bearer ") and bool(auth[len("Bearer "):].strip())
    return bearer or bool(request.headers.get("api-key", "").strip())


def _api_error(status: int, message: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}
    return web.json_response(body, status=status)


class FakeLiveUpstream:
    """Serves Live scenario `scenario` on 127.0.0.1; one script per connection."""

    def __init__(self, scenario: str = "spoken_turn", *, seed: int = 0, pace: float = 1.0,
                 rate: int = 24000, audio_type: str = "audio/pcm",
                 client_timeout: float = 30.0, host: str = "127.0.0.1", port: int = 0) -> None:
        if scenario not in LIVE_SCENARIOS:
            raise RtrecError(f"unknown Live scenario {scenario!r}: choose one of "
                             f"{', '.join(sorted(LIVE_SCENARIOS))}")
        self.scenario, self.seed, self.pace, self.rate = scenario, seed, pace, rate
        self.audio_type = audio_type
        self.client_timeout = client_timeout
        self.sessions: list[PlayedLiveSession] = []
        self.app = web.Application()
        for path in LIVE_PATHS:
            self.app.router.add_get(path, self._handle)
            self.app.router.add_get(path + "/{session_id}/{action}", self._handle)
            self.app.router.add_post(path, self._create_webrtc)
        self.http_calls: list[str] = []  # method and path of each plain HTTP call
        self._server = LocalServer(self.app, host, port)

    @property
    def url(self) -> str:
        """ws:// URL of the primary socket (start() first)."""
        return self._server.url(LIVE_PATH)

    @property
    def origin(self) -> str:
        """ws://host:port (for an `rtrec record --upstream` given as a bare host)."""
        return self._server.url()

    async def start(self) -> str:
        await self._server.start()
        return self.url

    async def close(self) -> None:
        await self._server.close(b"fake upstream stopping")

    async def __aenter__(self) -> FakeLiveUpstream:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def _create_webrtc(self, request: web.Request) -> web.Response:
        """POST /v1/live/sessions (a WebRTC session: LIVE.md §1): the session id and an
        answer SDP. Plain HTTP, as a recorder passes it on."""
        self.http_calls.append(f"{request.method} {request.path}")
        if not _has_key(request):
            return _api_error(401, "No API key provided.", "missing_api_key")
        body = await request.json()
        offer = str(body.get("transport", {}).get("sdp", ""))
        session_id = LiveIds(random.Random(self.seed + len(self.http_calls))).session()
        answer = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=fake live answer\r\n"
        return web.json_response({"session": {"id": session_id},
                                  "transport": {"type": "webrtc", "sdp": answer},
                                  "offer_bytes": len(offer)})

    def script_for(self, request: web.Request) -> LiveScript | web.Response:
        """The script a handshake gets, or the API's refusal of it."""
        live = split_live_path(request.path)
        if live is None:
            return _api_error(404, "Unknown Live endpoint.", "not_found")
        if live.kind == "attach":
            return live_script("sideband", self.seed, parent_id=live.session_id)
        scenario = request.query.get("scenario", self.scenario)
        if scenario not in LIVE_SCENARIOS or scenario == "sideband":
            return _api_error(400, f"Unknown scenario '{scenario}'.", "invalid_scenario")
        if live.kind == "fork":
            return live_script(scenario, self.seed, rate=self.rate, connection="fork",
                               parent_id=live.session_id, audio_type=self.audio_type)
        return live_script(scenario, self.seed, rate=self.rate, audio_type=self.audio_type)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not _has_key(request):
            return _api_error(
                401, "No API key provided. Send it in an 'Authorization: Bearer <key>' header.",
                "missing_api_key")
        script = self.script_for(request)
        if isinstance(script, web.Response):
            return script
        ws = web.WebSocketResponse(max_msg_size=0, compress=False)
        await ws.prepare(request)
        scenario = request.query.get("scenario", self.scenario)
        played = PlayedLiveSession("sideband" if script.connection == "attach" else scenario,
                                   script.connection, script.session_id)
        self.sessions.append(played)
        with self._server.track(ws):
            try:
                await self._play(ws, list(script.frames()), played)
            except NoReply as exc:
                played.error = (f"no client frame within {exc.timeout:g} s where the script "
                                f"expects {frame_type(getattr(exc.expected, 'data', b''))}")
            except (TimeoutError, ConnectionError) as exc:
                played.error = f"{type(exc).__name__}: {exc}"
            finally:
                if not ws.closed:
                    await ws.close()
        return ws

    async def _play(self, ws: web.WebSocketResponse, frames: list[Frame],
                    played: PlayedLiveSession) -> None:
        inbox: Inbox[Frame] = Inbox()
        reader = asyncio.create_task(read_frames(ws, Direction.CLIENT, inbox, played.received))

        async def send(frame: Frame, _due: int | None) -> bool:
            if ws.closed:
                return False
            await ws.send_str(frame.data.decode())
            played.sent.append(frame)
            return True

        async def check(frame: Frame, received: Frame, _index: int) -> Verdict:
            got = frame_type(received.data)
            if got == frame_type(frame.data):
                return "matched"
            if got in FREE_RUNNING:  # the client's microphone: kept, never waited for
                return "skip"
            played.unexpected.append(received)
            await self._refuse(ws, received, frame_type(frame.data), played)
            return "stop"

        try:
            outcome = await play_script(
                side_script(frames, Direction.SERVER), Direction.SERVER, inbox, send=send,
                check=check, speed=1 / self.pace if self.pace > 0 else None,
                timeout=self.client_timeout)
            played.completed = outcome.finished
            if outcome.finished:  # after session.closed the API closes the socket
                await ws.close(code=close.NORMAL, message=b"")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _refuse(self, ws: web.WebSocketResponse, frame: Frame, expected: str | None,
                      played: PlayedLiveSession) -> None:
        got = frame_type(frame.data) or ("a binary frame" if frame.opcode is Opcode.BINARY
                                         else "a frame without a type")
        message = f"expected {expected}, got {got}"
        played.error = f"unexpected client frame: {message} (scenario {played.scenario})"
        error = {"type": "error", "event_id": LiveIds(random.Random(0)).event(), "error": {
            "type": "invalid_request_error", "code": "unexpected_client_event",
            "message": f"The fake Live upstream's scenario {played.scenario} {message}.",
            "param": None, "client_event_id": None}}
        with contextlib.suppress(ConnectionError):
            await ws.send_str(_encode(error).decode())
        await ws.close(code=close.POLICY_VIOLATION, message=close.close_reason(message))


# --- the scripted client --------------------------------------------------------------------


@dataclass
class LiveClientResult:
    """What the scripted Live client saw and sent."""

    received: list[Frame] = field(default_factory=list)
    sent: list[Frame] = field(default_factory=list)
    close_code: int | None = None


async def play_live_client(url: str, scenario: str, *, seed: int = 0, rate: int = 24000,
                           audio_type: str = "audio/pcm",
                           api_key: str = "sk-fake-key-for-tests", pace: float = 1.0,
                           parent_id: str | None = None,
                           server_timeout: float = 30.0) -> LiveClientResult:
    """Play the client side of Live `scenario` against url (a sideband scenario: url is the
    /attach URL of `parent_id`); RtrecError if the server does not follow the script."""
    script = live_script(scenario, seed, rate=rate, parent_id=parent_id, audio_type=audio_type)
    frames = side_script(list(script.frames()), Direction.CLIENT)
    result = LiveClientResult()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            url, headers={"Authorization": f"Bearer {api_key}"}, max_msg_size=0, compress=0,
        ) as ws:
            inbox: Inbox[Frame] = Inbox()
            reader = asyncio.create_task(read_frames(ws, Direction.SERVER, inbox,
                                                     result.received))

            async def send(frame: Frame, _due: int | None) -> bool:
                await ws.send_str(frame.data.decode())
                result.sent.append(frame)
                return True

            async def check(frame: Frame, received: Frame, _index: int) -> Verdict:
                return "matched" if frame_type(received.data) == frame_type(frame.data) \
                    else "skip"

            try:
                outcome = await play_script(frames, Direction.CLIENT, inbox, send=send,
                                            check=check, speed=1 / pace if pace > 0 else None,
                                            timeout=server_timeout)
            except NoReply as exc:
                raise RtrecError(
                    f"{url} sent no {frame_type(getattr(exc.expected, 'data', b''))} within "
                    f"{server_timeout:g} s: the server does not follow the Live scenario"
                ) from exc
            if not outcome.finished:
                raise RtrecError(f"{url} closed the connection before the Live scenario "
                                 f"{scenario} ended")
            with contextlib.suppress(TimeoutError):  # the server closes after session.closed
                await asyncio.wait_for(reader, server_timeout)
            result.close_code = ws.close_code
    except aiohttp.WSServerHandshakeError as exc:
        raise RtrecError(
            f"{url} refused the WebSocket handshake (HTTP {exc.status}): check the URL and key"
        ) from exc
    except aiohttp.ClientConnectionError as exc:
        raise RtrecError(f"cannot connect to {url}: {exc}; is the server running?") from exc
    return result


# --- python -m recorder.fake.live_server ----------------------------------------------------


async def _serve_forever(scenario: str, seed: int, pace: float, port: int) -> None:
    async with FakeLiveUpstream(scenario, seed=seed, pace=pace, port=port) as upstream:
        print(f"fake Live upstream playing {scenario!r} on {upstream.url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run a fake Live upstream on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="spoken_turn",
                        choices=sorted(set(LIVE_SCENARIOS) - {"sideband"}))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pace", type=float, default=1.0,
                        help="1 = the script's real timing, 0 = as fast as possible")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.scenario, args.seed, args.pace, args.port))


if __name__ == "__main__":
    main()
