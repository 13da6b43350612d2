"""The fake upstream and the scripted client over real loopback sockets."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from recorder.errors import RtrecError
from recorder.fake.client import play_client
from recorder.fake.scenarios import build
from recorder.fake.server import FakeUpstream
from recorder.jsontext import frame_type
from recorder.localserver import LocalServer
from recorder.wire import Direction

KEY = "sk-test-secret-0123456789"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream("function_call", pace=0, client_timeout=5) as server:
        yield server


async def test_handshake_without_a_key_gets_401_json(upstream: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(upstream.url + "?model=gpt-realtime")
        assert refused.value.status == 401
        async with http.get(upstream.url.replace("ws://", "http://"),
                            headers={"Connection": "Upgrade", "Upgrade": "websocket"}) as resp:
            assert resp.status == 401
            body = await resp.json()
    assert body["error"]["type"] == "invalid_request_error"
    assert "Authorization: Bearer" in body["error"]["message"]
    assert upstream.sessions == []


async def test_unknown_path_and_scenario_are_refused(upstream: FakeUpstream) -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as wrong_path:
            await http.ws_connect(upstream.url.replace("/v1/realtime", "/v1/other"),
                                  headers=AUTH)
        with pytest.raises(aiohttp.WSServerHandshakeError) as wrong_scenario:
            await http.ws_connect(upstream.url + "?scenario=nope", headers=AUTH)
    assert wrong_path.value.status == 404
    assert wrong_scenario.value.status == 400


async def _first_frames(upstream: FakeUpstream, **connect: object) -> list[dict[str, object]]:
    """Connect, read until the server waits for the client (session.update), hang up."""
    frames = []
    async with aiohttp.ClientSession() as http, http.ws_connect(
        upstream.url + "?model=my-model", **connect  # type: ignore[arg-type]
    ) as ws:
        msg = await ws.receive(timeout=5)
        frames.append(json.loads(msg.data))
    return frames


async def test_ga_by_default_beta_by_header_or_subprotocol(upstream: FakeUpstream) -> None:
    ga = await _first_frames(upstream, headers=AUTH)
    beta = await _first_frames(upstream, headers={**AUTH, "OpenAI-Beta": "realtime=v1"})
    sub = await _first_frames(upstream, protocols=(
        "realtime", f"openai-insecure-api-key.{KEY}", "openai-beta.realtime-v1"))
    assert ga[0]["session"]["type"] == "realtime"  # type: ignore[index]
    assert ga[0]["session"]["model"] == "my-model"  # type: ignore[index]
    assert "input_audio_format" in beta[0]["session"]  # type: ignore[operator]
    assert "input_audio_format" in sub[0]["session"]  # type: ignore[operator]
    assert [s.protocol for s in upstream.sessions] == ["ga", "beta", "beta"]
    assert KEY not in repr(upstream.sessions)  # keys are never kept


async def test_server_waits_for_the_scripted_client_frame(upstream: FakeUpstream) -> None:
    script = build("function_call")
    first_client = next(i for i, f in enumerate(script) if f.direction is Direction.CLIENT)
    after = script[first_client + 1]
    assert frame_type(script[first_client].data) == "session.update"
    async with aiohttp.ClientSession() as http, http.ws_connect(upstream.url,
                                                                  headers=AUTH) as ws:
        for frame in script[:first_client]:
            assert (await ws.receive(timeout=5)).data == frame.data.decode()
        with pytest.raises(asyncio.TimeoutError):
            await ws.receive(timeout=0.3)  # the server holds the next frame back
        await ws.send_str(script[first_client].data.decode())
        assert (await ws.receive(timeout=5)).data == after.data.decode()
    assert upstream.sessions[-1].unexpected == []


async def test_an_unexpected_client_frame_is_refused_at_once_naming_what_was_expected(
    upstream: FakeUpstream,
) -> None:
    script = build("function_call")
    first_client = next(i for i, f in enumerate(script) if f.direction is Direction.CLIENT)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http, http.ws_connect(upstream.url,
                                                                  headers=AUTH) as ws:
        for _ in script[:first_client]:
            await ws.receive(timeout=5)
        sent_at = loop.time()
        await ws.send_str('{"type":"response.create"}')  # not what the script needs
        error = json.loads((await ws.receive(timeout=5)).data)
        closing = await ws.receive(timeout=5)
        waited = loop.time() - sent_at
    assert error["type"] == "error"
    assert error["error"]["code"] == "unexpected_client_event"
    assert error["error"]["message"] == (
        "The fake upstream's scenario function_call expected session.update, "
        "got response.create."
    )
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (1008, "expected session.update, got response.create")
    assert waited < 5  # at once, not after client_timeout (5 s here, 30 s by default)
    played = upstream.sessions[-1]
    assert [frame_type(f.data) for f in played.unexpected] == ["response.create"]
    assert played.error == (
        "unexpected client frame: expected session.update, got response.create "
        "(scenario function_call)"
    )
    assert not played.completed


@pytest.mark.parametrize(("scenario", "protocol"), [
    ("everything", "ga"), ("everything", "beta"), ("g711", "ga"), ("g711_alaw", "beta")])
async def test_client_and_server_play_the_script_byte_for_byte(
    scenario: str, protocol: str
) -> None:
    script = build(scenario, protocol, seed=4)
    async with FakeUpstream(scenario, seed=4, pace=0, client_timeout=5) as upstream:
        result = await play_client(upstream.url, scenario, protocol=protocol, seed=4, pace=0)
    played = upstream.sessions[0]
    assert played.completed and played.protocol == protocol
    assert [f.data for f in result.received] == [
        f.data for f in script if f.direction is Direction.SERVER]
    assert [f.data for f in played.received] == [
        f.data for f in script if f.direction is Direction.CLIENT]
    assert result.unexpected == [] and played.unexpected == []
    assert result.close_code == 1000


async def test_client_reports_a_server_that_does_not_follow(upstream: FakeUpstream) -> None:
    # the server plays voice_turns: it refuses the "error" client's conversation.item.delete
    # at once, and the client says what the server said
    with pytest.raises(RtrecError, match=r"voice_turns closed the connection while the client "
                       r"was sending input_audio_buffer.append \(it said: The fake upstream's "
                       r"scenario voice_turns expected input_audio_buffer.append, got "
                       r"conversation.item.delete.\)$"):
        await play_client(upstream.url + "?scenario=voice_turns", "error", pace=0,
                          server_timeout=0.5)


async def test_client_reports_a_refused_handshake(upstream: FakeUpstream) -> None:
    with pytest.raises(RtrecError, match=r"refused the WebSocket handshake \(HTTP 401\)"):
        await play_client(upstream.url, "function_call", api_key="", pace=0)
    with pytest.raises(RtrecError, match=r"cannot connect to ws://127\.0\.0\.1:9/v1/realtime"):
        await play_client("ws://127.0.0.1:9/v1/realtime", "function_call", pace=0)


async def test_the_official_sdk_parses_every_server_event(upstream: FakeUpstream) -> None:
    """The openai SDK, as a user's app would, plays the client side against the fake."""
    openai = pytest.importorskip("openai")
    script = build("function_call", "ga", model="gpt-realtime")
    client = openai.AsyncOpenAI(api_key=KEY,
                                websocket_base_url=upstream.url.rsplit("/realtime", 1)[0])
    parsed = []
    async with client.realtime.connect(model="gpt-realtime") as connection:
        for frame in script:
            if frame.direction is Direction.CLIENT:
                await connection.send(json.loads(frame.data))
            else:
                event = await asyncio.wait_for(connection.recv(), 5)
                assert event.type == frame_type(frame.data)
                parsed.append(type(event).__name__)
    assert "ResponseFunctionCallArgumentsDoneEvent" in parsed
    assert upstream.sessions[-1].completed


