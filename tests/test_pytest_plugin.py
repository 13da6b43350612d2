"""The realtime_replay fixture: a user's receiver tested offline against a recorded session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "barge_in.db"

USER_TESTS = '''
from recorder import RealtimeEventReceiver


class Counter(RealtimeEventReceiver):
    def __init__(self):
        super().__init__()
        self.statuses = []

    def on_response_done(self, event_id, response):
        self.statuses.append(response.status)


class WrongTruncate(RealtimeEventReceiver):
    def on_response_done(self, event_id, response):
        if response.status == "cancelled":
            self.send({"type": "response.create"})


def test_counts_responses(realtime_replay):
    counter = Counter()
    realtime_replay("session.db", counter)
    assert counter.statuses == ["cancelled", "completed"]


def test_divergence_fails_the_test(realtime_replay):
    realtime_replay("session.db", WrongTruncate())
'''


def test_realtime_replay_fixture_drives_a_receiver_and_reports_divergence(
    pytester: pytest.Pytester,
) -> None:
    shutil.copy(FIXTURE, pytester.path / "session.db")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*DivergenceError: session * the receiver sent an event while handling seq *"
        "but the recording has no further client event*",
    ])


# -- cassette tests as a user writes them: async, strict mode, a real voice client -----------

BARGE_IN_TESTS = '''
import json

import pytest
from openai import AsyncOpenAI


async def barge_in(url, audio_end_ms):
    client = AsyncOpenAI(api_key="test", websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        for _ in range(3):
            await connection.recv()
        await connection.send({"type": "conversation.item.truncate", "item_id": "item_assistant_1",
                               "content_index": 0, "audio_end_ms": audio_end_ms})
        assert (await connection.recv()).type == "conversation.item.truncated"


async def test_played_433(realtime_url):
    await barge_in(realtime_url, 433)


async def test_played_520(realtime_url):
    await barge_in(realtime_url, 520)


@pytest.mark.realtime_cassette(tolerance={"audio_end_ms": 100})
async def test_played_520_wide(realtime_url):
    await barge_in(realtime_url, 520)


@pytest.mark.realtime_cassette(exact=["audio_end_ms"])
async def test_played_433_exact(realtime_url):
    await barge_in(realtime_url, 433)
'''

MISMATCH_520 = (
    "realtime cassette */cassettes/test_app/test_played_520.db: session *, client frame seq 4: "
    'expected client event "conversation.item.truncate", received '
    '"conversation.item.truncate"; 1 field differs: audio_end_ms: expected 430, received 520 '
    "(more than the tolerance of 50)."
)


def barge_in_cassette(path: Path) -> None:
    from test_serve_matching import barge_in_frames

    from recorder.testing import record_frames

    path.parent.mkdir(parents=True, exist_ok=True)
    record_frames(path, barge_in_frames())


@pytest.fixture
def barge_in_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: the test file and its cassettes, no asyncio_mode (strict mode)."""
    pytester.makepyfile(test_app=BARGE_IN_TESTS)
    for name in ("test_played_433", "test_played_520", "test_played_520_wide",
                 "test_played_433_exact"):
        barge_in_cassette(pytester.path / "cassettes" / "test_app" / f"{name}.db")
    return pytester


@pytest.mark.parametrize("plugins", [(), ("-p", "no:asyncio"), ("-p", "no:anyio")])
def test_a_barge_in_client_replays_within_the_tolerance_and_fails_once_beyond_it(
    barge_in_project: pytest.Pytester, plugins: tuple[str, ...]
) -> None:
    result = barge_in_project.runpytest_subprocess("-p", "no:cacheprovider", *plugins)
    result.assert_outcomes(passed=2, failed=2)  # one failure per test, no errors at teardown
    result.stdout.fnmatch_lines([
        "*_ test_played_520 _*",
        MISMATCH_520,
        '  expected: {"type": "conversation.item.truncate", "item_id": "item_assistant_1", '
        '"content_index": 0, "audio_end_ms": 430, "event_id": "evt_rec_1"}',
        '  received: {"type": "conversation.item.truncate", "item_id": "item_assistant_1", '
        '"content_index": 0, "audio_end_ms": 520}',
    ])
    result.stdout.fnmatch_lines([
        "*_ test_played_433_exact _*",
        "*audio_end_ms: expected 430, received 433.",
    ])
    # the mismatch is the report: not the client's connection error beside it
    assert "ConnectionClosed" not in result.stdout.str()
    assert "not natively supported" not in result.stdout.str()
    assert "test_played_520 - realtime cassette" in result.stdout.str()


