"""decode(): typed events in one pass, broken input as a value, direction and protocol labels."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

import recorder
from recorder import UnknownEvent, decode
from recorder import events as ev
from recorder.decode import direction_of, protocol_of
from recorder.wire import Direction

# `recorder.decode` the attribute is the function (the package exports it); the module is here.
decoding = importlib.import_module("recorder.decode")
VECTORS = Path(__file__).resolve().parent / "vectors"
AUDIO_DELTA = (
    b'{"type":"response.output_audio.delta","event_id":"event_1","response_id":"resp_1",'
    b'"item_id":"item_1","output_index":0,"content_index":0,"delta":"AAECAw=="}'
)


def test_package_exports_decode_and_unknown_event() -> None:
    assert recorder.decode is decode
    assert recorder.UnknownEvent is UnknownEvent
    assert recorder.__version__


def test_bytes_and_str_decode_alike() -> None:
    from_bytes = decode(AUDIO_DELTA)
    assert isinstance(from_bytes, ev.ResponseOutputAudioDelta)
    assert from_bytes.delta == "AAECAw=="
    assert decode(AUDIO_DELTA.decode()) == from_bytes


def test_unknown_fields_on_a_known_type_are_ignored() -> None:
    data = AUDIO_DELTA[:-1] + b',"brand_new_field":{"x":[1,2]},"obfuscation":"k2"}'
    event = decode(data)
    assert isinstance(event, ev.ResponseOutputAudioDelta)
    assert event.obfuscation == "k2"


def test_nulls_are_accepted_where_the_wire_sends_them() -> None:
    event = decode(
        b'{"type":"response.created","event_id":"e","response":{"id":"r","status_details":null,'
        b'"usage":null,"metadata":null,"conversation_id":null,"max_output_tokens":null,'
        b'"output":[]}}'
    )
    assert isinstance(event, ev.ResponseCreated)
    assert event.response.usage is None and event.response.output == []


def test_the_happy_path_parses_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a frame that fails the typed decode is parsed a second time, generically."""

    def forbidden(data: bytes | str) -> object:
        raise AssertionError("a valid frame was parsed twice")

    monkeypatch.setattr(decoding.jsontext, "parse", forbidden)
    for path in sorted(VECTORS.glob("*/*.json")):
        assert not isinstance(decode(path.read_bytes()), UnknownEvent), path.name


# --------------------------------------------------------------------------- broken input


@pytest.mark.parametrize(
    ("data", "type_name", "reason"),
    [
        (b'{"type":"response.brand_new","event_id":"e9"}', "response.brand_new",
         "unknown event type 'response.brand_new'"),
        (b"hello", None, "not JSON: JSON is malformed: invalid character (byte 0)"),
        (b"", None, "not JSON: Input data was truncated"),
        (b'{"type":"error",', "error", "not JSON: Input data was truncated"),
        (b"[1, 2]", None, "JSON an array, not an object"),
        (b'"session.created"', None, "JSON a string, not an object"),
        (b"42", None, "JSON a number, not an object"),
        (b"null", None, "JSON null, not an object"),
        (b'{"event_id":"e1","delta":"x"}', None, "no 'type' field"),
        (b'{"type":7}', None, "'type' is a number, not a string"),
        (b'{"type":null}', None, "'type' is null, not a string"),
        (b'{"type":"conversation.item.deleted"}', "conversation.item.deleted",
         "invalid conversation.item.deleted: Object missing required field `item_id`"),
        (b"\xff\xfe{}", None, "not JSON: JSON is malformed: invalid character (byte 0)"),
        (b'{"type":"response.text.delta","delta":"\xff"}', "response.text.delta",
         "not valid UTF-8 text"),
    ],
)
def test_broken_input_is_an_unknown_event(
    data: bytes, type_name: str | None, reason: str
) -> None:
    event = decode(data)
    assert isinstance(event, UnknownEvent)
    assert event.raw == data
    assert type(event.raw) is bytes
    assert event.type == type_name
    assert event.reason == reason
    assert "\n" not in event.reason


# Issue 15: a known type with a field of an unexpected shape is typed; only that field is raw.
# (These frames were UnknownEvents before; the reasons are msgspec's, as the old ones were.)
@pytest.mark.parametrize(
    ("data", "cls", "path", "raw", "reason"),
    [
        (b'{"type":"conversation.item.deleted","item_id":5}', ev.ConversationItemDeleted,
         "item_id", 5, "Expected `str`, got `int`"),
        (b'{"type":"session.created","session":{"audio":{"output":{"speed":"fast"}}}}',
         ev.SessionCreated, "session.audio.output.speed", "fast",
         "Expected `float | null`, got `str`"),
        (b'{"type":"rate_limits.updated","rate_limits":{}}', ev.RateLimitsUpdated,
         "rate_limits", {}, "Expected `array`, got `object`"),
    ],
)
def test_an_odd_field_of_a_known_type_is_kept_raw_not_the_event(
    data: bytes, cls: type[ev.Event], path: str, raw: object, reason: str
) -> None:
    event = decode(data)
    assert isinstance(event, cls) and event.type == cls.type
    assert event.odd is not None
    assert event.odd.fields == {path: raw}
    assert event.odd.reasons == {path: reason}
    assert event.odd.note == f"{path} kept raw ({reason})"


