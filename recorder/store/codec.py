"""Frame <-> row: the index columns read from a frame, and audio stored once as binary.

Only a tiny Struct is decoded to find type and ids (never the whole event). Audio events carry
their audio as base64 text; we cut that text out of the frame, keep the decoded bytes, and
splice base64 back on read. The cut is only made when re-encoding gives back exactly the same
text, so a frame always reads back byte for byte. The leading '{"type":"<type>",' that nearly
every event starts with is left out too (the type column holds it) and put back on read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
from pybase64 import b64encode

from recorder import jsontext
from recorder.protocol import audio_fields, b64
from recorder.redact import FrameRedactor, Redaction
from recorder.store import schema
from recorder.wire import Direction, Frame, Opcode

# Event types whose audio payload is cut out, and the field holding it (recorder.protocol):
# Realtime's and Live's audio events alike.
AUDIO_FIELDS: dict[str, bytes] = {
    event_type: field.encode()
    for event_type, field in audio_fields.STORED_AUDIO_FIELDS.items()
}
_VALUE_START = {
    field: re.compile(rb'"' + field + rb'"\s*:\s*"') for field in set(AUDIO_FIELDS.values())
}
# The audio key in quotes. A frame is only cut when this occurs once: with the key nested or
# repeated, the first match need not be the event's audio (the frame is then stored whole).
# Inside a JSON string a quote is escaped, so text cannot fake it; a string value equal to the
# key only makes us keep one more frame whole.
_QUOTED_KEY = {field: b'"' + field + b'"' for field in set(AUDIO_FIELDS.values())}


class _Ref(msgspec.Struct):
    id: str | None = None


class _Index(msgspec.Struct):
    type: str | None = None
    event_id: str | None = None
    item_id: str | None = None
    response_id: str | None = None
    # Raw, not Raw | None: msgspec refuses that union ("Expected `null`, got `object`"), which
    # sent every frame with an item or response to the slow path (a whole decode: a copy of it)
    item: msgspec.Raw = msgspec.Raw()
    response: msgspec.Raw = msgspec.Raw()


_index_decoder = msgspec.json.Decoder(_Index)
_ref_decoder = msgspec.json.Decoder(_Ref)


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~5x, and this runs per frame
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
    # not JSON, not an object, a field of an odd shape, invalid UTF-8, too deep (jsontext)
    except jsontext.FAILURES:
        return _lenient_index_of(data)
    item_id = found.item_id or _ref_id(found.item)
    response_id = found.response_id or _ref_id(found.response)
    return IndexColumns(found.type, found.event_id, item_id, response_id)


def _ref_id(raw: msgspec.Raw) -> str | None:
    if not raw:  # absent (a null is no object: _ref_decoder refuses it)
        return None
    try:
        return _ref_decoder.decode(raw).id
    except jsontext.FAILURES:
        return None


def _lenient_index_of(data: bytes) -> IndexColumns:
    """The slow path for JSON with surprising field types: keep what is a string."""
    try:
        obj = jsontext.parse(data)
    except jsontext.NotJson:
        # nested too deep for msgspec: its type as jsontext reads it (a scan); else none
        kind = jsontext.frame_type(data)
        return NO_INDEX if kind is None else IndexColumns(kind)
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


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~5x, and this runs per frame
class AudioCut:
    """A frame with its base64 audio removed: data[:at] + base64(audio) + data[at:] is the frame."""

    data: bytes
    at: int
    audio: bytes


def cut_audio(event_type: str | None, data: bytes) -> AudioCut | None:
    """Cut the base64 audio out of an audio event, or None when it cannot be cut losslessly."""
    field = AUDIO_FIELDS.get(event_type or "")
    if field is None or data.count(_QUOTED_KEY[field]) != 1:  # absent, or nested / repeated
        return None
    match = _VALUE_START[field].search(data)
    if match is None:
        return None
    start = match.end()
    end = data.find(b'"', start)
    if end <= start:
        return None
    audio = canonical_base64(_span(data, start, end))
    if audio is None:  # the frame is kept whole
        return None
    return AudioCut(data[:start] + data[end:], start, audio)


# From this size on, a span of a frame is read through a memoryview instead of copied out: a
# 16 MiB frame then costs the decoded audio, not another 16 MiB of base64 text first.
_VIEW_FROM = 64 * 2**10


def _span(data: bytes, start: int, end: int) -> bytes | memoryview:
    return data[start:end] if end - start < _VIEW_FROM else memoryview(data)[start:end]


# What base64 audio may be stored as bytes: recorder.protocol.b64 decides (cut_audio, _split).
canonical_base64 = b64.canonical
_b64decode = b64.DECODE_VALIDATING
_BASE64_VALUE = b64.VALUE
_PAD = b64.PAD


def type_prefix(event_type: str) -> bytes:
    """How almost every event starts: '{"type":"<type>",'. Stored frames leave it out."""
    return b'{"type":"' + event_type.encode() + b'",'


def strip_type_prefix(event_type: str | None, data: bytes) -> bytes | None:
    """The frame without its leading type (kept in the type column), or None if it differs."""
    if event_type is None:
        return None
    prefix = type_prefix(event_type)
    return data[len(prefix):] if data.startswith(prefix) else None


def splice_audio(data: bytes, at: int, audio: bytes) -> bytes:
    """The frame as it crossed the wire, from a cut: the one place audio is encoded back."""
    return b"".join((data[:at], b64encode(audio), data[at:]))


def splice_into_empty_field(type_name: str | None, data: bytes, audio: bytes) -> bytes:
    """Put base64 audio back into the empty audio field of a frame read with audio="bytes"."""
    field = AUDIO_FIELDS.get(type_name or "")
    match = _VALUE_START[field].search(data) if field is not None else None
    if match is None:  # cannot happen for a frame the log handed over this way
        raise ValueError(f"no empty audio field in a {type_name} frame to splice audio into")
    return splice_audio(data, match.end(), audio)


@dataclass(slots=True)  # not frozen: frozen __init__ costs ~5x, and this runs per frame
class StoredForm:
    """How a text frame is stored: index columns, body (maybe without its type prefix and its
    audio), and the audio cut out of it."""

    index: IndexColumns
    stripped: bool  # body lacks type_prefix(index.type)
    body: bytes
    audio_at: int | None
    audio: bytes | None


def stored_form(data: bytes) -> StoredForm:
    """Split a text frame for storage (frame_row stores it; RowReader joins it back to the same
    bytes). Never raises: a frame that surprises the codec is stored whole, unindexed."""
    try:
        return _stored_form(data)
    except Exception:
        return StoredForm(NO_INDEX, False, data, None, None)


def _stored_form(data: bytes) -> StoredForm:
    split = split_audio_event(data)
    if split is not None:  # the bulk of a session
        audio_type, body, at, audio = split
        return StoredForm(index_of(type_prefix(audio_type) + body), True, body, at, audio)
    index = index_of(data)
    # a large frame keeps its prefix: leaving out ~30 bytes would cost a copy of the frame
    stripped = strip_type_prefix(index.type, data) if len(data) < _VIEW_FROM else None
    body = data if stripped is None else stripped
    cut = cut_audio(index.type, body)
    if cut is not None:
        return StoredForm(index, stripped is not None, cut.data, cut.at, cut.audio)
    return StoredForm(index, stripped is not None, body, None, None)


_TYPE_START = b'{"type":"'
# type name as bytes -> (type, its prefix, the prefix's length, its audio key as SDKs write
# it, key pattern, the key in quotes, the body of '{"type":"<type>","<key>":"..."}')
_AUDIO_EVENTS = {
    name.encode(): (
        name, type_prefix(name), len(type_prefix(name)), b'"' + field + b'":"', _VALUE_START[field],
        _QUOTED_KEY[field], b'"' + field + b'":""}',
    )
    for name, field in AUDIO_FIELDS.items()
}
# Audio events of one kind often have the same body once the audio is out (appends without
# event_id): remember the last body that was checked instead of decoding it again.
_last_body: dict[str, bytes] = {}


def split_audio_event(data: bytes) -> tuple[str, bytes, int, bytes] | None:
    """(type, body, at, audio) for an audio event that starts with its type prefix: body is the
    frame without that prefix and without the base64 text, which decodes canonically to audio
    and went at offset `at` of body. None for any other frame.

    This runs for most frames of a session, so it is one flat function. It never raises: a
    frame it cannot split (whatever its bytes) is None, stored whole by stored_form.
    """
    try:
        return _split(data)
    except Exception:
        return None


def _split(data: bytes) -> tuple[str, bytes, int, bytes] | None:
    """split_audio_event's work (which only adds the guarantee that nothing raises)."""
    spec = _AUDIO_EVENTS.get(data[9:data.find(b'"', 9)])  # 9: len(_TYPE_START)
    if spec is None:
        return None
    audio_type, prefix, skip, compact_key, value_start, quoted_key, bare_body = spec
    if not data.startswith(prefix):  # '{"type":"<type>",' exactly
        return None
    if data.startswith(compact_key, skip):
        start = skip + len(compact_key)
    elif (at := data.find(compact_key, skip)) >= 0:  # after other members, as SDKs write it
        start = at + len(compact_key)
    else:
        match = value_start.search(data, skip)
        if match is None:
            return None
        start = match.end()
    end = data.find(b'"', start)
    if end <= start or (end - start) % 4:
        return None
    # b64.canonical, inline: a call here costs ~2% of the split of a 1 KB chunk (the bulk of a
    # session). tests/test_protocol_b64.py checks that the split agrees with b64.canonical.
    try:
        audio = _b64decode(_span(data, start, end), None, True)  # validate=True
    except ValueError:  # binascii.Error
        return None
    if data[end - 1] == _PAD:
        if data[end - 2] == _PAD:
            if _BASE64_VALUE[data[end - 3]] & 0x0F:
                return None
        elif _BASE64_VALUE[data[end - 2]] & 0x03:
            return None
    if end == len(data) - 2 and start == skip + len(compact_key) and data.endswith(b'"}'):
        body = bare_body  # {"type":"<type>","audio":"..."}: the bulk of the input stream
    else:
        body = data[skip:start] + data[end:]
    if _last_body.get(audio_type) != body:  # (a body seen before passed these checks)
        if body.count(quoted_key) != 1:  # the key nested or repeated: see _QUOTED_KEY
            return None
        if _type_of(prefix + body) != audio_type:  # not the JSON it seemed
            return None
        _last_body[audio_type] = body
    return audio_type, body, start - skip, audio


