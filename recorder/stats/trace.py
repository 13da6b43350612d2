"""A recorded session's figures as one OpenTelemetry trace: pure, no socket, no protobuf.

session_trace(figures, facts) gives the spans of one trace:

  rtrec.session                    the root, the whole session (gen_ai.conversation.id = its id)
    turn N                         a user turn: speech start (or commit) to its answer's end
      chat MODEL                   the response that answers the turn (gen_ai inference span)
        execute_tool NAME          a tool call: arguments done -> the client's output
    chat MODEL                     a response that answers no turn (e.g. after a tool output)

Times are the session's wall-clock start (the sessions table's started_at) plus the figures'
millisecond offsets on the proxy's clock; every figure is an attribute too (rtrec.*_ms), and
the moments inside a span (first audio, speech stopped, ...) are span events. Attributes follow
the OpenTelemetry GenAI semantic conventions where one fits (gen_ai.operation.name,
gen_ai.provider.name, gen_ai.request.model, gen_ai.response.id, gen_ai.usage.*,
gen_ai.tool.*); the rest are rtrec.*. A figure the fold could not compute is absent, and the
root span lists why (rtrec.unavailable): never a made-up number.

Ids derive from the session id (trace_id_of, span_id_of): sending a session twice gives the
same trace and the same spans, which a backend keeps once. Text (transcripts, error messages)
stays out unless the caller hands it in (`texts`, `with_text`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

import msgspec

from recorder.stats.figures import ResponseFigures, SessionFigures, ToolCallFigures, Usage

if TYPE_CHECKING:
    from recorder.conversation_model import Conversation

AttributeValue = str | bool | int | float | list[str]

PROVIDER = "openai"
SCOPE_NAME = "rtrec"
ROOT_NAME = "rtrec.session"
SERVICE_NAME = "rtrec"


class SessionFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What the sessions table says of a session (the figures do not carry it)."""

    session_id: str
    started_ns: int  # wall clock, unix nanoseconds (sessions.started_at)
    model: str | None = None
    protocol: str | None = None
    status: str | None = None  # complete, interrupted, incomplete, recording
    endpoint: str | None = None


class SpanEvent(msgspec.Struct, frozen=True):
    name: str
    time_ns: int
    attributes: dict[str, AttributeValue] = {}


class Span(msgspec.Struct, frozen=True, kw_only=True):
    trace_id: bytes  # 16 bytes
    span_id: bytes  # 8 bytes
    parent_span_id: bytes | None
    name: str
    kind: str  # "internal" | "client"
    start_ns: int
    end_ns: int
    attributes: dict[str, AttributeValue]
    events: list[SpanEvent] = []
    error: str | None = None  # the span's status is ERROR with this description


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("\x1f".join(("rtrec", *parts)).encode()).digest()


def trace_id_of(session_id: str) -> bytes:
    """The trace id of a session: 16 bytes derived from its id (never all zero)."""
    return _nonzero(_digest("trace", session_id)[:16])


def span_id_of(session_id: str, kind: str, key: str) -> bytes:
    """The id of one span of a session's trace: 8 bytes from (session, kind, key)."""
    return _nonzero(_digest("span", session_id, kind, key)[:8])


def _nonzero(value: bytes) -> bytes:
    # all-zero ids are invalid in OTLP; a hash giving one is ~2^-64, but keep the id valid
    return value if any(value) else b"\x00" * (len(value) - 1) + b"\x01"


def _usage_attributes(usage: Usage | None) -> dict[str, AttributeValue]:
    if usage is None:
        return {}
    named = {
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.input_cached_tokens,
        "rtrec.usage.total_tokens": usage.total_tokens,
        "rtrec.usage.input_text_tokens": usage.input_text_tokens,
        "rtrec.usage.input_audio_tokens": usage.input_audio_tokens,
        "rtrec.usage.output_text_tokens": usage.output_text_tokens,
        "rtrec.usage.output_audio_tokens": usage.output_audio_tokens,
    }
    return {key: value for key, value in named.items() if value is not None}


def _present(**values: float | int | str | bool | None) -> dict[str, AttributeValue]:
    """rtrec.<name> for each value that is known (None: left out, never zero)."""
    return {f"rtrec.{key}": value for key, value in values.items() if value is not None}


