"""Record modes (none, once, new_episodes, all) and the pytest plugin, against a local upstream."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web
from openai import AsyncOpenAI

from recorder.cassette import Cassette, check_record_mode
from recorder.errors import NoCassette, RtrecError
from recorder.fake.scenarios import build
from recorder.fake.server import FakeUpstream
from recorder.jsontext import frame_type
from recorder.localserver import LocalServer
from recorder.store import open_log
from recorder.wire import Direction, Frame

pytest_plugins = ["pytester"]


class EchoUpstream:
    """A tiny stand-in for the Realtime API: session.created, then one answer per client event.

    Each connection gets its own session id, so tests can tell a recorded episode from a new one.
    """

    def __init__(self) -> None:
        self.connections = 0
        self.authorizations: list[str] = []
        app = web.Application()
        app.router.add_get("/v1/realtime", self.handle)
        self.server = LocalServer(app)

    @property
    def url(self) -> str:
        return self.server.url("/v1/realtime")

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.connections += 1
        number = self.connections
        self.authorizations.append(request.headers.get("Authorization", ""))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        with self.server.track(ws):
            await self._answer(ws, number)
        return ws

    async def _answer(self, ws: web.WebSocketResponse, number: int) -> None:
        await ws.send_str(
            json.dumps(
                {
                    "type": "session.created",
                    "event_id": f"event_{number}_0",
                    "session": {"id": f"sess_{number}", "type": "realtime"},
                }
            )
        )
        answered = 0
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                answered += 1
                kind = json.loads(message.data).get("type")
                await ws.send_str(
                    json.dumps(
                        {
                            "type": "rate_limits.updated",
                            "event_id": f"event_{number}_{answered}",
                            "rate_limits": [{"name": kind}],
                        }
                    )
                )


@pytest.fixture
async def upstream() -> AsyncIterator[EchoUpstream]:
    server = EchoUpstream()
    await server.start()
    yield server
    await server.stop()


async def talk(url: str, events: list[dict[str, Any]], key: str = "sk-test-key") -> list[bytes]:
    """Connect with the official SDK, read session.created, send each event, read its answer."""
    client = AsyncOpenAI(api_key=key, websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        received = [await connection.recv_bytes()]
        for event in events:
            await connection.send(event)
            received.append(await connection.recv_bytes())
    return received


EVENTS = [{"type": "response.create"}, {"type": "input_audio_buffer.clear"}]


async def session_count(path: Path) -> list[tuple[int, int]]:
    event_log = await open_log(str(path))
    try:
        return [(s.client_frames, s.server_frames) for s in await event_log.list_sessions()]
    finally:
        await event_log.close()


async def record_once(path: Path, upstream: EchoUpstream) -> list[bytes]:
    cassette = Cassette(path, "once", upstream=upstream.url)
    url = await cassette.start()
    try:
        return await talk(url, EVENTS)
    finally:
        await cassette.stop()


async def test_none_without_a_cassette_fails_saying_how_to_record(tmp_path: Path) -> None:
    cassette = Cassette(tmp_path / "cassettes" / "t.db", "none")
    with pytest.raises(RtrecError) as error:
        await cassette.start()
    assert str(error.value) == (
        f"no cassette {tmp_path / 'cassettes' / 't.db'}: record it once with "
        "--record-mode=once (this reaches the upstream Realtime API)"
    )
    assert not (tmp_path / "cassettes").exists()


async def test_once_records_a_missing_cassette_through_the_proxy(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "cassettes" / "mod" / "test.db"
    received = await record_once(path, upstream)
    assert upstream.connections == 1
    assert upstream.authorizations == ["Bearer sk-test-key"]
    assert [json.loads(r)["type"] for r in received] == ["session.created"] + [
        "rate_limits.updated"
    ] * 2
    assert await session_count(path) == [(2, 3)]
    assert b"sk-test-key" not in path.read_bytes()


async def test_once_with_a_cassette_serves_it_without_the_upstream(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "test.db"
    recorded = await record_once(path, upstream)
    await upstream.stop()  # from here on, the network is gone
    cassette = Cassette(path, "once", upstream=upstream.url)
    url = await cassette.start()
    try:
        served = await talk(url, [{**e, "event_id": "evt_other"} for e in EVENTS])
        with pytest.raises(Exception):  # noqa: B017 (a second episode was never recorded)
            await talk(url, EVENTS)
        results = await asyncio.to_thread(cassette.wait_for_results, 1)
    finally:
        await cassette.stop()
    assert served == recorded
    assert results[0].ok
    assert await session_count(path) == [(2, 3)]


async def test_a_connection_beyond_the_cassette_gets_an_error_saying_what_to_do(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "test.db"
    await record_once(path, upstream)
    cassette = Cassette(path, "none")
    url = await cassette.start()
    try:
        await talk(url, EVENTS)
        client = AsyncOpenAI(api_key="k", websocket_base_url=url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            error = json.loads(await connection.recv_bytes())
    finally:
        await cassette.stop()
    assert error["error"]["code"] == "rtrec_no_recording"
    assert error["error"]["message"] == (
        f"cassette {path} holds 1 session(s) and the test opened connection 2; record-mode "
        "none does not record: rerun with --record-mode=new_episodes to record it"
    )


async def test_new_episodes_serves_what_exists_and_records_the_rest(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "test.db"
    first = await record_once(path, upstream)
    cassette = Cassette(path, "new_episodes", upstream=upstream.url)
    url = await cassette.start()
    try:
        served = await talk(url, EVENTS)
        second = await talk(url, EVENTS[:1])
    finally:
        await cassette.stop()
    assert served == first
    assert upstream.connections == 2  # the first episode never reached the upstream again
    assert json.loads(second[0])["session"]["id"] == "sess_2"
    assert await session_count(path) == [(2, 3), (1, 2)]


async def test_all_records_everything_again(tmp_path: Path, upstream: EchoUpstream) -> None:
    path = tmp_path / "test.db"
    await record_once(path, upstream)
    cassette = Cassette(path, "all", upstream=upstream.url)
    url = await cassette.start()
    try:
        again = await talk(url, EVENTS[:1])
    finally:
        await cassette.stop()
    assert json.loads(again[0])["session"]["id"] == "sess_2"
    assert await session_count(path) == [(1, 2)]


async def test_all_keeps_the_old_cassette_when_re_recording_fails(
    tmp_path: Path, upstream: EchoUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "test.db"
    first = await record_once(path, upstream)
    await upstream.stop()  # the upstream is gone: the new recording cannot be made
    cassette = Cassette(path, "all", upstream=upstream.url)
    url = await cassette.start()
    try:
        with pytest.raises(Exception):  # noqa: B017  (the SDK's own handshake error)
            await talk(url, EVENTS[:1])
    finally:
        await cassette.stop()
    assert cassette.problems(), "the failed re-recording is reported"
    assert "the old cassette is kept" in caplog.text
    assert await session_count(path) == [(2, 3)]
    assert not list(tmp_path.glob("*.rerecording*")), "no half recording left behind"
    served = Cassette(path, "none")
    url = await served.start()
    try:
        assert await talk(url, EVENTS) == first
    finally:
        await served.stop()


async def test_all_without_a_connection_keeps_the_old_cassette(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "test.db"
    await record_once(path, upstream)
    cassette = Cassette(path, "all", upstream=upstream.url)
    await cassette.start()
    await cassette.stop()
    assert await session_count(path) == [(2, 3)]


async def test_strict_matching_applies_to_served_cassettes(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "test.db"
    await record_once(path, upstream)
    cassette = Cassette(path, "none")
    url = await cassette.start()
    try:
        client = AsyncOpenAI(api_key="k", websocket_base_url=url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.recv_bytes()
            await connection.send({"type": "input_audio_buffer.commit"})
            error = json.loads(await connection.recv_bytes())
        results = await asyncio.to_thread(cassette.wait_for_results, 1)
    finally:
        await cassette.stop()
    assert error["error"]["code"] == "rtrec_mismatch"
    assert (
        'expected client event "response.create", received "input_audio_buffer.commit"'
        in (error["error"]["message"])
    )
    assert results[0].closed_on_mismatch


def test_running_serves_from_a_thread_for_sync_callers(tmp_path: Path) -> None:
    with pytest.raises(NoCassette, match="no cassette"), Cassette(tmp_path / "x.db").running():
        pass


def test_record_modes_are_checked() -> None:
    assert check_record_mode("new_episodes") == "new_episodes"
    with pytest.raises(RtrecError, match="--record-mode 'sometimes' is not valid: use none, once"):
        check_record_mode("sometimes")


# -- the pytest plugin, in a pytest run of its own ---------------------------------------------


@pytest.fixture
def threaded_upstream() -> Iterator[EchoUpstream]:
    """The echo upstream on its own loop: the inner pytest run blocks this thread."""
    server = EchoUpstream()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


USER_TEST = """
import json
from openai import OpenAI

