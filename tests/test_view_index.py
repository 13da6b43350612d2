"""recorder.view's pure core: the session index, WAV ranges and peaks, from steps in memory."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from recorder.audio import PCM16_24K
from recorder.stream import Step, file_steps, frame_steps
from recorder.view.index import ASSISTANT, USER, build_index, chunk_peaks, kind_of
from recorder.view.sound import (
    BASE_BUCKET_MS,
    HEADER_BYTES,
    side_peaks,
    total_frames,
    wav_bytes,
    wav_size,
)
from recorder.wire import Direction, Frame, Opcode

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _steps(name: str) -> list[Step]:
    return list(file_steps(FIXTURES / f"{name}.jsonl"))


def _reader(steps: list[Step]):  # type: ignore[no-untyped-def]
    audio = {step.seq: step.audio for step in steps if step.audio is not None}
    asked: list[list[int]] = []

    async def read(seqs: list[int]) -> dict[int, bytes]:
        asked.append(seqs)
        return {seq: audio[seq] for seq in seqs if seq in audio}
    return read, asked


def test_kinds_of_event_types() -> None:
    assert kind_of("session.updated") == "session"
    assert kind_of("transcription_session.created") == "session"
    assert kind_of("input_audio_buffer.speech_started") == "input"
    assert kind_of("response.output_audio.delta") == "response"
    assert kind_of("conversation.item.added") == "item"
    assert kind_of("error") == "error"
    assert kind_of("conversation.item.input_audio_transcription.failed") == "error"
    assert kind_of("rate_limits.updated") == "other"
    assert kind_of(None) == "unknown"
    assert kind_of("response.done", unknown=True) == "unknown"


def test_barge_in_lanes_turns_and_the_unheard_part() -> None:
    index = build_index(_steps("barge_in"))
    lanes = index.lanes
    assert [t["text"] for t in lanes["user"]] == ["Tell me about the moon.", "Wait, stop."]
    first, second = lanes["assistant"]
    assert first["truncated"] and first["status"] == "cancelled"
    assert first["status_reason"] == "turn_detected"
    assert first["heard_ms"] == 617.0 and first["audio_ms"] == 2480.0
    assert first["heard_end_ms"] == pytest.approx(first["start_ms"] + 617.0)
    assert first["generated_end_ms"] == pytest.approx(first["start_ms"] + 2480.0)
    assert not second["truncated"] and second["heard_end_ms"] == second["generated_end_ms"]
    assert lanes["tools"] == []
    # every frame is a tick; the assistant plays only what was heard
    assert index.frames == 283
    heard = sum(s.duration_ms for s in index.segments[ASSISTANT])
    assert heard == pytest.approx(617.0 + 1000.0)
    user_bytes = sum(s.length for s in index.segments[USER])
    assert user_bytes == index.conversation.input_audio_bytes


def test_function_call_is_a_tool_span_with_its_output() -> None:
    index = build_index(_steps("function_call"))
    [call] = index.lanes["tools"]
    assert call["name"] == "get_weather"
    assert call["arguments"] == '{"city":"Lisbon"}'
    assert call["output"] == '{"temp_c": 21, "sky": "clear"}'
    assert call["end_ms"] > call["start_ms"]
    assert call["tool_ms"] == pytest.approx(call["end_ms"] - call["start_ms"])


def test_events_are_paged_by_time_window_and_kind() -> None:
    index = build_index(_steps("barge_in"))
    everything, more = index.events(0, index.end_ms + 1)
    assert len(everything) == 283 and not more
    page, more = index.events(0, index.end_ms + 1, limit=10)
    assert [t.seq for t in page] == [t.seq for t in everything[:10]] and more
    window, _ = index.events(1000, 2000)
    assert window and all(1000 <= t.t_ms < 2000 for t in window)
    sessions, _ = index.events(0, index.end_ms + 1, {"session"})
    assert {t.type for t in sessions} == {"session.created", "session.update", "session.updated"}


def test_an_unknown_frame_is_a_tick_of_its_own_and_hides_nothing() -> None:
    steps = _steps("voice_turns")
    at = steps[5].t_ns
    broken = Frame(Direction.SERVER, at, Opcode.TEXT, b'{"type": "response.done", "response": 12')
    odd = Frame(Direction.SERVER, at, Opcode.BINARY, b"\x00\x01")
    frames = [Frame(s.direction, s.t_ns, s.opcode, s.frame_data()) for s in steps]
    frames[6:6] = [broken, odd]
    index = build_index(frame_steps(frames))
    kinds = index.kinds_of_seq()
    assert kinds[6:8] == ["unknown", "unknown"]
    assert len(index.lanes["user"]) == 2 and len(index.lanes["assistant"]) == 2


def test_a_session_without_audio_has_no_segments() -> None:
    steps = [s for s in _steps("voice_turns") if s.audio is None]
    index = build_index(steps)
    assert not index.has_audio
    assert index.segments == {USER: [], ASSISTANT: []}


def test_wav_ranges_are_slices_of_the_whole_wav() -> None:
    steps = _steps("barge_in")
    index = build_index(steps)
    read, _ = _reader(steps)
    size = wav_size(index, "stereo")
    whole = b"".join(asyncio.run(wav_bytes(index, "stereo", 0, size, read)))
    assert len(whole) == size
    with wave.open(io.BytesIO(whole)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 24000)
        assert wav.getnframes() == total_frames(index)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    # the first user chunk sits where the timeline places it, on the left channel only
    first = index.segments[USER][0]
    at = round(first.start_ms * 24000 / 1000)
    chunk = np.frombuffer(steps[first.seq - 1].audio or b"", "<i2")
    assert np.array_equal(frames[at:at + chunk.size, 0], chunk)
    assistant_start = round(index.segments[ASSISTANT][0].start_ms * 24000 / 1000)
    assert not frames[:assistant_start, 1].any()
    for start, end in ((0, 10), (30, 50), (44, 45), (1001, 77777), (size - 3, size)):
        assert b"".join(asyncio.run(wav_bytes(index, "stereo", start, end, read))) == \
            whole[start:end]
    user = b"".join(asyncio.run(wav_bytes(index, "user", 0, wav_size(index, "user"), read)))
    mono = np.frombuffer(user[HEADER_BYTES:], "<i2")
    assert np.array_equal(mono, frames[:, 0])


def test_a_range_reads_only_the_chunks_it_sounds() -> None:
    steps = _steps("barge_in")
    index = build_index(steps)
    read, asked = _reader(steps)
    late = index.segments[ASSISTANT][-1]
    start = HEADER_BYTES + round(late.start_ms * 24) * 4
    asyncio.run(wav_bytes(index, "stereo", start, start + 400, read))
    [seqs] = asked
    assert late.seq in seqs
    assert index.segments[USER][0].seq not in seqs


def test_chunk_peaks_are_min_and_max_per_bucket_of_each_chunk() -> None:
    first = np.zeros(600, dtype="<i2")  # 25 ms at 24 kHz: buckets of 240, 240, 120 samples
    first[10], first[300], first[599] = 30000, -20000, 7
    second = np.array([-5, 5], dtype="<i2")
    mins, maxs = chunk_peaks([(first.tobytes(), PCM16_24K), (second.tobytes(), PCM16_24K)])
    assert list(mins) == [0, -20000, 0, -5] and list(maxs) == [30000, 0, 7, 5]


def test_side_peaks_place_each_chunk_and_reduce_per_level() -> None:
    samples = np.zeros(24000, dtype="<i2")  # one second from 100 ms
    samples[100] = 30000
    samples[12000] = -20000
    steps = list(frame_steps([
        Frame(Direction.CLIENT, 1_100_000_000, Opcode.TEXT, json.dumps({
            "type": "input_audio_buffer.append",
            "audio": base64.b64encode(samples.tobytes()).decode()}).encode()),
    ]))
    index = build_index(steps)
    peaks = side_peaks(index, USER)
    assert peaks.mins.size == 110  # to 1.1 s
    assert peaks.maxs[10] == 30000 and peaks.mins[10] == 0  # 100 ms in: bucket 10
    assert peaks.mins[60] == -20000  # 500 ms later
    mins, maxs = peaks.level(3)  # 80 ms buckets
    assert maxs[1] == 30000 and mins[7] == -20000 and mins.size == 14
    mins, maxs = peaks.level(3, first=7, count=1)
    assert list(mins) == [-20000] and list(maxs) == [0]
    assert not side_peaks(index, ASSISTANT).maxs.any()


def test_peaks_of_a_fixture_match_its_samples() -> None:
    steps = _steps("voice_turns")
    index = build_index(steps)
    peaks = side_peaks(index, USER)
    loudest = max(int(np.abs(np.frombuffer(s.audio or b"", "<i2").astype(int)).max())
                  for s in steps if s.audio is not None and s.direction is Direction.CLIENT)
    assert max(int(peaks.maxs.max()), -int(peaks.mins.min())) == loudest
    assert peaks.mins.size == int(-(-index.end_ms // BASE_BUCKET_MS))


def test_the_assistants_peaks_stop_where_it_was_heard() -> None:
    steps = _steps("barge_in")
    index = build_index(steps)
    peaks = side_peaks(index, ASSISTANT)
    cut = index.lanes["assistant"][0]
    heard = range(int(cut["start_ms"] // 10) + 1, int(cut["heard_end_ms"] // 10) - 1)
    unheard = range(int(cut["heard_end_ms"] // 10) + 2, int(cut["generated_end_ms"] // 10))
    assert peaks.maxs[heard.start:heard.stop].any()
    later = index.lanes["assistant"][1]["start_ms"] // 10
    assert not peaks.maxs[unheard.start:int(min(unheard.stop, later))].any()


def test_ticks_are_ordered_by_time_then_seq_sorted_or_not() -> None:
    from recorder.view.index import _by_time

    for t_ms, seq in (([0.0, 1.0, 1.0, 2.0], [1, 2, 3, 4]),  # in order: kept as they are
                      ([0.0, 2.0, 1.0, 3.0], [1, 2, 3, 4]),  # a frame stamped earlier
                      ([0.0, 1.0, 1.0, 2.0], [1, 3, 2, 4])):  # a tie out of seq order
        times, seqs = np.array(t_ms), np.array(seq)
        expected = np.lexsort((seqs, times))
        assert np.array_equal(seqs[_by_time(times, seqs)], seqs[expected])
