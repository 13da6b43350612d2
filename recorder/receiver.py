"""RealtimeEventReceiver: the Python counterpart of Glitch9 AIDevKit's RealtimeEventReceiverBase.

Subclass it and override the `on_...` methods you care about; every method does nothing by
default. `on_realtime_event_received(event)` routes a decoded event (see `recorder.decode`) to
its method. The 29 methods of the seed keep the seed's names (in snake_case) and parameters in
the seed's order; GA's renamed events reach the same methods (`response.output_audio.delta` ->
`on_response_audio_delta`), and where the seed leaves out what a user needs (the `item_id` of
transcription results, the `name` of a finished function call) it is added as a keyword.

Beyond the seed: one method per GA-only server event, `on_unknown_event` for anything that did
not decode, `on_client_event` to observe outbound client events, and `on_session_state_changed`,
the seed's `OnSessionStateChanged` as a hook of its own.

Whoever drives the receiver (a live socket, `recorder.replay`) sets `position` before each
dispatch, so a handler can tell where in the session it is, and may `attach_sender` so that
`send` reaches the server.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

import msgspec

from recorder.decode import UnknownEvent
from recorder.errors import RtrecError
from recorder.events import CLIENT_TYPES
from recorder.protocol import names
from recorder.wire import Direction


class SessionState(enum.StrEnum):
    """What `on_session_state_changed` reports."""

    CONNECTED = "connected"  # the socket is open (or a replay has started)
    CREATED = "created"  # the server sent session.created
    CLOSED = "closed"  # the socket closed (or the replay ended)


class Position(msgspec.Struct, frozen=True):
    """Where the event being dispatched sits in its session: sequence number and recorded time.

    A msgspec Struct: replay builds one per frame, and it is ten times cheaper than a dataclass.
    """

    seq: int
    t_ns: int
    direction: Direction


Handler = Callable[["RealtimeEventReceiver", Any], None]

# One entry per server event type: how its fields map onto the receiver's parameters. A table,
# not an if-chain, because dispatch runs once per event in replay (goal: 150,000 events/s).
_HANDLERS: dict[str, Handler] = {
    # session and conversation
    "session.created": lambda r, e: r._session_created(e),
    "session.updated": lambda r, e: r.on_session_updated(e.event_id, e.session),
    "transcription_session.created": lambda r, e: r.on_transcription_session_created(
        e.event_id, e.session
    ),
    "transcription_session.updated": lambda r, e: r.on_transcription_session_updated(
        e.event_id, e.session
    ),
    "conversation.created": lambda r, e: r.on_conversation_created(e.event_id, e.conversation),
    "conversation.item.created": lambda r, e: r.on_conversation_item_created(
        e.event_id, e.previous_item_id, e.item
    ),
    "conversation.item.added": lambda r, e: r.on_conversation_item_added(
        e.event_id, e.previous_item_id, e.item
    ),
    "conversation.item.done": lambda r, e: r.on_conversation_item_done(
        e.event_id, e.previous_item_id, e.item
    ),
    "conversation.item.retrieved": lambda r, e: r.on_conversation_item_retrieved(
        e.event_id, e.item
    ),
    "conversation.item.truncated": lambda r, e: r.on_conversation_item_truncated(
        e.event_id, e.item_id, e.content_index, e.audio_end_ms
    ),
    "conversation.item.deleted": lambda r, e: r.on_conversation_item_deleted(
        e.event_id, e.item_id
    ),
    # input transcription
    "conversation.item.input_audio_transcription.delta": lambda r, e: (
        r.on_conversation_item_input_audio_transcription_delta(
            e.event_id, e.item_id, e.content_index, e.delta
        )
    ),
    "conversation.item.input_audio_transcription.completed": lambda r, e: (
        r.on_conversation_item_input_audio_transcription_completed(
            e.event_id, e.content_index, e.transcript, item_id=e.item_id
        )
    ),
    "conversation.item.input_audio_transcription.failed": lambda r, e: (
        r.on_conversation_item_input_audio_transcription_failed(
            e.event_id, e.content_index, e.error, item_id=e.item_id
        )
    ),
    "conversation.item.input_audio_transcription.segment": lambda r, e: (
        r.on_conversation_item_input_audio_transcription_segment(
            e.event_id, e.item_id, e.content_index, e.id, e.text, e.speaker, e.start, e.end
        )
    ),
    # input audio buffer
    "input_audio_buffer.committed": lambda r, e: r.on_input_audio_buffer_committed(
        e.event_id, e.previous_item_id, e.item_id
    ),
    "input_audio_buffer.cleared": lambda r, e: r.on_input_audio_buffer_cleared(e.event_id),
    "input_audio_buffer.speech_started": lambda r, e: r.on_input_audio_buffer_speech_started(
        e.event_id, e.audio_start_ms, e.item_id
    ),
    "input_audio_buffer.speech_stopped": lambda r, e: r.on_input_audio_buffer_speech_stopped(
        e.event_id, e.audio_end_ms, e.item_id
    ),
    "input_audio_buffer.timeout_triggered": lambda r, e: (
        r.on_input_audio_buffer_timeout_triggered(
            e.event_id, e.item_id, e.audio_start_ms, e.audio_end_ms
        )
    ),
    "input_audio_buffer.dtmf_event_received": lambda r, e: (
        r.on_input_audio_buffer_dtmf_event_received(e.event, e.received_at)
    ),
    # output audio buffer (WebRTC and SIP)
    "output_audio_buffer.started": lambda r, e: r.on_output_audio_buffer_started(
        e.event_id, e.response_id
    ),
    "output_audio_buffer.stopped": lambda r, e: r.on_output_audio_buffer_stopped(
        e.event_id, e.response_id
    ),
    "output_audio_buffer.cleared": lambda r, e: r.on_output_audio_buffer_cleared(
        e.event_id, e.response_id
    ),
    # responses
    "response.created": lambda r, e: r.on_response_created(e.event_id, e.response),
    "response.done": lambda r, e: r.on_response_done(e.event_id, e.response),
    "response.output_item.added": lambda r, e: r.on_response_output_item_added(
        e.event_id, e.response_id, e.output_index, e.item
    ),
    "response.output_item.done": lambda r, e: r.on_response_output_item_done(
        e.event_id, e.response_id, e.output_index, e.item
    ),
    "response.content_part.added": lambda r, e: r.on_response_content_part_added(
        e.event_id, e.response_id, e.item_id, e.output_index, e.content_index, e.part
    ),
    "response.content_part.done": lambda r, e: r.on_response_content_part_done(
        e.event_id, e.response_id, e.item_id, e.output_index, e.content_index, e.part
    ),
    "response.function_call_arguments.delta": lambda r, e: (
        r.on_response_function_call_arguments_delta(
            e.event_id, e.response_id, e.item_id, e.output_index, e.call_id, e.delta
        )
    ),
    "response.function_call_arguments.done": lambda r, e: (
        r.on_response_function_call_arguments_done(
            e.event_id, e.response_id, e.item_id, e.output_index, e.call_id, e.arguments,
            name=getattr(e, "name", None),
        )
    ),
    # MCP (GA)
    "response.mcp_call_arguments.delta": lambda r, e: r.on_response_mcp_call_arguments_delta(
        e.event_id, e.response_id, e.item_id, e.output_index, e.delta
    ),
    "response.mcp_call_arguments.done": lambda r, e: r.on_response_mcp_call_arguments_done(
        e.event_id, e.response_id, e.item_id, e.output_index, e.arguments
    ),
    "response.mcp_call.in_progress": lambda r, e: r.on_response_mcp_call_in_progress(
        e.event_id, e.item_id, e.output_index
    ),
    "response.mcp_call.completed": lambda r, e: r.on_response_mcp_call_completed(
        e.event_id, e.item_id, e.output_index
    ),
    "response.mcp_call.failed": lambda r, e: r.on_response_mcp_call_failed(
        e.event_id, e.item_id, e.output_index
    ),
    "mcp_list_tools.in_progress": lambda r, e: r.on_mcp_list_tools_in_progress(
        e.event_id, e.item_id
    ),
    "mcp_list_tools.completed": lambda r, e: r.on_mcp_list_tools_completed(
        e.event_id, e.item_id
    ),
    "mcp_list_tools.failed": lambda r, e: r.on_mcp_list_tools_failed(e.event_id, e.item_id),
    # session-level
    "rate_limits.updated": lambda r, e: r.on_rate_limits_updated(e.event_id, e.rate_limits),
    "error": lambda r, e: r.on_error(e.event_id, e.error),
}


def _content_handlers(kind: str, final_field: str | None, method: str) -> dict[str, Handler]:
    """Delta and done handlers of one streamed content kind, for GA's name and beta's name."""

    def on_delta(r: RealtimeEventReceiver, e: Any) -> None:
        getattr(r, f"{method}_delta")(
            e.event_id, e.response_id, e.item_id, e.output_index, e.content_index, e.delta
        )

    def on_done(r: RealtimeEventReceiver, e: Any) -> None:
        args = [e.event_id, e.response_id, e.item_id, e.output_index, e.content_index]
        if final_field is not None:
            args.append(getattr(e, final_field))
        getattr(r, f"{method}_done")(*args)

    ga, beta = names.RENAMED_FAMILIES[kind]
    return {
        f"{ga}.delta": on_delta, f"{ga}.done": on_done,
        f"{beta}.delta": on_delta, f"{beta}.done": on_done,
    }


_HANDLERS.update(_content_handlers("text", "text", "on_response_text"))
_HANDLERS.update(_content_handlers("audio", None, "on_response_audio"))
_HANDLERS.update(
    _content_handlers("audio_transcript", "transcript", "on_response_audio_transcript")
)

SERVER_EVENT_METHODS: dict[str, Handler] = dict(_HANDLERS)
"""Every server event type this receiver routes, GA and beta names alike."""


class DrivenReceiver:
    """What every receiver the driver (recorder.driver) drives has: `position`, set before
    each dispatch, and `send` through the sender it attaches (Realtime's and Live's)."""

    position: Position | None = None

    def __init__(self) -> None:
        self.position = None
        self._sender: Callable[[Any], None] | None = None

    def attach_sender(self, sender: Callable[[Any], None] | None) -> None:
        """Install what `send` calls: a live socket writer, or replay's comparison."""
        self._sender = sender

    def send(self, event: Any) -> None:
        """Send a client event (a typed event or a plain dict) through the attached sender."""
        if self._sender is None:
            raise RtrecError(
                f"{type(self).__name__}.send() called with no connection attached; "
                "drive the receiver with recorder.replay or a live session first"
            )
        self._sender(event)


