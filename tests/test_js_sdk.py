"""The official JS SDK (`openai` on npm, OpenAIRealtimeWS) recorded through `rtrec record --tls`.

It is set up exactly as the banner and the README's JS row say: baseURL
https://127.0.0.1:PORT/v1 and NODE_EXTRA_CA_CERTS. The npm packages come from
tests/js/package-lock.json (`npm ci --prefix tests/js`); RTREC_JS_DIR points the test at another
install of tests/js (.ci/latest installs the newest allowed versions into a copy). Without Node
the test is skipped, as the other Node test in tests/test_proxy_cli.py is; with Node but without
the packages it fails and says so.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_proxy_cli import RecordProcess, start_record

from recorder.fake import scenarios
from recorder.fake.script import SessionScript, Speech
from recorder.fake.server import FakeUpstream
from recorder.store import open_log
from recorder.wire import Direction, Opcode

JS_DIR = Path(__file__).parent / "js"
API_KEY = "sk-test-js-sdk-key-0123456789abcdef"
SCENARIO = "js_sdk_one_response"


def js_project(directory: Path) -> Path:
    """The npm project the Node script runs in; fails the test when its packages are missing."""
    missing = [name for name in ("openai", "ws")
               if not (directory / "node_modules" / name / "package.json").is_file()]
    if missing:
        pytest.fail(f"{directory}/node_modules lacks {', '.join(missing)}: "
                    "run `npm ci --prefix tests/js` (installs tests/js/package-lock.json)",
                    pytrace=False)
    return directory


def _one_response(s: SessionScript) -> None:
    """What the Node script asks for after its session.update: response.create, a spoken reply."""
    t = s.now + s.jitter(20, 80)
    s.client(t, s.dialect.response_create())
    s.respond([Speech("Bonjour, je suis là.", 800)], t, client_requested=True)


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeUpstream]:
    monkeypatch.setitem(scenarios.SCENARIOS, SCENARIO, _one_response)
    async with FakeUpstream(SCENARIO, pace=0) as upstream:
        yield upstream


async def _js_settings(rtrec: RecordProcess) -> tuple[str, str]:
    """The JS SDK's baseURL and NODE_EXTRA_CA_CERTS value, read off the banner."""
    assert rtrec.process.stdout is not None
    base_url = ca_file = ""
    while not ca_file:
        line = (await asyncio.wait_for(rtrec.process.stdout.readline(), 30)).decode()
        assert line, "rtrec record exited before printing the JS SDK setting"
        rtrec.out.append(line)
        if "JS SDK (openai on npm): new OpenAI({ baseURL: " in line:
            base_url = line.split('baseURL: "', 1)[1].split('"', 1)[0]
        if "export NODE_EXTRA_CA_CERTS=" in line:
            ca_file = line.split("export NODE_EXTRA_CA_CERTS=", 1)[1].strip()
    return base_url, ca_file


def test_missing_node_modules_fails_with_the_command_to_run(tmp_path: Path) -> None:
    (tmp_path / "node_modules" / "ws").mkdir(parents=True)
    (tmp_path / "node_modules" / "ws" / "package.json").write_text("{}")
    with pytest.raises(pytest.fail.Exception) as failure:
        js_project(tmp_path)
    assert str(failure.value) == (
        f"{tmp_path}/node_modules lacks openai: run `npm ci --prefix tests/js` "
        "(installs tests/js/package-lock.json)")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs Node to run the JS SDK")
async def test_js_sdk_session_is_recorded_byte_for_byte_without_the_key(
    fake: FakeUpstream, tmp_path: Path
) -> None:
    project = js_project(Path(os.environ.get("RTREC_JS_DIR") or JS_DIR).resolve())
    db = tmp_path / "rec.db"
    rtrec = await start_record("--db", str(db), "--listen", "127.0.0.1:0", "--tls",
                               "--upstream", fake.url,
                               env={"RTREC_TLS_DIR": str(tmp_path / "tls"), "OPENAI_API_KEY": ""})
    try:
        url = await rtrec.wait_listening()
        base_url, ca_file = await _js_settings(rtrec)
        assert base_url == url.replace("wss://", "https://") + "/v1"
        assert base_url.startswith("https://127.0.0.1:")
        node = await asyncio.create_subprocess_exec(
            "node", str(project / "realtime.mjs"), cwd=project,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": ca_file,
                 "RTREC_BASE_URL": base_url, "RTREC_API_KEY": API_KEY},
        )
        node_out, node_err = await asyncio.wait_for(node.communicate(), 60)
        assert node.returncode == 0, node_err.decode()[-2000:]
        # the client hung up: stop rtrec once it says the session is closed
        assert rtrec.process.stdout is not None
        while not any(" closed by " in line for line in rtrec.out):
            line = (await asyncio.wait_for(rtrec.process.stdout.readline(), 30)).decode()
            assert line, "rtrec record exited before the session closed"
            rtrec.out.append(line)
        code, out, err = await rtrec.stop(signal.SIGTERM)
    finally:
        if rtrec.process.returncode is None:
            rtrec.process.kill()
            await rtrec.process.wait()
    assert code == 0, err
    seen = json.loads(node_out)
    sent = [text.encode() for text in seen["sent"]]
    received = [(Opcode.BINARY if f["binary"] else Opcode.TEXT, base64.b64decode(f["data"]))
                for f in seen["received"]]

    # The SDK did what the script asks and the fake played its whole script to it, unchanged.
    assert [json.loads(s)["type"] for s in sent] == ["session.update", "response.create"]
    assert seen["types"][0] == "session.created" and seen["types"][-1] == "response.done"
    scripted = scenarios.build(SCENARIO, model="gpt-realtime")
    assert received == [(f.opcode, f.data) for f in scripted if f.direction is Direction.SERVER]
    [played] = fake.sessions
    assert played.completed and not played.unexpected
    assert [f.data for f in played.received] == sent
    assert seen["close"][0] == 1000

    # The recording holds both sides byte for byte, and the session as it ended.
    log = await open_log(str(db))
    try:
        [info] = await log.list_sessions()
        frames = [frame async for batch in log.read(info.id) for frame in batch]
    finally:
        await log.close()
    assert [f.data for f in frames if f.direction is Direction.CLIENT] == sent
    assert [(f.opcode, f.data) for f in frames if f.direction is Direction.SERVER] == received
    assert (info.status, info.closed_by, info.close_code, info.close_reason, info.model) == (
        "complete", "client", 1000, "OK", "gpt-realtime")

    # The key went upstream (the fake refuses a handshake without one) but nowhere else.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("rec.db*"))
    assert b"response.done" in stored
    assert API_KEY.encode() not in stored
    assert API_KEY not in out + err
