"""Every Live client and server event (LIVE.md §2), and the Responses events inside
`response.event`, as msgspec Structs.

As recorder.events does for Realtime: one Struct per wire type name, attributes named as the
wire fields, `type` a class attribute equal to the wire type (written as the tag when encoded),
nested resources typed (recorder.live.resources), `odd` a class attribute for the strict
classes (recorder.tolerant rebuilds an event whose fields did not fit as a subclass that adds
it), and recorder.events.UnknownEvent for what is not a known, well-formed event.

Unlike Realtime, two names are sent by both sides with different meanings (LIVE.md §5): the
sideband's server reflects the caller's audio as `session.input_audio.append`, and the legacy
server notice `transport.dtmf.send` has the name of the sideband's client command. So a class
is known by (direction, type): CLIENT_EVENT_CLASS_BY_TYPE and SERVER_EVENT_CLASS_BY_TYPE.

Which connection sends what (LIVE.md §2a): the primary socket and a fork take 15 client and send
28 server types; a sideband (/attach) takes 14 and sends 30; 16 and 30 in all.

`response.event` wraps any Responses streaming event: its `event` is decoded by its own type
(RESPONSES_EVENT_CLASSES, a ResponsesEvent), and a type not listed there, or one that does not
fit, stays an UnknownEvent with the nested event's own bytes.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from recorder.events import Odd, UnknownEvent
from recorder.live.resources import (
    BackendResponse,
    ContentPart,
    ContextWindow,
    DecisionResult,
    Delegation,
    ErrorInfo,
    Item,
    Session,
    TransportError,
    Usage,
)
from recorder.protocol import names
from recorder.wire import Direction

__all__ = ["Odd", "UnknownEvent"]  # re-exported: Live shares them with Realtime


class LiveEvent(msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, gc=False):
    """Base of every typed Live event: `type` the wire type name, `direction` who sends it.

    `odd`: see recorder.events.Event (None for an event that decoded strictly)."""

    type: ClassVar[str]
    direction: ClassVar[Direction]
    odd: ClassVar[Odd | None] = None
    # Optional on client events (required on decision.create); on every server event except
    # session.output_audio.delta and the reflected session.input_audio.append (LIVE.md §2b).
    event_id: str | None = None

    @property
    def untyped(self) -> tuple[str, ...]:
        """Attributes holding a raw value instead of their declared type; () for nearly all."""
        return self.odd.untyped if self.odd is not None else ()


class LiveClientEvent(LiveEvent):
    """An event a Live client sends (primary socket, fork, or sideband)."""


class LiveServerEvent(LiveEvent, kw_only=True):
    """An event the Live server sends; `client_event_id` echoes the client command that caused
    it, when that command had an event_id."""

    client_event_id: str | None = None


# --------------------------------------------------------------------------- client events


class SessionStart(LiveClientEvent, tag=names.LIVE_SESSION_START):
    """The first frame of a primary or fork socket. On a fork, `session` holds overrides only
    (no model; empty inherits)."""

    session: Session


class SessionUpdate(LiveClientEvent, tag="session.update"):
    session: Session  # delegation and triggers only


class InputAudioAppend(LiveClientEvent, tag=names.LIVE_INPUT_AUDIO_APPEND):
    """Microphone audio (primary socket only), base64 in the session's format; never acked."""

    audio: str


class InputAudioMute(LiveClientEvent, tag="session.input_audio.mute"):
    pass


class InputAudioUnmute(LiveClientEvent, tag="session.input_audio.unmute"):
    pass


class OutputAudioFixturePlay(LiveClientEvent, tag=names.LIVE_OUTPUT_AUDIO_FIXTURE_PLAY):
    """Audio for the server to play (PCM16 mono 24 kHz whatever the session's format)."""

    audio: str


class _Append(LiveClientEvent):
    """Context text injected into the session, optionally for a client delegation."""

    content: str
    delegation_id: str | None = None  # required on the wire, nullable


class InstructionsAppend(_Append, tag="session.instructions.append"):
    """Developer instructions."""


class ThinkingAppend(_Append, tag="session.thinking.append"):
    """Silent context."""


class CommentaryAppend(_Append, tag="session.commentary.append"):
    """Context to be said aloud: how a client returns a client delegation's result."""


class DecisionCreate(LiveClientEvent, tag="decision.create"):
    """Evaluate the configured Decisions questions now (event_id required by the server)."""


class DecisionItemCreate(LiveClientEvent, tag="decision.item.create"):
    item: Item


class DecisionItemDelete(LiveClientEvent, tag="decision.item.delete"):
    item_id: str


class ResponseItemCreate(LiveClientEvent, tag="response.item.create"):
    """A Responses input item for the backend, e.g. a function_call_output with its call_id."""

    item: Item


