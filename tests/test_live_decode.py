"""recorder.live: every Live event typed from a realistic example, keyed by (direction, type);
nested Responses events typed by their own type; unknown and odd input kept as values.

The examples (tests/live_examples.py) are checked against the openai SDK's own Live and
Responses types (a test dependency, `openai` >= 3.12 for `types.live`), so they are frames a
real client or server could send; the catalogue is checked against the SDK's unions per
connection kind.
"""

from __future__ import annotations

import base64
import functools
import json
import random
import typing
from typing import Any

import msgspec
import pytest
from live_examples import CLIENT, RESPONSES, SERVER, frame
from pydantic import TypeAdapter

from recorder import tolerant
from recorder.events import UnknownEvent
from recorder.live import events as lev
from recorder.live.decode import decode, decode_responses_event
from recorder.live.resources import CustomVoice
from recorder.protocol import names
from recorder.wire import Direction

C, S = Direction.CLIENT, Direction.SERVER


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


@functools.cache
def _adapter(union: Any) -> TypeAdapter[Any]:
    return TypeAdapter(union)  # building one for an SDK union takes about a second


def _sdk_types(union: Any) -> frozenset[str]:
    members = typing.get_args(typing.get_args(union)[0])
    return frozenset(m.model_fields["type"].annotation.__args__[0] for m in members)


# --------------------------------------------------------------------------- the catalogue


def test_sixteen_client_and_thirty_server_types_two_names_in_both() -> None:
    assert len(lev.CLIENT_TYPES) == 16 and len(lev.SERVER_TYPES) == 30
    assert lev.CLIENT_TYPES & lev.SERVER_TYPES == names.LIVE_BOTH_DIRECTIONS == {
        "session.input_audio.append", "transport.dtmf.send"}
    assert set(CLIENT) == lev.CLIENT_TYPES and set(SERVER) == lev.SERVER_TYPES


def test_each_connection_kinds_types_are_the_sdks() -> None:
    from openai.types.live.client_event import ClientEvent
    from openai.types.live.connect_client_event import ConnectClientEvent
    from openai.types.live.connect_server_event import ConnectServerEvent
    from openai.types.live.fork_client_event import ForkClientEvent
    from openai.types.live.fork_server_event import ForkServerEvent
    from openai.types.live.server_event import ServerEvent

    assert _sdk_types(ClientEvent) == lev.PRIMARY_CLIENT_TYPES  # 15
    assert _sdk_types(ServerEvent) == lev.PRIMARY_SERVER_TYPES  # 28
    assert _sdk_types(ConnectClientEvent) == lev.SIDEBAND_CLIENT_TYPES  # 14
    assert _sdk_types(ConnectServerEvent) == lev.SIDEBAND_SERVER_TYPES  # 30
    assert _sdk_types(ForkClientEvent) == lev.FORK_CLIENT_TYPES
    assert _sdk_types(ForkServerEvent) == lev.FORK_SERVER_TYPES


@pytest.mark.parametrize(("direction", "type_name"),
                         [(C, t) for t in CLIENT] + [(S, t) for t in SERVER])
def test_each_example_is_one_the_sdk_accepts(direction: Direction, type_name: str) -> None:
    from openai.types.live.client_event import ClientEvent
    from openai.types.live.connect_client_event import ConnectClientEvent
    from openai.types.live.connect_server_event import ConnectServerEvent

    example = (CLIENT if direction is C else SERVER)[type_name]
    unions = [ClientEvent, ConnectClientEvent] if direction is C else [ConnectServerEvent]
    union = next(u for u in unions if type_name in _sdk_types(u))
    _adapter(union).validate_python(example)  # raises if the example is not well formed


@pytest.mark.parametrize("type_name", list(RESPONSES))
def test_each_nested_example_is_a_responses_stream_event(type_name: str) -> None:
    from openai.types.responses.response_stream_event import ResponseStreamEvent

    assert _adapter(ResponseStreamEvent).validate_python(RESPONSES[type_name]).type == type_name
    assert type_name in lev.RESPONSES_EVENT_TYPES


# --------------------------------------------------------------------------- typed decoding


@pytest.mark.parametrize(("direction", "type_name"),
                         [(C, t) for t in CLIENT] + [(S, t) for t in SERVER])
def test_every_event_decodes_strictly_to_its_class(direction: Direction, type_name: str) -> None:
    example = (CLIENT if direction is C else SERVER)[type_name]
    event = decode(frame(example), direction)
    assert type(event) is lev.EVENT_CLASS_BY_DIRECTION[direction][type_name]
    assert (event.type, event.direction, event.odd) == (type_name, direction, None)
    # nothing of the example is lost: encoded again, it is the example (nulls aside)
    assert json.loads(msgspec.json.encode(event)) == _without_nulls(example)
    assert decode(frame(example).decode(), direction) == event  # str as bytes


