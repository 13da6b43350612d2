"""The official Python SDK's Live client (`client.live`, openai >= 3.12) recorded through a real
`rtrec record` process to the fake Live upstream: every frame of both directions is in the log
byte for byte, and the session is a Live one.

The app here is the SDK itself, driven by the scenario's client side: it sends what the script's
client sends (session.start through `connection.session.start`, the rest through
`connection.send`) and reads with `connection.recv_bytes()` (each parsed by the SDK too), waiting
where the script waits for the server. A sideband goes through `client.live.sideband`, a fork
through `client.live.forks`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai
import pytest
from test_proxy_cli import no_stray_process, start_record  # noqa: F401  (a fixture, autouse)
from websockets.exceptions import ConnectionClosed

from recorder.fake.live import build_live
from recorder.fake.live_server import FakeLiveUpstream, side_script
from recorder.jsontext import frame_type
from recorder.store import open_log
from recorder.wire import Direction, Frame

KEY = "sk-live-sdk-key-0123456789abcdef"
PARENT = "live_u0_TheCallTheServerObserves0"


async def _drive(connection: Any, script: list[Frame]) -> list[bytes]:
    """Play the script's client side through an SDK connection; what it received, in order."""
    received: list[bytes] = []

    async def receive() -> bytes:
        data: bytes = await connection.recv_bytes()
        connection.parse_event(data)  # the SDK's own parsing takes every frame
        received.append(data)
        return data

    for frame in script:
        event = json.loads(frame.data)
        if frame.direction is Direction.CLIENT:
            if event["type"] == "session.start":
                await connection.session.start(session=event["session"],
                                               event_id=event["event_id"])
            else:
                await connection.send(event)
            continue
        while frame_type(await receive()) != event["type"]:
            pass
    try:  # after session.closed the server closes the socket
        while True:
            await receive()
    except ConnectionClosed:
        pass
    return received


@pytest.mark.parametrize("scenario", ["tool_call", "sideband", "fork"])
async def test_the_sdk_live_client_is_recorded_byte_for_byte(
    tmp_path: Path, scenario: str
) -> None:
    db = tmp_path / "live.db"
    async with FakeLiveUpstream("tool_call", pace=0) as fake:
        rtrec = await start_record("--db", str(db), "--listen", "127.0.0.1:0",
                                   "--upstream", fake.origin + "/v1/realtime",
                                   env={"OPENAI_API_KEY": ""})
        listening = await rtrec.wait_listening()  # ws://127.0.0.1:<port>/v1/realtime
        client = openai.AsyncOpenAI(api_key=KEY,
                                    websocket_base_url=listening.removesuffix("/realtime"))
        if scenario == "sideband":
            script = side_script(build_live("sideband", parent_id=PARENT), Direction.CLIENT)
            async with client.live.sideband.connect(session_id=PARENT) as connection:
                received = await _drive(connection, script)
        elif scenario == "fork":  # the upstream's scenario (tool_call), as a fork of PARENT
            script = side_script(build_live("tool_call", connection="fork", parent_id=PARENT),
                                 Direction.CLIENT)
            async with client.live.forks.connect(session_id=PARENT) as connection:
                received = await _drive(connection, script)
        else:
            script = side_script(build_live(scenario), Direction.CLIENT)
            async with client.live.connect() as connection:
                received = await _drive(connection, script)
        [played] = fake.sessions
        code, out, err = await rtrec.stop(2)  # SIGINT: flush and exit
    assert played.completed, played.error
    assert code == 0, err
    assert len(received) > 40 and played.received  # audio, transcripts, the close
    async with await open_log(str(db), create=False) as log:
        [info] = await log.list_sessions()
        frames = [frame async for batch in log.read(info.id) for frame in batch]
    assert [f.data for f in frames if f.direction is Direction.CLIENT] == [
        f.data for f in played.received]
    assert [f.data for f in frames if f.direction is Direction.SERVER] == received == [
        f.data for f in played.sent]
    assert (info.protocol, info.model, info.status) == ("live", "gpt-live-1", "complete")
    assert info.upstream_id == played.session_id
    if scenario == "sideband":
        assert (info.connection, info.parent_id) == ("attach", PARENT)
        assert f"sideband of {PARENT}" in out
    elif scenario == "fork":
        assert (info.connection, info.parent_id) == ("fork", PARENT)
        assert info.upstream_id != PARENT
        assert f"fork of {PARENT}, now {played.session_id}" in out
    else:
        assert (info.connection, info.parent_id) == ("primary", None)
        assert f"protocol live, {played.session_id}" in out
        # the SDK's own session.start, as the upstream got it
        assert json.loads(played.received[0].data)["session"]["model"] == "gpt-live-1"
    assert KEY.encode() not in db.read_bytes()
    base = listening.removesuffix("/v1/realtime")
    assert (f"  Live (client.live, the same setting): {base}/v1/live/sessions, forwarded to "
            f"{fake.origin}/v1/live/sessions\n") in out
