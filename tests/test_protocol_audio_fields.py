"""recorder.protocol.audio_fields: which events carry base64 audio in which field, and that the
store cuts exactly those fields out (and export counts exactly those events as audio)."""

from __future__ import annotations

import base64

import pytest

from recorder import events as ev
from recorder import export
from recorder.live import events as lev
from recorder.protocol import audio_fields
from recorder.store import codec
from recorder.wire import Direction

AUDIO = base64.b64encode(bytes(range(256)) * 3).decode()


def test_the_catalogs_audio_events_and_fields() -> None:
    # CATALOG.md §1: input_audio_buffer.append `audio`; response.(output_)audio.delta `delta`
    assert audio_fields.AUDIO_FIELDS == {
        "input_audio_buffer.append": "audio",
        "response.output_audio.delta": "delta",
        "response.audio.delta": "delta",
    }
    assert audio_fields.OUTPUT_AUDIO == ("response.output_audio.delta", "response.audio.delta")


@pytest.mark.parametrize(("event_type", "field"), list(audio_fields.AUDIO_FIELDS.items()))
def test_each_audio_event_has_its_audio_field_as_text(event_type: str, field: str) -> None:
    cls = ev.EVENT_CLASS_BY_TYPE[event_type]
    assert field in cls.__struct_fields__
    expected = Direction.CLIENT if event_type == audio_fields.INPUT_AUDIO else Direction.SERVER
    assert cls.direction is expected


def test_lives_audio_events_and_fields() -> None:
    # LIVE.md §2e: session.input_audio.append `audio` (either side), session.output_audio.delta
    # `delta`, session.output_audio.fixture.play `audio`
    assert audio_fields.LIVE_AUDIO_FIELDS == {
        "session.input_audio.append": "audio",
        "session.output_audio.delta": "delta",
        "session.output_audio.fixture.play": "audio",
    }
    assert audio_fields.STORED_AUDIO_FIELDS == {
        **audio_fields.AUDIO_FIELDS, **audio_fields.LIVE_AUDIO_FIELDS}
    assert not set(audio_fields.AUDIO_FIELDS) & set(audio_fields.LIVE_AUDIO_FIELDS)


@pytest.mark.parametrize(("event_type", "field"), list(audio_fields.LIVE_AUDIO_FIELDS.items()))
def test_each_live_audio_event_has_its_audio_field_as_text(event_type: str, field: str) -> None:
    classes = [by_type[event_type] for by_type in lev.EVENT_CLASS_BY_DIRECTION.values()
               if event_type in by_type]
    assert classes  # sent by the client, the server, or (the append) both
    for cls in classes:
        assert cls.__struct_fields__.count(field) == 1


@pytest.mark.parametrize(("event_type", "field"),
                         list(audio_fields.STORED_AUDIO_FIELDS.items()))
def test_the_store_cuts_the_audio_field_out(event_type: str, field: str) -> None:
    frame = f'{{"type":"{event_type}","event_id":"e","{field}":"{AUDIO}"}}'.encode()
    split = codec.split_audio_event(frame)
    assert split is not None
    assert split[0] == event_type and split[3] == base64.b64decode(AUDIO)


@pytest.mark.parametrize(
    ("event_type", "field"),
    [("response.audio_transcript.delta", "delta"), ("response.output_text.delta", "delta"),
     ("conversation.item.create", "audio"), ("input_audio_buffer.append", "delta"),
     ("response.output_audio.delta", "audio"), ("session.output_audio.delta", "audio"),
     ("session.input_audio.append", "delta"), ("session.output_transcript.delta", "delta"),
     ("session.output_audio.fixture.played", "audio")],
)
def test_no_other_event_or_field_is_cut(event_type: str, field: str) -> None:
    frame = f'{{"type":"{event_type}","event_id":"e","{field}":"{AUDIO}"}}'.encode()
    assert codec.split_audio_event(frame) is None
    assert codec.stored_form(frame).audio is None


def test_export_counts_the_same_events_as_audio() -> None:
    assert set(audio_fields.AUDIO_FIELDS) == export.AUDIO_TYPES
    assert set(audio_fields.OUTPUT_AUDIO) == export.OUTPUT_AUDIO_TYPES