def _type_of(data: bytes) -> str | None:
    """index_of(data).type, without building the rest of the index."""
    try:
        return _index_decoder.decode(data).type
    except jsontext.FAILURES:
        return _lenient_index_of(data).type




# -- frame <-> row: the one pair the writer and the read path share -------------------------


# A frames row as the writer inserts it and the log selects it: a plain tuple of the values of
# ROW_COLUMNS, in that order (a NamedTuple would cost 0.7 us more per frame written); readers
# find a column by its name (ROW_AT, or RowReader.reading for the columns of a query). Each
# name is looked up in schema.frames (a KeyError here: the table lacks that column); id is left
# to the database (write order).
Row = tuple[Any, ...]
ROW_COLUMNS: tuple[str, ...] = tuple(schema.frames.c[name].name for name in (
    "session", "seq", "t_ns",
    "direction",  # schema.DIRECTION_CODES
    "opcode",
    "type",  # event_types.id; the type's name while its id is not known yet (with_type_id)
    "event_id", "item_id", "response_id",
    "stripped",  # 1: data lacks type_prefix(type)
    "data", "audio_at", "audio",
    "redaction",  # REDACTIONS; NULL: nothing redacted (nearly every frame)
))
ROW_AT: dict[str, int] = {name: position for position, name in enumerate(ROW_COLUMNS)}
_TYPE_AT = ROW_AT["type"]
_CLIENT = schema.DIRECTION_CODES["client"]
_SERVER = schema.DIRECTION_CODES["server"]


