"""Issue 18 item 8, the serve half: the official Python SDK's Live client (`client.live`)
replays the bundled Live fixture (fixtures/live_tool_call.db, recorded through `rtrec record`)
against a real `rtrec serve` process, and a Live cassette of the pytest plugin records through
the fake Live upstream and then replays to the SDK.

The app is the SDK driven like one (live_serve_client.play_live): session.start through
`connection.session.start`, the rest through `connection.send`, every frame read with
`connection.recv_bytes()` and parsed by the SDK's own `parse_event`; it answers the tool call
with the call_id the server gave on this connection.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import openai
from live_serve_client import LiveRun, play_live
from websockets.exceptions import ConnectionClosed

from recorder.cassette import Cassette
from recorder.fake.live import build_live
from recorder.fake.live_server import FakeLiveUpstream
from recorder.serve import RecordedFrame, load_recording
from recorder.store import open_log

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "live_tool_call.db"


async def sdk_plays(url: str, frames: Any, **options: Any) -> LiveRun:
    """play_live through client.live.connect() at websocket_base_url `url`."""
    client = openai.AsyncOpenAI(api_key="sk-test", websocket_base_url=url)
    async with client.live.connect() as connection:
        async def send(event: dict[str, Any]) -> None:
            if event["type"] == "session.start":
                await connection.session.start(session=event["session"],
                                               event_id=event["event_id"])
            else:
                await connection.send(event)  # type: ignore[arg-type]

        async def receive() -> bytes | None:
            try:
                data: bytes = await connection.recv_bytes()
            except ConnectionClosed:
                return None
            connection.parse_event(data)  # the SDK's own parsing takes every frame
            return data

        return await play_live(list(frames), send, receive, **options)


async def fixture_frames() -> tuple[RecordedFrame, ...]:
    async with await open_log(str(FIXTURE), create=False) as event_log:
        return (await load_recording(event_log)).frames


async def test_the_sdk_live_client_replays_the_fixture_against_rtrec_serve() -> None:
    frames = await fixture_frames()
    process = subprocess.Popen(
        [sys.executable, "-c", "from recorder.cli import main; main()", "serve", str(FIXTURE),
         "--listen", "127.0.0.1:0", "--speed", "asap"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert process.stdout is not None
        banner = [await asyncio.to_thread(process.stdout.readline) for _ in range(3)]
        url = re.search(r'websocket_base_url="([^"]+)"', banner[2]).group(1)  # type: ignore[union-attr]
        runs = [await sdk_plays(url, frames, chunk_bytes=640) for _ in range(2)]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0, err
    assert "(a Live session)" in banner[1] and "client.live.connect()" in banner[2]
    recorded_server = [f for f in frames if f.direction.name == "SERVER"]
    for number, run in enumerate(runs, start=1):
        assert len(run.received) == len(recorded_server)
        assert f"connection {number}: ended: {len(recorded_server)} server frames sent, 4 client " \
            "frames matched, 0 mismatches" in err
    sessions = [run.events("session.started")[0]["session"]["id"] for run in runs]
    assert len(set(sessions)) == 2 and all(s.startswith("live_u0_") for s in sessions)
    assert "not used" not in err


async def test_a_live_cassette_records_through_the_fake_upstream_then_replays(
    tmp_path: Path,
) -> None:
    path = tmp_path / "cassettes" / "live.db"
    frames = build_live("tool_call")
    async with FakeLiveUpstream("tool_call", pace=0) as fake:
        cassette = Cassette(path, "once", upstream=fake.origin + "/v1/realtime",
                            api_key="sk-fake")
        url = await cassette.start()
        try:
            recorded = await sdk_plays(url, frames)
        finally:
            await cassette.stop()
        [played] = fake.sessions
    assert played.completed, played.error
    assert path.exists()
    replaying = Cassette(path, "none")
    url = await replaying.start()
    try:
        replayed = await sdk_plays(url, frames, chunk_bytes=960)
    finally:
        await replaying.stop()
    [result] = replaying.results
    assert result.ok, [m.message for m in result.mismatches]
    assert replaying.problems() == []
    assert len(replayed.received) == len(recorded.received)
    started = [run.events("session.started")[0]["session"]["id"] for run in (recorded, replayed)]
    assert started[0] == played.session_id and started[1] != started[0]
