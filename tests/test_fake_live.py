"""recorder.fake.live and live_server: Live scenarios shaped as LIVE.md describes the protocol."""

from __future__ import annotations

import base64
import itertools
import json

import aiohttp
import pytest

from recorder.errors import RtrecError
from recorder.fake.live import LIVE_SCENARIOS, build_live
from recorder.fake.live_server import FakeLiveUpstream, play_live_client
from recorder.wire import Direction, Frame

PARENT = "live_u0_ParentSessionOfTheSideband0"


def _events(frames: list[Frame]) -> list[tuple[Direction, dict[str, object], int]]:
    return [(f.direction, json.loads(f.data), f.t_ns) for f in frames]


@pytest.mark.parametrize("name", sorted(LIVE_SCENARIOS))
def test_a_scenario_is_the_same_bytes_each_time_and_another_seed_differs(name: str) -> None:
    assert build_live(name) == build_live(name)
    assert build_live(name, seed=1) != build_live(name)


@pytest.mark.parametrize("name", sorted(set(LIVE_SCENARIOS) - {"sideband"}))
def test_a_primary_session_starts_with_session_start_and_ends_with_session_closed(
    name: str,
) -> None:
    events = _events(build_live(name))
    (first_dir, first, _), (second_dir, second, _) = events[0], events[1]
    assert (first_dir, first["type"]) == (Direction.CLIENT, "session.start")
    assert first["session"]["model"] == "gpt-live-1"  # type: ignore[index]
    assert (second_dir, second["type"]) == (Direction.SERVER, "session.started")
    assert second["client_event_id"] == first["event_id"]
    assert str(second["session"]["id"]).startswith("live_u0_")  # type: ignore[index]
    last_dir, last, _ = events[-1]
    assert (last_dir, last["type"], last["reason"]) == (
        Direction.SERVER, "session.closed", "close_requested")
    closes = [e for d, e, _ in events if e["type"] == "session.close"]
    assert len(closes) == 1 and last["client_event_id"] == closes[0]["event_id"]


@pytest.mark.parametrize("name", ["spoken_turn", "tool_call", "close"])
def test_output_audio_is_a_continuous_track_of_100_ms_frames_without_event_ids(
    name: str,
) -> None:
    events = _events(build_live(name))
    audio = [(e, t) for d, e, t in events if e["type"] == "session.output_audio.delta"]
    assert audio and all(set(e) == {"type", "delta"} for e, _ in audio)
    assert {len(base64.b64decode(str(e["delta"]))) for e, _ in audio} == {4800}  # 24 kHz
    gaps = [(b - a) / 1e6 for (_, a), (_, b) in itertools.pairwise(audio)]
    assert min(gaps) > 90 and max(gaps) < 110  # ten a second, never pausing
    close_t = next(t for _, e, t in events if e["type"] == "session.close")
    assert 1 <= sum(t > close_t for _, t in audio) <= 2  # one or two frames after the close
    inputs = [e for d, e, _ in events if e["type"] == "session.input_audio.append"]
    assert inputs and all(d is Direction.CLIENT for d, e, _ in events
                          if e["type"] == "session.input_audio.append")
    assert all("event_id" not in e for e in inputs)


def test_transcripts_are_timed_fragments_and_a_barge_in_only_shows_as_overlap() -> None:
    events = _events(build_live("barge_in"))
    kinds = {e["type"] for _, e, _ in events}
    assert not kinds & {"response.cancel", "conversation.item.truncate"}  # Live has none
    said = {kind: [(e["start_ms"], e["end_ms"], e["delta"]) for _, e, _ in events
                   if e["type"] == f"session.{kind}_transcript.delta"]
            for kind in ("input", "output")}
    user_again = [s for s, _, text in said["input"] if str(text).strip().startswith("Wait")]
    assistant_before = [e for s, e, _ in said["output"] if s < user_again[0]]
    assert max(assistant_before) > user_again[0]  # the assistant was still speaking
    cut = "".join(str(t) for s, _, t in said["output"] if s < user_again[0])
    assert "drifting" not in cut  # and stopped before the end of what it meant to say


def test_the_tool_call_goes_through_the_responses_backend() -> None:
    events = _events(build_live("tool_call"))
    delegation = next(e for _, e, _ in events if e["type"] == "session.delegation.created")
    nested = [e for _, e, _ in events if e["type"] == "response.event"]
    assert {e["delegation_id"] for e in nested} == {delegation["delegation"]["id"]}  # type: ignore[index]
    inner = [e["event"]["type"] for e in nested]  # type: ignore[index]
    assert inner[0] == "response.created" and inner.count("response.completed") == 2
    added = next(e["event"]["item"] for e in nested  # type: ignore[index]
                 if e["event"]["type"] == "response.output_item.added")  # type: ignore[index]
    output = next(e for d, e, _ in events if e["type"] == "response.item.create")
    assert output["item"]["call_id"] == added["call_id"]  # type: ignore[index]
    assert [e["type"] for d, e, _ in events if d is Direction.CLIENT
            and e["type"] != "session.input_audio.append"] == [
        "session.start", "response.item.create", "response.create", "session.close"]


