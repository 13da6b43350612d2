"""Sessions in and out of the log as files: `rtrec dump` JSONL, and import of event files.

Imported frames are redacted as the proxy redacts recorded ones (client_secret values).

Three import formats, told apart by their first line:
- a JSON array of bare events: each element becomes one frame, re-serialized compactly;
- JSONL of bare events: each line's exact text (without its newline) is the frame;
  a bare event's direction comes from its type: Realtime's, or Live's when the file begins
  with session.start (a sideband's log: session.started), as recorder.live.events says by
  connection (a Live mock server's or SDK's debug log imports as a protocol=live session);
- our dump (JSONL objects with "seq", "direction" and "frame" or "frame_base64"): frames and
  times come back exactly as they were recorded.
Every file is checked completely before anything is written, and a failed import of several
files removes the sessions it wrote: a bad line anywhere stores nothing.

Bare events carry no time: their frames all sit at t 0, and the session's start and end are
stored as unknown (NULL), not as the moment of the import. A dump keeps its frames' offsets,
and its first line the session's start and end (unknown when it does not say them).
"""

from __future__ import annotations

import base64
import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from recorder import jsontext
from recorder.errors import NotAnImportFile, RtrecError
from recorder.protocol import live
from recorder.redact import FrameRedactor, Redaction
from recorder.store.codec import StoredFrame
from recorder.store.log import EventLog, SessionInfo
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
    redacted: str | None = None  # how the frame was redacted: "parsed" or "scan"; absent: not
    # The first line only: the session's wall-clock start and end (unix seconds, UTC), where
    # the log knows them; an import takes them over.
    started_at: float | None = None
    ended_at: float | None = None


_MAX_T_NS = 2**63 - 1
_MAX_UNIX = 253402300799.0  # 9999-12-31 23:59:59 UTC, the last second a datetime can hold
_dump_encoder = msgspec.json.Encoder()
_dump_decoder = msgspec.json.Decoder(DumpLine)


def dump_line(frame: StoredFrame, session: SessionInfo | None = None) -> bytes:
    """One JSONL line (without newline) for a stored frame; give the session for the first
    line, which carries its start and end."""
    line = DumpLine(
        seq=frame.seq, t=frame.t_ns / 1e9, t_ns=frame.t_ns, direction=str(frame.direction),
        type=frame.type, opcode=int(frame.opcode), redacted=frame.redaction.word or None,
    )
    if session is not None:
        line.started_at = session.started_at.timestamp() if session.started_at else None
        line.ended_at = session.ended_at.timestamp() if session.ended_at else None
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


def read_frames(path: Path, direction_of: DirectionOf | None = None) -> Iterator[Frame]:
    """The frames of an event file, in order; NotAnImportFile naming the file and line when
    bad. direction_of None: bare events go by their file's protocol (bare_direction_of)."""
    try:
        with path.open("rb") as probe:
            head = probe.read(4096)
    except OSError as error:
        raise NotAnImportFile(f"cannot read {path}: {error.strerror}") from error
    _check_text(head, path)
    if head.lstrip().startswith(b"["):
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


def _jsonl_frames(path: Path, direction_of: DirectionOf | None) -> Iterator[Frame]:
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
            except jsontext.FAILURES as error:
                raise NotAnImportFile(
                    f"{where} is not a JSON object: give JSONL (one event per line), a JSON "
                    "array of events, or an `rtrec dump` file"
                ) from error
            if is_dump is None:
                is_dump = probe.seq is not None and probe.direction is not None and (
                    probe.frame is not None or probe.frame_base64 is not None
                )
                directions = direction_of or bare_direction_of(probe.type)
            if is_dump:
                yield _dump_frame(text, where)
            else:
                yield Frame(_direction(probe.type, where, directions), 0, Opcode.TEXT, text)


def _array_frames(path: Path, direction_of: DirectionOf | None) -> Iterator[Frame]:
    content = path.read_bytes()
    _check_utf8(content, path)
    try:
        events = jsontext.parse(content)
    except jsontext.NotJson as error:
        detail = error.reason.removeprefix("not JSON: ")
        raise NotAnImportFile(f"{path} is not valid JSON ({detail}): fix the file") from error
    if not isinstance(events, list):
        raise NotAnImportFile(f"{path} is not a JSON array of events: fix the file")
    for index, event in enumerate(events):
        where = f"{path}[{index}]"
        if not isinstance(event, dict):
            raise NotAnImportFile(f"{where} is not a JSON object: every element must be an event")
        if index == 0:
            directions = direction_of or bare_direction_of(event.get("type"))
        direction = _direction(event.get("type"), where, directions)
        yield Frame(direction, 0, Opcode.TEXT, msgspec.json.encode(event))


