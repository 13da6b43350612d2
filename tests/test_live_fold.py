"""The Live fold (recorder.live.fold) and its transcript grouping (recorder.live.segments),
with the openai SDK's own TranscriptGrouper as the oracle, driven by the recorded times."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from live_sessions import (
    AUDIO_100MS,
    CALL_ID,
    DELEGATION,
    RESP_A,
    RESP_B,
    SESSION_ID,
    Session,
    weather,
)
from live_sessions import start as start_session
from openai.lib.live import TranscriptGrouper  # a test dependency: the oracle

from recorder.live import events as live_events
from recorder.live.fold import LiveFold, fold_steps
from recorder.live.segments import Grouper
from recorder.stream import LiveAudioChunk, LiveStep, Step, frame_steps
from recorder.wire import Direction, Frame, Opcode


def fold(session: Session) -> LiveFold:
    return fold_steps(frame_steps(session.frames, protocol="live"))


def shape(segments: list[Any]) -> list[tuple[str, str, int, int, str | None]]:
    return [(s.speaker, s.text, s.start_ms, s.end_ms, s.close_reason) for s in segments]


def by_time(segments: list[tuple[str, str, int, int, str | None]]) -> list[Any]:
    return sorted(segments, key=lambda seg: (seg[2], seg[3], seg[0], seg[1]))


# ---------------------------------------------------------------- the stream picks the decoder


def test_a_live_session_s_steps_decode_as_live_events_by_direction() -> None:
    s = start_session(Session())
    s.client(50, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
    s.server(60, {"type": "session.input_audio.append", "audio": AUDIO_100MS})  # a sideband's
    steps = list(frame_steps(s.frames, protocol="live"))
    assert all(type(step) is LiveStep for step in steps)
    assert isinstance(steps[0].event, live_events.SessionStart)
    assert isinstance(steps[1].event, live_events.SessionStarted)
    client_audio, server_audio = steps[2].event, steps[3].event
    assert isinstance(client_audio, LiveAudioChunk) and isinstance(server_audio, LiveAudioChunk)
    assert isinstance(client_audio.to_event(), live_events.InputAudioAppend)
    assert isinstance(server_audio.to_event(), live_events.SidebandInputAudioAppend)
    assert client_audio.to_event().audio == AUDIO_100MS
    assert steps[2].frame_data() == s.frames[2].data
    # the same frames of a Realtime session decode as Realtime's (here: unknown types)
    assert all(type(step) is Step for step in frame_steps(s.frames, protocol="ga"))


async def test_the_log_gives_live_steps_for_a_live_session(tmp_path: Path) -> None:
    from recorder.store import open_log
    from recorder.stream import steps_of

    db = tmp_path / "live.db"
    log = await open_log(str(db))
    try:
        sid = await log.begin_session("live", "gpt-live-1", "/v1/live/sessions")
        for frame in weather().frames:
            log.append(sid, frame)
        await log.end_session(sid, close_code=1000, close_reason="", closed_by="client")
    finally:
        await log.close()
    steps = [step async for step in steps_of(str(db))]
    assert {type(step) for step in steps} == {LiveStep}
    folded = fold_steps(steps)
    assert folded.session_id == SESSION_ID
    assert folded.to_dict() == fold(weather()).to_dict()


# ---------------------------------------------------------------- the fold of a whole call


def test_the_weather_call_folds_into_segments_delegation_appends_mute_error_close() -> None:
    f = fold(weather())
    assert (f.session_id, f.model, f.status) == (SESSION_ID, "gpt-live-1",
                                                 "closed (close_requested)")
    assert shape(f.segments) == [
        ("user", "What's the weather in Lisbon?", 200, 600, "speaker_change"),
        ("assistant", "Sure, checking the forecast.", 800, 1200, "inactivity"),
        ("assistant", " It's 21 degrees and sunny in Lisbon.", 3300, 3900, "speaker_change"),
        ("user", "Thanks, that's all", 3800, 4100, "session_closed"),
    ]
    (interruption,) = f.interruptions
    assert (interruption.at_ms, interruption.inferred) == (3800, True)
    assert (interruption.assistant_segment, interruption.user_segment) == (2, 3)
    (delegation,) = f.delegations
    assert (delegation.id, delegation.target, delegation.offset_ms) == (DELEGATION, "responses",
                                                                        650)
    (call,) = delegation.tool_calls
    assert (call.name, call.arguments, call.call_id, call.response_id) == (
        "get_weather", '{"city":"Lisbon"}', CALL_ID, RESP_A)
    assert call.output == '{"temperature_c": 21}'
    assert [r.id for r in delegation.responses] == [RESP_A, RESP_B]
    assert delegation.responses[1].previous_response_id == RESP_A
    assert delegation.answer == "21 degrees, sunny."
    assert delegation.tokens == 140 + 158
    (append,) = f.appends
    assert (append.kind, append.content, append.start_ms, append.end_ms) == (
        "instructions", "Use Celsius.", 1500, 1500)
    (mute,) = f.intervals
    assert (mute.kind, mute.start_ms, mute.end_ms) == ("muted", 4300.0, 4600.0)
    (error,) = f.errors
    assert (error.code, error.client_event_id, error.at_ms) == ("unknown_parameter",
                                                                "evt_c020", 4700.0)
    assert (f.closed_reason, f.usage_seconds) == ("close_requested", 5.0)
    assert (f.input_audio_ms, f.output_audio_ms) == (5000.0, 5000.0)
    assert f.notes == []


def test_a_client_delegation_keeps_the_thinking_and_commentary_the_client_gave_it() -> None:
    s = start_session(Session())
    s.server(100, {"type": "session.delegation.created", "offset_ms": 90,
                   "delegation": {"id": "item_c1", "type": "delegation", "target": "client"}})
    s.client(200, {"type": "session.thinking.append", "event_id": "e1",
                   "content": "Account ok.", "delegation_id": "item_c1"})
    s.client(210, {"type": "session.commentary.append", "event_id": "e2",
                   "content": "It is sunny.", "delegation_id": "item_c1"})
    s.server(260, {"type": "session.commentary.appended", "client_event_id": "e2",
                   "start_ms": 250, "end_ms": 250})
    s.server(270, {"type": "session.thinking.appended", "client_event_id": "e1",
                   "start_ms": 240, "end_ms": 240})
    f = fold(s)
    (delegation,) = f.delegations
    assert delegation.target == "client"
    assert [(a.kind, a.content, a.start_ms) for a in delegation.appends] == [
        ("thinking", "Account ok.", 240), ("commentary", "It is sunny.", 250)]
    assert delegation.tool_calls == [] and delegation.responses == []


# ---------------------------------------------------------------- bad input: a note, no crash


def test_a_session_with_no_start_and_no_close_is_folded_with_notes() -> None:
    s = Session()
    s.transcript(100, "assistant", "Hello", 0, 200)
    f = fold(s)
    assert shape(f.segments) == [("assistant", "Hello", 0, 200, "manual")]
    assert f.status == "not closed"
    assert f.notes == [
        "no session.start: the client never started this session (a sideband, or a recording "
        "that began late)",
        "no session.closed: the session did not confirm its end (the recording stops without "
        "it)",
    ]


def test_a_refused_start_is_the_session_s_status_and_a_note() -> None:
    s = Session()
    s.client(0, {"type": "session.start", "session": {"model": "gpt-live-1"}})
    s.server(30, {"type": "error", "error": {"type": "insufficient_quota",
                                             "code": "credit_balance_exhausted",
                                             "message": "Your credit balance is exhausted."}})
    f = fold(s)
    assert f.status == "refused"
    assert f.notes[0] == "session.start was refused (seq 2): Your credit balance is exhausted."


def test_unknown_types_unknown_nested_events_and_audio_the_format_cannot_hold() -> None:
    s = start_session(Session(), {"type": "audio/pcm", "rate": 16000})
    s.server(100, {"type": "session.hologram.delta", "x": 1})
    s.backend(110, {"type": "response.reasoning_summary.delta", "delta": "hm"})
    s.client(120, {"type": "session.input_audio.append", "audio": "AAEC"})  # 3 bytes: not PCM16
    s.client(130, {"type": "session.input_audio.append", "audio": "not base64!"})
    s.raw(Direction.SERVER, 140, b"{broken")
    s.server(150, {"type": "session.closed", "reason": "expired"})
    f = fold(s)
    assert f.status == "closed (expired)"
    assert f.notes == [
        "1 frame(s) of unknown type session.hologram.delta kept as they are (seq 3)",
        "1 frame(s) of unknown type (no type) kept as they are (seq 7)",
        "1 response.event(s) with a Responses event rtrec does not know, "
        "response.reasoning_summary.delta, kept as they are (seq 4)",
        "2 audio frame(s) not in the announced format (pcm16 16000 Hz) (seq 5, 6)",
    ]


def test_binary_frames_and_a_function_call_output_for_no_known_call_are_noted() -> None:
    s = start_session(Session())
    s.frames.append(Frame(Direction.SERVER, 10**8, Opcode.BINARY, b"\x00\x01"))
    s.client(200, {"type": "response.item.create",
                   "item": {"type": "function_call_output", "call_id": "call_x", "output": "1"}})
    f = fold(s)
    assert "function_call_output for unknown call call_x (seq 4)" in f.notes
    assert "1 frame(s) of unknown type (binary frame) kept as they are (seq 3)" in f.notes


# ---------------------------------------------------------------- the SDK's grouper as oracle

class _Timer:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class RecordedClockGrouper(TranscriptGrouper):  # type: ignore[misc]
    """The SDK's grouper with its clock and timers on the recorded arrival times."""

    def __init__(self) -> None:
        self.clock = 0.0
        self.timers: list[tuple[float, _Timer, Callable[[], None]]] = []
        super().__init__()
        self.closed_segments: list[Any] = []
        self.open: dict[str, Any] = {}
        self.on("segment.updated", lambda seg: self.open.__setitem__(seg.id, seg))
        self.on("segment.closed", self._closed)

    def _closed(self, event: Any) -> None:
        self.open.pop(event.segment.id, None)
        self.closed_segments.append((event.segment, event.reason))

    def _now(self) -> float:
        return self.clock

    def _call_later(self, delay_ms: int, callback: Callable[[], None]) -> _Timer:
        timer = _Timer()
        self.timers.append((self.clock + delay_ms, timer, callback))
        return timer

    def advance_to(self, now: float) -> None:
        while True:
            due = [entry for entry in self.timers if not entry[1].cancelled and entry[0] <= now]
            if not due:
                break
            at, timer, callback = min(due, key=lambda entry: entry[0])
            timer.cancelled = True
            self.clock = at
            callback()
        self.timers = [entry for entry in self.timers if not entry[1].cancelled]
        self.clock = max(self.clock, now)


