"""The scripted scenarios: deterministic, well-formed, and following the protocol's rules."""

from __future__ import annotations

import base64
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from recorder.audio import AudioFormat
from recorder.decode import decode, direction_of, protocol_of
from recorder.errors import RtrecError
from recorder.events import UnknownEvent
from recorder.fake.scenarios import SCENARIOS, build, long_session
from recorder.wire import Direction, Frame

PROTOCOLS = ("ga", "beta")
ALL = [(name, protocol) for name in SCENARIOS for protocol in PROTOCOLS]


def events(frames: list[Frame]) -> list[tuple[Frame, dict[str, Any]]]:
    return [(f, json.loads(f.data)) for f in frames]


def of_type(frames: list[Frame], *types: str) -> list[dict[str, Any]]:
    return [e for _, e in events(frames) if e["type"] in types]


@pytest.fixture(scope="module")
def built() -> dict[tuple[str, str], list[Frame]]:
    return {(name, protocol): build(name, protocol) for name, protocol in ALL}


# --- determinism ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "protocol"), [("barge_in", "ga"), ("function_call", "beta")])
def test_same_seed_gives_the_same_bytes(name: str, protocol: str) -> None:
    assert build(name, protocol, seed=7) == build(name, protocol, seed=7)


def test_another_seed_gives_other_ids_and_audio() -> None:
    a, b = build("voice_turns", seed=1), build("voice_turns", seed=2)
    assert [f.data for f in a] != [f.data for f in b]
    ids_a = {e["event_id"] for e in of_type(a, "response.done")}
    ids_b = {e["event_id"] for e in of_type(b, "response.done")}
    assert ids_a.isdisjoint(ids_b)


def test_long_session_is_deterministic_and_lazy() -> None:
    first = list(itertools.islice(long_session(60, seed=3), 2000))
    again = list(itertools.islice(long_session(60, seed=3), 2000))
    assert first == again
    # an hour of audio is hundreds of MB; islice returning at all shows it is generated lazily
    assert len(first) == 2000


def test_unknown_scenario_and_protocol_say_what_to_choose() -> None:
    with pytest.raises(RtrecError, match=r"unknown scenario 'nope': choose one of .*barge_in"):
        build("nope")
    with pytest.raises(RtrecError, match="unknown protocol 'v2': choose 'ga' or 'beta'"):
        build("voice_turns", "v2")


# --- shape ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "protocol"), ALL)
def test_every_frame_decodes_to_a_typed_event_of_its_direction_and_protocol(
    built: dict[tuple[str, str], list[Frame]], name: str, protocol: str
) -> None:
    frames = built[name, protocol]
    times = [f.t_ns for f in frames]
    assert times == sorted(times)
    for frame in frames:
        event = decode(frame.data)
        assert not isinstance(event, UnknownEvent), event.reason
        assert direction_of(event.type) is frame.direction
        assert protocol_of(event) in (None, protocol), frame.data[:200]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_ga_and_beta_use_their_own_event_names(
    built: dict[tuple[str, str], list[Frame]], name: str
) -> None:
    ga = Counter(json.loads(f.data)["type"] for f in built[name, "ga"])
    beta = Counter(json.loads(f.data)["type"] for f in built[name, "beta"])
    assert ga["response.output_audio.delta"] > 0 and ga["response.audio.delta"] == 0
    assert beta["response.audio.delta"] > 0 and beta["response.output_audio.delta"] == 0
    assert ga["conversation.item.added"] > 0 and ga["conversation.item.created"] == 0
    assert beta["conversation.item.created"] > 0 and beta["conversation.item.added"] == 0
    assert ga["rate_limits.updated"] == ga["response.done"] > 0


