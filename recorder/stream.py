"""A recording as one stream of steps, in seq order: the read path every consumer shares.

A Step is where a frame sits (seq, t_ns, direction) and what it is: a typed event, an
UnknownEvent, or an AudioChunk (an audio event with its audio as bytes, never a base64 round
trip). The event is decoded once, on first use, so a consumer that looks only at `type` pays
nothing for the frames it skips.

Sources: a session of an EventLog (`log_steps`) and frames in memory (`frame_steps`).
Consumers (replay, the conversation fold, export, testing, serve) read steps and nothing else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Iterator
from typing import TYPE_CHECKING

import msgspec

from recorder.decode import AnyEvent, decode
from recorder.jsontext import frame_type
from recorder.receiver import Position
from recorder.store.codec import splice_into_empty_field, split_audio_event, type_prefix
from recorder.wire import Direction, Frame, Opcode

if TYPE_CHECKING:
    from recorder.store import EventLog, SessionInfo, StoredFrame


class AudioChunk(msgspec.Struct, frozen=True, gc=False):
    """An audio event (input_audio_buffer.append, response.(output_)audio.delta) whose audio
    came as canonical base64: `audio` is the audio itself, `outline` the event's JSON with its
    audio field empty ("delta":""), which still carries the ids and content_index."""

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


class Step:
    """One frame of a recording: its position, its type as stored, and its event (lazy)."""

    __slots__ = ("_audio", "_data", "_event", "direction", "opcode", "seq", "t_ns", "type")

    def __init__(
        self,
        seq: int,
        t_ns: int,
        direction: Direction,
        type: str | None,
        data: bytes,
        audio: bytes | None = None,
        opcode: Opcode = Opcode.TEXT,
    ) -> None:
        self.seq = seq
        self.t_ns = t_ns
        self.direction = direction
        self.type = type
        self.opcode = opcode  # as it crossed the wire (serve sends it back the same way)
        self._data = data  # the frame, or its outline when audio is not None
        self._audio = audio
        self._event: StepEvent | None = None

    @property
    def position(self) -> Position:
        return Position(self.seq, self.t_ns, self.direction)

    @property
    def event(self) -> StepEvent:
        """The typed event, UnknownEvent or AudioChunk, decoded the first time it is asked."""
        event = self._event
        if event is None:
            if self._audio is not None and self.type is not None:
                event = AudioChunk(self.type, self._audio, self._data)
            else:
                event = decode(self._data)
            self._event = event
        return event

    @property
    def is_audio(self) -> bool:
        return self._audio is not None

    def frame_data(self) -> bytes:
        """The frame's bytes as they crossed the wire."""
        if self._audio is None or self.type is None:
            return self._data
        return splice_into_empty_field(self.type, self._data, self._audio)

    def __repr__(self) -> str:
        return f"Step(seq={self.seq}, t_ns={self.t_ns}, {self.direction}, {self.type!r})"


def step_of_stored(frame: StoredFrame) -> Step:
    """The step of a frame read from the log (audio="bytes")."""
    return Step(frame.seq, frame.t_ns, frame.direction, frame.type, frame.data, frame.audio,
                frame.opcode)


def frame_steps(frames: Iterable[Frame], *, first_seq: int = 1) -> Iterator[Step]:
    """Steps of frames in memory (seq numbered from first_seq), audio split as the log does."""
    for seq, frame in enumerate(frames, first_seq):
        data = frame.data
        if frame.opcode is Opcode.TEXT:
            split = split_audio_event(data)
            if split is not None:
                audio_type, body, _at, audio = split
                yield Step(seq, frame.t_ns, frame.direction, audio_type,
                           type_prefix(audio_type) + body, audio)
                continue
        yield Step(seq, frame.t_ns, frame.direction, frame_type(data), data, opcode=frame.opcode)


async def log_steps(
    log: EventLog, session: SessionInfo, *, until: int | None = None, batch_size: int = 1000
) -> AsyncIterator[list[Step]]:
    """The session's steps in seq order, in batches (memory stays bounded)."""
    async for batch in log.read(session.id, until_seq=until, batch_size=batch_size,
                                audio="bytes"):
        yield [step_of_stored(frame) for frame in batch]
