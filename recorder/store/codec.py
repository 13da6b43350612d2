"""Frame <-> row: the index columns read from a frame, and audio stored once as binary.

Only a tiny Struct is decoded to find type and ids (never the whole event). Audio events carry
their audio as base64 text; we cut that text out of the frame, keep the decoded bytes, and
splice base64 back on read. The cut is only made when re-encoding gives back exactly the same
text, so a frame always reads back byte for byte.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass

import msgspec

# Event types whose audio payload is cut out, and the field holding it.
AUDIO_FIELDS: dict[str, bytes] = {
    "input_audio_buffer.append": b"audio",
    "response.audio.delta": b"delta",
    "response.output_audio.delta": b"delta",
}
_VALUE_START = {
    field: re.compile(rb'"' + field + rb'"\s*:\s*"') for field in set(AUDIO_FIELDS.values())
}


class _Ref(msgspec.Struct):
    id: str | None = None


class _Index(msgspec.Struct):
    type: str | None = None
    event_id: str | None = None
    item_id: str | None = None
    response_id: str | None = None
    item: msgspec.Raw | None = None
    response: msgspec.Raw | None = None


_index_decoder = msgspec.json.Decoder(_Index)
_ref_decoder = msgspec.json.Decoder(_Ref)


@dataclass(slots=True, frozen=True)
class IndexColumns:
    type: str | None = None
    event_id: str | None = None
    item_id: str | None = None
    response_id: str | None = None


NO_INDEX = IndexColumns()


def index_of(data: bytes) -> IndexColumns:
    """type, event_id, item_id (or item.id), response_id (or response.id); NULLs if not JSON."""
    try:
        found = _index_decoder.decode(data)
    except msgspec.DecodeError:  # not JSON, not an object, or a field of an odd shape
        return _lenient_index_of(data)
    item_id = found.item_id or _ref_id(found.item)
    response_id = found.response_id or _ref_id(found.response)
    return IndexColumns(found.type, found.event_id, item_id, response_id)


def _ref_id(raw: msgspec.Raw | None) -> str | None:
    if raw is None:
        return None
    try:
        return _ref_decoder.decode(raw).id
    except msgspec.DecodeError:
        return None


def _lenient_index_of(data: bytes) -> IndexColumns:
    """The slow path for JSON with surprising field types: keep what is a string."""
    try:
        obj = msgspec.json.decode(data)
    except msgspec.DecodeError:
        return NO_INDEX
    if not isinstance(obj, dict):
        return NO_INDEX

    def text(value: object) -> str | None:
        return value if isinstance(value, str) else None

    def nested_id(value: object) -> str | None:
        return text(value.get("id")) if isinstance(value, dict) else None

    return IndexColumns(
        text(obj.get("type")),
        text(obj.get("event_id")),
        text(obj.get("item_id")) or nested_id(obj.get("item")),
        text(obj.get("response_id")) or nested_id(obj.get("response")),
    )


@dataclass(slots=True, frozen=True)
class AudioCut:
    """A frame with its base64 audio removed: data[:at] + base64(audio) + data[at:] is the frame."""

    data: bytes
    at: int
    audio: bytes


def cut_audio(event_type: str | None, data: bytes) -> AudioCut | None:
    """Cut the base64 audio out of an audio event, or None when it cannot be cut losslessly."""
    field = AUDIO_FIELDS.get(event_type or "")
    if field is None:
        return None
    match = _VALUE_START[field].search(data)
    if match is None:
        return None
    start = match.end()
    end = data.find(b'"', start)
    if end <= start:
        return None
    text = data[start:end]
    try:
        audio = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None
    if binascii.b2a_base64(audio, newline=False) != text:  # non-canonical: keep the frame whole
        return None
    return AudioCut(data[:start] + data[end:], start, audio)


def splice_audio(data: bytes, at: int, audio: bytes) -> bytes:
    """The frame as it crossed the wire, from a cut."""
    return data[:at] + binascii.b2a_base64(audio, newline=False) + data[at:]