def test_talk(realtime_url, realtime_cassette):
    client = OpenAI(api_key="sk-user-key", websocket_base_url=realtime_url)
    with client.realtime.connect(model="gpt-realtime") as connection:
        created = json.loads(connection.recv_bytes())
        connection.send({"type": "response.create"})
        answer = json.loads(connection.recv_bytes())
    assert created["type"] == "session.created"
    assert answer["rate_limits"][0]["name"] == "response.create"
    print("SESSION", created["session"]["id"])
"""


def test_the_plugin_records_once_then_serves_offline(
    pytester: pytest.Pytester, threaded_upstream: EchoUpstream
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_app=USER_TEST)
    cassette = pytester.path / "cassettes" / "test_app" / "test_talk.db"

    missing = pytester.runpytest()
    missing.assert_outcomes(errors=1)
    missing.stdout.fnmatch_lines(
        [f"*no cassette {cassette}: record it once with --record-mode=once*"]
    )

    recorded = pytester.runpytest(
        "-s", "--record-mode=once", f"--realtime-upstream={threaded_upstream.url}"
    )
    recorded.assert_outcomes(passed=1)
    assert cassette.exists() and threaded_upstream.connections == 1
    recorded.stdout.fnmatch_lines(["*SESSION sess_1*"])

    served = pytester.runpytest("-s", f"--realtime-upstream={threaded_upstream.url}")
    served.assert_outcomes(passed=1)
    served.stdout.fnmatch_lines(["*SESSION sess_1*"])
    assert threaded_upstream.connections == 1  # mode none: the upstream was not contacted

    rerecorded = pytester.runpytest(
        "-s", "--record-mode=all", f"--realtime-upstream={threaded_upstream.url}"
    )
    rerecorded.assert_outcomes(passed=1)
    rerecorded.stdout.fnmatch_lines(["*SESSION sess_2*"])


def test_the_marker_chooses_path_and_mode(
    pytester: pytest.Pytester, threaded_upstream: EchoUpstream
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        test_marked=USER_TEST.replace(
            "def test_talk",
            f"import pytest\n\n@pytest.mark.realtime_cassette(path='shared.db', "
            f"record_mode='new_episodes', upstream='{threaded_upstream.url}')\ndef test_talk",
        )
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    assert (pytester.path / "shared.db").exists()
    assert not (pytester.path / "cassettes").exists()


# -- a realistic session recorded from the fake upstream, then served offline -------------------


async def follow(url: str, frames: list[Frame]) -> list[bytes]:
    """Play the client side of a scenario with the official SDK; returns the server frames."""
    received: list[bytes] = []
    client = AsyncOpenAI(api_key="sk-fake-upstream-key", websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        for f in frames:
            if f.direction is Direction.CLIENT:
                await connection.send(json.loads(f.data))
            else:
                received.append(await connection.recv_bytes())
    return received


async def test_a_scenario_recorded_from_the_fake_upstream_replays_offline(tmp_path: Path) -> None:
    frames = build("function_call")
    path = tmp_path / "cassettes" / "fc.db"
    async with FakeUpstream("function_call", pace=0) as upstream:
        cassette = Cassette(path, "once", upstream=upstream.url)
        url = await cassette.start()
        try:
            live = await follow(url, frames)
        finally:
            await cassette.stop()
    # the fake upstream makes fresh ids per connection: compare the story, not the bytes
    recorded_types = [frame_type(f.data) for f in frames if f.direction is Direction.SERVER]
    assert [frame_type(data) for data in live] == recorded_types

    cassette = Cassette(path, "none")  # the upstream is gone
    url = await cassette.start()
    try:
        served = await follow(url, frames)
        results = await asyncio.to_thread(cassette.wait_for_results, 1)
    finally:
        await cassette.stop()
    assert served == live
    assert results[0].ok
    assert results[0].client_frames_matched == sum(
        1 for f in frames if f.direction is Direction.CLIENT
    )
    assert b"sk-fake-upstream-key" not in path.read_bytes()


def test_a_strict_mismatch_fails_the_test_even_if_the_client_ignores_it(
    pytester: pytest.Pytester, threaded_upstream: EchoUpstream
) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_app=USER_TEST)
    pytester.runpytest("--record-mode=once", f"--realtime-upstream={threaded_upstream.url}")
    pytester.makepyfile(
        test_app=USER_TEST.replace('"response.create"}', '"input_audio_buffer.clear"}').replace(
            'assert answer["rate_limits"]', "# the client ignores the error: assert answer["
        )
    )
    diverged = pytester.runpytest()
    # one failure, at the test itself, not a pass and then an error at teardown
    diverged.assert_outcomes(failed=1)
    diverged.stdout.fnmatch_lines(
        [
            "realtime cassette *test_talk.db: session *, client frame seq 2: expected client "
            'event "response.create", received "input_audio_buffer.clear"; 1 field differs: '
            'type: expected "response.create", received "input_audio_buffer.clear". The '
            "recording has no later client frame.",
            '  expected: {"type": "response.create"}',
            '  received: {"type": "input_audio_buffer.clear"}',
        ]
    )


async def record_from_a_gone_upstream(path: Path, mode: str) -> tuple[Cassette, str]:
    """A cassette that records from a port nothing listens on any more; (it, that URL)."""
    gone = EchoUpstream()
    await gone.start()
    await gone.stop()
    cassette = Cassette(path, check_record_mode(mode), upstream=gone.url)
    url = await cassette.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 (the SDK reports the HTTP 502 its own way)
            await talk(url, EVENTS)
    finally:
        await cassette.stop()
    return cassette, gone.url


async def test_an_unreachable_upstream_is_a_problem_naming_it(tmp_path: Path) -> None:
    cassette, gone_url = await record_from_a_gone_upstream(tmp_path / "t.db", "once")
    assert cassette.problems() == [
        f"cassette {tmp_path / 't.db'}: record-mode once records connection 1 from {gone_url}, "
        "which is unreachable: check --realtime-upstream and the API key"
    ]


async def test_stopping_while_a_recorded_connection_is_open_keeps_its_frames(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "t.db"
    cassette = Cassette(path, "once", upstream=upstream.url)
    url = await cassette.start()
    client = AsyncOpenAI(api_key="k", websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.recv_bytes()
        await connection.send({"type": "response.create"})
        await connection.recv_bytes()
        await cassette.stop()  # the test ends with the socket still open
    event_log = await open_log(str(path))
    try:
        (session,) = await event_log.list_sessions()
    finally:
        await event_log.close()
    assert (session.client_frames, session.server_frames) == (1, 2)
    assert session.closed_by == "proxy"


@pytest.mark.parametrize("mode", ["once", "new_episodes", "all"])
async def test_a_failed_recording_creates_no_cassette_and_no_folder(
    tmp_path: Path, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "cassettes" / "test_app" / "test_talk.db"
    await record_from_a_gone_upstream(path, mode)
    assert not (tmp_path / "cassettes").exists(), list(tmp_path.rglob("*"))
    assert f"cassette {path}: recording failed under record-mode {mode}; no cassette written" \
        in caplog.text


async def test_a_run_that_opens_no_connection_creates_no_cassette(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    (tmp_path / "cassettes").mkdir()  # the user's own folder stays
    path = tmp_path / "cassettes" / "test_app" / "test_talk.db"
    cassette = Cassette(path, "once", upstream=upstream.url)
    await cassette.start()
    await cassette.stop()
    assert list((tmp_path / "cassettes").iterdir()) == []


async def test_once_into_an_empty_cassette_records_and_replaces_it(
    tmp_path: Path, upstream: EchoUpstream
) -> None:
    path = tmp_path / "test.db"
    empty = await open_log(str(path))  # a cassette file that holds no session
    await empty.close()
    await record_once(path, upstream)
    assert await session_count(path) == [(2, 3)]
    assert not list(tmp_path.glob("*.rerecording*"))
