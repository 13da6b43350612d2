"""The figures of one recorded session: its turns, responses and tool calls, on the proxy's clock.

Every time is milliseconds since the session started (the frames' t_ns / 1e6), on the one clock
the proxy kept for both directions; every latency is the difference of two such times. A figure
that cannot be computed is None, and the reason is in `unavailable` (what, why): never a
made-up number. The definitions (which events each figure reads) are written once, in the
README's "Turn figures" section; the fold that computes them is recorder.stats.fold.

FIGURES_VERSION names the definitions: a stored row computed under an older version is stale
and rebuilt (`rtrec stats --rebuild` rebuilds everything).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

FIGURES_VERSION = 2  # 2: a Live session's figures are Live's (SessionFigures.live)


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """A response's token usage as response.done reports it (None: not reported)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_text_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_cached_tokens: int | None = None
    output_text_tokens: int | None = None
    output_audio_tokens: int | None = None


class Unavailable(msgspec.Struct, frozen=True):
    """A figure that could not be computed: `what` names it (e.g. "turn 2 voice_to_voice_ms"),
    `why` says why in words a person reads ("no audio was appended before speech_stopped")."""

    what: str
    why: str


class ResponseFigures(msgspec.Struct, frozen=True, kw_only=True):
    response_id: str
    created_ms: float | None  # response.created arrived
    done_ms: float | None  # response.done arrived (None: it never finished)
    status: str | None  # response.done's status (completed, cancelled, incomplete, failed)
    status_reason: str | None = None  # status_details.reason (turn_detected, client_cancelled, ...)
    first_audio_ms: float | None = None  # first output audio delta
    first_text_ms: float | None = None  # first output text delta
    first_transcript_ms: float | None = None  # first output audio transcript delta
    duration_ms: float | None = None  # created -> done
    audio_generated_ms: float | None = None  # output audio sent by the server, as duration
    audio_heard_ms: float | None = None  # the same cut at truncation (audio_end_ms)
    interrupted: bool = False
    interrupted_by: str | None = None  # "turn_detected", "client_cancel", "truncate", ...
    usage: Usage | None = None
    create_ms: float | None = None  # the client's response.create that asked for it, if any
    create_to_created_ms: float | None = None
    create_to_first_audio_ms: float | None = None


class TurnFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One user turn: the user's item (speech or a text item) and the response answering it
    (the first response created after the turn's user item)."""

    index: int  # 1, 2, ... in the order the turns began
    item_id: str | None
    speech_started_ms: float | None = None  # input_audio_buffer.speech_started arrived
    speech_stopped_ms: float | None = None  # input_audio_buffer.speech_stopped arrived
    speech_end_wire_ms: float | None = None  # the append carrying audio_end_ms left the client
    committed_ms: float | None = None
    response_id: str | None = None  # the response that answers it
    voice_to_voice_ms: float | None = None  # speech_end_wire_ms -> its response's first audio
    stopped_to_created_ms: float | None = None
    stopped_to_first_audio_ms: float | None = None
    stopped_to_first_text_ms: float | None = None
    stopped_to_first_transcript_ms: float | None = None
    transcript_failed: bool = False


class ToolCallFigures(msgspec.Struct, frozen=True, kw_only=True):
    call_id: str
    name: str | None
    response_id: str | None
    arguments_done_ms: float | None  # response.function_call_arguments.done arrived
    output_ms: float | None = None  # the client's function_call_output item left the client
    tool_ms: float | None = None  # arguments_done -> output: time in the user's tool
    next_response_id: str | None = None
    output_to_next_audio_ms: float | None = None  # output -> next response's first audio


class ErrorFigure(msgspec.Struct, frozen=True, kw_only=True):
    at_ms: float
    kind: str  # "error" (an error event), "transcription_failed", "rate_limited"
    code: str | None = None
    message: str | None = None


class LiveSegmentFigure(msgspec.Struct, frozen=True, kw_only=True):
    """One speaker segment of a Live session, on the session timeline (ms from its start, as
    Live's transcript fragments give it: the audio the client streamed, not the proxy's
    clock)."""

    speaker: str  # "user" or "assistant"
    start_ms: int
    end_ms: int
    close_reason: str | None = None


class LiveFigures(msgspec.Struct, frozen=True, kw_only=True):
    """What of the turn figures applies to a Live session (recorder.stats.live): its speaker
    segments, delegations, audio and close, and two figures that can only be inferred, so
    named: interruptions (a user segment starting while an assistant segment is open) and the
    voice-to-voice gap from the end of a user segment to the start of the next assistant
    segment (session timeline, at the transcripts' 200 ms resolution; not a wire time)."""

    segments: list[LiveSegmentFigure] = []
    user_segments: int = 0
    assistant_segments: int = 0
    delegations: int = 0
    client_delegations: int = 0  # answered by the client's appends, not a Responses backend
    backend_responses: int = 0
    backend_tokens: Usage | None = None  # the Responses backend's, summed
    input_audio_ms: float = 0.0  # the client's appends, as duration
    output_audio_ms: float = 0.0  # the output track, as duration
    usage_seconds: float | None = None  # what Live bills: session.closed / usage.updated
    close_reason: str | None = None  # session.closed's reason; None: the session never said
    inferred_interruptions: int = 0
    inferred_voice_to_voice_ms: list[float] = []
    notes: list[str] = []  # the fold's notes (no session.start, no session.closed, ...)


class SessionFigures(msgspec.Struct, frozen=True, kw_only=True):
    """All figures of one session; summary() of recorder.stats.summary reduces these."""

    version: int = FIGURES_VERSION
    protocol: str | None = None  # "ga", "beta" or "live"
    model: str | None = None
    duration_ms: float | None = None
    turns: list[TurnFigures] = []
    responses: list[ResponseFigures] = []
    tool_calls: list[ToolCallFigures] = []
    errors: list[ErrorFigure] = []
    unavailable: list[Unavailable] = []
    interruptions: int = 0
    heard_share: float | None = None  # audio heard / audio generated over the session
    tokens: Usage | None = None  # summed over the session's responses
    # which session these are (the fleet summary groups by them): the store's id, its status
    # (recording, complete, interrupted, incomplete) and when it started (UTC)
    session_id: str | None = None
    status: str | None = None
    started_at: datetime | None = None
    live: LiveFigures | None = None  # a Live session's own figures (protocol "live")
