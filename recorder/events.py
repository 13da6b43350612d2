"""Every client and server event of the Realtime API, beta and GA, as msgspec Structs.

One Struct per wire type name. Attributes are the wire field names; `type` is a class attribute
equal to the wire type string (msgspec writes it as the tag when encoding). Where beta and GA
give the same type name different shapes (session.*, response.create/created/done, item
payloads, transcription completed), the nested resources in recorder.resources accept both, so
one class serves both protocols.

The five GA renames (response.output_text.*, response.output_audio.*,
response.output_audio_transcript.*) subclass their beta originals: same fields, and
`isinstance(event, ResponseAudioDelta)` holds for both spellings.

`obfuscation` is optional on every *.delta: the live wire sends it on more deltas than the
schemas declare.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from recorder.resources import (
    ContentPart,
    Conversation,
    ErrorInfo,
    Item,
    LogProb,
    RateLimit,
    Response,
    ResponseParams,
    Session,
    TranscriptionLanguage,
    Usage,
)
from recorder.wire import Direction


class Odd(msgspec.Struct, frozen=True, gc=False):
    """What of a known event did not fit its typed shape (see recorder.tolerant).

    fields: the raw JSON value of each field kept raw, by its path ("session.voice",
    "response.output[0].status"); its typed slot holds the default (None), or for a required
    top-level field the raw value itself. reasons: why each did not fit, by the same path.
    coerced: numbers sent as strings that were converted, by path, with the string as sent.
    untyped: the event's own attributes (required top-level fields) that hold a raw value, not
    their declared type; consumers that rely on the types (the conversation fold, export) take
    an event with any as they take an UnknownEvent.
    """

    fields: dict[str, Any] = msgspec.field(default_factory=dict)
    reasons: dict[str, str] = msgspec.field(default_factory=dict)
    coerced: dict[str, Any] = msgspec.field(default_factory=dict)
    untyped: tuple[str, ...] = ()

    @property
    def note(self) -> str:
        """One line listing what did not fit and what was coerced."""
        kept = [f"{path} kept raw ({reason})" for path, reason in self.reasons.items()]
        coerced = [f"{path} coerced from {raw!r}" for path, raw in self.coerced.items()]
        return "; ".join(kept + coerced)


class Event(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, gc=False):
    """Base of every typed event. `type` is the wire type name, `direction` who sends it.

    `odd` is None for an event that decoded strictly; for one rebuilt field by field because
    some field had an unexpected shape, it lists those fields with their raw values. It is
    rtrec's own note, never read from the wire: here a class attribute, so the strict classes
    (the fast path) carry no extra field; a rebuilt event is an instance of a subclass of its
    class that adds `odd` as a field (recorder.tolerant), so isinstance and dispatch by type
    name see its class.
    """

    type: ClassVar[str]
    direction: ClassVar[Direction]
    odd: ClassVar[Odd | None] = None
    # Optional on client events (client-chosen); set by the server on every server event except
    # input_audio_buffer.dtmf_event_received.
    event_id: str | None = None

    @property
    def untyped(self) -> tuple[str, ...]:
        """Attributes holding a raw value instead of their declared type; () for nearly all."""
        return self.odd.untyped if self.odd is not None else ()


class ClientEvent(Event):
    """An event the client app sends to the server."""


class ServerEvent(Event):
    """An event the Realtime server sends to the client app."""


class UnknownEvent(msgspec.Struct, frozen=True, gc=False):
    """A frame that is not a known, well-formed event: kept as a value, never an exception.

    raw is the frame's bytes as received; type is the wire type when one was readable (a string
    `type` in a JSON object), else None; reason says what is wrong in one line.
    """

    raw: bytes
    type: str | None
    reason: str
    event_id: str | None = None


# --------------------------------------------------------------------------- client events


class SessionUpdate(ClientEvent, tag="session.update"):
    session: Session


class TranscriptionSessionUpdate(ClientEvent, tag="transcription_session.update"):
    """Beta only; GA uses session.update with session.type "transcription"."""

    session: Session


class InputAudioBufferAppend(ClientEvent, tag="input_audio_buffer.append"):
    audio: str  # base64, in the session's input format


class InputAudioBufferCommit(ClientEvent, tag="input_audio_buffer.commit"):
    pass


class InputAudioBufferClear(ClientEvent, tag="input_audio_buffer.clear"):
    pass


class ConversationItemCreate(ClientEvent, tag="conversation.item.create"):
    item: Item
    previous_item_id: str | None = None  # "root" inserts first; omitted appends


class ConversationItemRetrieve(ClientEvent, tag="conversation.item.retrieve"):
    item_id: str


class ConversationItemTruncate(ClientEvent, tag="conversation.item.truncate"):
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDelete(ClientEvent, tag="conversation.item.delete"):
    item_id: str


class ResponseCreate(ClientEvent, tag="response.create"):
    response: ResponseParams | None = None

    @property
    def response_item(self) -> ResponseParams | None:
        """The seed's `ResponseItem`: the configuration of the requested response."""
        return self.response


