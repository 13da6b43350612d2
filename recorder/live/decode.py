"""Live frame payload + direction -> typed Live event, in one pass; anything else -> an
UnknownEvent that keeps the bytes. Never raises.

As recorder.decode does for Realtime: a single msgspec decode into a tagged union (one per
direction: the sideband's server sends session.input_audio.append, the client's command name,
and the legacy transport.dtmf.send notice shares the sideband's client command name, so the
direction picks the union), built once at import. Only a frame that fails it is parsed again
generically (recorder.decode.typed_object) and, for a known type, rebuilt field by field with
its odd fields kept raw (recorder.tolerant; `event.odd` lists them).

`response.event` is decoded in two steps: the envelope with its `event` left as raw bytes
(msgspec.Raw, no copy), then that nested Responses event by its own type
(recorder.live.events.RESPONSES_EVENT_CLASSES); an unknown nested type, or one that does not
fit, is an UnknownEvent holding the nested event's own bytes, inside a typed ResponseEvent.
"""

from __future__ import annotations

from typing import Any, Union

import msgspec

from recorder import jsontext, tolerant
from recorder.decode import typed_object
from recorder.events import UnknownEvent
from recorder.live.events import (
    CLIENT_EVENT_CLASSES,
    EVENT_CLASS_BY_DIRECTION,
    RESPONSES_EVENT_CLASS_BY_TYPE,
    RESPONSES_EVENT_CLASSES,
    SERVER_EVENT_CLASSES,
    AnyResponsesEvent,
    LiveEvent,
    LiveServerEvent,
    ResponseEvent,
)
from recorder.protocol import names
from recorder.wire import Direction

AnyLiveEvent = LiveEvent | UnknownEvent


class _ResponseEventFrame(LiveServerEvent, kw_only=True, tag=names.LIVE_RESPONSE_EVENT):
    """response.event as the fast decoder reads it: the nested event still as its bytes."""

    event: msgspec.Raw
    delegation_id: str | None = None


class _NestedRaw(msgspec.Struct):
    event: msgspec.Raw = msgspec.Raw()


_SERVER_WIRE = tuple(
    _ResponseEventFrame if cls is ResponseEvent else cls for cls in SERVER_EVENT_CLASSES
)
_decoders: dict[Direction, msgspec.json.Decoder[Any]] = {
    Direction.CLIENT: msgspec.json.Decoder(Union[CLIENT_EVENT_CLASSES]),  # noqa: UP007
    Direction.SERVER: msgspec.json.Decoder(Union[_SERVER_WIRE]),  # noqa: UP007
}
_nested_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(
    Union[RESPONSES_EVENT_CLASSES]  # noqa: UP007
)
_nested_raw_decoder = msgspec.json.Decoder(_NestedRaw)
_OTHER = {Direction.CLIENT: Direction.SERVER, Direction.SERVER: Direction.CLIENT}


def decode(data: bytes | str, direction: Direction) -> AnyLiveEvent:
    """Decode one text frame's payload, sent by `direction`; never raises.

    Returns the typed event (an instance of a recorder.live.events class; `event.odd` lists the
    fields of an unexpected shape kept raw, None when all fitted), or UnknownEvent with the raw
    bytes, the type if one was readable, and why it could not be decoded.
    """
    try:
        event = _decoders[direction].decode(data)
    # Anything at all (malformed JSON, schema mismatch, invalid UTF-8, nesting too deep): a
    # recorder must never crash on what the wire sends.
    except Exception as typed_failure:
        return _fallback(data, direction, typed_failure)
    if type(event) is _ResponseEventFrame:
        return _envelope(event)
    result: LiveEvent = event
    return result


def decode_responses_event(data: bytes) -> AnyResponsesEvent:
    """A Responses stream event (a response.event's `event`), typed by its own type, or an
    UnknownEvent with its bytes; never raises."""
    try:
        nested: AnyResponsesEvent = _nested_decoder.decode(data)
        return nested
    except Exception as typed_failure:
        return _nested_fallback(data, typed_failure)


def _envelope(frame: _ResponseEventFrame) -> ResponseEvent:
    return ResponseEvent(
        event_id=frame.event_id, client_event_id=frame.client_event_id,
        delegation_id=frame.delegation_id, event=decode_responses_event(bytes(frame.event)),
    )


def _nested_fallback(data: bytes, typed_failure: Exception) -> AnyResponsesEvent:
    found = typed_object(data)
    if isinstance(found, UnknownEvent):
        return found
    cls = RESPONSES_EVENT_CLASS_BY_TYPE.get(found.type)
    if cls is None:
        reason = f"unknown Responses event type {found.type!r}"
        return UnknownEvent(raw=found.raw, type=found.type, reason=reason)
    rebuilt = _tolerant(cls, found.value)
    if rebuilt is not None:
        return rebuilt
    reason = f"invalid {found.type}: {jsontext.one_line(typed_failure)}"
    return UnknownEvent(raw=found.raw, type=found.type, reason=reason)


def _fallback(data: bytes | str, direction: Direction, typed_failure: Exception) -> AnyLiveEvent:
    """The frame parsed generically: a known type rebuilt with its odd fields kept raw, or an
    UnknownEvent saying what is wrong."""
    found = typed_object(data)
    if isinstance(found, UnknownEvent):
        return found
    raw, type_name, event_id = found.raw, found.type, found.event_id
    cls = EVENT_CLASS_BY_DIRECTION[direction].get(type_name)
    if cls is None:
        other = _OTHER[direction]
        if type_name in EVENT_CLASS_BY_DIRECTION[other]:
            reason = f"{type_name!r} is a Live {other} event, not one the {direction} sends"
        else:
            reason = f"unknown Live event type {type_name!r}"
        return UnknownEvent(raw=raw, type=type_name, reason=reason, event_id=event_id)
    given: dict[str, Any] | None = None
    if cls is ResponseEvent:
        nested = _nested_raw_decoder.decode(raw).event  # parsed above: this cannot fail
        if nested:
            given = {"event": decode_responses_event(bytes(nested))}
    event = _tolerant(cls, found.value, given)
    if event is not None:
        return event
    reason = f"invalid {type_name}: {jsontext.one_line(typed_failure)}"
    return UnknownEvent(raw=raw, type=type_name, reason=reason, event_id=event_id)


def _tolerant(
    cls: type[Any], value: dict[str, Any], given: dict[str, Any] | None = None
) -> Any:
    """The event rebuilt with its odd fields kept raw; None when a required field is missing."""
    try:
        return tolerant.rebuild(cls, value, given)
    except Exception:  # never raise on input; the frame stays an UnknownEvent with its reason
        return None
