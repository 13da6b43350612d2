"""A session's figures as one trace (recorder.stats.trace): spans, parents, times, attributes,
ids, text kept out; and the OTLP protobuf they encode to. Pure: no socket, figures by hand."""

from __future__ import annotations

import pytest
from otlp_receiver import decode

from recorder.stats.figures import (
    ErrorFigure,
    ResponseFigures,
    SessionFigures,
    ToolCallFigures,
    TurnFigures,
    Unavailable,
    Usage,
)
from recorder.stats.otlp import encode_traces
from recorder.stats.trace import SessionFacts, Span, session_trace, span_id_of, trace_id_of

T0 = 1_764_000_000_123_456_789  # the session's wall-clock start, ns


def ns(ms: float) -> int:
    return T0 + round(ms * 1_000_000)


FIGURES = SessionFigures(
    protocol="ga", model="gpt-realtime", duration_ms=9000.0,
    turns=[
        TurnFigures(index=1, item_id="item_u1", speech_started_ms=500.0, speech_stopped_ms=1500.0,
                    speech_end_wire_ms=1400.0, committed_ms=1510.0, response_id="resp_1",
                    voice_to_voice_ms=820.5, stopped_to_created_ms=120.0,
                    stopped_to_first_audio_ms=720.5),
        TurnFigures(index=2, item_id="item_u2", speech_started_ms=4000.0,
                    speech_stopped_ms=4800.0, response_id="resp_3", transcript_failed=True),
    ],
    responses=[
        ResponseFigures(response_id="resp_1", created_ms=1620.0, done_ms=2900.0,
                        status="completed", first_audio_ms=2220.5, duration_ms=1280.0,
                        audio_generated_ms=600.0, audio_heard_ms=600.0,
                        usage=Usage(input_tokens=120, output_tokens=40, input_cached_tokens=64,
                                    input_audio_tokens=100, output_audio_tokens=30)),
        # after the tool's output: answers no turn
        ResponseFigures(response_id="resp_2", created_ms=3300.0, done_ms=3800.0,
                        status="completed", create_ms=3250.0, create_to_created_ms=50.0),
        ResponseFigures(response_id="resp_3", created_ms=4900.0, done_ms=None, status=None),
    ],
    tool_calls=[ToolCallFigures(call_id="call_1", name="lookup_weather", response_id="resp_1",
                                arguments_done_ms=2800.0, output_ms=3200.0, tool_ms=400.0,
                                next_response_id="resp_2")],
    errors=[ErrorFigure(at_ms=5000.0, kind="error", code="rate_limit_exceeded",
                        message="slow down, Alice")],
    unavailable=[Unavailable("turn 2 voice_to_voice_ms", "its response never sent audio")],
    interruptions=0, heard_share=1.0, tokens=Usage(input_tokens=120, output_tokens=40),
)
FACTS = SessionFacts(session_id="01HSESSIONAAAA", started_ns=T0, model="gpt-realtime",
                     protocol="ga", status="complete")


def response_span(spans: list[Span], response_id: str) -> Span:
    [span] = [s for s in spans if s.attributes.get("gen_ai.response.id") == response_id]
    return span


def test_one_root_and_a_span_per_turn_response_and_tool_call() -> None:
    spans = session_trace(FIGURES, FACTS)
    root = spans[0]
    assert root.name == "rtrec.session" and root.parent_span_id is None
    assert sorted(s.name for s in spans[1:]) == [
        "chat gpt-realtime", "chat gpt-realtime", "chat gpt-realtime",
        "execute_tool lookup_weather", "turn 1", "turn 2",
    ]
    assert {s.trace_id for s in spans} == {trace_id_of(FACTS.session_id)}
    assert len({s.span_id for s in spans}) == len(spans)


def test_parents_a_response_under_the_turn_it_answers_a_tool_call_under_its_response() -> None:
    spans = session_trace(FIGURES, FACTS)
    root, turns = spans[0], {s.name: s for s in spans if s.name.startswith("turn")}
    assert turns["turn 1"].parent_span_id == root.span_id
    assert response_span(spans, "resp_1").parent_span_id == turns["turn 1"].span_id
    assert response_span(spans, "resp_3").parent_span_id == turns["turn 2"].span_id
    assert response_span(spans, "resp_2").parent_span_id == root.span_id  # answers no turn
    [tool] = [s for s in spans if s.name.startswith("execute_tool")]
    assert tool.parent_span_id == response_span(spans, "resp_1").span_id


def test_times_are_the_session_start_plus_the_figures_offsets() -> None:
    spans = session_trace(FIGURES, FACTS)
    root = spans[0]
    assert (root.start_ns, root.end_ns) == (T0, ns(9000.0))
    turn1 = next(s for s in spans if s.name == "turn 1")
    # speech started -> its answer's response.done
    assert (turn1.start_ns, turn1.end_ns) == (ns(500.0), ns(2900.0))
    resp1, resp2 = response_span(spans, "resp_1"), response_span(spans, "resp_2")
    assert (resp1.start_ns, resp1.end_ns) == (ns(1620.0), ns(2900.0))
    assert resp2.start_ns == ns(3250.0)  # from the client's response.create
    [tool] = [s for s in spans if s.name.startswith("execute_tool")]
    assert (tool.start_ns, tool.end_ns) == (ns(2800.0), ns(3200.0))
    assert ("first_audio", ns(2220.5), {}) in [(e.name, e.time_ns, e.attributes)
                                               for e in resp1.events]
    assert [e.name for e in turn1.events] == [
        "speech_started", "speech_end_on_wire", "speech_stopped", "committed"
    ]
    starts = [s.start_ns for s in spans[1:]]
    assert starts == sorted(starts)


