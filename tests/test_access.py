"""recorder.access: DNS rebinding (a foreign Host name, no Origin) is refused without a token."""

from __future__ import annotations

import io

import aiohttp
import pytest

from recorder.access import TOKEN_HEADER, is_loopback_host
from recorder.console import Console
from recorder.fake.scenarios import build
from recorder.fake.server import FakeUpstream
from recorder.proxy import ProxyConfig, RecordingProxy
from recorder.serve import Recording, ReplayServer

REFUSED = (
    "rtrec: refused a request for a host name that is not localhost, 127.0.0.1 or [::1] (a web "
    "page after DNS rebinding sends one): connect to a loopback address, or start rtrec with "
    f"--token SECRET and send it as header {TOKEN_HEADER}\n"
)


def test_loopback_host_names() -> None:
    for host in ("localhost", "LOCALHOST:8765", "127.0.0.1", "127.0.0.1:1", "[::1]", "[::1]:80"):
        assert is_loopback_host(host), host
    for host in ("evil.example", "evil.example:8765", "localhost.evil.example", "127.0.0.1.nip.io",
                 "::1", "[::1]x", "[::1]:x", "localhost:", "localhost:80:80", "0.0.0.0:8765",
                 "[::2]:1", "", "127.0.0.2"):
        assert not is_loopback_host(host), host


async def _status(url: str, host: str, *, websocket: bool, token: str | None = None,
                  path: str = "/v1/realtime?model=m") -> tuple[int, str]:
    headers = {"Host": host, "Authorization": "Bearer sk-access-test-0123456789"}
    if token:
        headers[TOKEN_HEADER] = token
    if websocket:
        headers.update({"Upgrade": "websocket", "Connection": "Upgrade",
                        "Sec-WebSocket-Version": "13",
                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    async with aiohttp.ClientSession() as http, http.get(
        url.replace("ws://", "http://") + path, headers=headers
    ) as response:
        return response.status, (await response.text()) if response.status != 101 else ""


@pytest.mark.parametrize("websocket", [True, False])
async def test_record_refuses_a_rebound_host_name_and_serves_loopback_names(
    websocket: bool,
) -> None:
    out = io.StringIO()
    async with FakeUpstream("voice_turns", pace=0) as fake:
        proxy = RecordingProxy(None, ProxyConfig(upstream=fake.url, port=0), Console(out, out))
        url = await proxy.start()
        try:
            port = proxy.port
            assert await _status(url, f"evil.example:{port}", websocket=websocket) == (403, REFUSED)
            assert "! connection rejected: a Host that is not loopback; --token allows it" in (
                out.getvalue())
            for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "localhost"):
                status, _ = await _status(url, host, websocket=websocket)
                assert status != 403, host  # 101 for the socket; the fake's own 404 for REST
        finally:
            await proxy.close()


async def test_with_a_token_any_host_name_passes_but_only_with_the_token() -> None:
    async with FakeUpstream("voice_turns", pace=0) as fake:
        proxy = RecordingProxy(None, ProxyConfig(upstream=fake.url, port=0, token="t0ken-123"),
                               Console(io.StringIO(), io.StringIO()))
        url = await proxy.start()
        try:
            host = f"rtrec.internal:{proxy.port}"
            assert (await _status(url, host, websocket=True, token="t0ken-123"))[0] == 101
            assert (await _status(url, host, websocket=True))[0] == 401
        finally:
            await proxy.close()


async def test_serve_refuses_a_rebound_host_name() -> None:
    recording = Recording.from_frames(build("voice_turns"), session_id="s")
    async with ReplayServer(recording) as server:
        base = server.url.rsplit("/v1", 1)[0]
        assert await _status(base, "evil.example:8765", websocket=True) == (403, REFUSED)
        assert (await _status(base, f"localhost:{server.port}", websocket=True))[0] == 101
