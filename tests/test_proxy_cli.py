"""`rtrec record` as a user runs it: a real subprocess, signals, console, secrets, TLS with Node."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from test_proxy import API_KEY, EPHEMERAL, ScriptedUpstream, scripted_response

from recorder.cli import cli
from recorder.redact import redact_frame
from recorder.store import open_log
from recorder.tls import local_certificate
from recorder.wire import Direction

LISTENING = re.compile(r"listening on (wss?://[^/\s]+)/v1/realtime")


class RecordProcess:
    """`rtrec record` in a subprocess; collects everything it prints."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.out: list[str] = []
        self.url = ""

    async def wait_listening(self) -> str:
        assert self.process.stdout is not None
        while True:
            line = (await asyncio.wait_for(self.process.stdout.readline(), 30)).decode()
            assert line, "rtrec record exited before listening"
            self.out.append(line)
            if match := LISTENING.search(line):
                self.url = match.group(1)
                return self.url

    async def stop(self, signum: int) -> tuple[int, str, str]:
        self.process.send_signal(signum)
        out, err = await asyncio.wait_for(self.process.communicate(), 30)
        assert self.process.returncode is not None
        return self.process.returncode, "".join(self.out) + out.decode(), err.decode()


_started: list[asyncio.subprocess.Process] = []


async def start_record(*args: str, env: dict[str, str] | None = None) -> RecordProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from recorder.cli import main; main()", "record", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    _started.append(process)
    return RecordProcess(process)


@pytest.fixture(autouse=True)
async def no_stray_process() -> AsyncIterator[None]:
    """A failing test must not leave its `rtrec record` running."""
    yield
    while _started:
        process = _started.pop()
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    fake = await ScriptedUpstream().start()
    yield fake
    await fake.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_signal_closes_sessions_flushes_and_exits_0_with_nothing_lost(
    upstream: ScriptedUpstream, tmp_path: Path, signum: int
) -> None:
    db = tmp_path / "rec.db"
    rtrec = await start_record("--db", str(db), "--listen", "127.0.0.1:0", "--verbose",
                               "--upstream", upstream.url + "/v1/realtime",
                               env={"OPENAI_API_KEY": API_KEY})
    url = await rtrec.wait_listening()
    client_sent = ['{"type":"session.update","session":{"type":"realtime"}}',
                   '{"type":"response.create"}']
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url + "/v1/realtime?model=gpt-realtime"
    ) as ws:
        seen = [(await ws.receive()).data]
        for text in client_sent:
            await ws.send_str(text)
        for _ in scripted_response(0):
            seen.append((await ws.receive()).data)
        # While the session is open the frames sit in the database and its -wal: no key there.
        live = b""
        for _ in range(200):
            live = b"".join(p.read_bytes() for p in tmp_path.glob("rec.db*"))
            if b"response.done" in live:
                break
            await asyncio.sleep(0.05)
        assert b"response.done" in live, "the frames reached the database"
        assert Path(f"{db}-wal").exists()
        assert API_KEY.encode() not in live and EPHEMERAL.encode() not in live
        # The session is still open when the signal arrives.
        code, out, err = await rtrec.stop(signum)
        closing = await ws.receive()
    assert code == 0, err
    assert closing.type == aiohttp.WSMsgType.CLOSE and closing.data == 1001
    assert upstream.handshakes[0].headers["Authorization"] == f"Bearer {API_KEY}"

    log = await open_log(str(db))
    try:
        [info] = await log.list_sessions()
        frames = []
        async for batch in log.read(info.id):
            frames += batch
    finally:
        await log.close()
    assert [f.data for f in frames if f.direction is Direction.SERVER] == [
        redact_frame(s.encode()) for s in seen]
    assert [f.data for f in frames if f.direction is Direction.CLIENT] == [
        s.encode() for s in client_sent]
    assert (info.status, info.closed_by, info.close_code) == ("interrupted", "proxy", 1001)

    # No secret in any stored byte (database and its side files) or anything printed.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("rec.db*"))
    assert stored, "the database exists"
    for secret in (API_KEY, EPHEMERAL):
        assert secret.encode() not in stored
        assert secret not in out + err
    assert 'Python SDK: AsyncOpenAI(websocket_base_url="' + url + '/v1")' in out
    assert f"- #1 session {info.id} closed by proxy (code 1001, interrupted)" in out
    assert "<- response.output_audio.delta" in out


def test_non_loopback_listen_without_token_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["record", "--db", str(tmp_path / "r.db"), "--listen", "0.0.0.0:8765"],
        env={"RTREC_TOKEN": ""},
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: --listen 0.0.0.0 is not a loopback address: pass --token SECRET (or set "
        "RTREC_TOKEN); clients then send it as header X-Rtrec-Token or query rtrec_token\n"
    )
    assert not (tmp_path / "r.db").exists(), "refused before anything is opened"


def test_bad_listen_value_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["record", "--db", str(tmp_path / "r.db"),
                                      "--listen", "8765"])
    assert result.exit_code == 1
    assert result.output == "Error: --listen '8765' is not HOST:PORT: give e.g. 127.0.0.1:8765\n"


def test_bad_upstream_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["record", "--db", str(tmp_path / "r.db"),
                                      "--upstream", "api.openai.com/v1/realtime"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: --upstream 'api.openai.com/v1/realtime' is not a ws:// or wss:// URL: "
        "give e.g. wss://api.openai.com/v1/realtime\n"
    )