class _Clock:
    def __init__(self, started_ns: int, end_ms: float) -> None:
        self.started_ns = started_ns
        self.end_ms = end_ms

    def at(self, ms: float) -> int:
        return self.started_ns + round(ms * 1_000_000)


def _session_end_ms(figures: SessionFigures) -> float:
    """The session's last known moment: its duration, else the latest time any figure names."""
    if figures.duration_ms is not None:
        return figures.duration_ms
    times: list[float] = []
    for response in figures.responses:
        times += [t for t in (response.created_ms, response.done_ms, response.create_ms,
                              response.first_audio_ms) if t is not None]
    for turn in figures.turns:
        times += [t for t in (turn.speech_started_ms, turn.speech_stopped_ms,
                              turn.committed_ms) if t is not None]
    for call in figures.tool_calls:
        times += [t for t in (call.arguments_done_ms, call.output_ms) if t is not None]
    times += [error.at_ms for error in figures.errors]
    return max(times, default=0.0)


def _events(clock: _Clock, **moments: float | None) -> list[SpanEvent]:
    return sorted(
        (SpanEvent(name, clock.at(ms)) for name, ms in moments.items() if ms is not None),
        key=lambda event: event.time_ns,
    )


def session_trace(
    figures: SessionFigures,
    facts: SessionFacts,
    *,
    texts: Mapping[str, str] | None = None,
    with_text: bool = False,
) -> list[Span]:
    """The spans of one session's trace, root first, then in start order.

    texts: transcript text by item id or response id (user turns by their item, responses by
    their id), put on spans as rtrec.transcript only when given; with_text also keeps error
    messages (the server's words) on the root's error events."""
    sid = facts.session_id
    trace_id = trace_id_of(sid)
    clock = _Clock(facts.started_ns, _session_end_ms(figures))
    model = facts.model or figures.model
    root_id = span_id_of(sid, "session", "")
    common: dict[str, AttributeValue] = {"gen_ai.provider.name": PROVIDER}
    if model is not None:
        common["gen_ai.request.model"] = model

    response_parent: dict[str, bytes] = {}
    turn_spans: list[Span] = []
    responses = {response.response_id: response for response in figures.responses}
    for turn in figures.turns:
        turn_key = turn.item_id or f"#{turn.index}"
        turn_id = span_id_of(sid, "turn", turn_key)
        answer = responses.get(turn.response_id) if turn.response_id else None
        if answer is not None:
            response_parent[answer.response_id] = turn_id
        begin = next((t for t in (turn.speech_started_ms, turn.speech_stopped_ms,
                                  turn.speech_end_wire_ms, turn.committed_ms) if t is not None),
                     None)
        if begin is None and answer is not None:
            begin = answer.create_ms if answer.create_ms is not None else answer.created_ms
        if begin is None:
            begin = 0.0
        end = _response_end(answer, clock) if answer is not None else max(
            (t for t in (turn.speech_stopped_ms, turn.speech_end_wire_ms, turn.committed_ms)
             if t is not None), default=begin,
        )
        attributes: dict[str, AttributeValue] = {
            **common,
            "gen_ai.conversation.id": sid,
            "rtrec.turn.index": turn.index,
            **_present(
                **{"turn.item_id": turn.item_id, "turn.response_id": turn.response_id},
                voice_to_voice_ms=turn.voice_to_voice_ms,
                speech_started_ms=turn.speech_started_ms,
                speech_stopped_ms=turn.speech_stopped_ms,
                speech_end_wire_ms=turn.speech_end_wire_ms,
                committed_ms=turn.committed_ms,
                stopped_to_created_ms=turn.stopped_to_created_ms,
                stopped_to_first_audio_ms=turn.stopped_to_first_audio_ms,
                stopped_to_first_text_ms=turn.stopped_to_first_text_ms,
                stopped_to_first_transcript_ms=turn.stopped_to_first_transcript_ms,
            ),
        }
        if turn.transcript_failed:
            attributes["rtrec.turn.transcript_failed"] = True
        if texts is not None and turn.item_id is not None and turn.item_id in texts:
            attributes["rtrec.transcript"] = texts[turn.item_id]
        turn_spans.append(Span(
            trace_id=trace_id, span_id=turn_id, parent_span_id=root_id,
            name=f"turn {turn.index}", kind="internal",
            start_ns=clock.at(begin), end_ns=clock.at(max(end, begin)),
            attributes=attributes,
            events=_events(clock, speech_started=turn.speech_started_ms,
                           speech_stopped=turn.speech_stopped_ms,
                           speech_end_on_wire=turn.speech_end_wire_ms,
                           committed=turn.committed_ms),
            error="the user's speech could not be transcribed" if turn.transcript_failed
            else None,
        ))

    response_spans: list[Span] = []
    for response in figures.responses:
        span_id = span_id_of(sid, "response", response.response_id)
        response_spans.append(_response_span(
            response, trace_id, span_id, response_parent.get(response.response_id, root_id),
            clock, common, model, texts,
        ))

    tool_spans: list[Span] = []
    for call in figures.tool_calls:
        parent = (span_id_of(sid, "response", call.response_id)
                  if call.response_id is not None and call.response_id in responses else root_id)
        tool_spans.append(_tool_span(call, trace_id, span_id_of(sid, "tool", call.call_id),
                                     parent, clock, common))

    root = _root_span(figures, facts, trace_id, root_id, clock, common, with_text)
    children = sorted([*turn_spans, *response_spans, *tool_spans],
                      key=lambda span: (span.start_ns, span.name))
    return [root, *children]