def test_nested_resources_are_typed() -> None:
    started = decode(frame(SERVER["session.started"]), S)
    assert isinstance(started, lev.SessionStarted)
    session = started.session
    assert session.id == "live_u0_7QmV2rK9sT" and session.status == "active"
    assert session.audio and session.audio.format and session.audio.format.rate == 24000
    assert session.audio.output and session.audio.output.voice == "marin"
    assert session.delegation and session.delegation.responses
    [tool] = session.delegation.responses.tools or []
    assert (tool.name, tool.parameters and tool.parameters["required"]) == (
        "get_weather", ["city"])
    assert [item.role for item in session.input or []] == ["developer", "user", "assistant"]

    delegation = decode(frame(SERVER["session.delegation.created"]), S)
    assert isinstance(delegation, lev.DelegationCreated)
    assert (delegation.delegation.target, delegation.offset_ms) == ("responses", 2450)
    decision = decode(frame(SERVER["decision.event"]), S)
    assert isinstance(decision, lev.DecisionEvent) and decision.event.decision
    assert decision.event.decision.usage and decision.event.decision.usage.total_tokens == 415
    closed = decode(frame(SERVER["session.closed"]), S)
    assert isinstance(closed, lev.SessionClosed)
    assert (closed.reason, closed.usage and closed.usage.seconds) == ("close_requested", 28.0)
    output = decode(frame(CLIENT["response.item.create"]), C)
    assert isinstance(output, lev.ResponseItemCreate)
    assert (output.item.type, output.item.call_id) == ("function_call_output", "call_Kx3PqW9dZ2")


def test_a_custom_voice_is_an_object() -> None:
    start = {**CLIENT["session.start"], "session": {
        "model": "gpt-live-1", "audio": {"output": {"voice": {"id": "voice_9a"}}}}}
    event = decode(frame(start), C)
    assert isinstance(event, lev.SessionStart) and event.odd is None
    assert event.session.audio and event.session.audio.output
    assert event.session.audio.output.voice == CustomVoice(id="voice_9a")


def test_a_fork_start_holds_overrides_only() -> None:
    event = decode(b'{"type":"session.start","session":{}}', C)
    assert isinstance(event, lev.SessionStart) and event.odd is None
    assert event.session.model is None


def test_audio_frames_carry_no_event_id() -> None:
    delta = decode(b'{"type":"session.output_audio.delta","delta":"AAAA"}', S)
    assert isinstance(delta, lev.OutputAudioDelta)
    assert (delta.event_id, delta.start_ms, delta.end_ms) == (None, None, None)


# --------------------------------------------------------------------------- direction


def test_the_sidebands_reflected_append_is_a_server_event() -> None:
    data = frame(SERVER["session.input_audio.append"])
    assert data == frame(CLIENT["session.input_audio.append"])  # the very same bytes
    sent, reflected = decode(data, C), decode(data, S)
    assert type(sent) is lev.InputAudioAppend and sent.direction is C
    assert type(reflected) is lev.SidebandInputAudioAppend and reflected.direction is S
    assert sent.audio == reflected.audio


def test_the_legacy_dtmf_notice_is_not_the_command() -> None:
    command = decode(frame(CLIENT["transport.dtmf.send"]), C)
    notice = decode(frame(SERVER["transport.dtmf.send"]), S)
    assert type(command) is lev.TransportDtmfSend
    assert type(notice) is lev.TransportDtmfSendNotice
    assert notice.client_event_id == "evt_c015"


@pytest.mark.parametrize(("data", "direction", "reason"), [
    (frame(SERVER["session.started"]), C,
     "'session.started' is a Live server event, not one the client sends"),
    (frame(CLIENT["session.start"]), S,
     "'session.start' is a Live client event, not one the server sends"),
])
def test_an_event_from_the_wrong_side_is_unknown(
    data: bytes, direction: Direction, reason: str
) -> None:
    event = decode(data, direction)
    assert isinstance(event, UnknownEvent)
    assert (event.raw, event.reason) == (data, reason)


# --------------------------------------------------------------------------- response.event


@pytest.mark.parametrize("type_name", list(RESPONSES))
def test_a_nested_responses_event_is_typed_by_its_own_type(type_name: str) -> None:
    envelope = {**SERVER["response.event"], "event": RESPONSES[type_name]}
    event = decode(frame(envelope), S)
    assert isinstance(event, lev.ResponseEvent) and event.odd is None
    assert event.delegation_id == "item_4hTz81Lw" and event.event_id == "event_0015"
    nested = event.event
    assert type(nested) is lev.RESPONSES_EVENT_CLASS_BY_TYPE[type_name]
    assert isinstance(nested, lev.ResponsesEvent) and nested.odd is None
    assert json.loads(msgspec.json.encode(event)) == _without_nulls(envelope)