def test_session_objects_are_full(built: dict[tuple[str, str], list[Frame]]) -> None:
    ga = of_type(built["voice_turns", "ga"], "session.created")[0]["session"]
    assert ga["type"] == "realtime" and ga["id"].startswith("sess_")
    assert ga["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert ga["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    beta = of_type(built["voice_turns", "beta"], "session.created")[0]["session"]
    assert beta["input_audio_format"] == "pcm16" and "audio" not in beta
    updated = of_type(built["g711", "ga"], "session.updated")[0]["session"]
    assert updated["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert updated["audio"]["input"]["transcription"]["model"]
    alaw = of_type(built["g711_alaw", "beta"], "session.updated")[0]["session"]
    assert alaw["input_audio_format"] == "g711_alaw"


def test_ids_have_the_real_shapes(built: dict[tuple[str, str], list[Frame]]) -> None:
    frames = built["function_call", "ga"]
    done = of_type(frames, "response.done")[0]["response"]
    assert done["id"].startswith("resp_") and len(done["id"]) == 26
    assert done["conversation_id"].startswith("conv_")
    call = done["output"][0]
    assert call["id"].startswith("item_") and len(call["id"]) == 26
    assert call["call_id"].startswith("call_")
    for frame, e in events(frames):
        if frame.direction is Direction.SERVER:
            assert e["event_id"].startswith("event_") and len(e["event_id"]) == 27
        elif e["type"] != "input_audio_buffer.append":  # audio appends go without an id
            assert e["event_id"].startswith("evt_") and len(e["event_id"]) == 25


# --- ordering rules (CATALOG.md §2) ---------------------------------------------------------


@pytest.mark.parametrize(("name", "protocol"), ALL)
def test_connection_and_voice_turn_order(
    built: dict[tuple[str, str], list[Frame]], name: str, protocol: str
) -> None:
    types = [json.loads(f.data)["type"] for f in built[name, protocol]]
    assert types[0] == "session.created"
    assert types.count("session.update") == types.count("session.updated")
    assert types.index("session.update") < types.index("session.updated")
    evs = of_type(built[name, protocol], "input_audio_buffer.speech_started",
                  "input_audio_buffer.speech_stopped", "input_audio_buffer.committed")
    by_item: dict[str, list[str]] = {}
    for e in evs:
        by_item.setdefault(e["item_id"], []).append(e["type"].rsplit(".", 1)[1])
    assert by_item and all(v == ["speech_started", "speech_stopped", "committed"]
                           for v in by_item.values())


@pytest.mark.parametrize(("name", "protocol"), ALL)
def test_response_lifecycle(
    built: dict[tuple[str, str], list[Frame]], name: str, protocol: str
) -> None:
    seen: dict[str, list[str]] = {}
    items: dict[str, str] = {}  # item id -> response id
    for e in of_type(built[name, protocol], *_RESPONSE_TYPES):
        rid = e.get("response_id") or e.get("response", {}).get("id")
        steps = seen.setdefault(rid, [])
        assert "response.done" not in steps, "nothing follows response.done"
        if e["type"] == "response.created":
            assert steps == [] and e["response"]["status"] == "in_progress"
        elif e["type"] == "response.output_item.added":
            items[e["item"]["id"]] = rid
        elif e["type"] != "response.done":
            item_id = e.get("item_id") or e["item"]["id"]
            assert items.get(item_id) == rid, f"{e['type']} before its item was added"
        steps.append(e["type"])
    for steps in seen.values():
        assert steps[0] == "response.created" and steps[-1] == "response.done"


_RESPONSE_TYPES = (
    "response.created", "response.done", "response.output_item.added",
    "response.output_item.done", "response.content_part.added", "response.content_part.done",
    "response.output_audio.delta", "response.audio.delta", "response.output_audio.done",
    "response.audio.done", "response.output_audio_transcript.delta",
    "response.audio_transcript.delta", "response.output_audio_transcript.done",
    "response.audio_transcript.done", "response.output_text.delta", "response.text.delta",
    "response.output_text.done", "response.text.done",
    "response.function_call_arguments.delta", "response.function_call_arguments.done",
)


@pytest.mark.parametrize(("name", "protocol"), ALL)
def test_items_form_one_linked_list(
    built: dict[tuple[str, str], list[Frame]], name: str, protocol: str
) -> None:
    insert = "conversation.item.added" if protocol == "ga" else "conversation.item.created"
    previous = None
    for e in of_type(built[name, protocol], insert):
        assert e["previous_item_id"] == previous
        previous = e["item"]["id"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_transcripts_and_deltas_add_up(
    built: dict[tuple[str, str], list[Frame]], protocol: str
) -> None:
    frames = built["everything", protocol]
    text: dict[str, str] = {}
    completed: dict[str, str] = {}
    for e in of_type(frames, "conversation.item.input_audio_transcription.delta",
                     "conversation.item.input_audio_transcription.completed",
                     "response.output_audio_transcript.delta", "response.audio_transcript.delta",
                     "response.output_audio_transcript.done", "response.audio_transcript.done"):
        if e["type"].endswith("delta"):
            text[e["item_id"]] = text.get(e["item_id"], "") + e["delta"]
        else:
            completed[e["item_id"]] = e.get("transcript", "")
    assert completed and all(text.get(k, "") == v for k, v in completed.items())


def test_voice_turns_transcribe_before_and_after_the_response(
    built: dict[tuple[str, str], list[Frame]],
) -> None:
    types = [e["type"] for e in of_type(
        built["voice_turns", "ga"], "conversation.item.input_audio_transcription.completed",
        "response.done")]
    assert types == ["conversation.item.input_audio_transcription.completed", "response.done",
                     "response.done", "conversation.item.input_audio_transcription.completed"]


# --- the stories ----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_barge_in_cancels_then_the_client_truncates_what_it_played(
    built: dict[tuple[str, str], list[Frame]], protocol: str
) -> None:
    frames = built["barge_in", protocol]
    fmt = AudioFormat.from_wire("pcm16")
    seq = of_type(frames, "input_audio_buffer.speech_started", "response.done",
                  "conversation.item.truncate", "conversation.item.truncated")
    types = [e["type"] for e in seq]
    interrupted = types.index("input_audio_buffer.speech_started", 1)  # the user cuts in
    # the cancellation and the client's truncate both answer speech_started, in either order
    assert sorted(types[interrupted + 1 : interrupted + 4]) == [
        "conversation.item.truncate", "conversation.item.truncated", "response.done"]
    assert types.index("conversation.item.truncate") < types.index("conversation.item.truncated")
    assert types[-1] == "response.done"  # the answer to the interruption
    truncate = seq[types.index("conversation.item.truncate")]
    truncated = seq[types.index("conversation.item.truncated")]
    cancelled = seq[types.index("response.done")]["response"]
    assert cancelled["status"] == "cancelled"
    assert cancelled["status_details"]["reason"] == "turn_detected"
    assert cancelled["output"][0]["status"] == "incomplete"
    item_id = cancelled["output"][0]["id"]
    sent_audio = sum(len(base64.b64decode(e["delta"])) for e in of_type(
        frames, "response.output_audio.delta", "response.audio.delta") if e["item_id"] == item_id)
    assert truncate["item_id"] == truncated["item_id"] == item_id
    assert truncate["audio_end_ms"] == truncated["audio_end_ms"]
    assert 0 < truncate["audio_end_ms"] <= fmt.duration_ms(sent_audio)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_function_call_round(built: dict[tuple[str, str], list[Frame]], protocol: str) -> None:
    frames = built["function_call", protocol]
    done = of_type(frames, "response.function_call_arguments.done")[0]
    assert json.loads(done["arguments"]) == {"city": "Lisbon"}
    assert ("name" in done) is (protocol == "ga")
    create = of_type(frames, "conversation.item.create")[0]["item"]
    assert create["type"] == "function_call_output" and create["call_id"] == done["call_id"]
    types = [e["type"] for e in of_type(frames, "conversation.item.create", "response.create",
                                        "response.created")]
    assert types[-3:] == ["conversation.item.create", "response.create", "response.created"]


def test_two_items_in_one_response(built: dict[tuple[str, str], list[Frame]]) -> None:
    done = of_type(built["two_items", "ga"], "response.done")[0]["response"]
    assert [i["type"] for i in done["output"]] == ["message", "function_call"]
    added = of_type(built["two_items", "ga"], "response.output_item.added")
    assert [e["output_index"] for e in added[:2]] == [0, 1]


def test_failed_transcription_and_error(built: dict[tuple[str, str], list[Frame]]) -> None:
    failed = of_type(built["transcription_failed", "ga"],
                     "conversation.item.input_audio_transcription.failed")
    assert failed and failed[0]["error"]["type"] == "transcription_error"
    frames = built["error", "beta"]
    delete = of_type(frames, "conversation.item.delete")[0]
    error = of_type(frames, "error")[0]["error"]
    assert error["event_id"] == delete["event_id"] and delete["item_id"] in error["message"]
    assert of_type(frames, "response.done"), "the session goes on after an error"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_out_of_band_response_stays_out_of_the_conversation(
    built: dict[tuple[str, str], list[Frame]], protocol: str
) -> None:
    frames = built["out_of_band", protocol]
    done = of_type(frames, "response.done")[-1]["response"]
    assert done["conversation_id"] is None and done["metadata"] == {"purpose": "summary"}
    oob_item = done["output"][0]["id"]
    inserted = {e["item"]["id"] for e in of_type(
        frames, "conversation.item.added", "conversation.item.created", "conversation.item.done")}
    assert oob_item not in inserted
    text = "".join(e["delta"] for e in of_type(frames, "response.output_text.delta",
                                               "response.text.delta"))
    assert text == done["output"][0]["content"][0]["text"]


# --- audio ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "protocol"), [("voice_turns", "ga"), ("barge_in", "beta"),
                                                ("g711", "ga"), ("g711_alaw", "beta")])