def _response_end(response: ResponseFigures, clock: _Clock) -> float:
    """When the response span ends: response.done, else the session's last moment."""
    if response.done_ms is not None:
        return response.done_ms
    return max(clock.end_ms, response.created_ms or 0.0)


def _response_span(
    response: ResponseFigures,
    trace_id: bytes,
    span_id: bytes,
    parent: bytes,
    clock: _Clock,
    common: dict[str, AttributeValue],
    model: str | None,
    texts: Mapping[str, str] | None,
) -> Span:
    begin = next((t for t in (response.create_ms, response.created_ms) if t is not None), None)
    if begin is None:  # neither asked for nor seen created: its first moment we know
        begin = next((t for t in (response.first_audio_ms, response.first_text_ms,
                                  response.first_transcript_ms, response.done_ms)
                      if t is not None), 0.0)
    end = max(_response_end(response, clock), begin)
    attributes: dict[str, AttributeValue] = {
        **common,
        "gen_ai.operation.name": "chat",
        "gen_ai.response.id": response.response_id,
        **_usage_attributes(response.usage),
        **_present(
            **{"response.status": response.status,
               "response.status_reason": response.status_reason},
            created_ms=response.created_ms,
            done_ms=response.done_ms,
            first_audio_ms=response.first_audio_ms,
            first_text_ms=response.first_text_ms,
            first_transcript_ms=response.first_transcript_ms,
            duration_ms=response.duration_ms,
            audio_generated_ms=response.audio_generated_ms,
            audio_heard_ms=response.audio_heard_ms,
            create_ms=response.create_ms,
            create_to_created_ms=response.create_to_created_ms,
            create_to_first_audio_ms=response.create_to_first_audio_ms,
        ),
        "rtrec.response.interrupted": response.interrupted,
        "rtrec.response.finished": response.done_ms is not None,
    }
    if response.status is not None:
        attributes["gen_ai.response.finish_reasons"] = [response.status]
    if response.interrupted_by is not None:
        attributes["rtrec.response.interrupted_by"] = response.interrupted_by
    if texts is not None and response.response_id in texts:
        attributes["rtrec.transcript"] = texts[response.response_id]
    error = None
    if response.status == "failed":
        error = f"the response failed ({response.status_reason or 'no reason given'})"
    elif response.done_ms is None:
        error = "the response never finished (no response.done)"
    return Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent,
        name=f"chat {model}" if model else "chat", kind="client",
        start_ns=clock.at(begin), end_ns=clock.at(end), attributes=attributes,
        events=_events(clock, response_create=response.create_ms,
                       response_created=response.created_ms,
                       first_audio=response.first_audio_ms, first_text=response.first_text_ms,
                       first_transcript=response.first_transcript_ms,
                       response_done=response.done_ms),
        error=error,
    )