def test_backend_usage_and_tool_calls_read_from_nested_events() -> None:
    completed = decode(frame({**SERVER["response.event"],
                              "event": RESPONSES["response.completed"]}), S)
    assert isinstance(completed, lev.ResponseEvent)
    assert isinstance(completed.event, lev.BackendResponseCompleted)
    usage = completed.event.response.usage
    assert usage and (usage.input_tokens, usage.output_tokens) == (318, 24)
    done = decode_responses_event(frame(RESPONSES["response.output_item.done"]))
    assert isinstance(done, lev.BackendOutputItemDone)
    assert (done.item.name, done.item.call_id, done.item.arguments) == (
        "get_weather", "call_Kx3PqW9dZ2", '{"city":"Lisbon"}')


def test_an_unknown_nested_type_is_kept_with_its_own_bytes() -> None:
    nested = (b'{"type":"response.reasoning_summary_text.delta","sequence_number":3,'
              b'"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"Checking"}')
    data = (b'{"type":"response.event","event_id":"event_0031","delegation_id":"item_4hTz81Lw",'
            b'"event":' + nested + b"}")
    event = decode(data, S)
    assert isinstance(event, lev.ResponseEvent) and event.odd is None
    assert event.delegation_id == "item_4hTz81Lw"
    assert event.event == UnknownEvent(
        raw=nested, type="response.reasoning_summary_text.delta",
        reason="unknown Responses event type 'response.reasoning_summary_text.delta'")


def test_a_nested_event_of_an_odd_shape_is_rebuilt_there() -> None:
    odd = {**RESPONSES["response.output_text.delta"], "output_index": "0", "logprobs": "none"}
    event = decode(frame({**SERVER["response.event"], "event": odd}), S)
    assert isinstance(event, lev.ResponseEvent) and event.odd is None  # the envelope fitted
    nested = event.event
    assert isinstance(nested, lev.BackendOutputTextDelta) and nested.odd is not None
    assert nested.output_index == 0 and nested.logprobs is None
    assert nested.odd.coerced == {"output_index": "0"}
    assert nested.odd.fields == {"logprobs": "none"}


@pytest.mark.parametrize(("nested", "reason"), [
    (b'"response.created"', "JSON a string, not an object"),
    (b'{"sequence_number":1}', "no 'type' field"),
    (b'{"type":"response.output_text.delta","delta":"x"}',
     "invalid response.output_text.delta: Object missing required field `item_id`"),
])
def test_a_nested_event_that_is_not_one_stays_unknown(nested: bytes, reason: str) -> None:
    event = decode(b'{"type":"response.event","event_id":"e","event":' + nested + b"}", S)
    assert isinstance(event, lev.ResponseEvent)
    assert isinstance(event.event, UnknownEvent)
    assert (event.event.raw, event.event.reason) == (nested, reason)


def test_an_odd_envelope_keeps_its_nested_event_typed() -> None:
    envelope = {**SERVER["response.event"], "delegation_id": 42,
                "event": RESPONSES["response.function_call_arguments.done"]}
    event = decode(frame(envelope), S)
    assert isinstance(event, lev.ResponseEvent) and event.odd is not None
    assert event.odd.fields == {"delegation_id": 42} and event.delegation_id is None
    assert isinstance(event.event, lev.BackendFunctionCallArgumentsDone)
    assert event.event.arguments == '{"city":"Lisbon"}'


def test_a_response_event_without_its_event_is_unknown() -> None:
    data = b'{"type":"response.event","event_id":"e","delegation_id":null}'
    event = decode(data, S)
    assert isinstance(event, UnknownEvent)
    assert event.reason == "invalid response.event: Object missing required field `event`"


# --------------------------------------------------------------------------- tolerant


def test_wrong_field_types_are_kept_raw_or_coerced() -> None:
    transcript = {**SERVER["session.input_transcript.delta"], "start_ms": "1200",
                  "end_ms": 1400.5}
    event = decode(frame(transcript), S)
    assert isinstance(event, lev.InputTranscriptDelta) and event.odd is not None
    assert event.start_ms == 1200 and event.odd.coerced == {"start_ms": "1200"}
    assert event.odd.fields == {"end_ms": 1400.5} and event.untyped == ("end_ms",)

    started = {**SERVER["session.started"], "session": {
        **SERVER["session.started"]["session"],
        "audio": {"format": {"type": "audio/pcmu", "rate": {"hz": 8000}}},
        "expires_at": "1796400000"}}
    event = decode(frame(started), S)
    assert isinstance(event, lev.SessionStarted) and event.odd is not None
    assert event.session.id == "live_u0_7QmV2rK9sT" and event.session.expires_at == 1796400000
    assert event.session.audio and event.session.audio.format
    assert event.session.audio.format.type == "audio/pcmu"
    assert event.odd.fields == {"session.audio.format.rate": {"hz": 8000}}
    assert event.odd.untyped == ()


