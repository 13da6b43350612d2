"""A fake Realtime upstream: an aiohttp WebSocket server that plays a scenario's server side.

It answers the handshake like the API (CATALOG.md §3): the socket lives at /v1/realtime, the
model comes from the `model` query parameter, a key is required (`Authorization: Bearer ...`
or the browser subprotocol `openai-insecure-api-key.<key>`; without one: HTTP 401 with a JSON
error body), and the beta shape is chosen by the `OpenAI-Beta: realtime=v1` header or the
`openai-beta.realtime-v1` subprotocol (with reject_beta=True, a beta handshake gets the
service's post-shutdown answer instead: an `error` with code beta_api_shape_disabled and close
code 4000). The scenario is the server's default or the `scenario` query parameter.

Then it plays the script (recorder.fake.scenarios.build): server frames are sent at the
script's pace (scaled by `pace`; 0 sends as fast as possible; recorder.script_player), and where
the script says the client speaks next, the server waits for a client frame of that type before
going on. A client frame of another type is kept as unexpected and the client is told at once:
an `error` event, then close code 1008 whose reason names what the script expected ("expected
session.update, got response.create"). Keys are never stored.

    async with FakeUpstream("barge_in") as upstream:
        url = upstream.url           # ws://127.0.0.1:<port>/v1/realtime
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from types import TracebackType

from aiohttp import ClientWebSocketResponse, WSMessage, WSMsgType, web

from recorder.errors import RtrecError
from recorder.fake.dialect import BETA, GA
from recorder.fake.ids import Ids
from recorder.fake.scenarios import SCENARIOS, build
from recorder.jsontext import frame_type
from recorder.localserver import LocalServer
from recorder.protocol import close
from recorder.protocol.error_event import (
    BETA_SHAPE_DISABLED_CODE,
    BETA_SHAPE_DISABLED_MESSAGE,
    encode,
    error_event,
)
from recorder.script_player import Inbox, NoReply, Timed, Verdict, play_script
from recorder.wire import Direction, Frame, Opcode

PATH = "/v1/realtime"
_BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
_KEY_SUBPROTOCOL = "openai-insecure-api-key."


def frame_of(message: WSMessage, direction: Direction, start_ns: int) -> Frame | None:
    """A received data message as a Frame timed from start_ns; None for control messages."""
    if message.type is WSMsgType.TEXT:
        data, opcode = message.data.encode(), Opcode.TEXT
    elif message.type is WSMsgType.BINARY:
        data, opcode = message.data, Opcode.BINARY
    else:
        return None
    return Frame(direction, time.monotonic_ns() - start_ns, opcode, data)


async def read_frames(
    ws: web.WebSocketResponse | ClientWebSocketResponse,
    direction: Direction,
    inbox: Inbox[Frame],
    received: list[Frame],
) -> None:
    """Every data frame the other side sends, kept in `received` and handed to `inbox`, which
    is closed when the socket closes."""
    start = time.monotonic_ns()
    try:
        async for msg in ws:
            frame = frame_of(msg, direction, start)
            if frame is None:
                continue
            received.append(frame)
            inbox.put(frame)
    finally:
        inbox.close()


@dataclass
class PlayedSession:
    """What happened on one connection (for tests and for the user's curiosity)."""

    scenario: str
    protocol: str
    model: str | None
    received: list[Frame] = field(default_factory=list)
    unexpected: list[Frame] = field(default_factory=list)
    sent: int = 0
    completed: bool = False  # the whole script was played
    error: str | None = None


def _api_error(status: int, message: str, code: str | None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": None,
                      "code": code}}
    return web.json_response(body, status=status)


def _subprotocols(request: web.Request) -> list[str]:
    header = request.headers.get("Sec-WebSocket-Protocol", "")
    return [p.strip() for p in header.split(",") if p.strip()]


def _has_key(request: web.Request) -> bool:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer ") and auth[len("Bearer "):].strip():
        return True
    return any(p.startswith(_KEY_SUBPROTOCOL) and len(p) > len(_KEY_SUBPROTOCOL)
               for p in _subprotocols(request))


def _protocol_of(request: web.Request) -> str:
    if request.headers.get("OpenAI-Beta", "").replace(" ", "") == "realtime=v1":
        return BETA
    return BETA if _BETA_SUBPROTOCOL in _subprotocols(request) else GA


