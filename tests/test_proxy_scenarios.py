"""Every fake scenario, GA and beta, recorded through the proxy: the log is the wire, both ways.

recorder.fake plays both sides of a scripted session (FakeUpstream as the API, play_client as
the app); rtrec record sits between them. The log must hold exactly what each side received from
the other, in order and byte for byte (after redaction of the key the client used).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_proxy import Recorder, start_proxy

from recorder.fake.client import play_client
from recorder.fake.scenarios import SCENARIOS
from recorder.fake.server import FakeUpstream
from recorder.redact import redact_frame
from recorder.store import EventLog, open_log
from recorder.wire import Direction

KEY = "sk-scenario-key-0123456789"


@pytest.fixture
async def log(tmp_path: Path) -> AsyncIterator[EventLog]:
    event_log = await open_log(str(tmp_path / "rec.db"), flush_interval=0.01)
    yield event_log
    await event_log.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream(pace=0) as upstream:
        yield upstream


@pytest.fixture
async def recorder(log: EventLog, fake: FakeUpstream) -> AsyncIterator[Recorder]:
    origin = fake.url.removesuffix("/v1/realtime")
    rec = await start_proxy(log, origin)
    yield rec
    await rec.proxy.close()


@pytest.mark.parametrize("protocol", ["ga", "beta"])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
async def test_scenario_recorded_byte_for_byte(
    recorder: Recorder, fake: FakeUpstream, log: EventLog, scenario: str, protocol: str
) -> None:
    result = await play_client(f"{recorder.url}/v1/realtime?scenario={scenario}", scenario,
                               protocol=protocol, pace=0, api_key=KEY, model="gpt-realtime")
    await recorder.settled()
    [played] = fake.sessions
    assert played.completed, played.error
    [info] = await log.list_sessions()
    frames = []
    async for batch in log.read(info.id):
        frames += batch
    server = [f.data for f in frames if f.direction is Direction.SERVER]
    client = [f.data for f in frames if f.direction is Direction.CLIENT]
    assert server == [redact_frame(f.data, [KEY]) for f in result.received]
    assert client == [redact_frame(f.data, [KEY]) for f in played.received]
    assert len(client) == result.sent
    assert info.protocol == protocol
    assert info.model == "gpt-realtime"
    assert info.status == "complete"
    # time runs forward within each direction
    for direction in Direction:
        times = [f.t_ns for f in frames if f.direction is direction]
        assert times == sorted(times)