ACCEPTED = (
    "import takes JSONL (one event per line), a JSON array of events, or an `rtrec dump` file"
)
_TEXT_CONTROLS = frozenset(b"\t\n\r\f")


def _check_text(head: bytes, path: Path) -> None:
    """Refuse a file that is not text at all, saying what it is (its first bytes tell)."""
    what = None
    if head.startswith(b"SQLite format 3\x00"):
        what = "is a SQLite database (an rtrec log? `rtrec dump` it to a file first)"
    elif head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        what = "is a WAV audio file, not events"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):  # e.g. `>` in Windows PowerShell 5
        raise NotAnImportFile(f"{path} is UTF-16 text, not UTF-8: save the file as UTF-8")
    elif any(byte < 0x20 and byte not in _TEXT_CONTROLS for byte in head):
        what = "is binary, not JSON text"
    if what is not None:
        raise NotAnImportFile(f"{path} {what}: {ACCEPTED}")


def _check_utf8(text: bytes, path: Path, line: int | None = None) -> None:
    """JSON text is UTF-8. msgspec raises UnicodeDecodeError inside a string it reads (and
    skips the bytes of a field it does not), so check it all and name the line (of `text`
    itself when no line is given)."""
    try:
        text.decode("utf-8")
    except UnicodeDecodeError as error:
        if line is None:
            line = text.count(b"\n", 0, error.start) + 1
        raise NotAnImportFile(
            f"{path}:{line} is not valid UTF-8: save the file as UTF-8"
        ) from error


def _dump_frame(text: bytes, where: str) -> Frame:
    try:
        line = _dump_decoder.decode(text)
        direction = Direction(line.direction)
        opcode = Opcode(line.opcode)
        redaction = Redaction.of_word(line.redacted or "")
    except (ValueError, RecursionError) as error:  # every jsontext.FAILURES is one
        raise NotAnImportFile(
            f"{where} is not a valid `rtrec dump` line ({error}): fix it"
        ) from error
    if not 0 <= line.t_ns <= _MAX_T_NS:  # the database's 64-bit integer, and no negative time
        raise NotAnImportFile(
            f"{where} has t_ns {line.t_ns}, out of range: it must be 0..2**63-1 nanoseconds "
            "since the session started; fix it"
        )
    if line.frame is not None:
        data = line.frame.encode("utf-8")
    else:
        try:
            data = base64.b64decode(line.frame_base64 or "", validate=True)
        except ValueError as error:
            raise NotAnImportFile(
                f"{where} has a frame_base64 that is not base64: fix it"
            ) from error
    return Frame(direction, line.t_ns, opcode, data, redaction)


def _dump_times(path: Path) -> tuple[float | None, float | None]:
    """The session's start and end from a dump's first line; (None, None) for any other file
    or a dump without them. The file has been read through once: its first line is good."""
    with path.open("rb") as lines:
        first = next((line for line in lines if line.strip()), b"")
    try:
        line = _dump_decoder.decode(first)
    except (ValueError, RecursionError):  # not a dump: bare events carry no time
        return None, None
    started, ended = line.started_at, line.ended_at
    for name, value in (("started_at", started), ("ended_at", ended)):
        if value is not None and not 0 <= value <= _MAX_UNIX:
            raise NotAnImportFile(
                f"{path}:1 has {name} {value}, out of range: it must be unix seconds (UTC) "
                "up to the year 9999; fix it"
            )
    if started is not None and ended is not None and ended < started:
        raise NotAnImportFile(f"{path}:1 has ended_at {ended} before started_at {started}: fix it")
    return started, ended


def _direction(event_type: object, where: str, direction_of: DirectionOf) -> Direction:
    if not isinstance(event_type, str):
        raise NotAnImportFile(f"{where} has no event type: every event needs a string \"type\"")
    direction = direction_of(event_type)
    if direction is None:
        kind = "Live event type" if getattr(direction_of, "live", False) else "event type"
        raise NotAnImportFile(
            f"{where}: unknown {kind} {event_type!r}, so its direction is unknown: "
            "import it as an `rtrec dump` file, which says the direction"
        )
    return direction


@dataclass(frozen=True)
class CheckedFile:
    """An event file read through once without error: ready to import."""

    path: Path
    frames: int
    protocol: str | None
    model: str | None
    started_at: float | None = None  # unix seconds; None: the file does not say
    ended_at: float | None = None
    client_frames: int = 0  # of `frames`, those the client sent