def frame_row(session_pk: int, seq: int, frame: Frame, type_ids: Mapping[str, int]) -> Row:
    """The frames row for one frame (values in ROW_COLUMNS' order); the type's name stands in
    for an id not in type_ids yet (with_type_id puts the id in once it is known). Never raises
    for the frame's bytes."""
    direction = _CLIENT if frame.direction is Direction.CLIENT else _SERVER
    data = frame.data
    redaction = int(frame.redaction) or None
    # each tuple: session, seq, t_ns, direction, opcode, type, event_id, item_id, response_id,
    # stripped, data, audio_at, audio, redaction (ROW_COLUMNS; tests read rows back by name)
    if frame.opcode != 1:  # binary frames are kept as they are, unindexed
        return (session_pk, seq, frame.t_ns, direction, int(frame.opcode), None,
                None, None, None, None, data, None, None, redaction)
    split = split_audio_event(data)
    if split is not None:  # most frames: audio out as binary, ids left inside the small body
        return (session_pk, seq, frame.t_ns, direction, 1, type_ids.get(split[0], split[0]),
                None, None, None, 1, split[1], split[2], split[3], redaction)
    form = stored_form(data)  # never raises: a surprise is stored whole, unindexed
    type_name = form.index.type
    type_id = None if type_name is None else type_ids.get(type_name, type_name)
    flag = 1 if form.stripped else None
    if form.audio is not None:  # ids stay inside the (now small) body: not stored twice
        return (session_pk, seq, frame.t_ns, direction, 1, type_id,
                None, None, None, flag, form.body, form.audio_at, form.audio, redaction)
    index = form.index
    return (session_pk, seq, frame.t_ns, direction, 1, type_id,
            index.event_id, index.item_id, index.response_id, flag, form.body, None, None,
            redaction)