def _tool_span(
    call: ToolCallFigures,
    trace_id: bytes,
    span_id: bytes,
    parent: bytes,
    clock: _Clock,
    common: dict[str, AttributeValue],
) -> Span:
    begin = call.arguments_done_ms if call.arguments_done_ms is not None else (
        call.output_ms if call.output_ms is not None else 0.0
    )
    end = call.output_ms if call.output_ms is not None else clock.end_ms
    attributes: dict[str, AttributeValue] = {
        "gen_ai.provider.name": common["gen_ai.provider.name"],
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.call.id": call.call_id,
        "gen_ai.tool.type": "function",
        **_present(
            arguments_done_ms=call.arguments_done_ms,
            output_ms=call.output_ms,
            tool_ms=call.tool_ms,
            output_to_next_audio_ms=call.output_to_next_audio_ms,
            **{"tool.response_id": call.response_id,
               "tool.next_response_id": call.next_response_id},
        ),
    }
    if call.name is not None:
        attributes["gen_ai.tool.name"] = call.name
    return Span(
        trace_id=trace_id, span_id=span_id, parent_span_id=parent,
        name=f"execute_tool {call.name}" if call.name else "execute_tool", kind="internal",
        start_ns=clock.at(begin), end_ns=clock.at(max(end, begin)), attributes=attributes,
        events=_events(clock, arguments_done=call.arguments_done_ms,
                       function_call_output=call.output_ms),
        error=None if call.output_ms is not None else
        "the tool's output never reached the server (no function_call_output)",
    )


def _root_span(
    figures: SessionFigures,
    facts: SessionFacts,
    trace_id: bytes,
    root_id: bytes,
    clock: _Clock,
    common: dict[str, AttributeValue],
    with_text: bool,
) -> Span:
    attributes: dict[str, AttributeValue] = {
        **common,
        "gen_ai.conversation.id": facts.session_id,
        "rtrec.figures_version": figures.version,
        "rtrec.turns": len(figures.turns),
        "rtrec.responses": len(figures.responses),
        "rtrec.tool_calls": len(figures.tool_calls),
        "rtrec.errors": len(figures.errors),
        "rtrec.interruptions": figures.interruptions,
        **_usage_attributes(figures.tokens),
        **_present(
            **{"session.status": facts.status,
               "session.protocol": facts.protocol or figures.protocol,
               "session.endpoint": facts.endpoint},
            duration_ms=figures.duration_ms,
            heard_share=figures.heard_share,
        ),
    }
    if figures.unavailable:
        attributes["rtrec.unavailable"] = [f"{u.what}: {u.why}" for u in figures.unavailable]
    events = []
    for fault in figures.errors:
        details: dict[str, AttributeValue] = {}
        if fault.code is not None:
            details["rtrec.error.code"] = fault.code
        if with_text and fault.message is not None:  # the server's words: text, so asked for
            details["rtrec.error.message"] = fault.message
        events.append(SpanEvent(f"rtrec.{fault.kind}", clock.at(fault.at_ms), details))
    error = None
    if facts.status in ("interrupted", "incomplete"):
        error = f"the session is {facts.status}"
    return Span(
        trace_id=trace_id, span_id=root_id, parent_span_id=None, name=ROOT_NAME,
        kind="internal", start_ns=clock.started_ns, end_ns=clock.at(clock.end_ms),
        attributes=attributes, events=sorted(events, key=lambda event: event.time_ns),
        error=error,
    )


def conversation_texts(conversation: Conversation) -> dict[str, str]:
    """What `--with-text` puts on spans: each user item's transcript (or text) by item id, and
    each response's spoken transcript (or text) by response id, from the conversation fold."""

    def said(item_id: str) -> str | None:
        item = conversation.items.get(item_id)
        if item is None:
            return None
        return item.transcript if item.transcript is not None else item.text

    texts: dict[str, str] = {}
    for item in conversation.items.values():
        if item.role == "user" and (text := said(item.id)) is not None:
            texts[item.id] = text
    for response in conversation.responses.values():
        parts = [text for item_id in response.output_item_ids
                 if (text := said(item_id)) is not None]
        if parts:
            texts[response.id] = "\n".join(parts)
    return texts
