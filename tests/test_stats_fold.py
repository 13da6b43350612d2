"""The turn figures fold (recorder.stats.fold): each definition of the README's "Turn figures"
pinned on sessions built in memory with known timings, the fixtures, and bad input (item 5)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import msgspec
import pytest

from recorder.stats.figures import SessionFigures, Unavailable
from recorder.stats.fold import StatsFold, figures_of_steps, session_figures
from recorder.stream import frame_steps
from recorder.testing import client_frame, server_frame
from recorder.wire import Direction, Frame, Opcode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CHUNK = 960  # 20 ms of pcm16 at 24 kHz


def audio(n: int) -> str:
    return base64.b64encode(b"\x01\x02" * (n // 2)).decode()


class Session:
    """Frames on one clock, handed out in time order (ties: in the order they were put)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int, Frame]] = []

    def _put(self, frame: Frame, t_ms: float) -> None:
        self.frames.append((t_ms, len(self.frames), frame))

    def S(self, t_ms: float, type_: str, **fields: Any) -> None:
        self._put(server_frame(t_ms, {"type": type_, "event_id": f"ev{len(self.frames)}",
                                      **fields}), t_ms)

    def C(self, t_ms: float, type_: str, **fields: Any) -> None:
        self._put(client_frame(t_ms, {"type": type_, **fields}), t_ms)

    def mic(self, chunks: int, *, every_ms: float = 20.0, size: int = CHUNK) -> None:
        """The microphone: chunk i (stream [20 i, 20 i + 20) ms) is sent at 20 (i + 1) ms."""
        for i in range(chunks):
            self.C(every_ms * (i + 1), "input_audio_buffer.append", audio=audio(size))

    def figures(self, **kwargs: Any) -> SessionFigures:
        ordered = [frame for _, _, frame in sorted(self.frames, key=lambda f: (f[0], f[1]))]
        return figures_of_steps(frame_steps(ordered), **kwargs)


