"""The conversation as it really was: items in conversation order, their parts, responses, turns.

This is the data the conversation fold (recorder.conversation.ConversationFold) folds a
session into, and what export and the CLI read. It is plain data: no I/O, no event types.

Audio is held as byte COUNTS and recorded times, never as bytes, so a one-hour session fits in
a few megabytes; export streams the audio itself in a second pass over the log, using the counts
and `first_audio_t_ns` / `last_audio_t_ns` here to place and cut it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recorder.audio import PCM16_24K, AudioFormat, StreamPlacement

# Where an item came from, as seen on the wire.
SOURCE_CLIENT = "client"  # conversation.item.create by the client
SOURCE_INPUT_AUDIO = "input_audio"  # input_audio_buffer.committed (client commit or server VAD)
SOURCE_RESPONSE = "response"  # an output item of a response


@dataclass(slots=True)
class ContentPart:
    """One content part of an item, joined from the item payloads and the deltas.

    audio_bytes counts the audio as generated (decoded bytes of every audio delta, or of the
    audio carried by an item payload); heard_bytes is what remains after truncation (equal to
    audio_bytes when the part was never truncated). transcript keeps the full text even when
    the server truncated the part (the server then drops its own copy); transcript_truncated
    says that the listener did not hear all of it.
    """

    index: int
    type: str | None = None
    text: str | None = None
    transcript: str | None = None
    transcript_truncated: bool = False
    audio_bytes: int = 0
    heard_bytes: int = 0
    audio_end_ms: int | None = None
    first_audio_t_ns: int | None = None
    last_audio_t_ns: int | None = None
    first_text_t_ns: int | None = None  # text or transcript deltas of a response part
    last_text_t_ns: int | None = None
    # Input audio transcription (user parts): None | "in_progress" | "completed" | "failed".
    transcription_status: str | None = None
    transcription_error: dict[str, Any] | None = None
    transcription_usage: dict[str, Any] | None = None
    segments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.audio_end_ms is not None

    def to_dict(self, audio_format: AudioFormat) -> dict[str, Any]:
        return {
            "index": self.index,
            "type": self.type,
            "text": self.text,
            "transcript": self.transcript,
            "transcript_truncated": self.transcript_truncated,
            "audio_bytes": self.audio_bytes,
            "heard_bytes": self.heard_bytes,
            "audio_ms": _ms(audio_format, self.audio_bytes),
            "heard_ms": _ms(audio_format, self.heard_bytes),
            "audio_end_ms": self.audio_end_ms,
            "first_audio_t_ns": self.first_audio_t_ns,
            "last_audio_t_ns": self.last_audio_t_ns,
            "transcription_status": self.transcription_status,
            "transcription_error": self.transcription_error,
            "segments": self.segments,
        }


@dataclass(slots=True)
class AudioTurn:
    """A stretch of the user's input audio that became one user item.

    audio_start_ms / audio_end_ms are offsets into the whole input stream of the session (all
    audio the client appended), as the server reports them in speech_started / speech_stopped;
    with a manual commit (no VAD) they are the buffer's start and end at the commit, counted
    from the appended bytes. The *_t_ns fields are the recorded times of those events.
    """

    item_id: str | None
    audio_start_ms: int | None = None
    audio_end_ms: int | None = None
    speech_started_t_ns: int | None = None
    speech_stopped_t_ns: int | None = None
    committed_t_ns: int | None = None
    timed_out: bool = False  # GA input_audio_buffer.timeout_triggered (idle_timeout_ms)

    @property
    def duration_ms(self) -> int | None:
        if self.audio_start_ms is None or self.audio_end_ms is None:
            return None
        return max(self.audio_end_ms - self.audio_start_ms, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "audio_start_ms": self.audio_start_ms,
            "audio_end_ms": self.audio_end_ms,
            "speech_started_t_ns": self.speech_started_t_ns,
            "speech_stopped_t_ns": self.speech_stopped_t_ns,
            "committed_t_ns": self.committed_t_ns,
            "timed_out": self.timed_out,
        }


@dataclass(slots=True)
class Item:
    """A conversation item (message, function call, function call output, MCP item...).

    t_ns is the recorded time the item first appeared in the session (any event naming it).
    audio_format is the format its audio parts are in (the session's input format for user
    items, the response's or session's output format for assistant items).
    """

    id: str
    t_ns: int | None = None
    type: str | None = None
    role: str | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None
    response_id: str | None = None
    previous_item_id: str | None = None
    source: str | None = None
    placed: bool = False  # inserted into the conversation order (not out-of-band, not deleted)
    deleted: bool = False
    deleted_t_ns: int | None = None
    audio_format: AudioFormat | None = None
    content: list[ContentPart] = field(default_factory=list)
    turn: AudioTurn | None = None

    def part(self, index: int) -> ContentPart:
        """The content part at index, created (with any missing parts before it) if needed."""
        content = self.content
        while len(content) <= index:
            content.append(ContentPart(len(content)))
        return content[index]

    @property
    def text(self) -> str | None:
        texts = [p.text for p in self.content if p.text]
        return "".join(texts) if texts else None

    @property
    def transcript(self) -> str | None:
        """The parts' transcripts joined; "" when a transcription completed empty (the audio
        held no speech), None when no transcript arrived."""
        texts = [p.transcript for p in self.content if p.transcript is not None]
        return "".join(texts) if texts else None

    @property
    def truncated(self) -> bool:
        return any(p.truncated for p in self.content)

    @property
    def format(self) -> AudioFormat:
        return self.audio_format or PCM16_24K

    @property
    def audio_bytes(self) -> int:
        return sum(p.audio_bytes for p in self.content)

    @property
    def heard_bytes(self) -> int:
        return sum(p.heard_bytes for p in self.content)

    @property
    def audio_ms(self) -> float:
        """Duration of the audio as generated (assistant) or as spoken (user turn)."""
        if self.audio_bytes == 0 and self.turn is not None and self.turn.duration_ms is not None:
            return float(self.turn.duration_ms)
        return _ms(self.format, self.audio_bytes)

    @property
    def heard_ms(self) -> float:
        """Duration of the audio the listener heard (after truncation)."""
        if self.audio_bytes == 0 and self.turn is not None and self.turn.duration_ms is not None:
            return float(self.turn.duration_ms)
        return _ms(self.format, self.heard_bytes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "role": self.role,
            "status": self.status,
            "text": self.text,
            "transcript": self.transcript,
            "audio_ms": self.audio_ms,
            "heard_ms": self.heard_ms,
            "truncated": self.truncated,
            "call_id": self.call_id,
            "name": self.name,
            "arguments": self.arguments,
            "output": self.output,
            "response_id": self.response_id,
            "previous_item_id": self.previous_item_id,
            "source": self.source,
            "deleted": self.deleted,
            "t_ns": self.t_ns,
            "audio_format": self.audio_format.name if self.audio_format else None,
            "content": [p.to_dict(self.format) for p in self.content],
            "turn": self.turn.to_dict() if self.turn else None,
        }


@dataclass(slots=True)
class Response:
    """One model response: its status, why it stopped, its usage and its output items."""

    id: str
    created_t_ns: int | None = None
    done_t_ns: int | None = None
    status: str | None = None
    status_details: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    conversation_id: str | None = None
    metadata: dict[str, Any] | None = None
    output_format: AudioFormat | None = None  # the response's own output format, if it set one
    output_item_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "status_details": self.status_details,
            "usage": self.usage,
            "conversation_id": self.conversation_id,
            "metadata": self.metadata,
            "output_item_ids": self.output_item_ids,
            "created_t_ns": self.created_t_ns,
            "done_t_ns": self.done_t_ns,
        }


@dataclass(slots=True)
class Conversation:
    """Everything reconstructed from one session.

    `order` is the conversation order (ids of placed items, following previous_item_id);
    `items` holds every item ever named, including deleted and out-of-band ones.
    """

    session_id: str | None = None  # the server's session id (session.created), not rtrec's
    model: str | None = None
    input_format: AudioFormat = PCM16_24K
    output_format: AudioFormat = PCM16_24K
    formats_from_session: bool = False  # False: the session never named a format
    input_audio_bytes: int = 0  # every byte the client appended to the input buffer
    # where each stretch of the input stream was captured, on the session clock (ms)
    input_placement: StreamPlacement = field(default_factory=StreamPlacement)
    items: dict[str, Item] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    responses: dict[str, Response] = field(default_factory=dict)
    turns: list[AudioTurn] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    rate_limits: list[dict[str, Any]] = field(default_factory=list)
    unknown_events: int = 0
    last_t_ns: int | None = None

    def ordered_items(self) -> list[Item]:
        """Items in conversation order (deleted and out-of-band items are not in it)."""
        items = self.items
        return [items[item_id] for item_id in self.order]

    def unplaced_items(self) -> list[Item]:
        """Response output items never inserted into the conversation (out-of-band responses).

        A client item the server never confirmed (rejected with an error) is not one of them.
        """
        return [
            i for i in self.items.values()
            if not i.placed and not i.deleted and i.response_id is not None
        ]

    def deleted_items(self) -> list[Item]:
        return [i for i in self.items.values() if i.deleted]

    def output_for(self, call_id: str) -> Item | None:
        """The function_call_output item that answers the function call call_id, if any."""
        for item in self.items.values():
            if item.type == "function_call_output" and item.call_id == call_id and not item.deleted:
                return item
        return None

    def call_for(self, call_id: str) -> Item | None:
        """The function_call item with this call_id, if any."""
        for item in self.items.values():
            if item.type == "function_call" and item.call_id == call_id:
                return item
        return None

    @property
    def input_audio_ms(self) -> float:
        return _ms(self.input_format, self.input_audio_bytes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: `items` in conversation order, then everything else."""
        items = []
        for item in self.ordered_items():
            entry = item.to_dict()
            if item.type == "function_call" and item.call_id:
                answer = self.output_for(item.call_id)
                entry["output"] = answer.output if answer else None
                entry["output_item_id"] = answer.id if answer else None
            items.append(entry)
        return {
            "server_session_id": self.session_id,
            "model": self.model,
            "input_format": self.input_format.name,
            "input_sample_rate": self.input_format.sample_rate,
            "output_format": self.output_format.name,
            "output_sample_rate": self.output_format.sample_rate,
            "formats_from_session": self.formats_from_session,
            "input_audio_bytes": self.input_audio_bytes,
            "input_audio_ms": self.input_audio_ms,
            "items": items,
            "out_of_band_items": [i.to_dict() for i in self.unplaced_items()],
            "deleted_items": [i.to_dict() for i in self.deleted_items()],
            "responses": [r.to_dict() for r in self.responses.values()],
            "turns": [t.to_dict() for t in self.turns],
            "errors": self.errors,
            "rate_limits": self.rate_limits,
            "unknown_events": self.unknown_events,
        }


def _ms(audio_format: AudioFormat, byte_count: int) -> float:
    return round(audio_format.duration_ms(byte_count), 3)