class SplitFrame(msgspec.Struct, frozen=True, gc=False):
    """An audio event as it waits for the writer, split once while it was hot (split_frame):
    split_audio_event's (type, body, at, audio) and the frame's place. `size` is the frame's
    length on the wire; frame() gives the frame back, byte for byte (for the journal), and it
    reads as that Frame does (data, opcode, redaction: the writer itself needs none of them).
    Untouched by redaction (only such frames are split before they are queued)."""

    direction: Direction
    t_ns: int
    size: int
    type: str
    body: bytes
    at: int
    audio: bytes

    def frame(self) -> Frame:
        return Frame(self.direction, self.t_ns, Opcode.TEXT, self.data)

    @property
    def data(self) -> bytes:
        prefix = _PREFIXES[self.type]
        return splice_audio(prefix + self.body, self.at + len(prefix), self.audio)

    @property
    def opcode(self) -> Opcode:
        return Opcode.TEXT

    @property
    def redaction(self) -> Redaction:
        return Redaction.UNTOUCHED


_PREFIXES = {name: type_prefix(name) for name in AUDIO_FIELDS}
# Past this size a frame is queued whole (and split by the writer, as before): its decoded
# audio beside the frame would double what a large frame costs in memory meanwhile.
_SPLIT_EARLY_BELOW = _VIEW_FROM