def check_file(
    path: Path,
    *,
    direction_of: DirectionOf | None = None,
    describe: Callable[[list[Frame]], tuple[str | None, str | None]] | None = None,
    purpose: str = "import",
) -> CheckedFile:
    """Read an event file completely; NotAnImportFile naming the file (and line) when bad.
    `purpose` ends the line for a file without events ("nothing to import")."""
    count = client = 0
    first: list[Frame] = []
    for frame in read_frames(path, direction_of):
        count += 1
        client += frame.direction is Direction.CLIENT
        if len(first) < 50:
            first.append(frame)
    if count == 0:
        raise NotAnImportFile(f"{path} holds no events: nothing to {purpose}")
    protocol, model = (describe or describe_frames)(first)
    return CheckedFile(path, count, protocol, model, *_dump_times(path), client_frames=client)


async def import_checked(
    log: EventLog, checked: Sequence[CheckedFile], *, direction_of: DirectionOf | None = None
) -> list[SessionInfo]:
    """Write checked files, one new session each; when writing fails the sessions written so
    far are deleted."""
    written: list[SessionInfo] = []
    try:
        for item in checked:
            written.append(await _write(log, item, direction_of))
    except BaseException:
        for info in written:
            with contextlib.suppress(RtrecError):  # the store is failing: the first error tells
                await log.delete_session(info.id)
        raise
    return written


async def import_file(
    log: EventLog,
    path: Path,
    *,
    direction_of: DirectionOf | None = None,
    describe: Callable[[list[Frame]], tuple[str | None, str | None]] | None = None,
) -> SessionInfo:
    """Import one event file as a new session; the file is checked fully before writing."""
    checked = check_file(path, direction_of=direction_of, describe=describe)
    return await _write(log, checked, direction_of)


async def _write(log: EventLog, checked: CheckedFile, direction_of: DirectionOf | None
                 ) -> SessionInfo:
    """One checked file as a new session; a session the store failed to take is deleted."""
    # Bare events say nothing of the wall clock: start and end stay unknown (NULL).
    sid = await log.begin_session(
        checked.protocol, checked.model, None, started_at=checked.started_at
    )
    try:
        for frame in session_frames(checked.path, direction_of):
            log.append(sid, frame)
            await log.keep_up()
        await log.end_session(sid, status="complete", ended_at=checked.ended_at)
        if log.failure is not None:
            raise log.failure
        return await log.get_session(sid)
    except BaseException:
        with contextlib.suppress(RtrecError):
            await log.end_session(sid, status="interrupted", ended_at=checked.ended_at)
        with contextlib.suppress(RtrecError):
            await log.delete_session(sid)
        raise


def session_frames(path: Path, direction_of: DirectionOf | None = None) -> Iterator[Frame]:
    """The frames of the session an import of `path` writes, in order (the log numbers them
    from 1): the file's frames, redacted. Check the file first (check_file): a bad line
    raises here too, but only once the frames before it have been yielded."""
    # As the proxy does, one redactor per session: the secrets it learns (there is no handshake
    # here: client_secret values, key-shaped values) are this file's only. An already-redacted
    # frame comes back unchanged, so a dump round trip is exact.
    redact = FrameRedactor()
    for frame in read_frames(path, direction_of):
        data, how = redact.redact(frame.data)  # a dump's redacted frame: unchanged
        yield Frame(frame.direction, frame.t_ns, frame.opcode, data, max(how, frame.redaction))


class _LiveDirections:
    """Live's direction of each type (recorder.live.events.direction_of), on a primary socket
    or a sideband; `live` tells an unknown type's error to say Live."""

    live = True

    def __init__(self, sideband: bool) -> None:
        from recorder.live.events import direction_of

        self._of = functools.partial(direction_of, sideband=sideband)

    def __call__(self, type_name: str) -> Direction | None:
        return self._of(type_name)


def bare_direction_of(first_type: object) -> DirectionOf:
    """Who sent each bare event of a file whose first event has this type. A Live log begins
    with the client's session.start (a primary or fork socket) or, on a sideband, the server's
    session.started (recorder.protocol.live): its types are Live's, by connection. Any other
    file's are Realtime's (recorder.decode.direction_of)."""
    if first_type in (live.START, live.STARTED):
        return _LiveDirections(sideband=first_type == live.STARTED)
    from recorder.decode import direction_of

    return direction_of


def describe_frames(frames: list[Frame]) -> tuple[str | None, str | None]:
    """(protocol, model) as the first frames show them; None where they do not. A session
    whose client begins with session.start (or a sideband's server with session.started) is
    Live's (recorder.protocol.live)."""
    from recorder.decode import decode, protocol_of

    texts = [frame for frame in frames if frame.opcode == Opcode.TEXT]
    if live.is_live_start([(f.direction is Direction.CLIENT, f.data) for f in texts]):
        models = (live.facts_of(f.data).model for f in texts)
        return live.PROTOCOL, next((m for m in models if m is not None), None)
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
