"""Frame payload -> typed event, in one pass; anything else -> an UnknownEvent that keeps the bytes.

The happy path is a single msgspec decode into a tagged union of every known event
(tag_field="type"), with a decoder built once at import. Only when that fails do we parse the
payload a second time, generically: a known type is then rebuilt field by field with the fields
of an unexpected shape kept raw (recorder.tolerant; `event.odd` lists them), and only a frame
that is not JSON, not an object, has no string type, names no known type or lacks a required
field stays an UnknownEvent, with a one-line reason. Client and server
type names never overlap, so the type alone gives the direction, and beta and GA shapes of the
same type decode through the same Struct (see recorder.resources).
"""

from __future__ import annotations

from typing import Any, Literal, Union

import msgspec

from recorder import jsontext, tolerant
from recorder.events import (
    BETA_ONLY_TYPES,
    CLIENT_TYPES,
    EVENT_CLASS_BY_TYPE,
    EVENT_CLASSES,
    GA_ONLY_TYPES,
    SERVER_TYPES,
    ConversationItemInputAudioTranscriptionCompleted,
    Event,
    ResponseCreate,
    ResponseCreated,
    ResponseDone,
    ResponseFunctionCallArgumentsDone,
    SessionCreated,
    SessionUpdate,
    SessionUpdated,
    UnknownEvent,
)
from recorder.resources import Item, Response, ResponseParams, Session
from recorder.wire import Direction

AnyEvent = Event | UnknownEvent
Protocol = Literal["ga", "beta"]

_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(Union[EVENT_CLASSES])  # noqa: UP007


def decode(data: bytes | str) -> AnyEvent:
    """Decode one text frame's payload; never raises.

    Returns the typed event (an instance of a recorder.events class; `event.odd` lists the
    fields of an unexpected shape kept raw, None when all fitted), or UnknownEvent with the raw
    bytes, the type if one was readable, and why it could not be decoded.
    """
    try:
        event: Event = _decoder.decode(data)
        return event
    # Anything at all (malformed JSON, schema mismatch, invalid UTF-8, nesting too deep; see
    # recorder.jsontext) becomes a value: a recorder must never crash on what the wire sends.
    except Exception as typed_failure:
        return _fallback(data, typed_failure)


class TypedObject(msgspec.Struct, frozen=True, gc=False):
    """A frame that is a JSON object with a string `type`: what a fallback decode starts from."""

    raw: bytes
    value: dict[str, Any]
    type: str
    event_id: str | None


