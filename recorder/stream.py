"""A recording as one stream of steps, in seq order: the read path every consumer shares.

A Step is where a frame sits (seq, t_ns, direction) and what it is: a typed event, an
UnknownEvent, or an AudioChunk (an audio event with its audio as bytes, never a base64 round
trip). The event is decoded once, on first use, so a consumer that looks only at `type` pays
nothing for the frames it skips.

Sources: a session of an EventLog (`log_steps`), frames in memory (`frame_steps`) and any
file `rtrec import` reads (`file_steps`, no database involved); `steps_of` picks the source
from what it is given. Every source gives the steps the log would: frames in memory and files
are split as the writer stores them and read back (same type, same audio cut out), and a file
gives what importing it and reading the session back gives (seq from 1, redacted).
Consumers (replay, the conversation fold, export, testing, serve) read steps and nothing else.

Which decoder a step uses follows the session's protocol, decided in one place (`step_class`):
a Live session's steps (LiveStep) decode with recorder.live.decode by direction, every other
session's with recorder.decode.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from recorder.decode import AnyEvent, decode
from recorder.errors import UnknownSession
from recorder.live.decode import AnyLiveEvent
from recorder.live.decode import decode as live_decode
from recorder.protocol import names
from recorder.receiver import Position
from recorder.store.codec import splice_into_empty_field, stored_form, type_prefix
from recorder.wire import Direction, Frame, Opcode

if TYPE_CHECKING:
    from recorder.store import EventLog, SessionInfo


class AudioChunk(msgspec.Struct, frozen=True, gc=False):
    """An audio event (input_audio_buffer.append, response.(output_)audio.delta; Live's in
    recorder.protocol.audio_fields.LIVE_AUDIO_FIELDS) whose audio came as canonical base64:
    `audio` is the audio itself, `outline` the event's JSON with its audio field empty
    ("delta":""), which still carries the ids and content_index."""

    type: str
    audio: bytes
    outline: bytes

    def outline_event(self) -> AnyEvent:
        """The event without its audio (its audio field reads "")."""
        return decode(self.outline)

    def to_event(self) -> AnyEvent:
        """The event as the protocol has it, base64 text included: for a receiver's audio
        method, the only place audio is encoded again."""
        return decode(splice_into_empty_field(self.type, self.outline, self.audio))


StepEvent = AnyEvent | AudioChunk


class Step(msgspec.Struct, gc=False, eq=False):
    """One frame of a recording: its position, its type as stored, and its event (lazy).

    Step(seq, t_ns, direction, type, data, audio=None, opcode=Opcode.TEXT): data is the frame,
    or its outline when audio (an audio event's audio as bytes: the event is then an
    AudioChunk) is not None; opcode is as the frame crossed the wire (serve sends it back the
    same way). A Struct (no gc, compared by identity): the log makes one per frame, and a
    Struct is made in C at about half the cost of a class with __slots__ and an __init__.
    """

    seq: int
    t_ns: int
    direction: Direction
    type: str | None
    _data: bytes
    audio: bytes | None = None
    opcode: Opcode = Opcode.TEXT
    _event: StepEvent | AnyLiveEvent | LiveAudioChunk | None = None  # decoded, once asked for

    @property
    def position(self) -> Position:
        return Position(self.seq, self.t_ns, self.direction)

    @property
    def event(self) -> StepEvent:
        """The typed event, UnknownEvent or AudioChunk, decoded the first time it is asked."""
        event = self._event
        if event is None:
            if self.audio is not None and self.type is not None:
                event = AudioChunk(self.type, self.audio, self._data)
            else:
                event = decode(self._data)
            self._event = event
        return event  # type: ignore[return-value]  # a Step's is never a Live event

    @property
    def is_audio(self) -> bool:
        return self.audio is not None

    def frame_data(self) -> bytes:
        """The frame's bytes as they crossed the wire."""
        if self.audio is None or self.type is None:
            return self._data
        return splice_into_empty_field(self.type, self._data, self.audio)

    def __repr__(self) -> str:
        return f"Step(seq={self.seq}, t_ns={self.t_ns}, {self.direction}, {self.type!r})"


class LiveAudioChunk(msgspec.Struct, frozen=True, gc=False):
    """A Live audio event (recorder.protocol.audio_fields.LIVE_AUDIO_FIELDS) as AudioChunk is
    for Realtime: `audio` the audio itself, `outline` the event's JSON with its audio field
    empty; `direction` says which side sent it (the sideband's server sends
    session.input_audio.append too)."""

    type: str
    audio: bytes
    outline: bytes
    direction: Direction

    def outline_event(self) -> AnyLiveEvent:
        """The event without its audio (its audio field reads "")."""
        return live_decode(self.outline, self.direction)

    def to_event(self) -> AnyLiveEvent:
        """The event as the protocol has it, base64 text included."""
        return live_decode(splice_into_empty_field(self.type, self.outline, self.audio),
                           self.direction)


class LiveStep(Step):
    """A step of a Live session: its event decoded by recorder.live.decode (by direction), a
    LiveAudioChunk for an audio event."""

    @property
    def event(self) -> Any:
        event = self._event
        if event is None:
            if self.audio is not None and self.type is not None:
                event = LiveAudioChunk(self.type, self.audio, self._data, self.direction)
            else:
                event = live_decode(self._data, self.direction)
            self._event = event
        return event