class ResponseCancel(ClientEvent, tag="response.cancel"):
    response_id: str | None = None  # omitted: the in-progress response of the conversation


class OutputAudioBufferClear(ClientEvent, tag="output_audio_buffer.clear"):
    pass


# --------------------------------------------------------------------------- server: session


class SessionCreated(ServerEvent, tag="session.created"):
    session: Session


class SessionUpdated(ServerEvent, tag="session.updated"):
    session: Session


class TranscriptionSessionCreated(ServerEvent, tag="transcription_session.created"):
    session: Session


class TranscriptionSessionUpdated(ServerEvent, tag="transcription_session.updated"):
    session: Session


class ConversationCreated(ServerEvent, tag="conversation.created"):
    conversation: Conversation


class RateLimitsUpdated(ServerEvent, tag="rate_limits.updated"):
    rate_limits: list[RateLimit]


class ErrorEvent(ServerEvent, tag="error"):
    error: ErrorInfo


# --------------------------------------------------------------------------- server: items


class ConversationItemCreated(ServerEvent, tag="conversation.item.created"):
    item: Item
    previous_item_id: str | None = None  # null for the first item


class ConversationItemAdded(ServerEvent, tag="conversation.item.added"):
    """GA: an item was inserted (model items arrive in_progress, with empty content)."""

    item: Item
    previous_item_id: str | None = None


class ConversationItemDone(ServerEvent, tag="conversation.item.done"):
    """GA: the finalized item, without audio."""

    item: Item
    previous_item_id: str | None = None


class ConversationItemRetrieved(ServerEvent, tag="conversation.item.retrieved"):
    """The server's copy of an item; the only event that carries item audio."""

    item: Item


class ConversationItemTruncated(ServerEvent, tag="conversation.item.truncated"):
    item_id: str
    content_index: int
    audio_end_ms: int


class ConversationItemDeleted(ServerEvent, tag="conversation.item.deleted"):
    item_id: str


class ConversationItemInputAudioTranscriptionDelta(
    ServerEvent, tag="conversation.item.input_audio_transcription.delta"
):
    item_id: str
    content_index: int | None = None
    delta: str | None = None
    logprobs: list[LogProb] | None = None
    obfuscation: str | None = None


class ConversationItemInputAudioTranscriptionCompleted(
    ServerEvent, tag="conversation.item.input_audio_transcription.completed"
):
    item_id: str
    content_index: int
    transcript: str | None
    usage: Usage | None = None  # absent in the 2025-04 beta spec
    logprobs: list[LogProb] | None = None
    languages: list[TranscriptionLanguage] | None = None  # GA


class ConversationItemInputAudioTranscriptionFailed(
    ServerEvent, tag="conversation.item.input_audio_transcription.failed"
):
    item_id: str
    content_index: int
    error: ErrorInfo


class ConversationItemInputAudioTranscriptionSegment(
    ServerEvent, tag="conversation.item.input_audio_transcription.segment"
):
    """GA: a diarized span of an input transcription; start and end are seconds."""

    item_id: str
    content_index: int
    id: str
    text: str
    speaker: str
    start: float
    end: float


# --------------------------------------------------------------------------- server: input buffer


class InputAudioBufferCommitted(ServerEvent, tag="input_audio_buffer.committed"):
    item_id: str
    previous_item_id: str | None = None


class InputAudioBufferCleared(ServerEvent, tag="input_audio_buffer.cleared"):
    pass


class InputAudioBufferSpeechStarted(ServerEvent, tag="input_audio_buffer.speech_started"):
    item_id: str
    audio_start_ms: int


class InputAudioBufferSpeechStopped(ServerEvent, tag="input_audio_buffer.speech_stopped"):
    item_id: str
    audio_end_ms: int


class InputAudioBufferTimeoutTriggered(ServerEvent, tag="input_audio_buffer.timeout_triggered"):
    item_id: str
    audio_start_ms: int
    audio_end_ms: int


