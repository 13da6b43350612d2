"""Live sessions through the recording proxy: the log is the wire, both ways, and the session
says it is Live, which session it is (session.started) and what it belongs to (fork, sideband).

The fake Live upstream plays the API, the scripted Live client the app; rtrec record sits
between them with its ordinary --upstream (a Realtime URL): Live paths go beside it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from test_proxy import Recorder, start_proxy

from recorder.fake.live import LIVE_SCENARIOS
from recorder.fake.live_server import FakeLiveUpstream, play_live_client
from recorder.redact import REDACTED
from recorder.store import EventLog, StoredFrame, open_log
from recorder.wire import Direction

KEY = "sk-live-scenario-key-0123456789"
PARENT = "live_u0_ParentSessionOfTheSideband0"


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EventLog]:
    event_log = await open_log(str(tmp_path / "rec.db"), flush_interval=0.01)
    yield event_log
    await event_log.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeLiveUpstream]:
    async with FakeLiveUpstream(pace=0) as upstream:
        yield upstream


@pytest.fixture
async def recorder(log: EventLog, fake: FakeLiveUpstream) -> AsyncIterator[Recorder]:
    rec = await start_proxy(log, fake.origin)  # --upstream ws://127.0.0.1:<port>/v1/realtime
    yield rec
    await rec.proxy.close()


async def _frames(log: EventLog, sid: str) -> list[StoredFrame]:
    return [frame async for batch in log.read(sid) for frame in batch]


def _path(scenario: str) -> str:
    return f"/v1/live/sessions/{PARENT}/attach" if scenario == "sideband" else \
        f"/v1/live/sessions?scenario={scenario}"


@pytest.mark.parametrize("scenario", sorted(LIVE_SCENARIOS))
async def test_a_live_scenario_is_recorded_byte_for_byte(
    recorder: Recorder, fake: FakeLiveUpstream, log: EventLog, scenario: str
) -> None:
    result = await play_live_client(recorder.url + _path(scenario), scenario, pace=0,
                                    api_key=KEY, parent_id=PARENT)
    await recorder.settled()
    [played] = fake.sessions
    assert played.completed, played.error
    [info] = await log.list_sessions()
    frames = await _frames(log, info.id)
    assert [f.data for f in frames if f.direction is Direction.SERVER] == [
        f.data for f in result.received]
    assert [f.data for f in frames if f.direction is Direction.CLIENT] == [
        f.data for f in played.received]
    assert [f.data for f in result.sent] == [f.data for f in played.received]
    assert (info.protocol, info.model, info.status) == ("live", "gpt-live-1", "complete")
    assert info.upstream_id == played.session_id
    if scenario == "sideband":
        assert (info.connection, info.parent_id, info.upstream_id) == ("attach", PARENT, PARENT)
    else:
        assert (info.connection, info.parent_id) == ("primary", None)
    assert info.closed_by == "server"  # Live's server closes after session.closed
    assert f"protocol live, {info.upstream_id}" in recorder.out.getvalue() + \
        recorder.err.getvalue() or scenario == "sideband"


async def test_a_fork_records_the_session_it_was_made_from(
    recorder: Recorder, fake: FakeLiveUpstream, log: EventLog
) -> None:
    url = f"{recorder.url}/v1/live/sessions/{PARENT}/fork?scenario=spoken_turn"
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url, headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_str('{"type":"session.start","session":{}}')
        started = json.loads((await ws.receive()).data)
    await recorder.settled()
    [info] = await log.list_sessions()
    assert started["type"] == "session.started" and started["session"]["id"] != PARENT
    assert (info.protocol, info.connection, info.parent_id) == ("live", "fork", PARENT)
    assert info.upstream_id == started["session"]["id"] == fake.sessions[0].session_id
    assert info.model == "gpt-live-1"  # an empty session.start: the model from session.started
    assert f"fork of {PARENT}, now {info.upstream_id}" in recorder.out.getvalue()


async def test_azure_live_goes_to_azure_live_beside_the_realtime_upstream(
    log: EventLog, fake: FakeLiveUpstream
) -> None:
    rec = await start_proxy(log, fake.origin, path="/openai/realtime")
    try:
        result = await play_live_client(f"{rec.url}/openai/v1/live/sessions", "close", pace=0,
                                        api_key=KEY)
        await rec.settled()
    finally:
        await rec.proxy.close()
    [info] = await log.list_sessions()
    assert fake.sessions[0].completed
    assert len(await _frames(log, info.id)) == len(result.received) + len(result.sent)
    assert info.protocol == "live"


async def test_the_handshake_key_never_reaches_the_log(
    recorder: Recorder, fake: FakeLiveUpstream, log: EventLog, tmp_path: Path
) -> None:
    start = {"type": "session.start", "session": {
        "model": "gpt-live-1", "instructions": f"the key is {KEY}, say it"}}
    async with aiohttp.ClientSession() as http, http.ws_connect(
        f"{recorder.url}/v1/live/sessions?scenario=close",
        headers={"Authorization": f"Bearer {KEY}"},
    ) as ws:
        await ws.send_str(json.dumps(start))
        assert json.loads((await ws.receive()).data)["type"] == "session.started"
    await recorder.settled()
    assert KEY in fake.sessions[0].received[0].data.decode()  # forwarded unchanged
    [info] = await log.list_sessions()
    [first, *_] = await _frames(log, info.id)
    assert KEY not in first.data.decode() and REDACTED in first.data.decode()
    await log.flush()
    assert KEY.encode() not in (tmp_path / "rec.db").read_bytes()
    assert info.model == "gpt-live-1"


async def test_a_first_frame_that_is_not_session_start_is_recorded_and_said(
    recorder: Recorder, fake: FakeLiveUpstream, log: EventLog
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(
        f"{recorder.url}/v1/live/sessions", headers={"Authorization": f"Bearer {KEY}"}
    ) as ws:
        await ws.send_str('{"type":"session.update","session":{}}')
        error = json.loads((await ws.receive()).data)
        await ws.receive()  # the upstream closes (1008)
    await recorder.settled()
    [info] = await log.list_sessions()
    frames = await _frames(log, info.id)
    assert [(f.direction, f.type) for f in frames] == [
        (Direction.CLIENT, "session.update"), (Direction.SERVER, "error")]
    assert error["type"] == "error"
    assert info.protocol == "live" and info.upstream_id is None
    assert ("Live session: the client's first frame is session.update, not session.start "
            "(recorded as it is)") in recorder.out.getvalue()


async def test_live_http_calls_pass_through_unrecorded(
    recorder: Recorder, fake: FakeLiveUpstream, log: EventLog
) -> None:
    body = {"session": {"model": "gpt-live-1"}, "transport": {"type": "webrtc", "sdp": "v=0"}}
    async with aiohttp.ClientSession() as http, http.post(
        f"{recorder.url.replace('ws', 'http', 1)}/v1/live/sessions", json=body,
        headers={"Authorization": f"Bearer {KEY}"},
    ) as answer:
        created = await answer.json()
    assert answer.status == 200 and created["transport"]["type"] == "webrtc"
    assert fake.http_calls == ["POST /v1/live/sessions"]
    assert await log.list_sessions() == []


class SlowToOpen:
    """An EventLog whose sessions row opens only when `opened` is set (the store was down)."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        self.opened = asyncio.Event()
        self.failure = None

    async def begin_session(self, protocol: str | None, model: str | None,
                            endpoint: str | None) -> str:
        await self.opened.wait()
        return await self.log.begin_session(protocol, model, endpoint)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


async def test_what_a_live_session_says_before_its_row_opens_reaches_the_row(
    log: EventLog, fake: FakeLiveUpstream
) -> None:
    slow = SlowToOpen(log)
    rec = await start_proxy(slow, fake.origin)
    try:
        client = asyncio.ensure_future(play_live_client(
            f"{rec.url}/v1/live/sessions/{PARENT}/attach", "sideband", pace=0, api_key=KEY,
            parent_id=PARENT))
        while not fake.sessions or len(fake.sessions[0].sent) < 3:  # session.started is past
            await asyncio.sleep(0.01)
        slow.opened.set()
        result = await client
        await rec.settled()
    finally:
        await rec.proxy.close()
    [info] = await log.list_sessions()
    assert (info.protocol, info.model, info.upstream_id, info.connection, info.parent_id) == (
        "live", "gpt-live-1", PARENT, "attach", PARENT)
    assert len(await _frames(log, info.id)) == len(result.received) + len(result.sent)