async def test_beta_can_be_refused_as_the_service_does_since_the_shutdown() -> None:
    async with FakeUpstream(pace=0, reject_beta=True) as upstream, \
            aiohttp.ClientSession() as http, \
            http.ws_connect(upstream.url, headers={**AUTH, "OpenAI-Beta": "realtime=v1"}) as ws:
        error = json.loads((await ws.receive(timeout=5)).data)
        closing = await ws.receive(timeout=5)
    assert error["type"] == "error" and error["error"]["code"] == "beta_api_shape_disabled"
    assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 4000


async def test_a_silent_client_is_reported_naming_the_frame_the_script_expects() -> None:
    script = build("function_call")
    first_client = next(i for i, f in enumerate(script) if f.direction is Direction.CLIENT)
    async with FakeUpstream("function_call", pace=0, client_timeout=0.3) as upstream:
        async with aiohttp.ClientSession() as http, http.ws_connect(upstream.url,
                                                                      headers=AUTH) as ws:
            for _ in script[:first_client]:
                await ws.receive(timeout=5)
            closing = await ws.receive(timeout=5)  # the server gives up and hangs up
        assert closing.type is aiohttp.WSMsgType.CLOSE
    played = upstream.sessions[-1]
    assert played.error == "no client frame within 0.3 s where the script expects session.update"
    assert not played.completed


async def test_stopping_the_fake_upstream_closes_its_clients_with_1001() -> None:
    upstream = FakeUpstream("function_call", pace=0)
    await upstream.start()
    async with aiohttp.ClientSession() as http, http.ws_connect(upstream.url, headers=AUTH) as ws:
        await ws.receive(timeout=5)  # session.created: the script now waits for the client
        await upstream.close()
        message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert (message.data, message.extra) == (1001, "fake upstream stopping")


async def test_client_reports_a_server_that_falls_silent() -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with server.track(ws):
            async for _ in ws:
                pass
        return ws

    app = web.Application()
    app.router.add_get("/v1/realtime", silent)
    server = LocalServer(app)
    async with server:
        url = server.url("/v1/realtime")
        with pytest.raises(RtrecError, match=(
            r"sent no session.created within 0.3 s: the server does not follow the scenario")):
            await play_client(url, "function_call", pace=0, server_timeout=0.3)