def sdk_segments(frames: list[Frame]) -> list[tuple[str, str, int, int, str | None]]:
    """The SDK's segments for the frames: its own parsing, its grouper, the recorded times."""
    from openai.types.live import (
        InputTranscriptDeltaEvent,
        OutputTranscriptDeltaEvent,
        SessionClosedEvent,
    )

    parse: dict[str, Any] = {  # the SDK's own models (session.closed: only its type is read)
        "session.input_transcript.delta": InputTranscriptDeltaEvent.model_validate_json,
        "session.output_transcript.delta": OutputTranscriptDeltaEvent.model_validate_json,
        "session.closed": lambda data: SessionClosedEvent.model_construct(**json.loads(data)),
    }
    grouper = RecordedClockGrouper()
    first = frames[0].t_ns
    closed = False
    for frame in frames:
        grouper.advance_to((frame.t_ns - first) / 1e6)
        if frame.direction is not Direction.SERVER or closed:
            continue
        kind = json.loads(frame.data)["type"]
        if kind in parse:
            event = parse[kind](frame.data)
            grouper.push(event)
            closed = event.type == "session.closed"
    if not closed:
        grouper.close()
    segments = [(seg, reason) for seg, reason in grouper.closed_segments]
    segments += [(seg, None) for seg in grouper.open.values()]
    ordered = sorted(segments, key=lambda pair: (pair[0].start_ms,))
    return [(seg.speaker, seg.text, seg.start_ms, seg.end_ms, reason) for seg, reason in ordered]