def test_vad_offsets_match_the_input_audio_sent(
    built: dict[tuple[str, str], list[Frame]], name: str, protocol: str
) -> None:
    frames = built[name, protocol]
    session = of_type(frames, "session.updated")[0]["session"]
    wire = session["audio"]["input"]["format"] if protocol == "ga" else \
        session["input_audio_format"]
    fmt = AudioFormat.from_wire(wire)
    sent_bytes = 0
    checked = 0
    chunk_ms: Counter[float] = Counter()
    for _, e in events(frames):
        if e["type"] == "input_audio_buffer.append":
            chunk = base64.b64decode(e["audio"])
            chunk_ms[fmt.duration_ms(len(chunk))] += 1
            sent_bytes += len(chunk)
        elif e["type"] == "input_audio_buffer.speech_started":
            assert 0 <= e["audio_start_ms"] <= fmt.duration_ms(sent_bytes)
            checked += 1
        elif e["type"] == "input_audio_buffer.speech_stopped":
            assert e["audio_end_ms"] <= fmt.duration_ms(sent_bytes)
            checked += 1
    assert checked >= 4
    assert all(0 < ms <= 100 for ms in chunk_ms)
    assert 20 <= chunk_ms.most_common(1)[0][0] <= 100  # appends every 20-100 ms