def split_frame(redactor: FrameRedactor, direction: Direction, t_ns: int,
                data: bytes) -> SplitFrame | None:
    """A text frame split for the log now, while it is hot, when it is an audio event that the
    redactor leaves untouched (nearly every frame of a call): the audio is then cut out once,
    and the redactor reads the ~100 bytes around it instead of the whole frame
    (FrameRedactor.untouched_around_audio). None: append the frame as any other (redacted,
    split by the writer). Never raises."""
    if len(data) >= _SPLIT_EARLY_BELOW:
        return None
    split = split_audio_event(data)
    if split is None:
        return None
    audio_type, body, at, audio = split
    if not redactor.untouched_around_audio(_PREFIXES[audio_type] + body, data):
        return None
    return SplitFrame(direction, t_ns, len(data), audio_type, body, at, audio)


def split_row(session_pk: int, seq: int, split: SplitFrame, type_ids: Mapping[str, int]) -> Row:
    """frame_row's row for a frame split_frame split (the same values, without a second split)."""
    return (session_pk, seq, split.t_ns, _CLIENT if split.direction is Direction.CLIENT
            else _SERVER, 1, type_ids.get(split.type, split.type), None, None, None, 1,
            split.body, split.at, split.audio, None)


def with_type_id(row: Row, type_ids: Mapping[str, int]) -> Row:
    """The row with its type's id in place of the name frame_row left there."""
    name = row[_TYPE_AT]
    if not isinstance(name, str):
        return row
    return (*row[:_TYPE_AT], type_ids[name], *row[_TYPE_AT + 1:])


T = TypeVar("T")


class StoredFrame(msgspec.Struct, frozen=True, gc=False):
    """A frame read back from the log; data is byte-identical to what crossed the wire.

    Read with audio="bytes", an audio event whose audio the log holds as binary (see
    recorder.store.codec: input_audio_buffer.append, response.(output_)audio.delta, and Live's
    session.input_audio.append, session.output_audio.delta and session.output_audio.fixture.play
    with canonical base64) comes instead with that audio in `audio` and `data` lacking its base64
    text: the audio field reads as the empty string ("delta":""), the rest of the frame is
    as recorded. Every other frame, and every frame in the default mode, has audio None and
    data as it crossed the wire.

    Byte-identical except redacted secrets: `redaction` says whether and how the recorder (or
    an import) redacted the frame (recorder.redact.Redaction; SCANNED: it could not be
    parsed, and a byte scan masked it).
    """

    seq: int
    t_ns: int
    direction: Direction
    opcode: Opcode
    type: str | None
    event_id: str | None
    item_id: str | None
    response_id: str | None
    data: bytes
    audio: bytes | None = None
    redaction: Redaction = Redaction.UNTOUCHED

    def to_frame(self) -> Frame:
        """The frame as it crossed the wire (also for a frame read with audio="bytes")."""
        data = self.data
        if self.audio is not None:
            data = splice_into_empty_field(self.type, data, self.audio)
        return Frame(self.direction, self.t_ns, self.opcode, data, self.redaction)


# The redaction column back to the Redaction (NULL: nothing redacted); a value a newer rtrec
# may write reads as the cautious one (see RowReader).
REDACTIONS = {None: Redaction.UNTOUCHED, 1: Redaction.PARSED, 2: Redaction.SCANNED}
_DIRECTIONS = {_CLIENT: Direction.CLIENT, _SERVER: Direction.SERVER}
_OPCODES = {1: Opcode.TEXT, 2: Opcode.BINARY}


