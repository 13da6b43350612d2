"""rtrec record's proxy, driven by the official openai SDK through rtrec to a scripted upstream.

The upstream here is a small aiohttp fake (ScriptedUpstream): it answers a handshake (or refuses
it), sends session.created, and plays a scripted response to each response.create, recording
every handshake and every frame it got. Checks compare three views of one session: what the
upstream sent / received, what the SDK saw, and what the log holds.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from aiohttp import web
from multidict import MultiDict
from openai import AsyncAzureOpenAI, AsyncOpenAI

from recorder.access import check_exposure
from recorder.console import Console
from recorder.errors import RtrecError
from recorder.localserver import LocalServer
from recorder.proxy import (
    ProxyConfig,
    RecordingProxy,
    parse_listen,
    protocol_from_session_created,
)
from recorder.redact import REDACTED, redact_frame
from recorder.store import EventLog, open_log
from recorder.upstream import upstream_url
from recorder.wire import Direction, Frame, Opcode

API_KEY = "sk-test-proxy-key-0123456789abcdef"
EPHEMERAL = "ek_test_ephemeral_0123456789"
BROWSER_KEY = "ek_browser_insecure_key_987654321"


def event(**fields: Any) -> bytes:
    return json.dumps(fields, separators=(",", ":")).encode()


def session_created(model: str, *, ga: bool = True) -> bytes:
    session: dict[str, Any] = {"id": "sess_1", "object": "realtime.session", "model": model}
    if ga:
        session |= {"type": "realtime", "audio": {"output": {"voice": "alloy"}}}
    else:
        session |= {"modalities": ["text", "audio"], "voice": "alloy"}
    session["client_secret"] = {"value": EPHEMERAL, "expires_at": 1700000000}
    return event(type="session.created", event_id="event_1", session=session)


def scripted_response(n: int, deltas: int = 5) -> list[bytes]:
    """A realistic-looking response: created, audio deltas, transcript, done."""
    rid, iid = f"resp_{n}", f"item_{n}"
    frames = [event(type="response.created", event_id=f"ev_{n}_0",
                    response={"id": rid, "object": "realtime.response", "status": "in_progress",
                              "output": []})]
    for i in range(deltas):
        audio = base64.b64encode(bytes([i % 256]) * 4800).decode()
        frames.append(event(type="response.output_audio.delta", event_id=f"ev_{n}_{i + 1}",
                            response_id=rid, item_id=iid, output_index=0, content_index=0,
                            delta=audio))
    frames.append(event(type="response.output_audio_transcript.done", event_id=f"ev_{n}_t",
                        response_id=rid, item_id=iid, output_index=0, content_index=0,
                        transcript="héllo wörld"))
    frames.append(event(type="response.done", event_id=f"ev_{n}_d",
                        response={"id": rid, "object": "realtime.response", "status": "completed",
                                  "output": []}))
    return frames


@dataclass
class Handshake:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    protocols: list[str]


@dataclass
class ScriptedUpstream:
    """A fake Realtime server: refuse, play, drop mid-response, or close with a code."""

    refuse: int | None = None
    drop_after: int | None = None  # abort the socket after this many response frames
    close_with: tuple[int, str] | None = None  # close after the first response
    ga: bool = True
    greet: bool = True  # open with session.created
    greet_after: float = 0.0  # seconds: a distant upstream's session.created comes late
    model: str = "?"  # what session.created names when the handshake names no model
    handshakes: list[Handshake] = field(default_factory=list)
    sent: list[list[tuple[Opcode, bytes]]] = field(default_factory=list)
    received: list[list[tuple[Opcode, bytes]]] = field(default_factory=list)
    closes: list[tuple[int | None, str]] = field(default_factory=list)
    url: str = ""
    _server: LocalServer | None = None

    async def start(self) -> ScriptedUpstream:
        app = web.Application()
        for path in ("/v1/realtime", "/openai/realtime", "/openai/v1/realtime",
                     "/voice-live/realtime", "/v1/realtime/translations"):
            app.router.add_get(path, self._handle)
        app.router.add_post("/v1/realtime/client_secrets", self._client_secret)
        self._server = LocalServer(app)
        await self._server.start()
        self.url = self._server.url()
        return self

    async def stop(self) -> None:
        assert self._server is not None
        await self._server.close()

    async def _client_secret(self, request: web.Request) -> web.Response:
        """The REST call an app makes before a browser session (not a WebSocket)."""
        body = await request.json()
        self.handshakes.append(Handshake(request.path, dict(request.query),
                                         dict(request.headers), []))
        return web.json_response({"value": EPHEMERAL, "expires_at": 1700000000,
                                  "session": body["session"]})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                   if p.strip()]
        self.handshakes.append(Handshake(request.path, dict(request.query),
                                         dict(request.headers), offered))
        if self.refuse is not None:
            body = {"error": {"type": "invalid_request_error", "code": f"fake_{self.refuse}",
                              "message": f"refused with {self.refuse}"}}
            return web.json_response(body, status=self.refuse, headers={"X-Request-Id": "req_1"})
        ws = web.WebSocketResponse(protocols=("realtime",), max_msg_size=0)
        await ws.prepare(request)
        assert self._server is not None
        with self._server.track(ws):
            await self._play(request, ws)
        return ws

    async def _play(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        sent: list[tuple[Opcode, bytes]] = []
        received: list[tuple[Opcode, bytes]] = []
        self.sent.append(sent)
        self.received.append(received)

        async def send(data: bytes, opcode: Opcode = Opcode.TEXT) -> None:
            sent.append((opcode, data))
            await ws.send_frame(data, aiohttp.WSMsgType(opcode))

        model = request.query.get("model") or request.query.get("deployment") or self.model
        if self.greet:
            await asyncio.sleep(self.greet_after)
            await send(session_created(model, ga=self.ga))
        responses = 0
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                data = message.data.encode()
                received.append((Opcode.TEXT, data))
            elif message.type == aiohttp.WSMsgType.BINARY:
                received.append((Opcode.BINARY, message.data))
                await send(b"\x00\x01binary echo\xff" + message.data, Opcode.BINARY)
                continue
            else:
                break
            if b'"response.create"' not in data:
                continue
            for index, frame in enumerate(scripted_response(responses)):
                if self.drop_after is not None and index == self.drop_after:
                    assert request.transport is not None
                    request.transport.abort()
                    return
                await send(frame)
            responses += 1
            if self.close_with is not None:
                await ws.close(code=self.close_with[0], message=self.close_with[1].encode())
                break
        self.closes.append((ws.close_code, ""))


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    fake = await ScriptedUpstream().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EventLog]:
    event_log = await open_log(str(tmp_path / "rec.db"), flush_interval=0.01)
    yield event_log
    await event_log.close()


class Recorder:
    """A started RecordingProxy plus its console output."""

    def __init__(self, proxy: RecordingProxy, out: io.StringIO, err: io.StringIO) -> None:
        self.proxy = proxy
        self.out = out
        self.err = err

    @property
    def url(self) -> str:
        return self.proxy.base_url

    async def settled(self) -> None:
        """Wait until every session has ended and its frames are written."""
        for _ in range(500):
            if self.proxy.open_sessions == 0:
                break
            await asyncio.sleep(0.02)
        assert self.proxy.open_sessions == 0, "a session never ended"
        if self.proxy.log is not None:
            await self.proxy.log.flush()  # type: ignore[attr-defined]


async def start_proxy(
    log: Any, upstream: str, *, api_key: str | None = None, token: str | None = None,
    verbose: bool = False, server_ssl: Any = None, path: str = "/v1/realtime",
) -> Recorder:
    out, err = io.StringIO(), io.StringIO()
    config = ProxyConfig(upstream=upstream + path, host="127.0.0.1", port=0, api_key=api_key,
                         token=token, verbose=verbose, server_ssl=server_ssl)
    proxy = RecordingProxy(log, config, Console(out, err))
    if hasattr(log, "_proxy"):
        log._proxy = proxy
    await proxy.start()
    return Recorder(proxy, out, err)


@pytest.fixture
async def recorder(log: EventLog, upstream: ScriptedUpstream) -> AsyncIterator[Recorder]:
    rec = await start_proxy(log, upstream.url)
    yield rec
    await rec.proxy.close()


async def stored(log: EventLog, sid: str) -> list[tuple[Direction, Opcode, bytes]]:
    frames = []
    async for batch in log.read(sid):
        frames += [(f.direction, f.opcode, f.data) for f in batch]
    return frames


def by_direction(frames: list[tuple[Direction, Opcode, bytes]], direction: Direction
                 ) -> list[tuple[Opcode, bytes]]:
    return [(opcode, data) for d, opcode, data in frames if d is direction]


def redacted(frames: list[tuple[Opcode, bytes]], *secrets: str) -> list[tuple[Opcode, bytes]]:
    return [(opcode, redact_frame(data, secrets)) for opcode, data in frames]


async def sdk_conversation(base_url: str, *, responses: int = 2, model: str = "gpt-realtime",
                           api_key: str = API_KEY) -> list[bytes]:
    """What an app does: update the session, ask for responses; returns every raw server frame."""
    client = AsyncOpenAI(api_key=api_key, websocket_base_url=base_url + "/v1")
    seen: list[bytes] = []
    async with client.realtime.connect(model=model) as connection:
        seen.append(await connection.recv_bytes())  # session.created
        await connection.session.update(session={"type": "realtime", "instructions": "Be brief."})
        for _ in range(responses):
            chunk = base64.b64encode(b"\x01" * 960).decode()
            await connection.input_audio_buffer.append(audio=chunk)
            await connection.response.create()
            while True:
                raw = await connection.recv_bytes()
                seen.append(raw)
                if b'"response.done"' in raw:
                    break
    return seen


# -- the main path: official SDK, GA ----------------------------------------------------------


async def test_sdk_session_is_forwarded_and_recorded_byte_for_byte(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    seen = await sdk_conversation(recorder.url)
    await recorder.settled()

    sent = upstream.sent[0]
    assert seen == [data for _, data in sent], "the SDK saw every server frame, unchanged"
    [info] = await log.list_sessions()
    frames = await stored(log, info.id)
    assert by_direction(frames, Direction.SERVER) == redacted(sent, API_KEY)
    assert by_direction(frames, Direction.CLIENT) == redacted(upstream.received[0], API_KEY)
    assert len(upstream.received[0]) == 1 + 2 * 2  # session.update, then append + create twice
    assert info.protocol == "ga"
    assert info.model == "gpt-realtime"
    assert info.status == "complete"
    assert info.closed_by == "client"
    assert info.close_code == 1000
    assert (info.client_frames, info.server_frames) == (5, len(sent))
    assert info.endpoint == upstream.url + "/v1/realtime"


async def test_handshake_passes_path_query_and_auth_through(
    recorder: Recorder, upstream: ScriptedUpstream
) -> None:
    client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=recorder.url + "/v1")
    async with client.realtime.connect(model="gpt-realtime",
                                       extra_query={"intent": "transcription"}) as connection:
        await connection.recv_bytes()
    await recorder.settled()
    [handshake] = upstream.handshakes
    assert handshake.path == "/v1/realtime"
    assert handshake.query == {"model": "gpt-realtime", "intent": "transcription"}
    assert handshake.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "OpenAI-Beta" not in handshake.headers


async def test_call_id_reaches_upstream(recorder: Recorder, upstream: ScriptedUpstream) -> None:
    client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=recorder.url + "/v1")
    async with client.realtime.connect(call_id="rtc_abc123") as connection:
        await connection.recv_bytes()
    await recorder.settled()
    assert upstream.handshakes[0].query == {"call_id": "rtc_abc123"}


async def test_client_secret_in_frames_is_stored_redacted(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    seen = await sdk_conversation(recorder.url, responses=0)
    await recorder.settled()
    assert EPHEMERAL.encode() in seen[0], "the app still gets its secret"
    [info] = await log.list_sessions()
    [(_, _, first)] = [f for f in await stored(log, info.id) if f[0] is Direction.SERVER]
    assert EPHEMERAL.encode() not in first
    assert json.loads(first)["session"]["client_secret"]["value"] == REDACTED
    # everything else is untouched, byte for byte
    assert first == seen[0].replace(EPHEMERAL.encode(), REDACTED.encode())


async def test_key_from_environment_is_used_when_client_sends_none(
    log: EventLog, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    rec = await start_proxy(log, upstream.url, api_key=API_KEY)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            rec.url + "/v1/realtime?model=m"
        ) as ws:
            await ws.receive()
            # the key in a frame too (pasted into a message): it is still never stored
            await ws.send_str(json.dumps({"type": "conversation.item.create", "text": API_KEY}))
        await rec.settled()
    finally:
        await rec.proxy.close()
    assert upstream.handshakes[0].headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY.encode() in upstream.received[0][0][1], "forwarded as sent"
    [info] = await log.list_sessions()
    frames = await stored(log, info.id)
    assert len(frames) == 2 and all(API_KEY.encode() not in data for _, _, data in frames)
    await log.close()  # everything on disk: the database and its WAL
    files = list(tmp_path.glob("rec.db*"))
    assert files and all(API_KEY.encode() not in path.read_bytes() for path in files)
    assert API_KEY not in rec.out.getvalue() + rec.err.getvalue()


async def test_a_clients_own_key_is_not_replaced_by_the_environments(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    own = "sk-client-own-key-0123456789"
    rec = await start_proxy(log, upstream.url, api_key=API_KEY)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(rec.url + "/v1/realtime?model=m",
                                       headers={"Authorization": f"Bearer {own}"}) as ws:
                await ws.receive()
            async with http.ws_connect(rec.url + "/v1/realtime?model=m",
                                       protocols=("realtime", f"openai-insecure-api-key.{own}")
                                       ) as ws:
                await ws.receive()
        await rec.settled()
    finally:
        await rec.proxy.close()
    header_form, browser_form = upstream.handshakes
    assert header_form.headers["Authorization"] == f"Bearer {own}"
    assert "Authorization" not in browser_form.headers
    assert f"openai-insecure-api-key.{own}" in browser_form.protocols


async def test_beta_header_passes_and_marks_the_session_beta(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    upstream.ga = False
    client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=recorder.url + "/v1")
    async with client.beta.realtime.connect(model="gpt-4o-realtime-preview") as connection:
        await connection.recv()
        await connection.response.create()
        async for server_event in connection:
            if server_event.type == "response.done":
                break
    await recorder.settled()
    assert upstream.handshakes[0].headers["OpenAI-Beta"] == "realtime=v1"
    [info] = await log.list_sessions()
    assert info.protocol == "beta"


async def test_protocol_falls_back_to_session_created() -> None:
    assert protocol_from_session_created(session_created("m", ga=True)) == "ga"
    assert protocol_from_session_created(session_created("m", ga=False)) == "beta"
    assert protocol_from_session_created(b"not json") is None


# -- subprotocols, binary and undecodable frames, close codes ---------------------------------


async def test_browser_subprotocols_pass_through_and_key_is_not_stored(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog, tmp_path: Path
) -> None:
    offered = ["realtime", f"openai-insecure-api-key.{BROWSER_KEY}", "openai-beta.realtime-v1"]
    async with aiohttp.ClientSession() as http, http.ws_connect(
        recorder.url + "/v1/realtime?model=m", protocols=offered
    ) as ws:
        assert ws.protocol == "realtime", "the client gets the upstream's choice back"
        await ws.receive()
        await ws.send_str(f'{{"type":"session.update","note":"{BROWSER_KEY}"}}')
        await ws.send_str('{"type":"response.create"}')
        for _ in scripted_response(0):
            await ws.receive()
    await recorder.settled()
    assert upstream.handshakes[0].protocols == offered
    assert "Authorization" not in upstream.handshakes[0].headers
    [info] = await log.list_sessions()
    assert info.protocol == "beta"
    await log.flush()
    for path in tmp_path.glob("rec.db*"):
        assert BROWSER_KEY.encode() not in path.read_bytes(), path.name


async def test_binary_and_undecodable_frames_are_forwarded_and_stored_as_is(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    odd_text = "not json at all {"
    blob = bytes(range(256))
    async with aiohttp.ClientSession() as http, http.ws_connect(
        recorder.url + "/v1/realtime?model=m"
    ) as ws:
        await ws.receive()
        await ws.send_str(odd_text)
        await ws.send_bytes(blob)
        echo = await ws.receive()
    await recorder.settled()
    assert echo.type == aiohttp.WSMsgType.BINARY
    assert echo.data == b"\x00\x01binary echo\xff" + blob
    [info] = await log.list_sessions()
    frames = await stored(log, info.id)
    assert (Direction.CLIENT, Opcode.TEXT, odd_text.encode()) in frames
    assert (Direction.CLIENT, Opcode.BINARY, blob) in frames
    assert (Direction.SERVER, Opcode.BINARY, echo.data) in frames


async def test_upstream_close_code_and_reason_reach_the_client(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    upstream.close_with = (4000, "beta_api_shape_disabled")
    async with aiohttp.ClientSession() as http, http.ws_connect(
        recorder.url + "/v1/realtime?model=m"
    ) as ws:
        await ws.send_str('{"type":"response.create"}')
        async for _ in ws:
            pass
        assert ws.close_code == 4000
    await recorder.settled()
    [info] = await log.list_sessions()
    assert (info.closed_by, info.close_code, info.close_reason) == (
        "server", 4000, "beta_api_shape_disabled")
    assert info.status == "interrupted"


async def test_a_close_reason_quoting_the_key_is_stored_redacted(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    key = "sk-proj-close-reason-secret-0123456789"
    async with aiohttp.ClientSession() as http, http.ws_connect(
        recorder.url + "/v1/realtime?model=m", headers={"Authorization": f"Bearer {key}"}
    ) as ws:
        await ws.receive()
        await ws.close(code=4001, message=f"bad key {key}".encode())
    await recorder.settled()
    for _ in range(100):
        if upstream.closes:
            break
        await asyncio.sleep(0.02)
    assert upstream.closes[0][0] == 4001, "the upstream still gets the close"
    [info] = await log.list_sessions()
    assert info.close_reason == f"bad key {REDACTED}"


async def test_client_close_code_reaches_upstream(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(
        recorder.url + "/v1/realtime?model=m"
    ) as ws:
        await ws.receive()
        await ws.close(code=4321, message=b"app is done")
    await recorder.settled()
    for _ in range(100):
        if upstream.closes:
            break
        await asyncio.sleep(0.02)
    assert upstream.closes[0][0] == 4321
    [info] = await log.list_sessions()
    assert (info.closed_by, info.close_code, info.close_reason) == ("client", 4321, "app is done")


# -- handshake refusals -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 404, 429])
async def test_refused_handshake_gives_client_the_same_status_and_body(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog, status: int
) -> None:
    upstream.refuse = status
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
               "Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession() as http, http.get(
        recorder.url.replace("ws", "http", 1) + "/v1/realtime?model=m", headers=headers
    ) as response:
        body = await response.json()
        assert response.status == status
        assert response.headers["X-Request-Id"] == "req_1"
    assert body["error"]["code"] == f"fake_{status}"
    assert await log.list_sessions() == []
    assert f"HTTP {status}" in recorder.out.getvalue()


async def test_sdk_sees_the_upstream_refusal(
    recorder: Recorder, upstream: ScriptedUpstream
) -> None:
    upstream.refuse = 401
    client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=recorder.url + "/v1")
    with pytest.raises(websockets.exceptions.InvalidStatus) as raised:
        async with client.realtime.connect(model="gpt-realtime"):
            pass
    assert raised.value.response.status_code == 401
    assert b"fake_401" in raised.value.response.body


async def test_unreachable_upstream_gives_502(log: EventLog) -> None:
    rec = await start_proxy(log, "ws://127.0.0.1:9")
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
                await http.ws_connect(rec.url + "/v1/realtime?model=m")
        assert raised.value.status == 502
    finally:
        await rec.proxy.close()


# -- faults -----------------------------------------------------------------------------------


async def test_upstream_drop_mid_response_drops_the_client_and_keeps_the_record(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    upstream.drop_after = 3
    client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=recorder.url + "/v1")
    seen: list[bytes] = []
    with pytest.raises(websockets.exceptions.ConnectionClosedError) as raised:
        async with client.realtime.connect(model="gpt-realtime") as connection:
            seen.append(await connection.recv_bytes())
            await connection.response.create()
            while True:
                seen.append(await connection.recv_bytes())
    assert raised.value.rcvd is None, "no close frame: the same abnormal closure (1006)"
    await recorder.settled()
    assert len(seen) == 1 + 3
    [info] = await log.list_sessions()
    frames = await stored(log, info.id)
    assert [d for _, d in by_direction(frames, Direction.SERVER)] == [
        redact_frame(d) for d in seen]
    assert (info.status, info.closed_by) == ("interrupted", "server")


async def test_client_drop_closes_upstream(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(recorder.url + "/v1/realtime?model=m")
        await ws.receive()
        await ws.send_str('{"type":"session.update","session":{}}')
        await asyncio.sleep(0.05)
        ws._response.connection.transport.abort()  # type: ignore[union-attr]
    await recorder.settled()
    for _ in range(100):
        if upstream.closes:
            break
        await asyncio.sleep(0.02)
    assert upstream.closes, "the upstream socket was closed"
    [info] = await log.list_sessions()
    assert (info.status, info.closed_by) == ("interrupted", "client")
    assert info.client_frames == 1


async def test_stopping_the_proxy_closes_sessions_and_keeps_frames(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    rec = await start_proxy(log, upstream.url)
    async with aiohttp.ClientSession() as http, http.ws_connect(
        rec.url + "/v1/realtime?model=m"
    ) as ws:
        await ws.receive()
        await ws.send_str('{"type":"response.create"}')
        for _ in scripted_response(0):
            await ws.receive()
        await rec.proxy.close()
        closing = await ws.receive()
        assert closing.type == aiohttp.WSMsgType.CLOSE
        assert closing.data == 1001
    await log.flush()
    [info] = await log.list_sessions()
    assert (info.status, info.closed_by, info.close_code) == ("interrupted", "proxy", 1001)
    assert info.server_frames == 1 + len(scripted_response(0))


async def test_a_session_whose_handshake_ends_as_the_proxy_stops_gets_1001(
    log: EventLog, upstream: ScriptedUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    rec = await start_proxy(log, upstream.url)
    prepare = web.WebSocketResponse.prepare
    stopping: list[asyncio.Future[None]] = []

    async def prepare_as_the_proxy_stops(self: web.WebSocketResponse, request: Any) -> Any:
        answer = await prepare(self, request)
        if request.url.port == rec.proxy.port and not stopping:  # the proxy's, not upstream's
            # close() starts and looks for open sessions before this one is registered
            stopping.append(asyncio.ensure_future(rec.proxy.close()))
            await asyncio.sleep(0.05)
        return answer

    monkeypatch.setattr(web.WebSocketResponse, "prepare", prepare_as_the_proxy_stops)
    async with aiohttp.ClientSession() as http, http.ws_connect(
        rec.url + "/v1/realtime?model=m"
    ) as ws:
        while (message := await asyncio.wait_for(ws.receive(), 5)).type is aiohttp.WSMsgType.TEXT:
            pass
        assert (message.type, message.data) == (aiohttp.WSMsgType.CLOSE, 1001)
    await asyncio.wait_for(stopping[0], 5)
    await log.flush()
    [info] = await log.list_sessions()
    assert (info.status, info.closed_by, info.close_code) == ("interrupted", "proxy", 1001)


class FailingLog:
    """A log whose writer fails after a few frames, as a full disk would (EventLog contract)."""

    def __init__(self, fail_after: int) -> None:
        self.fail_after = fail_after
        self.failure: Exception | None = None
        self.frames: list[Frame] = []
        self.ended: dict[str, str] = {}
        self._proxy: RecordingProxy | None = None
        self._sessions = 0

    async def begin_session(self, protocol: str | None, model: str | None,
                            endpoint: str | None) -> str:
        self._sessions += 1
        return f"s{self._sessions}"

    def update_session(self, sid: str, *, protocol: str | None = None,
                       model: str | None = None) -> None:
        pass

    def append(self, sid: str, frame: Frame) -> None:
        self.frames.append(frame)
        if len(self.frames) == self.fail_after:
            self.failure = OSError(28, "No space left on device")
            assert self._proxy is not None
            self._proxy.report_log_failure(self.failure)  # what on_failure does

    async def end_session(self, sid: str, *, status: str = "complete",
                          close_code: int | None = None, close_reason: str | None = None,
                          closed_by: str | None = None) -> str:
        self.ended[sid] = status
        return "incomplete" if self.failure is not None else status  # frames were lost

    async def flush(self) -> None:
        pass


async def test_log_failure_is_reported_once_and_the_call_goes_on(
    upstream: ScriptedUpstream,
) -> None:
    failing = FailingLog(fail_after=3)
    rec = await start_proxy(failing, upstream.url)
    try:
        first, second = await asyncio.gather(sdk_conversation(rec.url),
                                             sdk_conversation(rec.url))
        await rec.settled()
    finally:
        await rec.proxy.close()
    assert len(first) == len(second) == 1 + 2 * len(scripted_response(0))
    assert failing.ended == {"s1": "complete", "s2": "complete"}  # as the proxy saw them
    # ... and the log's answer is what the console says
    assert rec.out.getvalue().count("closed by client (code 1000, incomplete)") == 2
    errors = [line for line in rec.err.getvalue().splitlines() if "ERROR" in line]
    assert len(errors) == 1
    assert "No space left on device" in errors[0]


async def test_many_concurrent_sessions_each_recorded_whole(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    results = await asyncio.gather(
        *(sdk_conversation(recorder.url, model=f"model-{i}") for i in range(12))
    )
    await recorder.settled()
    sessions = await log.list_sessions()
    assert len(sessions) == 12
    by_model = {info.model: info for info in sessions}
    sent_by_model = {
        json.loads(sent[0][1])["session"]["model"]: sent for sent in upstream.sent
    }
    for i, seen in enumerate(results):
        info = by_model[f"model-{i}"]
        frames = await stored(log, info.id)
        sent = sent_by_model[f"model-{i}"]
        assert seen == [d for _, d in sent]
        assert by_direction(frames, Direction.SERVER) == redacted(sent)
        assert info.status == "complete"


async def test_rest_calls_pass_through_so_base_url_alone_is_enough(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog, tmp_path: Path
) -> None:
    http_base = recorder.url.replace("ws", "http", 1) + "/v1"
    client = AsyncOpenAI(api_key=API_KEY, base_url=http_base)  # the OPENAI_BASE_URL form
    secret = await client.realtime.client_secrets.create(
        session={"type": "realtime", "model": "gpt-realtime"})
    assert secret.value == EPHEMERAL
    async with client.realtime.connect(model="gpt-realtime") as connection:
        assert b"session.created" in await connection.recv_bytes()
    await recorder.settled()
    rest, socket = upstream.handshakes
    assert (rest.path, socket.path) == ("/v1/realtime/client_secrets", "/v1/realtime")
    assert rest.headers["Authorization"] == f"Bearer {API_KEY}"
    assert len(await log.list_sessions()) == 1, "REST calls are passed on, not recorded"
    for path in tmp_path.glob("rec.db*"):
        assert EPHEMERAL.encode() not in path.read_bytes()


# -- Azure, token, TLS, console ---------------------------------------------------------------


async def test_azure_form_works_with_upstream(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    rec = await start_proxy(log, upstream.url, path="/openai/realtime")
    try:
        client = AsyncAzureOpenAI(api_key=API_KEY, api_version="2025-04-01-preview",
                                  azure_endpoint="https://example.invalid",
                                  websocket_base_url=rec.url + "/openai")
        async with client.realtime.connect(model="my-deployment") as connection:
            await connection.recv_bytes()
        await rec.settled()
    finally:
        await rec.proxy.close()
    [handshake] = upstream.handshakes
    assert handshake.path == "/openai/realtime"
    assert handshake.query["deployment"] == "my-deployment"
    assert handshake.query["api-version"] == "2025-04-01-preview"
    assert handshake.headers["api-key"] == API_KEY
    [info] = await log.list_sessions()
    assert info.model == "my-deployment"


@pytest.mark.parametrize("upstream_path", ["/openai/realtime", "/openai/v1/realtime", ""])
async def test_azure_ga_path_is_recorded_and_forwarded_to_the_same_path(
    log: EventLog, upstream: ScriptedUpstream, tmp_path: Path, upstream_path: str
) -> None:
    rec = await start_proxy(log, upstream.url, path=upstream_path)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            rec.url + "/openai/v1/realtime?model=gpt-realtime", headers={"api-key": API_KEY}
        ) as ws:
            created = await ws.receive()
            await ws.send_str(json.dumps({"type": "response.create"}))
            while b"response.done" not in (await ws.receive()).data.encode():
                pass
        await rec.settled()
    finally:
        await rec.proxy.close()
    [handshake] = upstream.handshakes
    assert handshake.path == "/openai/v1/realtime", "a GA client reaches the GA path"
    assert handshake.query == {"model": "gpt-realtime"}
    assert handshake.headers["api-key"] == API_KEY
    [info] = await log.list_sessions()
    assert (info.model, info.status) == ("gpt-realtime", "complete")
    frames = await stored(log, info.id)
    assert len(frames) == 2 + len(scripted_response(1))
    assert frames[0][2] == created.data.encode().replace(EPHEMERAL.encode(), REDACTED.encode())
    await log.close()
    for path in tmp_path.glob("rec.db*"):
        assert API_KEY.encode() not in path.read_bytes(), path.name


async def test_the_readme_azure_ga_setting_of_the_python_sdk_reaches_the_ga_path(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    """README's Azure GA row: AsyncOpenAI with websocket_base_url .../openai/v1 and the api-key
    header, through an upstream given as the older .../openai/realtime."""
    rec = await start_proxy(log, upstream.url, path="/openai/realtime")
    try:
        client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=rec.url + "/openai/v1",
                             default_headers={"api-key": API_KEY})
        async with client.realtime.connect(model="my-deployment") as connection:
            await connection.recv_bytes()
        await rec.settled()
    finally:
        await rec.proxy.close()
    [handshake] = upstream.handshakes
    assert (handshake.path, handshake.query) == ("/openai/v1/realtime", {"model": "my-deployment"})
    assert handshake.headers["api-key"] == API_KEY
    [info] = await log.list_sessions()
    assert (info.model, info.protocol) == ("my-deployment", "ga")


@pytest.mark.parametrize(("upstream_path", "key_in"), [
    ("/voice-live/realtime", "header"), ("", "header"), ("/openai/realtime", "query"),
])
async def test_voice_live_path_is_recorded_and_forwarded_to_the_same_path(
    log: EventLog, upstream: ScriptedUpstream, tmp_path: Path, upstream_path: str, key_in: str
) -> None:
    """Azure Voice Live's own path: forwarded as it came, with the client's api-key (a header,
    or the query where a browser cannot set one), recorded, the key stored nowhere."""
    rec = await start_proxy(log, upstream.url, path=upstream_path)
    query = "api-version=2025-10-01&model=gpt-realtime"
    headers = {"api-key": API_KEY} if key_in == "header" else {}
    if key_in == "query":
        query += f"&api-key={API_KEY}"
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            rec.url + "/voice-live/realtime?" + query, headers=headers
        ) as ws:
            created = await ws.receive()
            await ws.send_str(json.dumps({"type": "response.create"}))
            while b"response.done" not in (await ws.receive()).data.encode():
                pass
        await rec.settled()
    finally:
        await rec.proxy.close()
    [handshake] = upstream.handshakes
    assert handshake.path == "/voice-live/realtime", "a Voice Live client reaches Voice Live"
    assert {k: v for k, v in handshake.query.items() if k != "api-key"} == {
        "api-version": "2025-10-01", "model": "gpt-realtime",
    }
    credential = handshake.headers if key_in == "header" else handshake.query
    assert credential["api-key"] == API_KEY
    [info] = await log.list_sessions()
    assert (info.model, info.status) == ("gpt-realtime", "complete")
    frames = await stored(log, info.id)
    assert len(frames) == 2 + len(scripted_response(1))
    assert frames[0][2] == created.data.encode().replace(EPHEMERAL.encode(), REDACTED.encode())
    assert API_KEY not in rec.out.getvalue() + rec.err.getvalue()
    await log.close()
    for path in tmp_path.glob("rec.db*"):
        assert API_KEY.encode() not in path.read_bytes(), path.name


def test_upstream_url_keeps_upstream_path_and_client_query() -> None:
    url = upstream_url("wss://api.openai.com/v1/realtime", "/v1/realtime/translations",
                       MultiDict([("model", "m"), ("rtrec_token", "t0ken-secret")]))
    assert str(url) == "wss://api.openai.com/v1/realtime/translations?model=m"
    bare = upstream_url("wss://example.net", "/openai/realtime",
                        MultiDict([("deployment", "d"), ("api-version", "v")]))
    assert str(bare) == "wss://example.net/openai/realtime?deployment=d&api-version=v"


def test_non_loopback_listen_requires_a_token() -> None:
    with pytest.raises(RtrecError) as raised:
        check_exposure("0.0.0.0", None)
    assert str(raised.value) == (
        "--listen 0.0.0.0 is not a loopback address: pass --token SECRET (or set RTREC_TOKEN); "
        "clients then send it as header X-Rtrec-Token or query rtrec_token"
    )
    check_exposure("0.0.0.0", "s3cret-token")
    check_exposure("127.0.0.1", None)
    check_exposure("::1", None)
    check_exposure("localhost", None)
    with pytest.raises(RtrecError):
        RecordingProxy(None, ProxyConfig(host="192.168.1.10"))


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_listen("[::1]:0") == ("::1", 0)
    with pytest.raises(RtrecError, match="--listen 'nonsense' is not HOST:PORT"):
        parse_listen("nonsense")


async def test_token_is_required_when_set_and_never_forwarded(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    token = "rtrec-shared-token-42"
    rec = await start_proxy(log, upstream.url, token=token)
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
                await http.ws_connect(rec.url + "/v1/realtime?model=m")
            assert raised.value.status == 401
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await http.ws_connect(rec.url + "/v1/realtime?model=m",
                                      headers={"X-Rtrec-Token": "wrong"})
            async with http.ws_connect(rec.url + "/v1/realtime?model=m",
                                       headers={"X-Rtrec-Token": token}) as ws:
                await ws.receive()
            async with http.ws_connect(rec.url + f"/v1/realtime?model=m&rtrec_token={token}") as ws:
                await ws.receive()
            rest = rec.url.replace("ws", "http", 1) + "/v1/realtime/client_secrets"
            async with http.post(rest, json={"session": {}}) as refused:
                assert refused.status == 401
            async with http.post(rest, json={"session": {}},
                                 headers={"X-Rtrec-Token": token}) as answered:
                assert answered.status == 200
        await rec.settled()
    finally:
        await rec.proxy.close()
    assert len(upstream.handshakes) == 3
    for handshake in upstream.handshakes:
        assert "rtrec_token" not in handshake.query
        assert "X-Rtrec-Token" not in handshake.headers
    assert token not in rec.out.getvalue() + rec.err.getvalue()


async def test_tls_with_the_generated_certificate(
    log: EventLog, upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    from recorder.tls import local_certificate

    certificate = local_certificate(tmp_path / "tls")
    rec = await start_proxy(log, upstream.url, server_ssl=certificate.server_context())
    try:
        assert rec.url.startswith("wss://")
        secure = rec.url.replace("127.0.0.1", "localhost")
        async with aiohttp.ClientSession() as http, http.ws_connect(
            secure + "/v1/realtime?model=m", ssl=certificate.client_context()
        ) as ws:
            first = await ws.receive()
        assert b"session.created" in first.data.encode()
        # and the official SDK, trusting the CA the way an app would
        client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=secure + "/v1")
        async with client.realtime.connect(
            model="gpt-realtime",
            websocket_connection_options={"ssl": certificate.client_context()},  # type: ignore[typeddict-unknown-key]
        ) as connection:
            assert b"session.created" in await connection.recv_bytes()
        await rec.settled()
    finally:
        await rec.proxy.close()
    assert len(await log.list_sessions()) == 2


async def test_console_lines_and_verbose_event_types(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    rec = await start_proxy(log, upstream.url, verbose=True)
    try:
        await sdk_conversation(rec.url, responses=1)
        await rec.settled()
    finally:
        await rec.proxy.close()
    out = rec.out.getvalue()
    [info] = await log.list_sessions()
    assert f"+ #1 session {info.id} opened: model gpt-realtime, protocol ga\n" in out
    assert (f"- #1 session {info.id} closed by client (code 1000, complete): model gpt-realtime"
            in out)
    assert f"3 client frames, {1 + len(scripted_response(0))} server frames" in out
    assert "  #1 <- response.output_audio.delta" in out
    assert "  #1 -> session.update" in out
    assert API_KEY not in out + rec.err.getvalue()
    assert EPHEMERAL not in out + rec.err.getvalue()


@pytest.mark.parametrize(("upstream_kind", "query", "headers", "said"), [
    ("ga", "?model=gpt-realtime", {}, "model gpt-realtime, protocol ga"),  # session.created
    ("beta", "?model=gpt-4o-realtime-preview", {}, "model gpt-4o-realtime-preview, protocol beta"),
    ("beta", "?model=gpt-4o-realtime-preview", {"OpenAI-Beta": "realtime=v1"},  # the handshake
     "model gpt-4o-realtime-preview, protocol beta"),
    ("ga", "", {}, "model gpt-realtime-mini, protocol ga"),  # both from session.created
    ("silent", "?model=gpt-realtime", {}, "model gpt-realtime, protocol ?"),  # nothing says
])
async def test_the_opened_line_says_the_protocol_and_model_as_soon_as_they_are_known(
    log: EventLog, upstream_kind: str, query: str, headers: dict[str, str], said: str
) -> None:
    upstream = await ScriptedUpstream(ga=upstream_kind != "beta", greet=upstream_kind != "silent",
                                      greet_after=0.3, model="gpt-realtime-mini").start()
    rec = await start_proxy(log, upstream.url)
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(
            rec.url + "/v1/realtime" + query, headers=headers
        ):
            for _ in range(250):  # the line is out while the call goes on
                if " opened: " in rec.out.getvalue():
                    break
                await asyncio.sleep(0.02)
            opened_during_the_call = rec.out.getvalue()
        await rec.settled()
    finally:
        await rec.proxy.close()
        await upstream.stop()
    [info] = await log.list_sessions()
    line = f"+ #1 session {info.id} opened: {said}"
    assert opened_during_the_call.splitlines() == [line]
    assert rec.out.getvalue().splitlines()[0] == line  # once, and before the closed line
    assert rec.out.getvalue().splitlines()[1].startswith(f"- #1 session {info.id} closed by ")
    protocol = said.rsplit(" ", 1)[1]
    assert info.protocol == (None if protocol == "?" else protocol)


# -- web pages on other sites may not use the proxy (they would spend the API key) ----------------


async def test_a_page_on_another_origin_is_refused_websocket_and_http(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    rec = await start_proxy(log, upstream.url, api_key=API_KEY)
    rest = rec.url.replace("ws", "http", 1) + "/v1/realtime/client_secrets"
    try:
        async with aiohttp.ClientSession() as http:
            for origin in ("https://evil.example", "null", "http://localhost.evil.example"):
                with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
                    await http.ws_connect(rec.url + "/v1/realtime?model=m", origin=origin)
                assert raised.value.status == 403
                async with http.post(rest, json={"session": {}},
                                     headers={"Origin": origin}) as refused:
                    assert refused.status == 403
                    assert "--token" in await refused.text()
            # pages served from loopback (a local dev server) keep working
            for origin in ("http://localhost:3000", "https://127.0.0.1", "http://[::1]:5173"):
                async with http.ws_connect(rec.url + "/v1/realtime?model=m", origin=origin) as ws:
                    assert b"session.created" in (await ws.receive()).data.encode()
                async with http.post(rest, json={"session": {}},
                                     headers={"Origin": origin}) as answered:
                    assert answered.status == 200
        await rec.settled()
    finally:
        await rec.proxy.close()
    assert len(upstream.handshakes) == 6, "no refused request reached the upstream"
    assert all(not h.headers.get("Origin", "").endswith("evil.example")
               for h in upstream.handshakes)
    assert "a web page on another origin" in rec.out.getvalue()


async def test_a_page_on_another_origin_with_the_token_is_served(
    log: EventLog, upstream: ScriptedUpstream
) -> None:
    token = "rtrec-shared-token-42"
    rec = await start_proxy(log, upstream.url, token=token)
    try:
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as raised:
                await http.ws_connect(rec.url + "/v1/realtime?model=m",
                                      origin="https://app.example")
            assert raised.value.status == 401
            async with http.ws_connect(rec.url + f"/v1/realtime?model=m&rtrec_token={token}",
                                       origin="https://app.example") as ws:
                await ws.receive()
        await rec.settled()
    finally:
        await rec.proxy.close()
    assert len(upstream.handshakes) == 1


async def test_a_close_frame_without_a_code_is_stored_as_1005_and_complete(
    recorder: Recorder, upstream: ScriptedUpstream, log: EventLog
) -> None:
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(recorder.url + "/v1/realtime?model=m")
        await ws.receive()
        assert ws._writer is not None  # aiohttp's close() always sends a code: send it bare
        await ws._writer.send_frame(b"", aiohttp.WSMsgType.CLOSE)
        answer = await ws.receive()
        await ws.close()
    await recorder.settled()
    assert answer.type is aiohttp.WSMsgType.CLOSE
    [info] = await log.list_sessions()
    assert (info.close_code, info.status, info.closed_by) == (1005, "complete", "client")
    assert upstream.closes == [(1000, "")], "the upstream got a normal close"