def test_a_sideband_sees_reflected_input_and_timed_output_from_the_server() -> None:
    events = _events(build_live("sideband", parent_id=PARENT))
    assert events[0][1]["type"] == "session.started"
    assert events[0][1]["session"]["id"] == PARENT  # type: ignore[index]
    assert not [e for d, e, _ in events if d is Direction.CLIENT
                and e["type"] in ("session.start", "session.input_audio.append")]
    reflected = [e for d, e, _ in events if e["type"] == "session.input_audio.append"]
    assert reflected and all(d is Direction.SERVER for d, e, _ in events
                             if e["type"] == "session.input_audio.append")
    output = [e for _, e, _ in events if e["type"] == "session.output_audio.delta"]
    assert all(int(e["end_ms"]) - int(e["start_ms"]) == 200 for e in output)  # type: ignore[call-overload]
    assert {len(base64.b64decode(str(e["delta"]))) for e in output} == {9600}


def test_a_fork_starts_with_an_empty_session_start_and_gets_a_new_id() -> None:
    events = _events(build_live("spoken_turn", connection="fork", parent_id=PARENT))
    assert events[0][1] == {"type": "session.start", "event_id": events[0][1]["event_id"],
                            "session": {}}
    assert events[1][1]["session"]["id"] != PARENT  # type: ignore[index]


def test_16_khz_sessions_have_16_khz_frames() -> None:
    events = _events(build_live("close", rate=16000))
    assert events[0][1]["session"]["audio"]["format"] == {  # type: ignore[index]
        "type": "audio/pcm", "rate": 16000}
    audio = [e for _, e, _ in events if e["type"] == "session.output_audio.delta"]
    assert {len(base64.b64decode(str(e["delta"]))) for e in audio} == {3200}


@pytest.mark.parametrize("name", sorted(LIVE_SCENARIOS))
async def test_the_scripted_client_and_the_fake_upstream_play_one_script(name: str) -> None:
    async with FakeLiveUpstream(pace=0) as upstream:
        url = upstream.url + f"/{PARENT}/attach" if name == "sideband" else \
            upstream.url + f"?scenario={name}"
        result = await play_live_client(url, name, pace=0, parent_id=PARENT)
    [played] = upstream.sessions
    assert played.completed, played.error
    assert [f.data for f in result.received] == [f.data for f in played.sent]
    assert [f.data for f in result.sent] == [f.data for f in played.received]
    assert result.close_code == 1000  # the server closes after session.closed
    assert played.connection == ("attach" if name == "sideband" else "primary")


async def test_the_fake_upstream_refuses_a_first_frame_that_is_not_session_start() -> None:
    async with FakeLiveUpstream(pace=0) as upstream, aiohttp.ClientSession() as http, \
            http.ws_connect(upstream.url, headers={"Authorization": "Bearer k"}) as ws:
        await ws.send_str('{"type":"session.close"}')
        error = json.loads((await ws.receive()).data)
        closing = await ws.receive()
    assert error["type"] == "error"
    assert "expected session.start, got session.close" in error["error"]["message"]
    assert (closing.data, closing.extra) == (1008, "expected session.start, got session.close")


async def test_the_fake_upstream_wants_a_key() -> None:
    async with FakeLiveUpstream(pace=0) as upstream, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(upstream.url)
    assert refused.value.status == 401


async def test_the_scripted_client_says_when_the_server_does_not_follow() -> None:
    async with FakeLiveUpstream("close", pace=0) as upstream:
        with pytest.raises(RtrecError, match=r"/v1/live/sessions sent no "
                           r"session.delegation.created within 0.5 s: the server does not "
                           "follow the Live scenario$"):
            await play_live_client(upstream.url, "tool_call", pace=0, server_timeout=0.5)


@pytest.mark.parametrize(("audio_type", "decode"), [
    ("audio/pcmu", "ulaw_decode"), ("audio/pcma", "alaw_decode")])
def test_g711_sessions_send_one_byte_a_sample_at_8_khz(audio_type: str, decode: str) -> None:
    import recorder.audio

    events = _events(build_live("spoken_turn", audio_type=audio_type))
    assert events[0][1]["session"]["audio"]["format"] == {  # type: ignore[index]
        "type": audio_type, "rate": 8000}
    output = [base64.b64decode(str(e["delta"])) for _, e, _ in events
              if e["type"] == "session.output_audio.delta"]
    assert {len(chunk) for chunk in output} == {800}  # 100 ms
    pcm = getattr(recorder.audio, decode)(b"".join(output))
    assert len(pcm) == 2 * len(b"".join(output))
    inputs = [base64.b64decode(str(e["audio"])) for _, e, _ in events
              if e["type"] == "session.input_audio.append"]
    assert {len(chunk) for chunk in inputs} <= {400, 800}


def test_an_unknown_audio_format_is_refused() -> None:
    with pytest.raises(RtrecError, match=r"^unknown Live audio format 'audio/opus': choose "
                       "audio/pcm, audio/pcmu or audio/pcma$"):
        build_live("close", audio_type="audio/opus")