class ResponseCreate(LiveClientEvent, tag="response.create"):
    """Ask the Responses backend to (continue to) respond."""


class SessionClose(LiveClientEvent, tag=names.LIVE_SESSION_CLOSE):
    pass


class TransportDtmfSend(LiveClientEvent, tag=names.LIVE_TRANSPORT_DTMF_SEND):
    """Sideband only (SIP): send one key, 0-9 A-D * #."""

    event: str


# --------------------------------------------------------------------------- server: session


class SessionStarted(LiveServerEvent, tag=names.LIVE_SESSION_STARTED):
    """The resolved session: its id, format and the server's defaults."""

    session: Session


class SessionUpdated(LiveServerEvent, tag="session.updated"):
    session: Session


class SessionPaused(LiveServerEvent, tag="session.paused"):
    """Sideband / data channel: a WebRTC idle timeout paused inference."""


class SessionResumed(LiveServerEvent, tag="session.resumed"):
    pass


class InputAudioMuted(LiveServerEvent, tag="session.input_audio.muted"):
    pass


class InputAudioUnmuted(LiveServerEvent, tag="session.input_audio.unmuted"):
    pass


class OutputAudioFixturePlaying(LiveServerEvent, tag="session.output_audio.fixture.playing"):
    pass


class OutputAudioFixturePlayed(LiveServerEvent, tag="session.output_audio.fixture.played"):
    """Drained from the server's mixer (not: heard)."""


class _Appended(LiveServerEvent):
    """Where on the session timeline appended text went in (ms; end may equal start)."""

    start_ms: int
    end_ms: int


class InstructionsAppended(_Appended, tag="session.instructions.appended"):
    pass


class ThinkingAppended(_Appended, tag="session.thinking.appended"):
    pass


class CommentaryAppended(_Appended, tag="session.commentary.appended"):
    pass


class SidebandInputAudioAppend(LiveServerEvent, tag=names.LIVE_INPUT_AUDIO_APPEND):
    """The caller's audio reflected to a sideband (PCM16 24 kHz): the client command's name
    and key, sent by the server; no event_id, no times, not an acknowledgement."""

    audio: str


class OutputAudioDelta(LiveServerEvent, tag=names.LIVE_OUTPUT_AUDIO_DELTA):
    """A frame of the continuous output track (silent when the model is not speaking).
    No event_id. start_ms / end_ms on a sideband only (gaps where frames were dropped)."""

    delta: str
    start_ms: int | None = None
    end_ms: int | None = None


class _TranscriptDelta(LiveServerEvent):
    """A transcript fragment on the session timeline; no done event, no item, no turn."""

    delta: str
    start_ms: int
    end_ms: int


class InputTranscriptDelta(_TranscriptDelta, tag=names.LIVE_INPUT_TRANSCRIPT_DELTA):
    pass


class OutputTranscriptDelta(_TranscriptDelta, tag=names.LIVE_OUTPUT_TRANSCRIPT_DELTA):
    pass


class DelegationCreated(LiveServerEvent, tag=names.LIVE_DELEGATION_CREATED):
    delegation: Delegation
    offset_ms: int


class DecisionEvent(LiveServerEvent, tag="decision.event"):
    """A Decisions answer, for a delegation or a transcript trigger (which names the delta
    that fired it)."""

    event: DecisionResult
    delegation_id: str | None = None
    trigger_id: str | None = None
    source_event_id: str | None = None
    source_event_type: str | None = None


class DecisionItemCreated(LiveServerEvent, tag="decision.item.created"):
    item: Item


class DecisionItemDeleted(LiveServerEvent, tag="decision.item.deleted"):
    item_id: str


class SessionUsageUpdated(LiveServerEvent, tag="session.usage.updated"):
    usage: Usage
    context_window: ContextWindow | None = None


class SessionClosed(LiveServerEvent, tag=names.LIVE_SESSION_CLOSED):
    """Terminal. reason: close_requested, expired, content, remote_hangup, connection_lost."""

    reason: str
    session: Session | None = None
    usage: Usage | None = None


class ErrorEvent(LiveServerEvent, tag="error"):
    """A command error (the session goes on), or a start refused (no session.started)."""

    error: ErrorInfo


class InfoEvent(LiveServerEvent, tag="info"):
    code: str
    message: str


class TransportDtmfReceived(LiveServerEvent, tag="transport.dtmf.received"):
    event: str


class TransportDtmfSent(LiveServerEvent, tag="transport.dtmf.sent"):
    event: str


class TransportDtmfSendNotice(LiveServerEvent, tag=names.LIVE_TRANSPORT_DTMF_SEND):
    """The legacy server notice of a sent key, under the client command's name."""

    event: str


class TransportRinging(LiveServerEvent, tag="transport.ringing"):
    session_id: str