@pytest.mark.parametrize("name", ["voice_turns", "g711"])
def test_output_audio_matches_its_format(
    built: dict[tuple[str, str], list[Frame]], name: str
) -> None:
    frames = built[name, "ga"]
    session = of_type(frames, "session.updated")[0]["session"]
    fmt = AudioFormat.from_wire(session["audio"]["output"]["format"])
    deltas = [base64.b64decode(e["delta"]) for e in of_type(frames, "response.output_audio.delta")]
    assert all(len(d) % fmt.bytes_per_ms == 0 for d in deltas)
    total_ms = fmt.duration_ms(sum(map(len, deltas)))
    # two short replies (4 and 3 words, 200 ms a word, 500 ms at least)
    assert total_ms == 800 + 600
    pcm = np.frombuffer(fmt.to_pcm16(b"".join(deltas)), dtype="<i2")
    assert np.abs(pcm).max() > 1000, "the audio is not silent"


def test_long_session_streams_audio_for_the_requested_time() -> None:
    frames = list(long_session(1.5, seed=5))
    assert frames[-1].t_ns >= 90 * 10**9
    times = [f.t_ns for f in frames]
    assert times == sorted(times)
    appended = sum(len(base64.b64decode(json.loads(f.data)["audio"])) for f in frames
                   if f.direction is Direction.CLIENT and b"input_audio_buffer.append" in f.data)
    # the microphone streams all the time: about as much input audio as session time
    assert appended / 48 >= 0.8 * frames[-1].t_ns / 1e6
    assert all(not isinstance(decode(f.data), UnknownEvent) for f in frames[:3000])
    types = Counter(json.loads(f.data)["type"] for f in frames)
    assert types["conversation.item.truncated"] >= 1  # the seventh turn barges in


@pytest.mark.parametrize("seed", range(6))
def test_every_barge_in_lands_while_the_reply_is_generated(seed: int) -> None:
    for name, protocol in (("barge_in", "ga"), ("everything", "beta")):
        done = of_type(build(name, protocol, seed), "response.done")
        assert any(e["response"]["status"] == "cancelled" for e in done), (name, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_event_validates_against_the_official_sdk_types(protocol: str) -> None:
    pydantic = pytest.importorskip("pydantic")
    if protocol == "ga":
        from openai.types.realtime import RealtimeClientEvent, RealtimeServerEvent
    else:
        from openai.types.beta.realtime import RealtimeClientEvent, RealtimeServerEvent
    adapters = {Direction.CLIENT: pydantic.TypeAdapter(RealtimeClientEvent),
                Direction.SERVER: pydantic.TypeAdapter(RealtimeServerEvent)}
    checked = Counter()
    for frame, event in events(build("everything", protocol) + build("g711_alaw", protocol)):
        if protocol == "ga" and event["type"] == "response.create" and "response" in event:
            # The spec's own example references items with {"type": "item_reference"}; the
            # SDK's GA input union lacks that member, so check it apart from the rest.
            references = event["response"].pop("input", [])
            assert all(set(r) == {"type", "id"} and r["type"] == "item_reference"
                       for r in references)
        adapters[frame.direction].validate_python(event)
        checked[frame.direction] += 1
    assert checked[Direction.CLIENT] > 1000 and checked[Direction.SERVER] > 400


EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "protocol" / "examples"
# Fields either side may leave out: client event ids, the live service's delta padding, and
# optional request fields.
OPTIONAL = {"event_id", "obfuscation", "previous_item_id", "response"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_top_level_fields_match_the_official_examples(protocol: str) -> None:
    if not EXAMPLES.is_dir():
        pytest.skip("the official examples (../shared) are not present")
    compared = 0
    for frame, event in events(build("everything", protocol)):
        example = EXAMPLES / protocol / f"{frame.direction.value}.{event['type']}.json"
        try:
            expected = set(json.loads(example.read_text()))
        except (FileNotFoundError, json.JSONDecodeError):
            continue  # no example, or one of the known non-JSON ones (SOURCES.md)
        assert set(event) ^ expected <= OPTIONAL, (event["type"], set(event) ^ expected)
        compared += 1
    assert compared > 1000