@pytest.mark.parametrize(
    "upstream", ["http://[::1", "wss://h:99999/x", "wss://user:pa55word@h:99999/x", "ws://[zz]/"]
)
def test_malformed_upstream_is_one_line_that_does_not_echo_it(
    tmp_path: Path, upstream: str
) -> None:
    result = CliRunner().invoke(cli, ["record", "--db", str(tmp_path / "r.db"),
                                      "--upstream", upstream])
    assert result.exit_code == 1
    assert result.output == (
        "Error: --upstream is not a valid URL (check the host, brackets and port): "
        "give e.g. wss://api.openai.com/v1/realtime\n"
    )
    assert not (tmp_path / "r.db").exists()


async def test_unusable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_bytes(b"this is not a database, just some text" * 100)
    rtrec = await start_record("--db", str(tmp_path / "notes.db"), "--listen", "127.0.0.1:0")
    out, err = await asyncio.wait_for(rtrec.process.communicate(), 30)
    assert rtrec.process.returncode == 1
    assert err.decode().startswith("Error: ") and err.decode().count("\n") == 1
    assert str(tmp_path / "notes.db") in err.decode()
    assert b"listening" not in out


async def test_busy_port_is_one_line(tmp_path: Path) -> None:
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        rtrec = await start_record("--db", str(tmp_path / "r.db"), "--listen", f"127.0.0.1:{port}")
        _, err = await asyncio.wait_for(rtrec.process.communicate(), 30)
    finally:
        blocker.close()
    assert rtrec.process.returncode == 1
    assert err.decode().startswith(f"Error: cannot listen on 127.0.0.1:{port} (")
    assert err.decode().count("\n") == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node to check NODE_EXTRA_CA_CERTS")
async def test_tls_banner_tells_node_how_to_trust_it_and_node_does(
    upstream: ScriptedUpstream, tmp_path: Path
) -> None:
    rtrec = await start_record("--db", str(tmp_path / "rec.db"), "--listen", "127.0.0.1:0",
                               "--tls", "--upstream", upstream.url + "/v1/realtime",
                               env={"RTREC_TLS_DIR": str(tmp_path / "tls")})
    url = await rtrec.wait_listening()
    assert url.startswith("wss://")
    port = url.rsplit(":", 1)[1]
    # the banner continues after the listening line; read until both trust hints
    assert rtrec.process.stdout is not None
    hints: dict[str, str] = {}
    while len(hints) < 2:
        line = (await asyncio.wait_for(rtrec.process.stdout.readline(), 30)).decode()
        assert line
        if "trust" in line and "export " in line:
            variable, _, value = line.split("export ", 1)[1].strip().partition("=")
            hints[variable] = value
    hint = f"NODE_EXTRA_CA_CERTS={hints['NODE_EXTRA_CA_CERTS']}"
    assert hints["SSL_CERT_FILE"] == hints["NODE_EXTRA_CA_CERTS"]
    name, _, ca_path = hint.partition("=")
    assert Path(ca_path) == tmp_path / "tls" / "ca.pem"
    script = (
        "const https = require('https');"
        f"const req = https.request({{host: 'localhost', port: {port}, "
        "path: '/v1/realtime?model=m', headers: {Connection: 'Upgrade', Upgrade: 'websocket', "
        "'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ=='}});"
        "req.on('upgrade', (res, socket) => { console.log('upgraded ' + res.statusCode);"
        " socket.destroy(); process.exit(0); });"
        "req.on('error', (e) => { console.log('error ' + e.code); process.exit(3); });"
        "req.end();"
    )
    node = await asyncio.create_subprocess_exec(
        "node", "-e", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, name: ca_path},
    )
    node_out, node_err = await asyncio.wait_for(node.communicate(), 30)
    # Without the hint Node refuses the certificate: the hint is what makes it work.
    untrusting = await asyncio.create_subprocess_exec(
        "node", "-e", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"},
    )
    refused_out, _ = await asyncio.wait_for(untrusting.communicate(), 30)
    # the official Python SDK over wss://, trusting the certificate through SSL_CERT_FILE alone
    sdk = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import asyncio, sys\n"
        "from openai import AsyncOpenAI\n"
        "async def main():\n"
        f"    client = AsyncOpenAI(api_key='{API_KEY}', "
        f"websocket_base_url='wss://localhost:{port}/v1')\n"
        "    async with client.realtime.connect(model='gpt-realtime') as connection:\n"
        "        print((await connection.recv()).type)\n"
        "asyncio.run(main())\n",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SSL_CERT_FILE": ca_path},
    )
    sdk_out, sdk_err = await asyncio.wait_for(sdk.communicate(), 60)
    code, _, err = await rtrec.stop(signal.SIGTERM)
    assert sdk_out.decode().strip() == "session.created", sdk_err.decode()[-2000:]
    assert node_out.decode().strip() == "upgraded 101", node_err.decode()
    assert refused_out.decode().startswith("error ")
    assert code == 0, err


async def test_tls_with_a_broken_cached_key_makes_new_files_and_starts(tmp_path: Path) -> None:
    cached = local_certificate(tmp_path / "tls")
    cached.key.write_bytes(b"not a key")
    rtrec = await start_record("--db", str(tmp_path / "r.db"), "--listen", "127.0.0.1:0",
                               "--tls", env={"RTREC_TLS_DIR": str(tmp_path / "tls")})
    assert (await rtrec.wait_listening()).startswith("wss://")
    code, _, err = await rtrec.stop(signal.SIGINT)
    assert code == 0, err
    assert cached.key.read_bytes() != b"not a key"