def user_item(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_audio", "transcript": None}]}


def assistant_item(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress",
            "content": []}


USAGE = {"total_tokens": 60, "input_tokens": 40, "output_tokens": 20,
         "input_token_details": {"text_tokens": 10, "audio_tokens": 30, "cached_tokens": 8},
         "output_token_details": {"text_tokens": 5, "audio_tokens": 15}}


def content(rid: str, item_id: str) -> dict[str, Any]:
    return {"response_id": rid, "item_id": item_id, "output_index": 0, "content_index": 0}


def voice_session() -> Session:
    """GA, server VAD: turn 1 answered in full, turn 2 barged in on, turn 3 never answered."""
    s = Session()
    s.S(0, "session.created", session={"id": "sess_1", "type": "realtime",
                                       "model": "gpt-realtime"})
    s.mic(150)
    # turn 1: audio_end_ms 1010 lies in chunk 50 ([1000, 1020) ms), sent at 1020 ms
    s.S(500, "input_audio_buffer.speech_started", item_id="u1", audio_start_ms=300)
    s.S(1500, "input_audio_buffer.speech_stopped", item_id="u1", audio_end_ms=1010)
    s.S(1510, "input_audio_buffer.committed", item_id="u1", previous_item_id=None)
    s.S(1511, "conversation.item.added", item=user_item("u1"), previous_item_id=None)
    s.S(1530, "response.created", response={"id": "r1", "status": "in_progress"})
    s.S(1600, "response.output_item.added", response_id="r1", output_index=0,
        item=assistant_item("a1"))
    s.S(1650, "response.output_audio_transcript.delta", **content("r1", "a1"), delta="Hi")
    s.S(1700, "response.output_audio.delta", **content("r1", "a1"), delta=audio(2400))
    s.S(1720, "response.output_audio.delta", **content("r1", "a1"), delta=audio(2400))
    s.S(2000, "response.done", response={"id": "r1", "status": "completed", "usage": USAGE})
    # turn 2: audio_end_ms 2100 is the end of chunk 104 ([2080, 2100) ms), sent at 2100 ms
    s.S(2050, "input_audio_buffer.speech_started", item_id="u2", audio_start_ms=2000)
    s.S(2290, "input_audio_buffer.speech_stopped", item_id="u2", audio_end_ms=2100)
    s.S(2310, "input_audio_buffer.committed", item_id="u2", previous_item_id="a1")
    s.S(2320, "response.created", response={"id": "r2", "status": "in_progress"})
    s.S(2330, "response.output_item.added", response_id="r2", output_index=0,
        item=assistant_item("a2"))
    s.S(2400, "response.output_audio.delta", **content("r2", "a2"), delta=audio(4800))
    s.S(2420, "response.output_audio.delta", **content("r2", "a2"), delta=audio(4800))
    # the user barges in: the client truncates what it played, the server cancels
    s.S(2500, "input_audio_buffer.speech_started", item_id="u3", audio_start_ms=2450)
    s.C(2505, "conversation.item.truncate", item_id="a2", content_index=0, audio_end_ms=60)
    s.S(2508, "conversation.item.truncated", item_id="a2", content_index=0, audio_end_ms=60)
    s.S(2510, "response.done", response={
        "id": "r2", "status": "cancelled",
        "status_details": {"type": "cancelled", "reason": "turn_detected"}, "usage": USAGE})
    # turn 3: committed, never answered
    s.S(2900, "input_audio_buffer.speech_stopped", item_id="u3", audio_end_ms=2800)
    s.S(2905, "input_audio_buffer.committed", item_id="u3", previous_item_id="a2")
    return s


def test_voice_to_voice_runs_from_the_append_that_carried_audio_end_ms_to_the_first_audio(
) -> None:
    f = voice_session().figures()
    t1, t2, _ = f.turns
    assert (t1.index, t1.item_id, t1.response_id) == (1, "u1", "r1")
    assert t1.speech_end_wire_ms == 1020  # the append holding the sample before 1010 ms
    assert t1.voice_to_voice_ms == 1700 - 1020
    assert t2.speech_end_wire_ms == 2100  # 2100 ms ends chunk 104: that chunk carried it
    assert t2.voice_to_voice_ms == 2400 - 2100
    assert (t1.speech_started_ms, t1.speech_stopped_ms, t1.committed_ms) == (500, 1500, 1510)


def test_latencies_from_speech_stopped() -> None:
    t1 = voice_session().figures().turns[0]
    assert t1.stopped_to_created_ms == 30
    assert t1.stopped_to_first_audio_ms == 200
    assert t1.stopped_to_first_transcript_ms == 150
    assert t1.stopped_to_first_text_ms is None  # an audio answer has no text deltas


def test_response_duration_audio_generated_and_heard_interruption_status_usage() -> None:
    f = voice_session().figures()
    r1, r2 = f.responses
    assert (r1.created_ms, r1.done_ms, r1.duration_ms) == (1530, 2000, 470)
    assert (r1.first_audio_ms, r1.first_transcript_ms) == (1700, 1650)
    assert (r1.audio_generated_ms, r1.audio_heard_ms) == (100, 100)  # 2 x 50 ms, not cut
    assert (r1.status, r1.interrupted, r1.interrupted_by) == ("completed", False, None)
    assert (r2.audio_generated_ms, r2.audio_heard_ms) == (200, 60)  # cut at audio_end_ms
    assert (r2.status, r2.status_reason) == ("cancelled", "turn_detected")
    assert (r2.interrupted, r2.interrupted_by) == (True, "turn_detected")
    assert f.interruptions == 1
    assert f.heard_share == pytest.approx(160 / 300)
    assert r1.usage is not None
    assert (r1.usage.input_audio_tokens, r1.usage.input_cached_tokens,
            r1.usage.output_audio_tokens) == (30, 8, 15)
    assert f.tokens is not None
    assert (f.tokens.input_tokens, f.tokens.output_tokens, f.tokens.total_tokens) == (80, 40, 120)
    assert (f.protocol, f.model, f.duration_ms) == ("ga", "gpt-realtime", 3000)


def test_a_turn_with_no_response_says_why() -> None:
    f = voice_session().figures()
    t3 = f.turns[2]
    assert (t3.response_id, t3.voice_to_voice_ms, t3.speech_end_wire_ms) == (None, None, 2800)
    assert Unavailable("turn 3 voice_to_voice_ms",
                       "no response was created after its user item") in f.unavailable


def test_the_answering_response_is_the_first_created_after_the_turns_item() -> None:
    s = Session()
    s.mic(60)
    s.S(100, "input_audio_buffer.speech_started", item_id="u1", audio_start_ms=0)
    # a response created before the turn's item (during the speech) does not answer it
    s.S(200, "response.created", response={"id": "early"})
    s.S(700, "input_audio_buffer.speech_stopped", item_id="u1", audio_end_ms=600)
    s.S(710, "input_audio_buffer.committed", item_id="u1")
    s.S(750, "response.created", response={"id": "answer"})
    s.S(760, "response.created", response={"id": "later"})
    assert s.figures().turns[0].response_id == "answer"


def test_manual_commit_client_create_and_client_cancel() -> None:
    s = Session()
    s.mic(40)
    s.C(1000, "input_audio_buffer.commit")
    s.S(1010, "input_audio_buffer.committed", item_id="u1", previous_item_id=None)
    s.C(1020, "response.create", event_id="c1")
    s.S(1050, "response.created", response={"id": "r1"})
    s.S(1100, "response.output_item.added", response_id="r1", output_index=0,
        item=assistant_item("a1"))
    s.S(1300, "response.output_audio.delta", **content("r1", "a1"), delta=audio(2400))
    s.C(1350, "response.cancel")
    s.S(1400, "response.done", response={
        "id": "r1", "status": "cancelled",
        "status_details": {"type": "cancelled", "reason": "client_cancelled"}})
    f = s.figures()
    (turn,) = f.turns
    assert (turn.speech_stopped_ms, turn.speech_end_wire_ms) == (None, 1000)  # the commit
    assert turn.voice_to_voice_ms == 300
    assert turn.stopped_to_first_audio_ms is None
    assert Unavailable("turn 1 stopped_to_*", "no speech_stopped (no server VAD): the latencies "
                       "from speech_stopped cannot be measured") in f.unavailable
    (response,) = f.responses
    assert (response.create_ms, response.create_to_created_ms,
            response.create_to_first_audio_ms) == (1020, 30, 280)
    assert (response.interrupted, response.interrupted_by) == (True, "client_cancel")
    assert Unavailable("response r1 usage", "response.done has no usage") in f.unavailable


def tool_session() -> Session:
    """Beta names: a text turn, a function call, its output, the answer, an unfinished one."""
    s = Session()
    s.C(100, "conversation.item.create", item={
        "id": "t1", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Weather?"}]})
    s.S(105, "conversation.item.created", previous_item_id=None, item={
        "id": "t1", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Weather?"}]})
    s.C(110, "response.create", event_id="c1")
    s.S(150, "response.created", response={"id": "b1"})
    s.S(160, "response.output_item.added", response_id="b1", output_index=0, item={
        "id": "f1", "type": "function_call", "name": "get_weather", "call_id": "call_1",
        "arguments": ""})
    s.S(300, "response.function_call_arguments.done", response_id="b1", item_id="f1",
        output_index=0, call_id="call_1", arguments="{}")
    s.S(310, "response.done", response={"id": "b1", "status": "completed"})
    # an id-less create: the server's echo names it
    s.C(400, "conversation.item.create", item={
        "type": "function_call_output", "call_id": "call_1", "output": "sunny"})
    s.S(405, "conversation.item.created", previous_item_id="f1", item={
        "id": "o1", "type": "function_call_output", "call_id": "call_1", "output": "sunny"})
    s.C(410, "response.create")
    s.S(450, "response.created", response={"id": "b2"})
    s.S(460, "response.output_item.added", response_id="b2", output_index=0,
        item=assistant_item("a2"))
    s.S(500, "response.text.delta", **content("b2", "a2"), delta="Sunny.")
    s.S(600, "response.audio.delta", **content("b2", "a2"), delta=audio(2400))
    s.S(700, "response.done", response={"id": "b2", "status": "completed"})
    s.C(800, "response.create")
    s.S(850, "response.created", response={"id": "b3"})
    s.S(860, "response.output_item.added", response_id="b3", output_index=0,
        item=assistant_item("a3"))
    s.S(900, "response.audio.delta", **content("b3", "a3"), delta=audio(2400))
    return s


def test_tool_time_and_output_to_the_next_responses_first_audio_in_beta_names() -> None:
    f = tool_session().figures()
    assert f.protocol == "beta"  # sniffed from the beta-only names
    (call,) = f.tool_calls
    assert (call.call_id, call.name, call.response_id) == ("call_1", "get_weather", "b1")
    assert (call.arguments_done_ms, call.output_ms, call.tool_ms) == (300, 400, 100)
    assert (call.next_response_id, call.output_to_next_audio_ms) == ("b2", 200)
    b1, b2, _ = f.responses
    assert (b1.create_to_created_ms, b2.create_to_created_ms) == (40, 40)
    assert (b2.first_text_ms, b2.first_audio_ms, b2.create_to_first_audio_ms) == (500, 600, 190)


def test_a_text_turn_has_no_voice_to_voice_and_says_why() -> None:
    f = tool_session().figures()
    (turn,) = f.turns
    assert (turn.item_id, turn.response_id, turn.voice_to_voice_ms) == ("t1", "b1", None)
    assert Unavailable("turn 1 voice_to_voice_ms",
                       "a text item: there is no speech to end") in f.unavailable


def test_a_response_that_never_finished() -> None:
    f = tool_session().figures()
    b3 = f.responses[2]
    assert (b3.done_ms, b3.status, b3.duration_ms, b3.usage) == (None, None, None, None)
    assert b3.first_audio_ms == 900 and b3.audio_generated_ms == 50
    assert Unavailable("response b3 done_ms", "response.done never arrived: the recording ends "
                       "before the response finished") in f.unavailable


def test_errors_failed_transcriptions_and_rate_limit_states() -> None:
    s = Session()
    limits = [{"name": "requests", "limit": 100, "remaining": 0, "reset_seconds": 2.5},
              {"name": "tokens", "limit": 1000, "remaining": 900, "reset_seconds": 1}]
    s.S(100, "rate_limits.updated", rate_limits=limits)
    s.S(150, "rate_limits.updated", rate_limits=limits)  # still at 0: the same state
    s.S(200, "error", error={"type": "invalid_request_error", "code": "bad_thing",
                             "message": "No.", "event_id": "c9"})
    s.S(300, "conversation.item.input_audio_transcription.failed", item_id="u1",
        content_index=0, error={"type": "transcription_error", "code": "audio_unintelligible",
                                "message": "Audio could not be transcribed."})
    s.S(400, "rate_limits.updated", rate_limits=[{"name": "requests", "remaining": 5}])
    s.S(500, "rate_limits.updated", rate_limits=[{"name": "requests", "remaining": 0}])
    f = s.figures()
    assert [(e.at_ms, e.kind, e.code, e.message) for e in f.errors] == [
        (100, "rate_limited", "requests", "requests: 0 of 100 remaining; resets in 2.5 s"),
        (200, "error", "bad_thing", "No."),
        (300, "transcription_failed", "audio_unintelligible", "Audio could not be transcribed."),
        (500, "rate_limited", "requests", "requests: 0 remaining"),
    ]


def test_a_failed_transcription_marks_its_turn() -> None:
    f = figures_of(FIXTURES / "transcription_failed.db")
    (turn,) = f.turns
    assert turn.transcript_failed
    assert [e.kind for e in f.errors] == ["transcription_failed"]


# -- bad input (item 5) -----------------------------------------------------------------------


def test_a_session_with_nothing_in_it() -> None:
    f = figures_of_steps(iter(()))
    assert (f.turns, f.responses, f.tool_calls, f.errors) == ([], [], [], [])
    assert (f.duration_ms, f.heard_share, f.tokens, f.protocol) == (None, None, None, None)
    assert {u.what for u in f.unavailable} == {"heard_share", "tokens", "responses",
                                               "input audio"}


def test_no_audio_at_all() -> None:
    f = tool_session().figures()
    assert Unavailable("input audio", "no input audio was recorded") in f.unavailable


def test_speech_stopped_with_no_audio_recorded_and_beyond_the_audio() -> None:
    s = Session()
    s.S(100, "input_audio_buffer.speech_stopped", item_id="u1", audio_end_ms=500)
    s.S(110, "input_audio_buffer.committed", item_id="u1")
    s.S(120, "response.created", response={"id": "r1"})
    f = s.figures()
    assert f.turns[0].voice_to_voice_ms is None
    assert Unavailable("turn 1 voice_to_voice_ms",
                       "no input audio was recorded before speech_stopped") in f.unavailable
    s = Session()
    s.mic(5)  # 100 ms of audio
    s.S(200, "input_audio_buffer.speech_stopped", item_id="u1", audio_end_ms=500)
    f = s.figures()
    assert Unavailable("turn 1 voice_to_voice_ms", "speech_stopped's audio_end_ms (500 ms) "
                       "lies beyond the 100 ms of input audio recorded") in f.unavailable


def test_an_interrupted_recording_gives_what_it_has() -> None:
    s = voice_session()
    s.frames = [f for f in s.frames if f[0] < 2450]  # the recorder died at 2.45 s
    f = s.figures(status="interrupted")
    assert f.status == "interrupted"
    assert f.turns and f.turns[0].voice_to_voice_ms == 680
    assert any(u.what == "session" and "interrupted" in u.why for u in f.unavailable)
    assert f.responses[1].done_ms is None and f.responses[1].audio_generated_ms == 200


def test_mixed_beta_and_ga_names_still_give_the_figures() -> None:
    s = Session()
    s.mic(30)
    s.S(600, "input_audio_buffer.speech_stopped", item_id="u1", audio_end_ms=590)
    s.S(610, "input_audio_buffer.committed", item_id="u1")
    s.S(620, "response.created", response={"id": "r1"})
    s.S(650, "response.text.delta", **content("r1", "a1"), delta="Hi")  # beta
    s.S(700, "response.output_audio.delta", **content("r1", "a1"), delta=audio(2400))  # GA
    s.S(710, "response.audio_transcript.delta", **content("r1", "a1"), delta="Hi")  # beta
    f = s.figures()
    assert f.protocol == "mixed"
    (turn,) = f.turns
    assert (turn.voice_to_voice_ms, turn.stopped_to_first_text_ms,
            turn.stopped_to_first_transcript_ms) == (100, 50, 110)
    assert figures_of_steps(frame_steps([f_ for _, _, f_ in s.frames]), protocol="ga"
                            ).protocol == "ga"  # the store's word wins


def test_hostile_frames_never_crash_the_fold() -> None:
    s = voice_session()
    junk = [
        Frame(Direction.SERVER, 1_505_000_000, Opcode.TEXT, b"not json"),
        Frame(Direction.SERVER, 1_506_000_000, Opcode.BINARY, b"\x00\x01"),
        server_frame(1507, {"type": "input_audio_buffer.speech_stopped", "item_id": 5,
                            "audio_end_ms": "soon"}),
        server_frame(1508, {"type": "response.created", "response": {"id": None}}),
        server_frame(1509, {"type": "response.done",
                            "response": {"id": "nope", "usage": {"input_tokens": "x"}}}),
        server_frame(1510, {"type": "error", "error": {}}),
        server_frame(1511, {"type": "rate_limits.updated", "rate_limits": [{}]}),
        client_frame(1512, {"type": "conversation.item.create", "item": {"type": "message"}}),
        server_frame(1513, {"type": "response.function_call_arguments.done", "call_id": ""}),
    ]
    for frame in junk:
        s._put(frame, frame.t_ns / 1e6)
    f = s.figures()
    assert f.turns[0].voice_to_voice_ms == 680  # the rest is unchanged
    assert f.responses[0].response_id == "r1"


def test_result_can_be_taken_mid_stream() -> None:
    s = voice_session()
    ordered = [frame for _, _, frame in sorted(s.frames, key=lambda f: (f[0], f[1]))]
    fold = StatsFold()
    for step in frame_steps(ordered):
        fold.apply(step)
        if step.t_ns == 1_700_000_000 and step.direction is Direction.SERVER:
            assert fold.result().turns[0].voice_to_voice_ms == 680
    assert fold.result().turns[0].voice_to_voice_ms == 680


# -- the fixtures ----------------------------------------------------------------------------


def figures_of(path: Path) -> SessionFigures:
    import asyncio

    return asyncio.run(session_figures(path))


def _without_identity(f: SessionFigures) -> dict[str, Any]:
    plain: dict[str, Any] = msgspec.to_builtins(f)
    for key in ("session_id", "status", "started_at", "protocol", "model"):
        plain.pop(key)
    return plain


@pytest.mark.parametrize("name", ["voice_turns", "barge_in", "function_call", "out_of_band",
                                  "transcription_failed", "g711", "voice_turns_beta"])
def test_a_database_and_its_dump_give_the_same_figures(name: str) -> None:
    from_db = figures_of(FIXTURES / f"{name}.db")
    from_file = figures_of(FIXTURES / f"{name}.jsonl")
    assert _without_identity(from_db) == _without_identity(from_file)
    assert from_db.turns and all(t.speech_end_wire_ms is not None for t in from_db.turns)


def test_ga_and_beta_recordings_of_one_scenario_agree() -> None:
    ga, beta = figures_of(FIXTURES / "voice_turns.db"), figures_of(FIXTURES / "voice_turns_beta.db")
    assert (ga.protocol, beta.protocol) == ("ga", "beta")
    for f in (ga, beta):
        assert len(f.turns) == 2 and all(t.voice_to_voice_ms for t in f.turns)
        assert [r.audio_generated_ms for r in f.responses] == [800, 600]
    assert ga.tokens == beta.tokens


def test_barge_in_fixture() -> None:
    f = figures_of(FIXTURES / "barge_in.db")
    first = f.responses[0]
    assert (first.interrupted_by, first.audio_generated_ms, first.audio_heard_ms) == (
        "turn_detected", 2480, 617)
    assert f.interruptions == 1
    for turn in f.turns:  # the wire end of speech comes before the server heard it stop
        assert turn.speech_end_wire_ms is not None and turn.speech_stopped_ms is not None
        assert 0 < turn.speech_stopped_ms - turn.speech_end_wire_ms < 1000


def test_function_call_fixture() -> None:
    f = figures_of(FIXTURES / "function_call.db")
    (call,) = f.tool_calls
    assert call.name == "get_weather"
    assert call.tool_ms is not None and call.tool_ms > 0
    assert call.next_response_id == f.responses[1].response_id
    assert call.output_to_next_audio_ms is not None and call.output_to_next_audio_ms > 0


@pytest.mark.parametrize("protocol", ["ga", "beta"])
def test_the_fake_upstreams_vad_stops_3_to_12_ms_after_the_append_that_carried_the_end(
    protocol: str,
) -> None:
    """recorder.fake's server VAD sends speech_stopped 3-12 ms after the chunk holding the
    sample before audio_end_ms was sent: the fold finds that very chunk for every turn."""
    from recorder.fake.scenarios import long_session

    f = figures_of_steps(frame_steps(long_session(2, protocol=protocol)))
    assert len(f.turns) >= 6 and f.interruptions >= 1
    for turn in f.turns:
        assert turn.speech_stopped_ms is not None and turn.speech_end_wire_ms is not None
        assert 3 <= turn.speech_stopped_ms - turn.speech_end_wire_ms <= 12
        assert turn.voice_to_voice_ms is not None and turn.voice_to_voice_ms > 0
    assert not f.unavailable


def test_a_response_whose_created_was_not_recorded() -> None:
    s = Session()
    s.S(100, "response.output_item.added", response_id="r0", output_index=0,
        item=assistant_item("a0"))
    s.S(120, "response.output_audio.delta", **content("r0", "a0"), delta=audio(4800))
    s.S(300, "response.done", response={"id": "r0", "status": "completed", "usage": USAGE})
    f = s.figures()
    (r0,) = f.responses
    assert (r0.created_ms, r0.done_ms, r0.duration_ms, r0.first_audio_ms) == (None, 300, None, 120)
    assert (r0.audio_generated_ms, r0.status) == (100, "completed")
    assert Unavailable("response r0 created_ms",
                       "no response.created for it was recorded") in f.unavailable
