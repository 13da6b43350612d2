"""Issue 15: events of Realtime-compatible services (Azure Voice Live, ...) decode typed.

A field of an unexpected shape costs that field (kept raw on `event.odd`), never the event; a
session made of such events folds, replays and exports. The session is built here, frame by
frame (the Session helper of test_conversation), in Voice Live's mix: beta event names beside
GA ones, object-valued voices, numbers as strings.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from test_conversation import Session, assistant, b64, fold, user_audio

from recorder import UnknownEvent, decode
from recorder import events as ev
from recorder.export import export_db
from recorder.receiver import RealtimeEventReceiver
from recorder.render import render_text
from recorder.replay import replay_db
from recorder.testing import client_frame, record_frames, server_frame
from recorder.wire import Direction, Frame

AZURE_VOICE = {"name": "en-US-Ava:DragonHDLatestNeural", "type": "azure-standard"}
RIOC = {"response_id": "resp_v1", "item_id": "item_a1", "output_index": 0, "content_index": 0}
NESTED_USAGE = {
    "total_tokens": 253, "input_tokens": 132, "output_tokens": 121,
    "input_token_details": {"text_tokens": 119, "audio_tokens": 13},
    # extra nesting where a count is expected
    "output_token_details": {"text_tokens": 30, "audio_tokens": {"value": 91, "unit": "tokens"}},
}


def voice_live_session() -> list[Frame]:
    """A Voice Live-style session: one spoken user turn answered with audio."""
    s = Session()
    s.S("session.created", session={
        "id": "sess_vl", "object": "realtime.session", "model": "gpt-4o-realtime-preview",
        "modalities": ["text", "audio"], "voice": AZURE_VOICE,
        "input_audio_format": "pcm16", "output_audio_format": "g711_ulaw",
        "turn_detection": {"type": "server_vad", "silence_duration_ms": "500"}})
    s.S("session.updated", session={  # voice absent
        "id": "sess_vl", "modalities": ["text", "audio"], "input_audio_format": "pcm16",
        "output_audio_format": "g711_ulaw"})
    s.C("input_audio_buffer.append", audio=b64(48000))
    s.S("input_audio_buffer.speech_started", item_id="item_u1", audio_start_ms="100")
    s.S("input_audio_buffer.speech_stopped", item_id="item_u1", audio_end_ms=900)
    s.S("input_audio_buffer.committed", item_id="item_u1", previous_item_id=None)
    s.S("conversation.item.created", previous_item_id=None, item=user_audio("item_u1"))
    s.S("conversation.item.done", previous_item_id=None, item=user_audio("item_u1"))  # GA name
    s.S("response.created", response={
        "id": "resp_v1", "object": "realtime.response", "status": "in_progress",
        "output": [], "voice": AZURE_VOICE, "modalities": ["text", "audio"]})
    s.S("response.output_item.added", response_id="resp_v1", output_index="0",
        item=assistant("item_a1"))
    s.S("conversation.item.created", previous_item_id="item_u1", item=assistant("item_a1"))
    s.S("response.content_part.added", **RIOC, part={"type": "audio", "transcript": ""})
    s.S("response.audio_transcript.delta", **RIOC, delta="It is sunny.")
    s.S("response.audio.delta", **RIOC, delta=b64(4800))  # beta name, 600 ms of mu-law
    s.S("response.audio.delta", **RIOC, delta=b64(4800))
    s.S("conversation.item.input_audio_transcription.completed", item_id="item_u1",
        content_index="0", transcript="How is the weather?")
    s.S("response.audio.done", **RIOC)
    s.S("response.audio_transcript.done", **RIOC, transcript="It is sunny.")
    part = {"type": "azure_avatar_audio", "transcript": "It is sunny.", "viseme": [1, 2]}
    s.S("response.content_part.done", **RIOC, part=part)  # a content part type of its own
    done = assistant("item_a1", "completed", [{"type": "audio", "transcript": "It is sunny."}])
    s.S("response.output_item.done", response_id="resp_v1", output_index=0, item=done)
    s.S("conversation.item.done", previous_item_id="item_u1", item=done)
    s.S("response.done", response={
        "id": "resp_v1", "object": "realtime.response", "status": "completed",
        "output": [done], "voice": AZURE_VOICE, "usage": NESTED_USAGE})
    s.S("rate_limits.updated", rate_limits=None)  # null where a list is expected
    return s.frames


def events() -> list[ev.Event | UnknownEvent]:
    return [decode(frame.data) for frame in voice_live_session()]


def odd_of(event: object) -> dict[str, Any]:
    assert isinstance(event, ev.Event), event
    return dict(event.odd.fields) if event.odd is not None else {}


def test_every_event_of_the_session_decodes_typed() -> None:
    decoded = events()
    unknown = [e for e in decoded if isinstance(e, UnknownEvent)]
    assert unknown == []
    types = [e.type for e in decoded]
    assert "response.audio.delta" in types and "conversation.item.done" in types


@pytest.mark.parametrize("type_name", ["session.created", "session.updated"])
def test_an_object_voice_on_a_session_is_kept_raw_and_the_rest_is_typed(type_name: str) -> None:
    session = {"id": "s", "voice": AZURE_VOICE, "input_audio_format": "g711_ulaw",
               "modalities": ["audio"]}
    event = decode(json.dumps({"type": type_name, "event_id": "e1", "session": session}))
    assert isinstance(event, ev.SessionCreated | ev.SessionUpdated)
    assert event.session.voice is None
    assert event.session.input_audio_format == "g711_ulaw"
    assert event.session.modalities == ["audio"]
    assert event.event_id == "e1"
    assert odd_of(event) == {"session.voice": AZURE_VOICE}
    assert event.odd is not None
    assert event.odd.note == "session.voice kept raw (Expected `str | null`, got `object`)"
    # a subclass of its class, named like it, that encodes with its own tag
    assert type(event).__name__ == ev.EVENT_CLASS_BY_TYPE[type_name].__name__
    assert type(event).type == type_name and type(event).direction is ev.Direction.SERVER
    assert msgspec.json.decode(msgspec.json.encode(event))["type"] == type_name


@pytest.mark.parametrize("type_name", ["response.created", "response.done"])
def test_an_object_voice_on_a_response_is_kept_raw_and_the_rest_is_typed(type_name: str) -> None:
    response = {"id": "r1", "status": "completed", "voice": AZURE_VOICE,
                "usage": {"total_tokens": 7}, "output": []}
    event = decode(json.dumps({"type": type_name, "response": response}))
    assert isinstance(event, ev.ResponseCreated | ev.ResponseDone)
    assert (event.response.id, event.response.status) == ("r1", "completed")
    assert event.response.usage is not None and event.response.usage.total_tokens == 7
    assert event.response.voice is None
    assert odd_of(event) == {"response.voice": AZURE_VOICE}


def test_voice_absent_decodes_strictly() -> None:
    event = decode(b'{"type":"session.updated","session":{"id":"s","modalities":["audio"]}}')
    assert isinstance(event, ev.SessionUpdated)
    assert event.session.voice is None and event.odd is None


def test_an_integer_sent_as_a_string_is_coerced() -> None:
    event = decode(b'{"type":"input_audio_buffer.speech_started","item_id":"i",'
                   b'"audio_start_ms":"100"}')
    assert isinstance(event, ev.InputAudioBufferSpeechStarted)
    assert event.audio_start_ms == 100
    assert event.odd is not None
    assert (event.odd.fields, event.odd.coerced) == ({}, {"audio_start_ms": "100"})
    assert event.odd.note == "audio_start_ms coerced from '100'"


@pytest.mark.parametrize("text", ["1.5", "1e3", "0x10", " 7", "+7", "007", "", "ten"])
def test_a_string_that_is_not_plainly_an_integer_is_kept_raw(text: str) -> None:
    frame = {"type": "input_audio_buffer.speech_started", "item_id": "i", "audio_start_ms": text}
    event = decode(json.dumps(frame))
    assert isinstance(event, ev.InputAudioBufferSpeechStarted)
    assert event.audio_start_ms == text  # a required field: its slot holds the raw value
    assert odd_of(event) == {"audio_start_ms": text}


def test_a_float_sent_as_a_string_is_coerced_where_a_float_is_expected() -> None:
    event = decode(b'{"type":"session.updated","session":{"turn_detection":'
                   b'{"threshold":"0.5","silence_duration_ms":"x"}}}')
    assert isinstance(event, ev.SessionUpdated)
    assert event.session.turn_detection is not None
    assert event.session.turn_detection.threshold == 0.5
    assert event.session.turn_detection.silence_duration_ms is None
    assert event.odd is not None
    assert event.odd.coerced == {"session.turn_detection.threshold": "0.5"}
    assert event.odd.fields == {"session.turn_detection.silence_duration_ms": "x"}


def test_a_string_sent_as_a_number_is_kept_raw() -> None:
    event = decode(b'{"type":"response.done","event_id":42,"response":{"id":"r",'
                   b'"conversation_id":9001,"status":"completed"}}')
    assert isinstance(event, ev.ResponseDone)
    assert event.event_id is None and event.response.conversation_id is None
    assert event.response.status == "completed"
    assert odd_of(event) == {"event_id": 42, "response.conversation_id": 9001}


def test_extra_nesting_on_usage_costs_only_that_count() -> None:
    event = decode(json.dumps({"type": "response.done",
                               "response": {"id": "r", "usage": NESTED_USAGE}}))
    assert isinstance(event, ev.ResponseDone)
    usage = event.response.usage
    assert usage is not None and usage.total_tokens == 253
    assert usage.input_token_details is not None
    assert usage.input_token_details.audio_tokens == 13
    assert usage.output_token_details is not None
    assert usage.output_token_details.text_tokens == 30
    assert usage.output_token_details.audio_tokens is None
    assert odd_of(event) == {
        "response.usage.output_token_details.audio_tokens": {"value": 91, "unit": "tokens"}}


def test_an_odd_field_deep_in_a_list_of_items_costs_only_that_field() -> None:
    item = {"id": "i", "type": "message", "content": [{"type": "text", "text": "ok"},
                                                      {"type": "text", "text": {"v": 1}}]}
    event = decode(json.dumps({"type": "response.done",
                               "response": {"id": "r", "output": [item]}}))
    assert isinstance(event, ev.ResponseDone)
    assert event.response.output is not None
    (built,) = event.response.output
    assert built.id == "i" and built.content is not None
    assert [part.text for part in built.content] == ["ok", None]
    assert odd_of(event) == {"response.output[0].content[1].text": {"v": 1}}


def test_an_unknown_content_part_type_is_typed_with_its_type() -> None:
    event = decode(json.dumps({"type": "response.content_part.added", **RIOC,
                               "part": {"type": "azure_avatar_audio", "transcript": "hi",
                                        "text": ["not", "a", "string"]}}))
    assert isinstance(event, ev.ResponseContentPartAdded)
    assert (event.part.type, event.part.transcript) == ("azure_avatar_audio", "hi")
    assert odd_of(event) == {"part.text": ["not", "a", "string"]}


def test_null_where_a_list_is_expected() -> None:
    event = decode(b'{"type":"rate_limits.updated","event_id":"e","rate_limits":null}')
    assert isinstance(event, ev.RateLimitsUpdated)
    assert event.rate_limits is None  # required: the slot holds the raw null
    assert odd_of(event) == {"rate_limits": None}
    nulls = decode(b'{"type":"response.done","response":{"id":"r","output":null,'
                   b'"modalities":null}}')
    assert isinstance(nulls, ev.ResponseDone) and nulls.odd is None  # optional lists take null


def test_a_frame_whose_fields_are_all_odd_decodes_to_its_class_with_every_field_raw() -> None:
    frame = {"type": "response.output_item.added", "event_id": ["x"], "response_id": 1,
             "output_index": "first", "item": "an item"}
    event = decode(json.dumps(frame))
    assert isinstance(event, ev.ResponseOutputItemAdded)
    assert odd_of(event) == {"event_id": ["x"], "response_id": 1, "output_index": "first",
                             "item": "an item"}
    assert (event.response_id, event.output_index, event.item) == (1, "first", "an item")
    assert event.event_id is None
    assert event.untyped == ("response_id", "output_index", "item")  # the raw-holding slots


def test_an_event_with_only_nested_or_optional_odd_fields_has_no_untyped_slot() -> None:
    event = decode(json.dumps({"type": "response.done", "event_id": 5,
                               "response": {"voice": AZURE_VOICE}}))
    assert isinstance(event, ev.ResponseDone)
    assert event.odd is not None and event.untyped == ()


@pytest.mark.parametrize("data", [
    b'{"type":"session.created","session":{"voice":' + b"[" * 600 + b"]" * 600 + b"}}",
    b'{"type":"session.created","session":{"voice":"' + b"v" * (4 * 2**20) + b'","id":7}}',
    '{"type":"session.created","session":{"voice":{"name":"\ud800"}}}',
    b'{"type":"session.created","session":{"voice":{"name":"\xff"}}}',
    b'{"type":"response.done","response":{"output":[' + b'{"content":[1,' * 300 + b"2"
    + b"]}" * 300 + b"]}}",
])
def test_odd_input_of_any_depth_size_or_encoding_never_raises(data: bytes | str) -> None:
    event = decode(data)
    assert isinstance(event, ev.Event | UnknownEvent)


def test_a_missing_required_field_still_leaves_the_event_unknown() -> None:
    event = decode(b'{"type":"response.output_item.added","response_id":"r","item":{}}')
    assert isinstance(event, UnknownEvent)
    assert event.reason == ("invalid response.output_item.added: "
                            "Object missing required field `output_index`")


# --------------------------------------------------------------------------- fold, replay, export


def test_the_session_folds_with_formats_status_and_usage() -> None:
    conversation = fold(voice_live_session())
    assert conversation.session_id == "sess_vl"
    assert (conversation.input_format.name, conversation.output_format.name) == (
        "pcm16", "g711_ulaw")
    (response,) = conversation.responses.values()
    assert response.status == "completed"
    assert response.usage is not None and response.usage["total_tokens"] == 253
    text = render_text(conversation)
    assert "How is the weather?" in text and "It is sunny." in text


class Counting(RealtimeEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.audio_deltas = 0

    def on_response_audio_delta(self, *args: Any, **kwargs: Any) -> None:
        self.audio_deltas += 1


def test_the_session_replays_and_exports(tmp_path: Path) -> None:
    db = tmp_path / "voice_live.db"
    record_frames(db, voice_live_session(), protocol="beta", model="gpt-4o-realtime-preview")
    receiver = Counting()
    result = asyncio.run(replay_db(str(db), receiver))
    assert result.frames == len(voice_live_session())
    assert receiver.audio_deltas == 2
    report = asyncio.run(export_db(str(db), tmp_path / "out"))
    assert report.had_audio
    names = {path.name for path in report.files}
    assert "conversation.wav" in names
    assert report.durations_ms["assistant.wav"] == 1200.0  # 9600 bytes of mu-law at 8 kHz
    assert report.durations_ms["user.wav"] == 1000.0
    transcripts = "".join(
        path.read_text() for path in report.files if path.suffix in {".txt", ".md", ".json"})
    assert "It is sunny." in transcripts and "How is the weather?" in transcripts


def all_odd_session() -> list[Frame]:
    """One frame of every event type, every field of it an array where rtrec expects otherwise."""
    frames = []
    for n, cls in enumerate(ev.EVENT_CLASSES):
        fields = {f.encode_name: ["odd"] for f in msgspec.structs.fields(cls)}
        make = client_frame if cls.direction is Direction.CLIENT else server_frame
        frames.append(make(n * 10, {"type": cls.type, **fields}))
    return frames


def test_a_session_of_all_odd_frames_folds_replays_and_exports_without_raising(
    tmp_path: Path,
) -> None:
    frames = all_odd_session()
    decoded = [decode(frame.data) for frame in frames]
    assert all(isinstance(event, ev.Event) and event.odd is not None for event in decoded)
    untyped_server = sum(
        1 for event in decoded
        if isinstance(event, ev.ServerEvent) and event.untyped
    )
    assert untyped_server > 40
    # the fold counts the events whose own fields hold raw values as unknown
    assert fold(frames).unknown_events == untyped_server
    db = tmp_path / "odd.db"
    record_frames(db, frames)
    result = asyncio.run(replay_db(str(db), RealtimeEventReceiver()))
    assert result.frames == len(frames)
    report = asyncio.run(export_db(str(db), tmp_path / "out"))
    assert not report.had_audio
    # the audio events are reported as skipped, with what did not fit
    assert any("(response.audio.delta)" in line and "delta kept raw" in line
               for line in report.warnings)