class FakeUpstream:
    """Serves scenario `scenario` (or ?scenario=) on 127.0.0.1; one script per connection."""

    def __init__(
        self,
        scenario: str = "voice_turns",
        *,
        seed: int = 0,
        pace: float = 1.0,
        client_timeout: float = 30.0,
        reject_beta: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if scenario not in SCENARIOS:
            raise RtrecError(
                f"unknown scenario {scenario!r}: choose one of {', '.join(sorted(SCENARIOS))}")
        self.scenario = scenario
        self.seed = seed
        self.pace = pace
        self.client_timeout = client_timeout
        self.reject_beta = reject_beta
        self.sessions: list[PlayedSession] = []
        self.app = web.Application()
        self.app.router.add_get(PATH, self._handle)
        self._server = LocalServer(self.app, host, port)

    @property
    def url(self) -> str:
        """ws:// URL of the socket (start() first)."""
        return self._server.url(PATH)

    async def start(self) -> str:
        await self._server.start()
        return self.url

    async def close(self) -> None:
        """Stop listening; connections still open are closed with 1001."""
        await self._server.close(b"fake upstream stopping")

    async def __aenter__(self) -> FakeUpstream:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # --- one connection -------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if not _has_key(request):
            return _api_error(
                401,
                "No API key provided. Send it in an 'Authorization: Bearer <key>' header.",
                "missing_api_key",
            )
        scenario = request.query.get("scenario", self.scenario)
        if scenario not in SCENARIOS:
            return _api_error(400, f"Unknown scenario '{scenario}'.", "invalid_scenario")
        protocol = _protocol_of(request)
        model = request.query.get("model")
        frames = build(scenario, protocol, self.seed, model=model)
        offered = _subprotocols(request)
        ws = web.WebSocketResponse(protocols=("realtime",) if "realtime" in offered else (),
                                   max_msg_size=0, compress=False)
        await ws.prepare(request)
        played = PlayedSession(scenario, protocol, model)
        self.sessions.append(played)
        if protocol == BETA and self.reject_beta:
            await self._refuse_beta(ws, played)
            return ws
        with self._server.track(ws):
            try:
                await self._play(ws, frames, played)
            except NoReply as exc:
                played.error = (f"no client frame within {exc.timeout:g} s where the script "
                                f"expects {_expected(exc.expected)}")
            except (TimeoutError, ConnectionError) as exc:
                played.error = f"{type(exc).__name__}: {exc}"
            finally:
                if not ws.closed:
                    await ws.close()
        return ws

    async def _refuse_beta(self, ws: web.WebSocketResponse, played: PlayedSession) -> None:
        """What the API has done with beta handshakes since 2026-05-12 (CATALOG.md §3)."""
        error = error_event(BETA_SHAPE_DISABLED_CODE, BETA_SHAPE_DISABLED_MESSAGE,
                            event_id=Ids(random.Random(0)).event())
        await ws.send_str(encode(error).decode())
        played.sent += 1
        played.error = BETA_SHAPE_DISABLED_CODE
        await ws.close(code=close.BETA_SHAPE_DISABLED, message=BETA_SHAPE_DISABLED_CODE.encode())

    async def _play(self, ws: web.WebSocketResponse, frames: list[Frame],
                    played: PlayedSession) -> None:
        inbox: Inbox[Frame] = Inbox()
        reader = asyncio.create_task(read_frames(ws, Direction.CLIENT, inbox, played.received))

        async def send(frame: Frame, _due: int | None) -> bool:
            if frame.opcode is Opcode.BINARY:
                await ws.send_bytes(frame.data)
            else:
                await ws.send_str(frame.data.decode())
            played.sent += 1
            return True

        async def check(frame: Frame, received: Frame, _index: int) -> Verdict:
            """The client's frame must be of the type the script expects; anything else is
            refused (the client is told what was expected and closed)."""
            expected = frame_type(frame.data)
            if frame_type(received.data) == expected:
                return "matched"
            played.unexpected.append(received)
            await self._refuse_unexpected(ws, received, expected, played)
            return "stop"

        try:
            outcome = await play_script(
                frames, Direction.SERVER, inbox, send=send, check=check,
                speed=1 / self.pace if self.pace > 0 else None, timeout=self.client_timeout,
            )
            if not outcome.finished:
                return  # the client left, or sent what the script does not expect
            played.completed = True
            # the script is over; stay connected until the client hangs up, as the API does
            with contextlib.suppress(TimeoutError):
                while await inbox.get(self.client_timeout) is not None:
                    pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _refuse_unexpected(self, ws: web.WebSocketResponse, frame: Frame,
                                 expected: str | None, played: PlayedSession) -> None:
        """An error event and close code 1008 whose reason names what the script expected."""
        got = frame_type(frame.data) or ("a binary frame" if frame.opcode is Opcode.BINARY
                                         else "a frame without a type")
        wanted = expected or "a binary frame"
        message = f"expected {wanted}, got {got}"
        played.error = f"unexpected client frame: {message} (scenario {played.scenario})"
        error = error_event("unexpected_client_event",
                            f"The fake upstream's scenario {played.scenario} {message}.",
                            event_id=Ids(random.Random(0)).event())
        with contextlib.suppress(ConnectionError):
            await ws.send_str(encode(error).decode())
            played.sent += 1
        await ws.close(code=close.POLICY_VIOLATION, message=close.close_reason(message))


def _expected(frame: Timed) -> str:
    kind = frame_type(frame.data) if isinstance(frame, Frame) else None
    return kind or "a frame without a type"


# --- python -m recorder.fake.server ---------------------------------------------------------


async def _serve_forever(scenario: str, seed: int, pace: float, port: int) -> None:
    async with FakeUpstream(scenario, seed=seed, pace=pace, port=port) as upstream:
        print(f"fake Realtime upstream playing {scenario!r} on {upstream.url}", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """Run a fake upstream on loopback until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", default="voice_turns", choices=sorted(SCENARIOS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pace", type=float, default=1.0,
                        help="1 = the script's real timing, 0 = as fast as possible")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(args.scenario, args.seed, args.pace, args.port))


if __name__ == "__main__":
    main()