def step_class(protocol: str | None) -> type[Step]:
    """The kind of step a session of `protocol` (a session row's protocol) gives: the one
    place that picks the decoder from the protocol."""
    return LiveStep if protocol == names.LIVE_PROTOCOL else Step


def frame_steps(
    frames: Iterable[Frame], *, first_seq: int = 1, protocol: str | None = None
) -> Iterator[Step]:
    """Steps of frames in memory (seq numbered from first_seq), as the log would give them;
    protocol: the session's ("live" decodes them as Live events)."""
    make = step_class(protocol)
    for seq, frame in enumerate(frames, first_seq):
        yield _step_as_stored(seq, frame, make)


def _step_as_stored(seq: int, frame: Frame, make: type[Step] = Step) -> Step:
    """The step the log gives for `frame` stored at `seq`: the writer's storage form (its type
    column, its audio cut out) read back with audio="bytes"."""
    data = frame.data
    if frame.opcode is not Opcode.TEXT:  # binary frames are kept as they are, unindexed
        return make(seq, frame.t_ns, frame.direction, None, data, opcode=frame.opcode)
    form = stored_form(data)
    kind = form.index.type
    if form.audio is None:
        return make(seq, frame.t_ns, frame.direction, kind, data)
    outline = type_prefix(kind) + form.body if form.stripped and kind is not None else form.body
    return make(seq, frame.t_ns, frame.direction, kind, outline, form.audio)


def file_steps(
    path: str | os.PathLike[str], session: str | None = None, *, until: int | None = None,
    protocol: str | None = None,
) -> Iterator[Step]:
    """The steps of the session in a file `rtrec import` reads (JSONL of events, a JSON array
    of events, an `rtrec dump` file): those importing it and reading it back would give, with
    no database. The file is checked through first, with import's one-line errors, so a bad
    line anywhere yields nothing. A file holds one session and says no id: give session None."""
    from recorder.store.transfer import check_file, session_frames

    path = Path(path)
    if session is not None:
        raise UnknownSession(
            f"{path} holds one session and no session id, so there is no session {session} "
            "to choose: leave the session out"
        )
    checked = check_file(path, describe=_no_description if protocol else None, purpose="read")
    protocol = protocol or checked.protocol  # the file's opening frames tell a Live session
    for step in frame_steps(session_frames(path), protocol=protocol):
        if until is not None and step.seq > until:
            return
        yield step


def _no_description(_frames: list[Frame]) -> tuple[None, None]:
    return None, None


async def log_steps(
    log: EventLog, session: SessionInfo, *, until: int | None = None, batch_size: int = 1000,
    whole: bool = False, skip_types: Collection[str] = (), skip_client: bool = False,
) -> AsyncIterator[list[Step]]:
    """The session's steps in seq order, in batches (memory stays bounded). whole: for a
    consumer that wants the wire bytes (serve), every step keeps its frame whole, audio
    included as the log spliced it back (is_audio False: the event decodes as typed).
    skip_types (server frames of these types) and skip_client (client frames): steps left out,
    never read, for a consumer that could not observe them (recorder.driver.skippable_types);
    EventLog.frame_span counts the frames such a read goes over."""
    make = step_class(session.protocol)
    async for batch in log.read_parts(session.id, make, until_seq=until, batch_size=batch_size,
                                      whole=whole, skip_types=skip_types,
                                      skip_client=skip_client):
        yield batch


async def steps_of(
    source: str | os.PathLike[str] | EventLog | Iterable[Frame],
    session: str | None = None,
    *,
    until: int | None = None,
    protocol: str | None = None,
) -> AsyncIterator[Step]:
    """The steps of a recording, one at a time, whatever holds it: a database (a SQLite path
    or a URL; the session by id or unique prefix, the newest when None), an open EventLog
    (likewise), a file `rtrec import` reads (see file_steps), or frames in memory. `until`
    stops after that seq; protocol: of a file or frames in memory (a session row says its
    own). Errors are import's and the log's one-line RtrecErrors."""
    from recorder.store import EventLog

    if isinstance(source, EventLog):
        async for step in _session_steps(source, session, until):
            yield step
        return
    if isinstance(source, str | os.PathLike):
        if is_file_of_events(source):
            for step in file_steps(source, session, until=until, protocol=protocol):
                yield step
            return
        from recorder.store import open_log

        async with await open_log(os.fspath(source), create=False) as log:
            async for step in _session_steps(log, session, until):
                yield step
        return
    if session is not None:
        raise UnknownSession(f"frames in memory are one session: there is no session {session}")
    for step in frame_steps(source, protocol=protocol):
        if until is not None and step.seq > until:
            return
        yield step


async def _session_steps(log: EventLog, session: str | None, until: int | None
                         ) -> AsyncIterator[Step]:
    info = await log.get_session(session)
    async for batch in log_steps(log, info, until=until):
        for step in batch:
            yield step


_SQLITE_HEADER = b"SQLite format 3\x00"


def is_file_of_events(source: str | os.PathLike[str]) -> bool:
    """A file that is there and is not a SQLite database; a URL, a database or a path that is
    not there (the log says so) goes to the log."""
    text = os.fspath(source)
    if "://" in text:
        return False
    try:
        with open(text, "rb") as probe:
            head = probe.read(len(_SQLITE_HEADER))
    except OSError:
        return False
    return head != _SQLITE_HEADER