def test_a_strictly_decoded_event_has_no_odd_note() -> None:
    event = decode(AUDIO_DELTA)
    assert type(event) is ev.ResponseOutputAudioDelta and event.odd is None


def test_the_odd_note_is_never_read_from_the_wire() -> None:
    event = decode(AUDIO_DELTA[:-1] + b',"odd":{"fields":{"x":1}},"rtrec:odd":{"fields":{}}}')
    assert type(event) is ev.ResponseOutputAudioDelta and event.odd is None


def test_unknown_event_keeps_a_readable_event_id() -> None:
    event = decode(b'{"type":"session.closed","event_id":"event_42"}')
    assert isinstance(event, UnknownEvent)
    assert event.event_id == "event_42"


def test_raw_of_a_str_frame_is_its_utf8_bytes() -> None:
    event = decode('{"type":"gruß"}')
    assert isinstance(event, UnknownEvent)
    assert event.raw == '{"type":"gruß"}'.encode()
    assert event.type == "gruß"


@pytest.mark.parametrize("raw, readable", [
    (b'{"type": "response.audio.delta", "event_id": "e1", "delta": "AAAA"', "response.audio.delta"),
    (b'{"event_id":"e1","type":"input_audio_buffer.append","audio":"AA',
     "input_audio_buffer.append"),
    # the name inside a string is no type: its quotes are escaped
    (b'{"text":"{\\"type\\":\\"response.audio.delta\\"', None),
    (b'{"type":"conversation.item.create","text":"{\\"type\\":\\"x\\"',
     "conversation.item.create"),
    (b"garbage", None),
])
def test_a_frame_that_is_not_json_keeps_the_type_it_names(raw: bytes, readable: str | None) -> None:
    event = decode(raw)
    assert isinstance(event, UnknownEvent)
    assert event.reason.startswith("not JSON")
    assert event.type == readable


def test_a_lone_surrogate_in_a_str_frame_does_not_raise() -> None:
    event = decode('{"type":"error","error":{"message":"\ud800"}}')
    assert isinstance(event, UnknownEvent | ev.ErrorEvent)


def test_deeply_nested_json_does_not_raise() -> None:
    event = decode(b'{"type":"error","error":' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    assert isinstance(event, UnknownEvent)
    assert event.type == "error" or event.reason.startswith("not JSON")


def test_a_binary_looking_frame_is_unknown_not_an_exception() -> None:
    event = decode(bytes(range(256)))
    assert isinstance(event, UnknownEvent)
    assert event.raw == bytes(range(256))


# --------------------------------------------------------------------------- direction


def test_direction_follows_from_the_type_name() -> None:
    assert direction_of("input_audio_buffer.append") is Direction.CLIENT
    assert direction_of("transcription_session.update") is Direction.CLIENT
    assert direction_of("response.output_audio.delta") is Direction.SERVER
    assert direction_of("transcription_session.created") is Direction.SERVER
    assert direction_of("session.closed") is None
    assert direction_of(" input_audio_buffer.dtmf_event_received") is None
    for type_name in ev.CLIENT_TYPES:
        assert direction_of(type_name) is Direction.CLIENT
    for type_name in ev.SERVER_TYPES:
        assert direction_of(type_name) is Direction.SERVER


# --------------------------------------------------------------------------- protocol_of


@pytest.mark.parametrize("protocol", ["beta", "ga"])
def test_protocol_of_never_mislabels_a_vector(protocol: str) -> None:
    labels = {}
    for path in sorted((VECTORS / protocol).glob("*.json")):
        labels[path.name] = protocol_of(decode(path.read_bytes()))
    wrong = {name: label for name, label in labels.items() if label not in (protocol, None)}
    assert wrong == {}
    assert sum(label == protocol for label in labels.values()) >= 12


@pytest.mark.parametrize(
    ("protocol", "file_name"),
    [
        ("beta", "server.session.created.json"),
        ("beta", "client.session.update.json"),
        ("beta", "client.response.create.json"),
        ("beta", "server.response.created.json"),
        ("beta", "server.response.function_call_arguments.done.json"),
        ("beta", "server.response.audio.delta.json"),
        ("beta", "server.transcription_session.created.json"),
        ("ga", "server.session.created.json"),
        ("ga", "server.session.updated.json"),
        ("ga", "client.session.update.json"),
        ("ga", "client.response.create.json"),
        ("ga", "server.response.done.json"),
        ("ga", "server.response.function_call_arguments.done.json"),
        ("ga", "server.conversation.item.retrieved.json"),
        ("ga", "server.conversation.item.input_audio_transcription.completed.json"),
        ("ga", "server.response.output_audio.delta.json"),
        ("ga", "server.mcp_list_tools.completed.json"),
    ],
)
def test_protocol_of_recognizes_distinguishing_features(protocol: str, file_name: str) -> None:
    assert protocol_of(decode((VECTORS / protocol / file_name).read_bytes())) == protocol


def test_protocol_of_says_none_when_the_event_does_not_tell() -> None:
    assert protocol_of(decode(b'{"type":"input_audio_buffer.cleared","event_id":"e"}')) is None
    assert protocol_of(decode(b'{"type":"nope"}')) is None
    # Beta-style assistant content is not evidence of beta: GA servers send it too.
    item = {"type": "message", "role": "assistant", "content": [{"type": "audio"}]}
    data = json.dumps({"type": "conversation.item.created", "event_id": "e", "item": item})
    assert protocol_of(decode(data)) is None