def test_the_weather_call_groups_as_the_sdk_grouper_does() -> None:
    frames = weather().frames
    ours = shape(fold_steps(frame_steps(frames, protocol="live")).segments)
    assert ours == by_time(sdk_segments(frames))


_WORDS = ["yeah", "mhm", "okay", "right", "so", "the", "weather", "is", "sunny", "uh huh",
          "Lisbon", "sure", "hm", "thanks"]


def random_call(seed: int) -> Session:
    """Fragments of both speakers in 200 ms buckets, with overlaps, pauses, duplicates, short
    acknowledgements, same-time fragments of both speakers, and sometimes a session.closed."""
    rng = random.Random(seed)
    s = Session()
    t_ms = 0
    arrival = 50.0
    count = 0
    for _ in range(rng.randint(5, 40)):
        speaker = rng.choice(["user", "assistant"])
        t_ms += rng.choice([0, 0, 100, 200, 200, 400, 600, 1200, 2500])
        length = rng.choice([100, 200, 200, 400, 900])
        arrival += rng.choice([0, 10, 40, 60, 200, 700, 2100, 3000])
        text = rng.choice(_WORDS)
        text = text if rng.random() < 0.5 else " " + text
        count += 1
        event_id = f"event_r{count}"
        s.transcript(arrival, speaker, text, t_ms, t_ms + length, event_id=event_id)
        if rng.random() < 0.15:  # the other speaker at the same time
            count += 1
            other = "user" if speaker == "assistant" else "assistant"
            s.transcript(arrival + rng.choice([0, 20, 80]), other, rng.choice(_WORDS), t_ms,
                         t_ms + length, event_id=f"event_r{count}")
        if rng.random() < 0.1:  # a duplicate
            s.transcript(arrival + 5, speaker, text, t_ms, t_ms + length, event_id=event_id)
        if rng.random() < 0.05:
            t_ms = max(0, t_ms - 1500)  # a timestamp going back
    arrival += rng.choice([0, 100, 3000])
    if rng.random() < 0.5:
        s.server(arrival, {"type": "session.closed", "reason": "close_requested"})
    else:
        s.server(arrival, {"type": "session.usage.updated", "usage": {"seconds": 1}})
    return s


@pytest.mark.parametrize("seed", range(300))
def test_random_fragment_streams_group_as_the_sdk_grouper_does(seed: int) -> None:
    frames = random_call(seed).frames
    ours = fold_steps(frame_steps(frames, protocol="live")).segments
    assert by_time(shape(ours)) == by_time(sdk_segments(frames))


def test_the_grouper_ignores_duplicates_empty_text_and_bad_intervals() -> None:
    grouper = Grouper()
    assert grouper.add("e1", "user", "Hi", 0, 100)
    assert not grouper.add("e1", "user", "Hi", 0, 100)
    assert not grouper.add("e2", "user", "", 100, 200)
    assert not grouper.add("e3", "user", "x", 300, 200)
    grouper.finish("manual")
    assert [(s.text, s.close_reason) for s in grouper.segments()] == [("Hi", "manual")]