def typed_object(data: bytes | str) -> TypedObject | UnknownEvent:
    """The frame parsed generically, if it is a JSON object with a string `type`; else the
    UnknownEvent saying what it is instead (not JSON, not an object, no string type). Shared by
    every protocol's fallback decode (this module's, recorder.live.decode's)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    try:
        value = jsontext.parse(raw)
    except jsontext.NotJson as not_json:
        return UnknownEvent(raw=raw, type=jsontext.readable_type(raw), reason=not_json.reason)
    if not isinstance(value, dict):
        return UnknownEvent(
            raw=raw, type=None, reason=f"JSON {_json_kind(value)}, not an object"
        )
    type_name = value.get("type")
    event_id = value.get("event_id")
    event_id = event_id if isinstance(event_id, str) else None
    if "type" not in value:
        return UnknownEvent(raw=raw, type=None, reason="no 'type' field", event_id=event_id)
    if not isinstance(type_name, str):
        reason = f"'type' is {_json_kind(type_name)}, not a string"
        return UnknownEvent(raw=raw, type=None, reason=reason, event_id=event_id)
    return TypedObject(raw, value, type_name, event_id)


def _fallback(data: bytes | str, typed_failure: Exception) -> AnyEvent:
    """The frame parsed generically: a known type rebuilt with its odd fields kept raw, or an
    UnknownEvent saying what is wrong."""
    found = typed_object(data)
    if isinstance(found, UnknownEvent):
        return found
    raw, value, type_name, event_id = found.raw, found.value, found.type, found.event_id
    cls = EVENT_CLASS_BY_TYPE.get(type_name)
    if cls is None:
        reason = f"unknown event type {type_name!r}"
        return UnknownEvent(raw=raw, type=type_name, reason=reason, event_id=event_id)
    event = _tolerant(cls, value)
    if event is not None:
        return event
    reason = f"invalid {type_name}: {jsontext.one_line(typed_failure)}"
    return UnknownEvent(raw=raw, type=type_name, reason=reason, event_id=event_id)


def _tolerant(cls: type[Event], value: dict[str, Any]) -> Event | None:
    """The event rebuilt with its odd fields kept raw; None when a required field is missing."""
    try:
        return tolerant.rebuild(cls, value)
    except Exception:  # never raise on input; the frame stays an UnknownEvent with its reason
        return None


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def direction_of(type_name: str) -> Direction | None:
    """Who sends events of this type; None for a type name no protocol version defines."""
    if type_name in SERVER_TYPES:
        return Direction.SERVER
    if type_name in CLIENT_TYPES:
        return Direction.CLIENT
    return None


# --------------------------------------------------------------------------- protocol_of

_GA_ITEM_CONTENT = frozenset({"output_text", "output_audio"})


def protocol_of(event: AnyEvent) -> Protocol | None:
    """Which protocol version sent this event, when the event itself shows it; else None.

    Uses the wire differences of CATALOG §3: GA-only and beta-only type names, the GA session's
    `type` and nested `audio` versus beta's flat session fields, GA response fields versus beta
    ones, GA `name` on function_call_arguments.done, GA `languages` on transcription, and GA
    output_text / output_audio item content. Beta-style text / audio item content is NOT taken
    as beta: GA servers have sent it too. Events that look the same in both give None.
    """
    if isinstance(event, UnknownEvent):
        return None
    if event.type in GA_ONLY_TYPES:
        return "ga"
    if event.type in BETA_ONLY_TYPES:
        return "beta"
    if isinstance(event, SessionUpdate | SessionCreated | SessionUpdated):
        return _session_protocol(event.session)
    if isinstance(event, ResponseCreated | ResponseDone):
        return _response_protocol(event.response) or _items_protocol(event.response.output)
    if isinstance(event, ResponseCreate):
        return _response_params_protocol(event.response)
    if isinstance(event, ResponseFunctionCallArgumentsDone):
        return "ga" if event.name is not None else "beta"
    if isinstance(event, ConversationItemInputAudioTranscriptionCompleted):
        return "ga" if event.languages is not None else None
    item = getattr(event, "item", None)
    if isinstance(item, Item):
        return _items_protocol([item])
    return None


def _session_protocol(session: Session) -> Protocol | None:
    if session.type is not None or session.audio is not None:
        return "ga"
    if session.output_modalities is not None or session.max_output_tokens is not None:
        return "ga"
    beta_fields = (
        session.modalities,
        session.voice,
        session.input_audio_format,
        session.output_audio_format,
        session.input_audio_transcription,
        session.input_audio_noise_reduction,
        session.temperature,
        session.max_response_output_tokens,
    )
    if any(value is not None for value in beta_fields):
        return "beta"
    return None


def _response_protocol(response: Response | ResponseParams) -> Protocol | None:
    """GA's output_modalities / audio against beta's flat fields, on a response or its request.

    max_output_tokens is not evidence either way: the official beta example uses it too.
    """
    if response.output_modalities is not None or response.audio is not None:
        return "ga"
    beta_fields = (
        response.modalities,
        response.voice,
        response.output_audio_format,
        response.temperature,
        response.max_response_output_tokens,
    )
    if any(value is not None for value in beta_fields):
        return "beta"
    return None


def _response_params_protocol(params: ResponseParams | None) -> Protocol | None:
    if params is None:
        return None
    return _response_protocol(params) or _items_protocol(params.input)


def _items_protocol(items: list[Item] | None) -> Protocol | None:
    for item in items or ():
        for part in item.content or ():
            if part.type in _GA_ITEM_CONTENT:
                return "ga"
    return None