def test_a_missing_cassette_is_reported_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_app=BARGE_IN_TESTS)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-k", "test_played_433 and not exact"
    )
    result.assert_outcomes(errors=1)
    line = (
        f"no cassette {pytester.path}/cassettes/test_app/test_played_433.db: record it once "
        "with --record-mode=once (this reaches the upstream Realtime API)"
    )
    assert result.stdout.lines.count(line) == 1
    assert "During handling" not in result.stdout.str()
    assert not (pytester.path / "cassettes").exists()


@pytest.mark.parametrize(("options", "line"), [
    ('tolerance={"audio_end_ms": "soon"}',
     "tolerance 'soon' for audio_end_ms is not valid: give a number >= 0 (in the field's own "
     "unit, ms for *_ms fields)"),
    ('match="strcit"', "match 'strcit' is not valid: use strict or lenient"),
])
def test_a_bad_marker_option_is_one_line(
    pytester: pytest.Pytester, options: str, line: str
) -> None:
    pytester.makepyfile(test_app=BARGE_IN_TESTS.replace('tolerance={"audio_end_ms": 100}', options))
    barge_in_cassette(pytester.path / "cassettes" / "test_app" / "test_played_520_wide.db")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "test_played_520_wide")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"@pytest.mark.realtime_cassette: {line}"])


# -- a Live cassette: the user's test drives client.live against the bundled Live fixture ----

LIVE_TESTS = '''
import json

import pytest
from openai import AsyncOpenAI

RECORDED = [json.loads(line) for line in open("live.jsonl")]
START = json.loads(RECORDED[0]["frame"])


async def weather_app(url, output):
    client = AsyncOpenAI(api_key="test", websocket_base_url=url)
    async with client.live.connect() as connection:
        await connection.session.start(session=START["session"])
        async for event in connection:
            nested = event.event["type"] if event.type == "response.event" else None
            if nested == "response.output_item.done":
                call_id = event.event["item"]["call_id"]
                await connection.send({"type": "response.item.create", "item": {
                    "type": "function_call_output", "call_id": call_id, "output": output}})
                await connection.send({"type": "response.create"})
            if nested == "response.completed" and event.event["response"]["previous_response_id"]:
                await connection.send({"type": "session.close"})
            if event.type == "session.closed":
                return event.reason


@pytest.mark.realtime_cassette(path="live.db", ignore=["audio"])
async def test_the_weather_app(realtime_url):
    assert await weather_app(realtime_url, '{"temp_c":21,"sky":"clear"}') == "close_requested"


@pytest.mark.realtime_cassette(path="live.db", ignore=["audio"])
async def test_a_changed_tool_output(realtime_url):
    await weather_app(realtime_url, '{"temp_c":30}')
'''


def test_a_live_cassette_serves_a_live_client_and_fails_a_changed_command(
    pytester: pytest.Pytester,
) -> None:
    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    shutil.copy(fixtures / "live_tool_call.db", pytester.path / "live.db")
    shutil.copy(fixtures / "live_tool_call.jsonl", pytester.path / "live.jsonl")
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_live_user=LIVE_TESTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*realtime cassette live.db: session *, client frame seq *: expected client event "
        '"response.item.create", received "response.item.create"; 1 field differs: '
        "item.output: expected *temp_c*21*, received *temp_c*30*",
    ])
