"""LocalServer: the one way rtrec's servers start, say where they are, and close with 1001."""

from __future__ import annotations

import asyncio
import socket
import time

import aiohttp
import pytest
from aiohttp import web

from recorder.localserver import LocalServer, connect_host


def echo_app(server_box: list[LocalServer], ended: list[str]) -> web.Application:
    """/ws: an echo socket tracked by the server; /stubborn: tracked but ignores the close."""

    async def echo(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with server_box[0].track(ws):
            async for message in ws:
                await ws.send_str(message.data)
            await asyncio.sleep(0.05)  # a handler finishing its report after the close
            ended.append("echo")
        return ws

    async def plain(request: web.Request) -> web.Response:
        return web.Response(text="plain")

    app = web.Application()
    app.router.add_get("/ws", echo)
    app.router.add_get("/plain", plain)
    return app


def make_server(**kwargs: object) -> tuple[LocalServer, list[str]]:
    box: list[LocalServer] = []
    ended: list[str] = []
    server = LocalServer(echo_app(box, ended), **kwargs)  # type: ignore[arg-type]
    box.append(server)
    return server, ended


@pytest.mark.parametrize(
    ("host", "dialed"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "127.0.0.1"),
        ("", "127.0.0.1"),
        ("::", "[::1]"),
        ("::1", "[::1]"),
        ("localhost", "localhost"),
    ],
)
def test_connect_host_is_what_a_local_client_dials(host: str, dialed: str) -> None:
    assert connect_host(host) == dialed


async def test_port_zero_listens_on_a_free_port_and_the_url_reaches_it() -> None:
    server, _ = make_server()
    async with server:
        assert server.port != 0
        assert server.url("/ws") == f"ws://127.0.0.1:{server.port}/ws"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{server.port}/plain") as response:
                assert await response.text() == "plain"
            async with http.ws_connect(server.url("/ws")) as ws:
                await ws.send_str("hello")
                assert (await ws.receive()).data == "hello"
                assert server.open_sockets == 1


async def test_close_sends_every_open_socket_1001_and_waits_for_its_handler() -> None:
    server, ended = make_server()
    await server.start()
    async with aiohttp.ClientSession() as http:
        first = await http.ws_connect(server.url("/ws"), autoclose=False)
        second = await http.ws_connect(server.url("/ws"), autoclose=False)
        await asyncio.sleep(0.05)
        assert server.open_sockets == 2
        closing = asyncio.ensure_future(server.close(b"going home"))
        for ws in (first, second):
            message = await ws.receive(timeout=5)
            assert message.type is aiohttp.WSMsgType.CLOSE
            assert (message.data, message.extra) == (1001, "going home")
            await ws.close()
        await asyncio.wait_for(closing, 5)
    assert ended == ["echo", "echo"]  # both handlers ran to their end before close() returned
    assert server.open_sockets == 0
    assert not server.started
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", server.port), 1):
        pass  # nothing listens any more


async def test_close_gives_up_on_a_client_that_never_answers_after_the_timeout() -> None:
    server, _ = make_server(shutdown_timeout=0.3)
    await server.start()
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(server.url("/ws"), autoclose=False, autoping=False)
        await asyncio.sleep(0.05)
        started = time.monotonic()
        await asyncio.wait_for(server.close(), 10)
        assert time.monotonic() - started < 3  # bounded by shutdown_timeout, not aiohttp's 60 s
        await ws.close()


async def test_a_taken_port_raises_oserror_and_leaves_nothing_listening() -> None:
    first, _ = make_server()
    await first.start()
    try:
        second, _ = make_server(port=first.port)
        with pytest.raises(OSError):
            await second.start()
        assert not second.started
        await second.close()  # closing a server that never started does nothing
    finally:
        await first.close()
        await first.close()  # nor does closing one twice
