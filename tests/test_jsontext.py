"""jsontext: one failure shape for every msgspec release, and frames nested too deep to read."""

from __future__ import annotations

import msgspec
import pytest

from recorder import UnknownEvent, decode, jsontext
from recorder.store.codec import (
    ROW_COLUMNS,
    RowReader,
    frame_row,
    index_of,
    stored_form,
    with_type_id,
)
from recorder.wire import Direction, Frame, Opcode

DEEP = 5000  # far past msgspec's limit (about 1000)


def deep_append(key: bytes = b"x") -> bytes:
    return (
        b'{"type":"input_audio_buffer.append","audio":"AAAA","' + key + b'":'
        + b"[" * DEEP + b"]" * DEEP + b"}"
    )


@pytest.mark.parametrize(
    "error",
    [
        # msgspec up to 0.22 and from 0.23 on report invalid UTF-8 in a string differently
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        msgspec.DecodeError("Invalid UTF-8 encoded string"),
    ],
)
def test_invalid_utf8_reads_the_same_in_both_msgspec_shapes(error: Exception) -> None:
    assert jsontext.is_utf8_failure(error)
    assert jsontext.failure_reason(error) == "not valid UTF-8 text"


def test_other_failures_keep_their_own_reason() -> None:
    assert jsontext.failure_reason(msgspec.DecodeError("Input data was truncated")) == (
        "not JSON: Input data was truncated"
    )
    assert jsontext.failure_reason(RecursionError("deep")) == "not JSON: nested too deep to read"


def test_parse_raises_not_json_with_the_reason() -> None:
    assert jsontext.parse(b'{"a":[1]}') == {"a": [1]}
    with pytest.raises(jsontext.NotJson, match="not valid UTF-8 text"):
        jsontext.parse(b'{"a":"\xff"}')
    with pytest.raises(jsontext.NotJson, match="nested too deep"):
        jsontext.parse(deep_append())


def test_frame_type_reads_the_type_or_none() -> None:
    assert jsontext.frame_type(b'{"event_id":"e","type":"session.update"}') == "session.update"
    assert jsontext.frame_type(b'{"type":1}') is None
    assert jsontext.frame_type(b"[]") is None
    assert jsontext.frame_type(b'{"type":"x","d":"\xff"}') == "x"  # other fields are skipped
    assert jsontext.frame_type(deep_append()) == "input_audio_buffer.append"


def test_a_frame_nested_too_deep_decodes_as_unknown_with_its_type() -> None:
    event = decode(deep_append())
    assert isinstance(event, UnknownEvent)
    assert event.type == "input_audio_buffer.append"
    assert event.reason == "not JSON: nested too deep to read"


def test_the_store_codec_indexes_a_frame_nested_too_deep_without_raising() -> None:
    frame = deep_append(b"client_secret")
    # its type as jsontext.frame_type reads it (a scan), like every other reader of the frame
    assert index_of(frame).type == "input_audio_buffer.append"
    form = stored_form(frame)
    assert form.audio == b"\x00\x00\x00"
    row = with_type_id(frame_row(1, 1, Frame(Direction.CLIENT, 0, Opcode.TEXT, frame), {}),
                       {"input_audio_buffer.append": 1})
    reader = RowReader()
    reader.learn([(1, "input_audio_buffer.append")])
    assert reader.reading(ROW_COLUMNS)(row).data == frame


def test_the_record_console_reads_the_type_with_the_same_scan() -> None:
    from recorder.console import event_type

    assert event_type(b'{"event_id":"e","type":"session.update","session":{}}') == "session.update"
    assert event_type(b'{"type":"response.text.delta","delta":"\xff"}') == "response.text.delta"
    assert event_type(b'{"delta":"a \\"type\\":\\"x\\""}') == "?"  # a "type" inside a string
    assert event_type(b"\x00\x01") == "?"