class RealtimeEventReceiver(DrivenReceiver):
    """Extend this class to handle Realtime events; override only the methods you need."""

    # -- driving -----------------------------------------------------------------------------

    def on_realtime_event_received(self, event: Any) -> None:
        """Route one decoded event to its method (the seed's OnRealtimeEventReceived)."""
        if isinstance(event, UnknownEvent):
            self.on_unknown_event(event)
            return
        handler = _HANDLERS.get(event.type)
        if handler is not None:
            handler(self, event)
        elif event.type in CLIENT_TYPES:
            self.on_client_event(event)
        else:
            self.on_unknown_event(event)

    def _session_created(self, event: Any) -> None:
        self.on_session_state_changed(SessionState.CREATED)
        self.on_session_created(event.event_id, event.session)

    # -- hooks beyond the seed -----------------------------------------------------------------

    def on_session_state_changed(self, state: str) -> None:
        """The seed's OnSessionStateChanged: 'connected', 'created', 'closed' (SessionState)."""

    def on_client_event(self, event: Any) -> None:
        """An outbound client event (sent by the app, seen by the proxy or replay)."""

    def on_unknown_event(self, event: Any) -> None:
        """An event that did not decode (recorder.UnknownEvent) or has an unknown type."""

    # -- the seed's 29 methods ---------------------------------------------------------------

    def on_session_created(self, event_id: str | None, session: Any) -> None:
        """session.created: the first server event of every connection."""

    def on_session_updated(self, event_id: str | None, session: Any) -> None:
        """session.updated: the full effective configuration after a session.update."""

    def on_conversation_created(self, event_id: str | None, conversation: Any) -> None:
        """conversation.created: sent after session.created (not always, in GA)."""

    def on_conversation_item_created(
        self, event_id: str | None, previous_item_id: str | None, item: Any
    ) -> None:
        """conversation.item.created: an item was inserted after previous_item_id."""

    def on_conversation_item_deleted(self, event_id: str | None, item_id: str | None) -> None:
        """conversation.item.deleted."""

    def on_conversation_item_input_audio_transcription_completed(
        self,
        event_id: str | None,
        content_index: int | None,
        transcription: str | None,
        *,
        item_id: str | None = None,
    ) -> None:
        """Input audio transcription succeeded for item_id's content part content_index."""

    def on_conversation_item_input_audio_transcription_delta(
        self,
        event_id: str | None,
        item_id: str | None,
        content_index: int | None,
        delta: str | None,
    ) -> None:
        """A piece of the input audio transcription."""

    def on_conversation_item_input_audio_transcription_failed(
        self,
        event_id: str | None,
        content_index: int | None,
        error: Any,
        *,
        item_id: str | None = None,
    ) -> None:
        """Input audio transcription failed for item_id's content part content_index."""

    def on_conversation_item_truncated(
        self,
        event_id: str | None,
        item_id: str | None,
        content_index: int | None,
        audio_end_ms: int | None,
    ) -> None:
        """The client truncated an assistant audio part at audio_end_ms (what the user heard)."""

    def on_error(self, event_id: str | None, error: Any) -> None:
        """error: the session stays open; error.event_id names the client event that failed."""

    def on_input_audio_buffer_cleared(self, event_id: str | None) -> None:
        """input_audio_buffer.cleared."""

    def on_input_audio_buffer_committed(
        self, event_id: str | None, previous_item_id: str | None, item_id: str | None
    ) -> None:
        """The input buffer became user item item_id, inserted after previous_item_id."""

    def on_input_audio_buffer_speech_started(
        self, event_id: str | None, audio_start_ms: int | None, item_id: str | None
    ) -> None:
        """Server VAD heard speech start at audio_start_ms of the input stream."""

    def on_input_audio_buffer_speech_stopped(
        self, event_id: str | None, audio_end_ms: int | None, item_id: str | None
    ) -> None:
        """Server VAD heard speech stop at audio_end_ms of the input stream."""

    def on_rate_limits_updated(self, event_id: str | None, rate_limits: Any) -> None:
        """rate_limits.updated: the last value wins."""

    def on_response_audio_delta(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        delta: str | None,
    ) -> None:
        """Base64 output audio (response.audio.delta / response.output_audio.delta)."""

    def on_response_audio_done(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
    ) -> None:
        """Output audio of a content part is complete."""

    def on_response_audio_transcript_delta(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        delta: str | None,
    ) -> None:
        """A piece of the transcript of the output audio."""

    def on_response_audio_transcript_done(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        transcript: str | None,
    ) -> None:
        """The final transcript of an output audio part."""

    def on_response_content_part_added(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        part: Any,
    ) -> None:
        """A content part was added to an assistant item."""

    def on_response_content_part_done(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        part: Any,
    ) -> None:
        """A content part is done (its final text or transcript; no audio)."""

    def on_response_created(self, event_id: str | None, response: Any) -> None:
        """response.created: status in_progress, no output yet."""

    def on_response_done(self, event_id: str | None, response: Any) -> None:
        """response.done: always sent, whatever the final status."""

    def on_response_function_call_arguments_delta(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        call_id: str | None,
        delta: str | None,
    ) -> None:
        """A piece of a function call's JSON arguments."""

    def on_response_function_call_arguments_done(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        call_id: str | None,
        arguments: str | None,
        *,
        name: str | None = None,
    ) -> None:
        """A function call's final arguments (GA also names the function)."""

    def on_response_output_item_added(
        self, event_id: str | None, response_id: str | None, item_index: int | None, item: Any
    ) -> None:
        """A response started an output item."""

    def on_response_output_item_done(
        self, event_id: str | None, response_id: str | None, item_index: int | None, item: Any
    ) -> None:
        """A response finished an output item."""

    def on_response_text_delta(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        delta: str | None,
    ) -> None:
        """A piece of output text (response.text.delta / response.output_text.delta)."""

    def on_response_text_done(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        content_index: int | None,
        text: str | None,
    ) -> None:
        """The final output text of a content part."""

    # -- server events the seed lacks (GA-only, beta transcription sessions) ---------------------

    def on_transcription_session_created(self, event_id: str | None, session: Any) -> None:
        """Beta transcription_session.created."""

    def on_transcription_session_updated(self, event_id: str | None, session: Any) -> None:
        """Beta transcription_session.updated."""

    def on_conversation_item_added(
        self, event_id: str | None, previous_item_id: str | None, item: Any
    ) -> None:
        """GA conversation.item.added: an item was inserted (model items arrive in progress)."""

    def on_conversation_item_done(
        self, event_id: str | None, previous_item_id: str | None, item: Any
    ) -> None:
        """GA conversation.item.done: the finalized item, without audio."""

    def on_conversation_item_retrieved(self, event_id: str | None, item: Any) -> None:
        """conversation.item.retrieved: the server's copy of an item, the only one with audio."""

    def on_conversation_item_input_audio_transcription_segment(
        self,
        event_id: str | None,
        item_id: str | None,
        content_index: int | None,
        segment_id: str | None,
        text: str | None,
        speaker: str | None,
        start: float | None,
        end: float | None,
    ) -> None:
        """A diarized span of input transcription (start and end in seconds)."""

    def on_input_audio_buffer_timeout_triggered(
        self,
        event_id: str | None,
        item_id: str | None,
        audio_start_ms: int | None,
        audio_end_ms: int | None,
    ) -> None:
        """Server VAD's idle timeout fired; a commit of the silent span follows."""

    def on_input_audio_buffer_dtmf_event_received(
        self, key: str | None, received_at: int | None
    ) -> None:
        """A keypad key on a SIP call (this event has no event_id)."""

    def on_output_audio_buffer_started(self, event_id: str | None, response_id: str | None) -> None:
        """WebRTC/SIP: the server started playing a response's audio."""

    def on_output_audio_buffer_stopped(self, event_id: str | None, response_id: str | None) -> None:
        """WebRTC/SIP: the server's audio buffer drained."""

    def on_output_audio_buffer_cleared(self, event_id: str | None, response_id: str | None) -> None:
        """WebRTC/SIP: the server's audio buffer was cleared."""

    def on_response_mcp_call_arguments_delta(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        delta: str | None,
    ) -> None:
        """A piece of an MCP call's arguments."""

    def on_response_mcp_call_arguments_done(
        self,
        event_id: str | None,
        response_id: str | None,
        item_id: str | None,
        item_index: int | None,
        arguments: str | None,
    ) -> None:
        """An MCP call's final arguments."""

    def on_response_mcp_call_in_progress(
        self, event_id: str | None, item_id: str | None, item_index: int | None
    ) -> None:
        """An MCP call started."""

    def on_response_mcp_call_completed(
        self, event_id: str | None, item_id: str | None, item_index: int | None
    ) -> None:
        """An MCP call completed."""

    def on_response_mcp_call_failed(
        self, event_id: str | None, item_id: str | None, item_index: int | None
    ) -> None:
        """An MCP call failed."""

    def on_mcp_list_tools_in_progress(self, event_id: str | None, item_id: str | None) -> None:
        """Listing an MCP server's tools started."""

    def on_mcp_list_tools_completed(self, event_id: str | None, item_id: str | None) -> None:
        """Listing an MCP server's tools completed."""

    def on_mcp_list_tools_failed(self, event_id: str | None, item_id: str | None) -> None:
        """Listing an MCP server's tools failed."""