class TransportAnswered(LiveServerEvent, tag="transport.answered"):
    session_id: str


class TransportFailed(LiveServerEvent, tag="transport.failed"):
    session_id: str
    error: TransportError


# --------------------------------------------------------------------------- Responses events


class ResponsesEvent(
    msgspec.Struct, tag_field="type", kw_only=True, omit_defaults=True, gc=False
):
    """Base of the Responses stream events a `response.event` carries (its `event`)."""

    type: ClassVar[str]
    odd: ClassVar[Odd | None] = None
    sequence_number: int | None = None

    @property
    def untyped(self) -> tuple[str, ...]:
        return self.odd.untyped if self.odd is not None else ()


class _Lifecycle(ResponsesEvent):
    response: BackendResponse


class BackendResponseCreated(_Lifecycle, tag="response.created"):
    pass


class BackendResponseQueued(_Lifecycle, tag="response.queued"):
    pass


class BackendResponseInProgress(_Lifecycle, tag="response.in_progress"):
    pass


class BackendResponseCompleted(_Lifecycle, tag="response.completed"):
    """The end of a backend response, with its token usage."""


class BackendResponseFailed(_Lifecycle, tag="response.failed"):
    pass


class BackendResponseIncomplete(_Lifecycle, tag="response.incomplete"):
    pass


class BackendOutputItemAdded(ResponsesEvent, tag="response.output_item.added"):
    output_index: int
    item: Item


class BackendOutputItemDone(ResponsesEvent, tag="response.output_item.done"):
    output_index: int
    item: Item


class _Part(ResponsesEvent):
    item_id: str
    output_index: int
    content_index: int


class BackendContentPartAdded(_Part, tag="response.content_part.added"):
    part: ContentPart


class BackendContentPartDone(_Part, tag="response.content_part.done"):
    part: ContentPart


class BackendOutputTextDelta(_Part, tag="response.output_text.delta"):
    delta: str
    logprobs: list[dict[str, Any]] | None = None


class BackendOutputTextDone(_Part, tag="response.output_text.done"):
    text: str
    logprobs: list[dict[str, Any]] | None = None


class BackendRefusalDelta(_Part, tag="response.refusal.delta"):
    delta: str


class BackendRefusalDone(_Part, tag="response.refusal.done"):
    refusal: str


class BackendFunctionCallArgumentsDelta(
    ResponsesEvent, tag="response.function_call_arguments.delta"
):
    item_id: str
    output_index: int
    delta: str


class BackendFunctionCallArgumentsDone(
    ResponsesEvent, tag="response.function_call_arguments.done"
):
    item_id: str
    output_index: int
    arguments: str
    name: str | None = None


class _WebSearch(ResponsesEvent):
    """A hosted web search running server-side: only these events show it."""

    item_id: str
    output_index: int


class BackendWebSearchInProgress(_WebSearch, tag="response.web_search_call.in_progress"):
    pass


class BackendWebSearchSearching(_WebSearch, tag="response.web_search_call.searching"):
    pass


class BackendWebSearchCompleted(_WebSearch, tag="response.web_search_call.completed"):
    pass


class BackendError(ResponsesEvent, tag="error"):
    """An error in the Responses stream itself."""

    code: str | None = None
    message: str | None = None
    param: str | None = None


AnyResponsesEvent = ResponsesEvent | UnknownEvent


class ResponseEvent(LiveServerEvent, tag=names.LIVE_RESPONSE_EVENT):
    """A Responses stream event of the delegated backend; `delegation_id` ties it to its
    session.delegation.created (null when it cannot be correlated). `event` is the nested
    event typed by its own type, or an UnknownEvent keeping its bytes (recorder.live.decode
    builds it: msgspec does not decode this class directly)."""

    event: AnyResponsesEvent
    delegation_id: str | None = None


# --------------------------------------------------------------------------- catalog