def test_a_null_error_code_fits_and_a_missing_required_field_does_not() -> None:
    error = {**SERVER["error"], "error": {"type": "server_error", "code": None,
                                          "message": "Responses handoff incomplete."}}
    event = decode(frame(error), S)
    assert isinstance(event, lev.ErrorEvent) and event.odd is None
    assert event.error.code is None
    missing = b'{"type":"session.delegation.created","event_id":"e","offset_ms":10}'
    unknown = decode(missing, S)
    assert isinstance(unknown, UnknownEvent) and unknown.event_id == "e"
    assert unknown.reason == (
        "invalid session.delegation.created: Object missing required field `delegation`")


@pytest.mark.parametrize(("data", "type_name", "reason"), [
    (b'{"type":"session.output_audio.flush","event_id":"e"}', "session.output_audio.flush",
     "unknown Live event type 'session.output_audio.flush'"),
    (b'{"event_id":"e"}', None, "no 'type' field"),
    (b'[1,2]', None, "JSON an array, not an object"),
    (b'{"type":7}', None, "'type' is a number, not a string"),
])
def test_what_is_not_a_live_event_is_unknown_with_its_bytes(
    data: bytes, type_name: str | None, reason: str
) -> None:
    for direction in (C, S):
        event = decode(data, direction)
        assert isinstance(event, UnknownEvent)
        assert (event.raw, event.type, event.reason) == (data, type_name, reason)


def test_decode_never_raises_on_damaged_frames() -> None:
    rng = random.Random(18)
    examples = [(C, frame(e)) for e in CLIENT.values()] + [(S, frame(e)) for e in SERVER.values()]
    examples += [(S, frame({**SERVER["response.event"], "event": e})) for e in RESPONSES.values()]
    decoded = 0
    for direction, data in examples:
        for _ in range(40):
            mutated = bytearray(data)
            for _ in range(rng.randrange(1, 4)):
                mutated[rng.randrange(len(mutated))] = rng.choice(b'"\\:,{}[]0a \xff')
            event = decode(bytes(mutated), direction)
            assert isinstance(event, lev.LiveEvent | UnknownEvent)
            decoded += isinstance(event, lev.LiveEvent)
    assert decoded > 100  # most damage lands in values: still typed, noted in odd


def test_rebuilt_events_keep_their_class_for_dispatch() -> None:
    event = decode(frame({**SERVER["session.commentary.appended"], "start_ms": "x"}), S)
    assert isinstance(event, lev.CommentaryAppended) and event.odd is not None
    assert type(event) is not lev.CommentaryAppended  # the subclass tolerant made
    assert event.type == "session.commentary.appended"
    assert tolerant.rebuild(lev.SessionStart, {"type": "session.start"}) is None


def _nested_arrays(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "not JSON: Input data was truncated"),
    (b'{"type":"session.output_transcript.delta","delta":"\xff\xfe"}', "not valid UTF-8 text"),
    (b'{"type":"session.started","session":' + _nested_arrays(100_000) + b"}",
     "not JSON: nested too deep to read"),
])
def test_hostile_frames_are_unknown(data: bytes, reason: str) -> None:
    event = decode(data, S)
    assert isinstance(event, UnknownEvent) and event.raw == data
    assert event.reason == reason


def test_a_nested_event_too_deep_to_read_leaves_the_frame_unknown_with_its_type() -> None:
    deep = b'{"type":"response.created","response":' + _nested_arrays(100_000) + b"}"
    data = b'{"type":"response.event","event_id":"e","event":' + deep + b"}"
    event = decode(data, S)
    assert isinstance(event, UnknownEvent) and event.raw == data
    assert (event.type, event.reason) == ("response.event", "not JSON: nested too deep to read")


def test_a_large_audio_frame_decodes() -> None:
    audio = b64_of(bytes(8 * 2**20))  # 8 MiB of PCM: ~3 minutes at 24 kHz in one frame
    event = decode(b'{"type":"session.output_audio.delta","delta":"' + audio + b'"}', S)
    assert isinstance(event, lev.OutputAudioDelta) and len(event.delta) == len(audio)


def b64_of(data: bytes) -> bytes:
    return base64.b64encode(data)