class RowReader:
    """Rows of frames back to frames (frame_row's inverse), given the event_types it learns.

    One reader serves one log: it keeps the type names, their prefixes, and the last outline
    (frame without its audio) per type with the ids read from it, which audio frames of a
    session often repeat frame after frame.
    """

    def __init__(self) -> None:
        self.type_names: dict[int, str] = {}
        self._prefixes: dict[int, bytes] = {}
        self._outlines: dict[int, tuple[bytes, IndexColumns]] = {}
        self._kinds: dict[int, tuple[Direction, Opcode, str | None, bytes | None]] = {}

    def knows_types(self, type_ids: Iterable[int | None]) -> bool:
        """Whether every type id (None: no type) has its name here."""
        names = self.type_names
        return all(type_id is None or type_id in names for type_id in type_ids)

    def learn(self, type_names: Iterable[tuple[int, str]]) -> None:
        """The event_types rows (id, name). The dicts are updated in place: functions from
        reading() see them."""
        self.type_names.clear()
        self.type_names.update((int(type_id), str(name)) for type_id, name in type_names)
        self._prefixes.clear()
        self._prefixes.update(
            (type_id, type_prefix(name)) for type_id, name in self.type_names.items()
        )
        self._kinds.clear()

    def reading(
        self, columns: Sequence[str], *, as_bytes: bool = False
    ) -> Callable[[Sequence[Any]], StoredFrame]:
        """The function from a row of a query selecting `columns` (ROW_COLUMNS but session, in
        any order, others too) to its frame. as_bytes: see StoredFrame.

        Each column's position in the row is found here, once per query, by its name; the
        returned function is the hot loop of reading a session.
        """
        at = {name: position for position, name in enumerate(columns)}
        p_seq, p_t_ns, p_direction, p_opcode, p_type = (
            at["seq"], at["t_ns"], at["direction"], at["opcode"], at["type"]
        )
        p_event_id, p_item_id, p_response_id = at["event_id"], at["item_id"], at["response_id"]
        p_stripped, p_data, p_audio_at, p_audio = (
            at["stripped"], at["data"], at["audio_at"], at["audio"]
        )
        p_redaction = at["redaction"]
        names, prefixes, outlines = self.type_names, self._prefixes, self._outlines

        def stored_frame(row: Sequence[Any]) -> StoredFrame:
            type_id = row[p_type]
            type_name = names.get(type_id) if type_id is not None else None
            data = row[p_data]
            stripped = row[p_stripped] and type_name is not None
            if stripped:
                prefix = prefixes[type_id]
                data = prefix + data
            audio_at = row[p_audio_at]
            if audio_at is None:
                return StoredFrame(
                    row[p_seq], row[p_t_ns], _DIRECTIONS[row[p_direction]],
                    _OPCODES[row[p_opcode]], type_name,
                    row[p_event_id], row[p_item_id], row[p_response_id], data, None,
                    _redaction(row[p_redaction]),
                )
            # The ids were left in the frame, not copied to columns: read them from its
            # outline (the frame without its audio), which often repeats frame after frame.
            cached = outlines.get(type_id)
            if cached is not None and cached[0] == data:
                index = cached[1]
            else:
                index = index_of(data)
                outlines[type_id] = (data, index)
            audio = row[p_audio]
            if as_bytes:  # data is the outline: the frame with an empty audio field
                return StoredFrame(
                    row[p_seq], row[p_t_ns], _DIRECTIONS[row[p_direction]],
                    _OPCODES[row[p_opcode]], type_name,
                    index.event_id, index.item_id, index.response_id, data, audio,
                    _redaction(row[p_redaction]),
                )
            if stripped:
                audio_at += len(prefix)
            return StoredFrame(
                row[p_seq], row[p_t_ns], _DIRECTIONS[row[p_direction]],
                _OPCODES[row[p_opcode]], type_name,
                index.event_id, index.item_id, index.response_id,
                splice_audio(data, audio_at, audio), None, _redaction(row[p_redaction]),
            )

        return stored_frame

    def reading_parts(
        self, columns: Sequence[str], make: Callable[..., T], *, whole: bool = False
    ) -> Callable[[Sequence[Any]], T]:
        """Like reading(as_bytes=True), for a reader that keeps only where a frame sits and
        what it holds: the function from a row to make(seq, t_ns, direction, type, data,
        audio, opcode), data being the outline when audio is not None. No StoredFrame, and no
        ids read from an audio frame's outline: the cheap read of a whole session (steps).
        whole: every frame as it crossed the wire, audio spliced back as base64 where the row
        says (audio always None), for a reader that wants the wire bytes. A type id not
        learned yet raises KeyError (the caller learns and reads the row again)."""
        at = {name: position for position, name in enumerate(columns)}
        p_seq, p_t_ns, p_direction, p_opcode, p_type = (
            at["seq"], at["t_ns"], at["direction"], at["opcode"], at["type"]
        )
        p_stripped, p_data, p_audio_at, p_audio = (
            at["stripped"], at["data"], at["audio_at"], at["audio"]
        )
        names, prefixes = self.type_names, self._prefixes
        directions, opcodes = _DIRECTIONS, _OPCODES

        def parts(row: Sequence[Any]) -> T:
            type_id = row[p_type]
            data = row[p_data]
            if type_id is None:
                type_name = None
            else:
                type_name = names[type_id]
                if row[p_stripped]:
                    data = prefixes[type_id] + data
            audio_at = row[p_audio_at]
            audio = None if audio_at is None else row[p_audio]
            if whole and audio is not None:
                if type_id is not None and row[p_stripped]:
                    audio_at += len(prefixes[type_id])
                data, audio = splice_audio(data, audio_at, audio), None
            return make(row[p_seq], row[p_t_ns], directions[row[p_direction]], type_name, data,
                        audio, opcodes[row[p_opcode]])

        return parts

    def reading_kinds(self, make: Callable[..., T]) -> Callable[[Sequence[Sequence[Any]]], list[T]]:
        """reading_parts(whole=False) for rows of KIND_COLUMNS, a batch at a time: the function
        from a batch of rows to [make(seq, t_ns, direction, type, data, audio, opcode), ...].
        A type id not learned yet raises KeyError (the caller learns and reads the rows again).
        """
        kinds = self._kinds
        kinds.clear()  # of the type names as they are now (learn() clears it too)

        def steps(rows: Sequence[Sequence[Any]]) -> list[T]:
            out: list[T] = []
            append = out.append
            for seq, t_ns, code, data, audio in rows:
                kind = kinds.get(code)
                if kind is None:
                    kind = self._kind(code)
                direction, opcode, type_name, prefix = kind
                if prefix is not None:
                    data = prefix + data
                append(make(seq, t_ns, direction, type_name, data, audio, opcode))
            return out

        return steps

    def _kind(self, code: int) -> tuple[Direction, Opcode, str | None, bytes | None]:
        """(direction, opcode, type name, prefix to put back or None) of a KIND_EXPRESSION."""
        opcode, direction = _OPCODES[code & 3], _DIRECTIONS[(code >> 2) & 1]
        stripped, type_id = (code >> 3) & 1, code >> 4
        kind: tuple[Direction, Opcode, str | None, bytes | None]
        if type_id == 0:
            kind = (direction, opcode, None, None)
        else:
            kind = (direction, opcode, self.type_names[type_id],
                    self._prefixes[type_id] if stripped else None)
        self._kinds[code] = kind
        return kind


# What RowReader.reading_kinds reads instead of four columns: a frame's type id, stripped flag,
# direction and opcode in one integer, computed by the database (each column fewer handed to
# Python is ~10% of a session's read: a scan of these 5 columns against the 9 they stand for
# ran 1.3x faster). type ids are positive (0: no type), the others fit their bits.
KIND_EXPRESSION = (
    "((CAST(COALESCE(type, 0) AS BIGINT) * 2 + COALESCE(stripped, 0)) * 2 + direction) * 4 "
    "+ opcode"
)
# ... and the audio of a frame whose audio was cut out (NULL for every other frame)
CUT_AUDIO_EXPRESSION = "CASE WHEN audio_at IS NULL THEN NULL ELSE audio END"
KIND_COLUMNS = ("seq", "t_ns", KIND_EXPRESSION, "data", CUT_AUDIO_EXPRESSION)


def _redaction(value: int | None) -> Redaction:
    """A redaction column's value (NULL on nearly every row: the fast case)."""
    if value is None:
        return Redaction.UNTOUCHED
    return REDACTIONS.get(value, Redaction.SCANNED)