def test_attributes_follow_the_genai_conventions_and_carry_every_known_figure() -> None:
    spans = session_trace(FIGURES, FACTS)
    resp1 = response_span(spans, "resp_1").attributes
    assert resp1["gen_ai.operation.name"] == "chat"
    assert resp1["gen_ai.provider.name"] == "openai"
    assert resp1["gen_ai.request.model"] == "gpt-realtime"
    assert resp1["gen_ai.usage.input_tokens"] == 120
    assert resp1["gen_ai.usage.output_tokens"] == 40
    assert resp1["gen_ai.usage.cache_read.input_tokens"] == 64
    assert resp1["rtrec.usage.input_audio_tokens"] == 100
    assert resp1["gen_ai.response.finish_reasons"] == ["completed"]
    assert resp1["rtrec.first_audio_ms"] == 2220.5
    assert "rtrec.usage.output_text_tokens" not in resp1  # not reported: absent, not 0
    turn1 = next(s for s in spans if s.name == "turn 1").attributes
    assert turn1["rtrec.voice_to_voice_ms"] == 820.5
    assert turn1["gen_ai.conversation.id"] == FACTS.session_id
    turn2 = next(s for s in spans if s.name == "turn 2")
    assert "rtrec.voice_to_voice_ms" not in turn2.attributes
    assert turn2.error == "the user's speech could not be transcribed"
    [tool] = [s for s in spans if s.name.startswith("execute_tool")]
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "lookup_weather"
    assert tool.attributes["gen_ai.tool.call.id"] == "call_1"
    assert tool.attributes["rtrec.tool_ms"] == 400.0
    root = spans[0].attributes
    assert root["rtrec.unavailable"] == ["turn 2 voice_to_voice_ms: its response never sent audio"]
    assert root["rtrec.session.status"] == "complete"
    assert root["rtrec.turns"] == 2 and root["rtrec.heard_share"] == 1.0


def test_a_response_that_never_finished_ends_with_the_session_and_says_so() -> None:
    spans = session_trace(FIGURES, FACTS)
    resp3 = response_span(spans, "resp_3")
    assert resp3.end_ns == ns(9000.0)
    assert resp3.attributes["rtrec.response.finished"] is False
    assert resp3.error == "the response never finished (no response.done)"
    assert "gen_ai.response.finish_reasons" not in resp3.attributes


def test_ids_derive_from_the_session_alone() -> None:
    first, again = session_trace(FIGURES, FACTS), session_trace(FIGURES, FACTS)
    assert [(s.trace_id, s.span_id, s.parent_span_id) for s in first] == \
        [(s.trace_id, s.span_id, s.parent_span_id) for s in again]
    other = session_trace(FIGURES, SessionFacts(session_id="01HSESSIONBBBB", started_ns=T0))
    assert not {s.span_id for s in first} & {s.span_id for s in other}
    assert trace_id_of("a") != trace_id_of("b") and len(trace_id_of("a")) == 16
    assert span_id_of("a", "turn", "x") != span_id_of("a", "response", "x")
    assert len(span_id_of("a", "turn", "x")) == 8


def test_no_text_in_spans_unless_asked() -> None:
    texts = {"item_u1": "what is the weather in Paris", "resp_1": "It is sunny."}
    plain = session_trace(FIGURES, FACTS)
    for span in plain:
        assert "rtrec.transcript" not in span.attributes
        for event in span.events:
            assert "rtrec.error.message" not in event.attributes
    assert "Alice" not in repr(plain)
    told = session_trace(FIGURES, FACTS, texts=texts, with_text=True)
    turn1 = next(s for s in told if s.name == "turn 1")
    assert turn1.attributes["rtrec.transcript"] == "what is the weather in Paris"
    assert response_span(told, "resp_1").attributes["rtrec.transcript"] == "It is sunny."
    [event] = told[0].events
    assert event.name == "rtrec.error"
    assert event.attributes == {"rtrec.error.code": "rate_limit_exceeded",
                                "rtrec.error.message": "slow down, Alice"}


def test_a_session_without_figures_is_one_root_span() -> None:
    [root] = session_trace(SessionFigures(), SessionFacts(session_id="s", started_ns=T0))
    assert (root.start_ns, root.end_ns) == (T0, T0)
    assert root.attributes["rtrec.turns"] == 0
    assert "gen_ai.request.model" not in root.attributes


@pytest.mark.parametrize("with_text", [False, True])
def test_the_protobuf_request_decodes_to_the_same_spans(with_text: bool) -> None:
    spans = session_trace(FIGURES, FACTS, with_text=with_text)
    resource, received = decode(encode_traces([spans]))
    assert resource["service.name"] == "rtrec"
    assert [(r.trace_id, r.span_id, r.parent, r.name, r.start_ns, r.end_ns) for r in received] \
        == [(s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex() if s.parent_span_id
             else None, s.name, s.start_ns, s.end_ns) for s in spans]
    for r, s in zip(received, spans, strict=True):
        assert r.attributes == s.attributes
        assert r.kind == (3 if s.kind == "client" else 1)  # SPAN_KIND_CLIENT / _INTERNAL
        assert r.status_code == (2 if s.error else 0)  # STATUS_CODE_ERROR / _UNSET
        assert r.status_message == (s.error or "")
