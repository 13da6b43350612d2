"""A scripted client: plays the client side of a scenario against any Realtime URL.

It connects like the official Python SDK does (Authorization header, `OpenAI-Beta:
realtime=v1` for beta, `?model=`), sends the scenario's client frames at the script's pace, and
where the script says the server speaks next, waits for a server frame of that type. Pointed at
the fake upstream (directly or through `rtrec record`), both sides follow one script, so the
frames cross the wire in the script's order.

    result = await play_client(url, "barge_in", protocol="ga", pace=0)
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aiohttp

from recorder.errors import RtrecError
from recorder.fake.dialect import BETA
from recorder.fake.scenarios import build
from recorder.fake.server import read_frames
from recorder.jsontext import NotJson, frame_type, parse
from recorder.script_player import Inbox, NoReply, Timed, Verdict, play_script
from recorder.wire import Direction, Frame


@dataclass
class ClientResult:
    """What the scripted client saw."""

    received: list[Frame] = field(default_factory=list)
    unexpected: list[Frame] = field(default_factory=list)
    sent: int = 0
    close_code: int | None = None


def session_url(url: str, model: str | None) -> str:
    """url with ?model= added when a model is given and the URL has none."""
    if model is None:
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("model", model)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def play_client(
    url: str,
    scenario: str,
    *,
    protocol: str = "ga",
    seed: int = 0,
    api_key: str = "sk-fake-key-for-tests",
    model: str | None = None,
    pace: float = 1.0,
    server_timeout: float = 30.0,
) -> ClientResult:
    """Play the client side of `scenario` against url; RtrecError if the server falls silent."""
    frames = build(scenario, protocol, seed, model=model)
    headers = {"Authorization": f"Bearer {api_key}"}
    if protocol == BETA:
        headers["OpenAI-Beta"] = "realtime=v1"
    result = ClientResult()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            session_url(url, model), headers=headers, max_msg_size=0, compress=0,
            autoping=True,
        ) as ws:
            await _play(ws, frames, result, pace, server_timeout, url)
            result.close_code = ws.close_code
    except aiohttp.WSServerHandshakeError as exc:
        raise RtrecError(
            f"{url} refused the WebSocket handshake (HTTP {exc.status}): check the URL and key"
        ) from exc
    except aiohttp.ClientConnectionError as exc:
        raise RtrecError(f"cannot connect to {url}: {exc}; is the server running?") from exc
    return result


async def _play(ws: aiohttp.ClientWebSocketResponse, frames: list[Frame], result: ClientResult,
                pace: float, timeout: float, url: str) -> None:
    inbox: Inbox[Frame] = Inbox()
    reader = asyncio.create_task(read_frames(ws, Direction.SERVER, inbox, result.received))

    async def send(frame: Frame, _due: int | None) -> bool:
        try:
            await ws.send_str(frame.data.decode())
        except ConnectionError as error:  # aiohttp's "Cannot write to closing transport"
            raise RtrecError(
                f"{url} closed the connection while the client was sending "
                f"{frame_type(frame.data)}{_server_said(result)}"
            ) from error
        result.sent += 1
        return True

    async def check(frame: Frame, received: Frame, _index: int) -> Verdict:
        """A server frame of the type the script expects; others are kept and passed over."""
        if frame_type(received.data) == frame_type(frame.data):
            return "matched"
        result.unexpected.append(received)
        return "skip"

    finished = False
    try:
        try:
            outcome = await play_script(
                frames, Direction.CLIENT, inbox, send=send, check=check,
                speed=1 / pace if pace > 0 else None, timeout=timeout,
            )
        except NoReply as exc:
            raise RtrecError(
                f"{url} sent no {_type_of(exc.expected)} within {timeout:g} s: the server does "
                "not follow the scenario (check the scenario and protocol)"
            ) from exc
        if not outcome.finished:
            raise RtrecError(f"{url} closed the connection while the scenario expected "
                             f"{_type_of(frames[outcome.rest])}{_server_said(result)}")
        finished = True
    finally:
        if finished:  # a clean close: the reader sees the server's close frame and ends
            await ws.close()
        else:
            reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader


def _type_of(frame: Timed) -> str | None:
    return frame_type(frame.data) if isinstance(frame, Frame) else None


def _server_said(result: ClientResult) -> str:
    """The message of the last error event the server sent, as a clause ('' if none)."""
    for frame in reversed(result.received):
        if frame_type(frame.data) == "error":
            with contextlib.suppress(NotJson):
                error = parse(frame.data).get("error")
                if isinstance(error, dict) and error.get("message"):
                    return f" (it said: {error['message']})"
            return ""
    return ""