class InputAudioBufferDtmfEventReceived(
    ServerEvent, tag="input_audio_buffer.dtmf_event_received"
):
    """GA, SIP only: a keypad key; received_at is Unix seconds. Carries no event_id."""

    event: str
    received_at: int


class OutputAudioBufferStarted(ServerEvent, tag="output_audio_buffer.started"):
    response_id: str


class OutputAudioBufferStopped(ServerEvent, tag="output_audio_buffer.stopped"):
    response_id: str


class OutputAudioBufferCleared(ServerEvent, tag="output_audio_buffer.cleared"):
    response_id: str


# --------------------------------------------------------------------------- server: responses


class ResponseCreated(ServerEvent, tag="response.created"):
    response: Response


class ResponseDone(ServerEvent, tag="response.done"):
    response: Response


class ResponseOutputItemAdded(ServerEvent, tag="response.output_item.added"):
    response_id: str
    output_index: int
    item: Item


class ResponseOutputItemDone(ServerEvent, tag="response.output_item.done"):
    response_id: str
    output_index: int
    item: Item


class _ContentEvent(ServerEvent):
    """Addresses one content part of one output item of one response."""

    response_id: str
    item_id: str
    output_index: int
    content_index: int


class ResponseContentPartAdded(_ContentEvent, tag="response.content_part.added"):
    part: ContentPart


class ResponseContentPartDone(_ContentEvent, tag="response.content_part.done"):
    part: ContentPart


class ResponseTextDelta(_ContentEvent, tag="response.text.delta"):
    delta: str
    obfuscation: str | None = None


class ResponseTextDone(_ContentEvent, tag="response.text.done"):
    text: str


class ResponseAudioDelta(_ContentEvent, tag="response.audio.delta"):
    delta: str  # base64 audio in the session's output format
    obfuscation: str | None = None


class ResponseAudioDone(_ContentEvent, tag="response.audio.done"):
    pass


class ResponseAudioTranscriptDelta(_ContentEvent, tag="response.audio_transcript.delta"):
    delta: str
    obfuscation: str | None = None


class ResponseAudioTranscriptDone(_ContentEvent, tag="response.audio_transcript.done"):
    transcript: str | None


class ResponseOutputTextDelta(ResponseTextDelta, tag="response.output_text.delta"):
    """GA name of response.text.delta."""


class ResponseOutputTextDone(ResponseTextDone, tag="response.output_text.done"):
    """GA name of response.text.done."""


class ResponseOutputAudioDelta(ResponseAudioDelta, tag="response.output_audio.delta"):
    """GA name of response.audio.delta."""


class ResponseOutputAudioDone(ResponseAudioDone, tag="response.output_audio.done"):
    """GA name of response.audio.done."""


class ResponseOutputAudioTranscriptDelta(
    ResponseAudioTranscriptDelta, tag="response.output_audio_transcript.delta"
):
    """GA name of response.audio_transcript.delta."""


class ResponseOutputAudioTranscriptDone(
    ResponseAudioTranscriptDone, tag="response.output_audio_transcript.done"
):
    """GA name of response.audio_transcript.done."""


class ResponseFunctionCallArgumentsDelta(
    ServerEvent, tag="response.function_call_arguments.delta"
):
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    delta: str
    obfuscation: str | None = None


class ResponseFunctionCallArgumentsDone(ServerEvent, tag="response.function_call_arguments.done"):
    response_id: str
    item_id: str
    output_index: int
    call_id: str
    arguments: str
    name: str | None = None  # GA only


class ResponseMcpCallArgumentsDelta(ServerEvent, tag="response.mcp_call_arguments.delta"):
    response_id: str
    item_id: str
    output_index: int
    delta: str
    obfuscation: str | None = None


class ResponseMcpCallArgumentsDone(ServerEvent, tag="response.mcp_call_arguments.done"):
    response_id: str
    item_id: str
    output_index: int
    arguments: str


class ResponseMcpCallInProgress(ServerEvent, tag="response.mcp_call.in_progress"):
    item_id: str
    output_index: int


class ResponseMcpCallCompleted(ServerEvent, tag="response.mcp_call.completed"):
    item_id: str
    output_index: int


class ResponseMcpCallFailed(ServerEvent, tag="response.mcp_call.failed"):
    item_id: str
    output_index: int


class McpListToolsInProgress(ServerEvent, tag="mcp_list_tools.in_progress"):
    item_id: str


class McpListToolsCompleted(ServerEvent, tag="mcp_list_tools.completed"):
    item_id: str


class McpListToolsFailed(ServerEvent, tag="mcp_list_tools.failed"):
    item_id: str


