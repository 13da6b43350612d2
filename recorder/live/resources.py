"""Nested resources carried by Live events (LIVE.md §2c, §2d), and by the Responses events a
`response.event` wraps.

As recorder.resources does for Realtime: one Struct per resource, holding the union of the
shapes the protocol gives it (a session as the client starts it, as the server resolves it, as
an update changes it; a delegation setting of any owner; a Responses input or output item of
any type), every field optional, unknown fields ignored, `| None` for the nulls of the wire.
The event type alone then says how to decode a frame. The raw frame, not this view, is the
record. gc=False: decoded resources never form reference cycles.

Credentials are not kept: an MCP tool's `authorization` and `headers` have no field here.
"""

from __future__ import annotations

from typing import Any

import msgspec


class LiveResource(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """Base of every nested Live resource: keyword-only, defaults omitted when encoded."""


# --------------------------------------------------------------------------- session


class AudioFormat(LiveResource):
    """{"type": "audio/pcm", "rate": 16000 | 24000}, {"type": "audio/pcmu" | "audio/pcma",
    "rate": 8000}: fixed at start, shared by both directions (LIVE.md §2e)."""

    type: str | None = None
    rate: int | None = None


class CustomVoice(LiveResource):
    id: str | None = None


class AudioOutput(LiveResource):
    voice: str | CustomVoice | None = None  # a built-in name ("marin") or {"id": ...}


class SessionAudio(LiveResource):
    format: AudioFormat | None = None  # absent on WebRTC and SIP (they negotiate their own)
    output: AudioOutput | None = None


class Tool(LiveResource):
    """A tool of the Responses backend: a function, or a hosted tool (web_search, mcp, ...)."""

    type: str | None = None
    name: str | None = None
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None
    server_label: str | None = None
    server_url: str | None = None
    server_description: str | None = None
    connector_id: str | None = None
    require_approval: str | dict[str, Any] | None = None
    allowed_tools: list[str] | dict[str, Any] | None = None


class BackendConfig(LiveResource):
    """The Responses backend a session delegates to (`delegation.responses`)."""

    model: str | None = None
    instructions: str | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    max_output_tokens: int | None = None
    service_tier: str | None = None


class DecisionQuestion(LiveResource):
    """A Decisions question: a choice, a predicate or a score."""

    type: str | None = None
    name: str | None = None
    instructions: str | list[dict[str, Any]] | None = None
    choices: list[dict[str, Any]] | None = None
    levels: list[dict[str, Any]] | None = None


class DecisionsConfig(LiveResource):
    model: str | None = None
    questions: list[DecisionQuestion] | None = None


class DelegationConfig(LiveResource):
    """Who handles delegated work: `type` client, responses (with `responses`) or decisions
    (with `decisions`); the same shape at start and in an update."""

    type: str | None = None
    acknowledgement_delay_ms: int | None = None
    responses: BackendConfig | None = None
    decisions: DecisionsConfig | None = None


class TextPart(LiveResource):
    type: str | None = None  # input_text, text, output_text
    text: str | None = None


class InitialItem(LiveResource):
    """A message of the text-only history given at start (`session.input`)."""

    type: str | None = None  # message
    id: str | None = None
    role: str | None = None  # developer, user, assistant
    status: str | None = None
    content: list[TextPart] | None = None


class DataChannelConfig(LiveResource):
    allowed_client_events: str | list[str] | None = None  # "all" or a list of types
    allowed_server_events: str | list[Any] | None = None  # "all" or types / selectors


class ClientConfig(LiveResource):
    data_channel: DataChannelConfig | None = None


class TriggerDecisions(LiveResource):
    questions: list[DecisionQuestion] | None = None


class Trigger(LiveResource):
    """A Decisions trigger on a transcript event type."""

    type: str | None = None  # decisions
    event_type: str | None = None  # session.input_transcript.delta / output_transcript.delta
    decisions: TriggerDecisions | None = None


class Session(LiveResource):
    """A Live session: the client's start configuration (`model` required there; on a fork
    socket overrides only), the server's resolved snapshot (with `id`, `expires_at`,
    `status`), or an update (`delegation`, `triggers` only)."""

    id: str | None = None  # live_u0_..., new on every fork
    model: str | None = None
    status: str | None = None  # always "active", even in session.closed
    expires_at: int | None = None  # unix seconds
    instructions: str | None = None
    audio: SessionAudio | None = None
    delegation: DelegationConfig | None = None
    input: list[InitialItem] | None = None
    client: ClientConfig | None = None
    store: bool | None = None
    safety_identifier: str | None = None
    triggers: list[Trigger] | None = None


# --------------------------------------------------------------------------- server facts


class Usage(LiveResource):
    """Cumulative session-timeline seconds (`28.0` or `7` on the wire), not wall-clock time."""

    seconds: float | None = None
    active_seconds: float | None = None
    paused_seconds: float | None = None


class ContextWindow(LiveResource):
    usage_ratio: float | None = None


class ErrorInfo(LiveResource):
    """A Live error; `code` may be null (LIVE.md §5 "errors")."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None
    client_event_id: str | None = None


class Delegation(LiveResource):
    """Delegation metadata (no task text): `target` client, responses or decisions."""

    id: str | None = None  # item_...; the delegation_id of what follows
    type: str | None = None  # delegation
    target: str | None = None
    response_id: str | None = None  # resp_... for a Responses delegation


class DecisionAnswer(LiveResource):
    """One answer of a decision, in question order: a predicate, choice, score or refusal."""

    type: str | None = None
    name: str | None = None
    probability: float | None = None
    choice: str | bool | None = None
    confidence: float | None = None
    score: float | None = None
    probabilities: list[dict[str, Any]] | None = None


class TokenUsage(LiveResource):
    """Token usage of a backend (Decisions, or the Responses backend in response.completed)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None


class Decision(LiveResource):
    answers: list[DecisionAnswer] | None = None
    model: str | None = None
    usage: TokenUsage | None = None


class DecisionResult(LiveResource):
    """decision.event's `event`: {"type": "decision.completed", "decision": ...}."""

    type: str | None = None
    decision: Decision | None = None


class ContentPart(LiveResource):
    """A content part of a Decisions or Responses item: input_text, input_image, input_json,
    output_text, refusal, ..."""

    type: str | None = None
    text: str | None = None
    image_url: str | None = None
    detail: str | None = None
    data: Any = None
    refusal: str | None = None
    annotations: list[Any] | None = None
    logprobs: list[dict[str, Any]] | None = None


class Item(LiveResource):
    """A Decisions item or a Responses input/output item: a message (role, content), a
    function_call (name, arguments, call_id), a function_call_output (call_id, output), a
    custom tool call (+ output), a web search call, ..."""

    id: str | None = None
    type: str | None = None
    status: str | None = None
    role: str | None = None
    content: str | list[ContentPart] | None = None
    name: str | None = None
    namespace: str | None = None
    arguments: str | None = None
    call_id: str | None = None
    output: str | list[ContentPart] | None = None
    input: str | None = None


class TransportError(LiveResource):
    """transport.failed's `error`: {"type": "call_error", code, message, param?}."""

    type: str | None = None
    code: str | None = None
    message: str | None = None
    param: str | None = None


# --------------------------------------------------------------------------- Responses backend


class BackendResponse(LiveResource):
    """A Responses API response as the backend's lifecycle events carry it (trimmed: no input;
    instructions, tools and output cleared), with its token usage once completed."""

    id: str | None = None  # resp_...
    object: str | None = None
    status: str | None = None
    model: str | None = None
    created_at: int | None = None
    previous_response_id: str | None = None
    instructions: str | list[Any] | None = None
    tools: list[Tool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    output: list[Item] | None = None
    usage: TokenUsage | None = None
    error: dict[str, Any] | None = None
    incomplete_details: dict[str, Any] | None = None