CLIENT_EVENT_CLASSES: tuple[type[LiveClientEvent], ...] = (
    SessionStart, SessionUpdate, InputAudioAppend, InputAudioMute, InputAudioUnmute,
    OutputAudioFixturePlay, InstructionsAppend, ThinkingAppend, CommentaryAppend,
    DecisionCreate, DecisionItemCreate, DecisionItemDelete, ResponseItemCreate, ResponseCreate,
    SessionClose, TransportDtmfSend,
)
SERVER_EVENT_CLASSES: tuple[type[LiveServerEvent], ...] = (
    SessionStarted, SessionUpdated, SessionPaused, SessionResumed, InputAudioMuted,
    InputAudioUnmuted, OutputAudioFixturePlaying, OutputAudioFixturePlayed,
    InstructionsAppended, ThinkingAppended, CommentaryAppended, SidebandInputAudioAppend,
    OutputAudioDelta, InputTranscriptDelta, OutputTranscriptDelta, DelegationCreated,
    ResponseEvent, DecisionEvent, DecisionItemCreated, DecisionItemDeleted,
    SessionUsageUpdated, SessionClosed, ErrorEvent, InfoEvent, TransportDtmfReceived,
    TransportDtmfSent, TransportDtmfSendNotice, TransportRinging, TransportAnswered,
    TransportFailed,
)
RESPONSES_EVENT_CLASSES: tuple[type[ResponsesEvent], ...] = (
    BackendResponseCreated, BackendResponseQueued, BackendResponseInProgress,
    BackendResponseCompleted, BackendResponseFailed, BackendResponseIncomplete,
    BackendOutputItemAdded, BackendOutputItemDone, BackendContentPartAdded,
    BackendContentPartDone, BackendOutputTextDelta, BackendOutputTextDone, BackendRefusalDelta,
    BackendRefusalDone, BackendFunctionCallArgumentsDelta, BackendFunctionCallArgumentsDone,
    BackendWebSearchInProgress, BackendWebSearchSearching, BackendWebSearchCompleted,
    BackendError,
)

for _client in CLIENT_EVENT_CLASSES:
    _client.type = _client.__struct_config__.tag  # type: ignore[assignment]
    _client.direction = Direction.CLIENT
for _server in SERVER_EVENT_CLASSES:
    _server.type = _server.__struct_config__.tag  # type: ignore[assignment]
    _server.direction = Direction.SERVER
for _nested in RESPONSES_EVENT_CLASSES:
    _nested.type = _nested.__struct_config__.tag  # type: ignore[assignment]

CLIENT_EVENT_CLASS_BY_TYPE: dict[str, type[LiveClientEvent]] = {
    cls.type: cls for cls in CLIENT_EVENT_CLASSES
}
SERVER_EVENT_CLASS_BY_TYPE: dict[str, type[LiveServerEvent]] = {
    cls.type: cls for cls in SERVER_EVENT_CLASSES
}
EVENT_CLASS_BY_DIRECTION: dict[Direction, dict[str, type[LiveEvent]]] = {
    Direction.CLIENT: dict(CLIENT_EVENT_CLASS_BY_TYPE),
    Direction.SERVER: dict(SERVER_EVENT_CLASS_BY_TYPE),
}
RESPONSES_EVENT_CLASS_BY_TYPE: dict[str, type[ResponsesEvent]] = {
    cls.type: cls for cls in RESPONSES_EVENT_CLASSES
}

CLIENT_TYPES: frozenset[str] = frozenset(CLIENT_EVENT_CLASS_BY_TYPE)
SERVER_TYPES: frozenset[str] = frozenset(SERVER_EVENT_CLASS_BY_TYPE)
RESPONSES_EVENT_TYPES: frozenset[str] = frozenset(RESPONSES_EVENT_CLASS_BY_TYPE)

# Per connection kind (LIVE.md §2a). A fork socket speaks the primary socket's events.
_SIDEBAND_ONLY_SERVER = frozenset({SessionPaused.type, SessionResumed.type})
PRIMARY_CLIENT_TYPES: frozenset[str] = CLIENT_TYPES - {TransportDtmfSend.type}
PRIMARY_SERVER_TYPES: frozenset[str] = SERVER_TYPES - _SIDEBAND_ONLY_SERVER
SIDEBAND_CLIENT_TYPES: frozenset[str] = CLIENT_TYPES - {SessionStart.type, InputAudioAppend.type}
SIDEBAND_SERVER_TYPES: frozenset[str] = SERVER_TYPES
FORK_CLIENT_TYPES: frozenset[str] = PRIMARY_CLIENT_TYPES
FORK_SERVER_TYPES: frozenset[str] = PRIMARY_SERVER_TYPES


def direction_of(type_name: str, *, sideband: bool = False) -> Direction | None:
    """Who sends a Live event of this type on a primary (or fork) socket, or on a sideband;
    None for a type Live does not define. The two names both sides send go by the connection:
    session.input_audio.append is the client's microphone on a primary socket and the server's
    reflection on a sideband; transport.dtmf.send is the sideband client's command and, on a
    primary socket, the server's legacy notice. A type of the other kind of connection goes to
    the side that sends it there."""
    client, server = ((SIDEBAND_CLIENT_TYPES, SIDEBAND_SERVER_TYPES) if sideband
                      else (PRIMARY_CLIENT_TYPES, PRIMARY_SERVER_TYPES))
    if type_name in client:
        return Direction.CLIENT
    if type_name in server:
        return Direction.SERVER
    if type_name in CLIENT_TYPES:
        return Direction.CLIENT
    if type_name in SERVER_TYPES:
        return Direction.SERVER
    return None