# --------------------------------------------------------------------------- catalog

# Which protocol sends which type (CATALOG §1, §6): most names are shared, a few are beta-only
# (the pre-rename deltas and the transcription_session flow) or GA-only.
_BETA_ONLY: tuple[type[Event], ...] = (
    TranscriptionSessionUpdate,
    TranscriptionSessionCreated,
    TranscriptionSessionUpdated,
    ResponseTextDelta,
    ResponseTextDone,
    ResponseAudioDelta,
    ResponseAudioDone,
    ResponseAudioTranscriptDelta,
    ResponseAudioTranscriptDone,
)
_GA_ONLY: tuple[type[Event], ...] = (
    ConversationItemAdded,
    ConversationItemDone,
    ConversationItemInputAudioTranscriptionSegment,
    InputAudioBufferTimeoutTriggered,
    InputAudioBufferDtmfEventReceived,
    ResponseOutputTextDelta,
    ResponseOutputTextDone,
    ResponseOutputAudioDelta,
    ResponseOutputAudioDone,
    ResponseOutputAudioTranscriptDelta,
    ResponseOutputAudioTranscriptDone,
    ResponseMcpCallArgumentsDelta,
    ResponseMcpCallArgumentsDone,
    ResponseMcpCallInProgress,
    ResponseMcpCallCompleted,
    ResponseMcpCallFailed,
    McpListToolsInProgress,
    McpListToolsCompleted,
    McpListToolsFailed,
)
_SHARED: tuple[type[Event], ...] = (
    SessionUpdate,
    InputAudioBufferAppend,
    InputAudioBufferCommit,
    InputAudioBufferClear,
    ConversationItemCreate,
    ConversationItemRetrieve,
    ConversationItemTruncate,
    ConversationItemDelete,
    ResponseCreate,
    ResponseCancel,
    OutputAudioBufferClear,
    SessionCreated,
    SessionUpdated,
    ConversationCreated,
    RateLimitsUpdated,
    ErrorEvent,
    ConversationItemCreated,
    ConversationItemRetrieved,
    ConversationItemTruncated,
    ConversationItemDeleted,
    ConversationItemInputAudioTranscriptionDelta,
    ConversationItemInputAudioTranscriptionCompleted,
    ConversationItemInputAudioTranscriptionFailed,
    InputAudioBufferCommitted,
    InputAudioBufferCleared,
    InputAudioBufferSpeechStarted,
    InputAudioBufferSpeechStopped,
    OutputAudioBufferStarted,
    OutputAudioBufferStopped,
    OutputAudioBufferCleared,
    ResponseCreated,
    ResponseDone,
    ResponseOutputItemAdded,
    ResponseOutputItemDone,
    ResponseContentPartAdded,
    ResponseContentPartDone,
    ResponseFunctionCallArgumentsDelta,
    ResponseFunctionCallArgumentsDone,
)

EVENT_CLASSES: tuple[type[Event], ...] = _SHARED + _BETA_ONLY + _GA_ONLY

for _cls in EVENT_CLASSES:
    _cls.type = _cls.__struct_config__.tag  # type: ignore[assignment]
    _cls.direction = Direction.CLIENT if issubclass(_cls, ClientEvent) else Direction.SERVER

EVENT_CLASS_BY_TYPE: dict[str, type[Event]] = {cls.type: cls for cls in EVENT_CLASSES}


def _types(classes: tuple[type[Event], ...], direction: Direction) -> frozenset[str]:
    return frozenset(cls.type for cls in classes if cls.direction is direction)


CLIENT_TYPES: frozenset[str] = _types(EVENT_CLASSES, Direction.CLIENT)
SERVER_TYPES: frozenset[str] = _types(EVENT_CLASSES, Direction.SERVER)
BETA_CLIENT_TYPES: frozenset[str] = _types(_SHARED + _BETA_ONLY, Direction.CLIENT)
BETA_SERVER_TYPES: frozenset[str] = _types(_SHARED + _BETA_ONLY, Direction.SERVER)
GA_CLIENT_TYPES: frozenset[str] = _types(_SHARED + _GA_ONLY, Direction.CLIENT)
GA_SERVER_TYPES: frozenset[str] = _types(_SHARED + _GA_ONLY, Direction.SERVER)
BETA_ONLY_TYPES: frozenset[str] = frozenset(cls.type for cls in _BETA_ONLY)
GA_ONLY_TYPES: frozenset[str] = frozenset(cls.type for cls in _GA_ONLY)
