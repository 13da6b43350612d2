"""Sessions in and out of the log as files: `rtrec dump` JSONL, and import of event files.

Imported frames are redacted as the proxy redacts recorded ones (client_secret values).

Three import formats, told apart by their first line:
- a JSON array of bare events: each element becomes one frame, re-serialized compactly;
- JSONL of bare events: each line's exact text (without its newline) is the frame;
- our dump (JSONL objects with "seq", "direction" and "frame" or "frame_base64"): frames and
  times come back exactly as they were recorded.
A file is checked completely before anything is written, so a bad line stores nothing.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from recorder import jsontext
from recorder.errors import RtrecError
from recorder.redact import FrameRedactor
from recorder.store.log import EventLog, SessionInfo, StoredFrame
from recorder.wire import Direction, Frame, Opcode

DirectionOf = Callable[[str], Direction | None]


class DumpLine(msgspec.Struct, omit_defaults=True):
    seq: int
    t: float  # seconds since the session started
    t_ns: int
    direction: str
    type: str | None = None
    frame: str | None = None  # the exact frame text (UTF-8 text frames)
    frame_base64: str | None = None  # binary frames, or text that is not valid UTF-8
    opcode: int = 1


_MAX_T_NS = 2**63 - 1
_dump_encoder = msgspec.json.Encoder()
_dump_decoder = msgspec.json.Decoder(DumpLine)


def dump_line(frame: StoredFrame) -> bytes:
    """One JSONL line (without newline) for a stored frame."""
    line = DumpLine(
        seq=frame.seq, t=frame.t_ns / 1e9, t_ns=frame.t_ns, direction=str(frame.direction),
        type=frame.type, opcode=int(frame.opcode),
    )
    text = _utf8(frame.data) if frame.opcode == Opcode.TEXT else None
    if text is not None:
        line.frame = text
    else:
        line.frame_base64 = base64.b64encode(frame.data).decode()
    return _dump_encoder.encode(line)


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# -- import ----------------------------------------------------------------------------------


def read_frames(path: Path, direction_of: DirectionOf) -> Iterator[Frame]:
    """The frames of an event file, in order; RtrecError naming the file and line when bad."""
    try:
        with path.open("rb") as probe:
            head = probe.read(4096).lstrip()
    except OSError as error:
        raise RtrecError(f"cannot read {path}: {error.strerror}") from None
    if head.startswith(b"["):
        yield from _array_frames(path, direction_of)
    else:
        yield from _jsonl_frames(path, direction_of)


class _Probe(msgspec.Struct):
    type: Any = None
    seq: Any = None
    direction: Any = None
    frame: Any = None
    frame_base64: Any = None


_probe_decoder = msgspec.json.Decoder(_Probe)


def _jsonl_frames(path: Path, direction_of: DirectionOf) -> Iterator[Frame]:
    is_dump: bool | None = None
    with path.open("rb") as lines:
        for number, raw in enumerate(lines, start=1):
            text = raw.rstrip(b"\n").rstrip(b"\r")
            if not text.strip():
                continue
            _check_utf8(text, path, number)
            where = f"{path}:{number}"
            try:
                probe = _probe_decoder.decode(text)
            except RecursionError:  # JSON too deep for msgspec: a bare event, kept as it is
                probe = _Probe(type=jsontext.readable_type(text))
            except jsontext.FAILURES:
                raise RtrecError(
                    f"{where} is not a JSON object: give JSONL (one event per line), a JSON "
                    "array of events, or an `rtrec dump` file"
                ) from None
            if is_dump is None:
                is_dump = probe.seq is not None and probe.direction is not None and (
                    probe.frame is not None or probe.frame_base64 is not None
                )
            if is_dump:
                yield _dump_frame(text, where)
            else:
                yield Frame(_direction(probe.type, where, direction_of), 0, Opcode.TEXT, text)


def _array_frames(path: Path, direction_of: DirectionOf) -> Iterator[Frame]:
    content = path.read_bytes()
    _check_utf8(content, path)
    try:
        events = jsontext.parse(content)
    except jsontext.NotJson as error:
        detail = error.reason.removeprefix("not JSON: ")
        raise RtrecError(f"{path} is not valid JSON ({detail}): fix the file") from None
    if not isinstance(events, list):
        raise RtrecError(f"{path} is not a JSON array of events: fix the file")
    for index, event in enumerate(events):
        where = f"{path}[{index}]"
        if not isinstance(event, dict):
            raise RtrecError(f"{where} is not a JSON object: every element must be an event")
        direction = _direction(event.get("type"), where, direction_of)
        yield Frame(direction, 0, Opcode.TEXT, msgspec.json.encode(event))


def _check_utf8(text: bytes, path: Path, line: int | None = None) -> None:
    """JSON text is UTF-8. msgspec raises UnicodeDecodeError inside a string it reads (and
    skips the bytes of a field it does not), so check it all and name the line (of `text`
    itself when no line is given)."""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        if line is None:
            line = text.count(b"\n", 0, error.start) + 1
        raise RtrecError(f"{path}:{line} is not valid UTF-8: save the file as UTF-8") from None


def _dump_frame(text: bytes, where: str) -> Frame:
    try:
        line = _dump_decoder.decode(text)
        direction = Direction(line.direction)
        opcode = Opcode(line.opcode)
    except (ValueError, RecursionError) as error:  # every jsontext.FAILURES is one
        raise RtrecError(f"{where} is not a valid `rtrec dump` line ({error}): fix it") from None
    if not 0 <= line.t_ns <= _MAX_T_NS:  # the database's 64-bit integer, and no negative time
        raise RtrecError(
            f"{where} has t_ns {line.t_ns}, out of range: it must be 0..2**63-1 nanoseconds "
            "since the session started; fix it"
        )
    if line.frame is not None:
        data = line.frame.encode("utf-8")
    else:
        try:
            data = base64.b64decode(line.frame_base64 or "", validate=True)
        except ValueError:
            raise RtrecError(f"{where} has a frame_base64 that is not base64: fix it") from None
    return Frame(direction, line.t_ns, opcode, data)


def _direction(event_type: object, where: str, direction_of: DirectionOf) -> Direction:
    if not isinstance(event_type, str):
        raise RtrecError(f"{where} has no event type: every event needs a string \"type\"")
    direction = direction_of(event_type)
    if direction is None:
        raise RtrecError(
            f"{where}: unknown event type {event_type!r}, so its direction is unknown: "
            "import it as an `rtrec dump` file, which says the direction"
        )
    return direction


async def import_file(
    log: EventLog,
    path: Path,
    *,
    direction_of: DirectionOf | None = None,
    describe: Callable[[list[Frame]], tuple[str | None, str | None]] | None = None,
) -> SessionInfo:
    """Import one event file as a new session; the file is checked fully before writing."""
    direction_of = direction_of or _default_direction_of()
    count = sum(1 for _ in read_frames(path, direction_of))  # validate before writing
    if count == 0:
        raise RtrecError(f"{path} holds no events: nothing to import")
    first = [frame for _, frame in zip(range(50), read_frames(path, direction_of), strict=False)]
    protocol, model = (describe or describe_frames)(first)
    sid = await log.begin_session(protocol, model, None)
    # As the proxy does, one redactor per session: the secrets it learns (there is no handshake
    # here: client_secret values, key-shaped values) are this file's only. An already-redacted
    # frame comes back unchanged, so a dump round trip is exact.
    redact = FrameRedactor()
    for frame in read_frames(path, direction_of):
        log.append(sid, Frame(frame.direction, frame.t_ns, frame.opcode, redact(frame.data)))
        await log.keep_up()
    await log.end_session(sid, status="complete")
    if log.failure is not None:
        raise log.failure
    return await log.get_session(sid)


def _default_direction_of() -> DirectionOf:
    from recorder.decode import direction_of

    return direction_of


def describe_frames(frames: list[Frame]) -> tuple[str | None, str | None]:
    """(protocol, model) as the first frames show them; None where they do not."""
    from recorder.decode import decode, protocol_of

    protocol: str | None = None
    model: str | None = None
    for frame in frames:
        if frame.opcode != Opcode.TEXT:
            continue
        event = decode(frame.data)
        protocol = protocol or protocol_of(event)
        session = getattr(event, "session", None)
        found = getattr(session, "model", None)
        if model is None and isinstance(found, str):
            model = found
        if protocol and model:
            break
    return protocol, model
