"""recorder.export: WAV files and transcripts from a session whose timeline we know exactly.

The session is built here, frame by frame, so every utterance has a known place:

    user stream   chunks of 100 ms received at 100..1000 ms -> timeline 0..1000 ms,
                  then a 2 s pause in sending, chunks received at 3100..4000 -> 3000..4000 ms
    user turns    stream 200..800 ms (timeline 200..800), stream 1200..1800 (timeline 3200..3800)
    assistant 1   500 ms, first delta recorded at 1500 ms -> 1500..2000 ms
    assistant 2   1000 ms, first delta at 1700 ms: overlaps the first, so shifted to 2000 ms;
                  truncated at audio_end_ms=300 -> heard 2000..2300 ms

Each user chunk k holds the constant sample 100*(k+1); assistant deltas hold negative constants,
so the WAV contents show exactly which chunk landed where.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from recorder.audio import (
    PCM16_24K,
    AudioFormat,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
from recorder.cli import cli
from recorder.conversation import ConversationFold
from recorder.errors import OutputNotWritable, RtrecError
from recorder.export import check_output_dir, export_db
from recorder.store import open_log
from recorder.transcripts import INSTANT_CUE_MS
from recorder.wire import Direction, Frame, Opcode
from tests.test_output_dir import full_disk_stage

MS = 1_000_000  # ns


class SessionScript:
    """Frames of a GA session, written in the order they crossed the wire."""

    def __init__(self, audio_format: dict[str, Any] | str | None = None) -> None:
        self.frames: list[Frame] = []
        self.format = AudioFormat.from_wire(audio_format)
        self.wire_format = audio_format
        self._n = 0

    def send(self, t_ms: float, event: dict[str, Any], direction: Direction) -> None:
        self._n += 1
        if direction is Direction.SERVER:
            event = {"event_id": f"event_{self._n}", **event}
        data = json.dumps(event).encode()
        self.frames.append(Frame(direction, int(t_ms * MS), Opcode.TEXT, data))

    def server(self, t_ms: float, event: dict[str, Any]) -> None:
        self.send(t_ms, event, Direction.SERVER)

    def client(self, t_ms: float, event: dict[str, Any]) -> None:
        self.send(t_ms, event, Direction.CLIENT)

    def session_created(self) -> None:
        session: dict[str, Any] = {"type": "realtime", "id": "sess_1", "model": "gpt-realtime"}
        if self.wire_format is not None:
            fmt = self.wire_format
            session["audio"] = {"input": {"format": fmt}, "output": {"format": fmt}}
        self.server(0, {"type": "session.created", "session": session})

    def encode(self, value: int, ms: float) -> bytes:
        """ms of the constant sample value, in this session's wire format."""
        pcm = np.full(int(ms * self.format.sample_rate / 1000), value, dtype="<i2").tobytes()
        if self.format.name == "g711_ulaw":
            return ulaw_encode(pcm)
        if self.format.name == "g711_alaw":
            return alaw_encode(pcm)
        return pcm

    def append(self, t_ms: float, audio: bytes) -> None:
        self.client(
            t_ms,
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()},
        )

    def user_turn(self, item_id: str, previous: str | None, start: int, end: int, t_ms: float,
                  transcript: str) -> None:
        self.server(t_ms, {"type": "input_audio_buffer.speech_started", "audio_start_ms": start,
                           "item_id": item_id})
        self.server(t_ms + 1, {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": end,
                               "item_id": item_id})
        self.server(t_ms + 2, {"type": "input_audio_buffer.committed", "item_id": item_id,
                               "previous_item_id": previous})
        item = {"id": item_id, "type": "message", "role": "user", "status": "completed",
                "content": [{"type": "input_audio", "transcript": None}]}
        self.server(t_ms + 3, {"type": "conversation.item.added", "item": item,
                               "previous_item_id": previous})
        self.server(t_ms + 4, {
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": item_id, "content_index": 0, "transcript": transcript,
        })

    def assistant_turn(self, response_id: str, item_id: str, previous: str | None, t_ms: float,
                       deltas: list[bytes], transcript: str) -> None:
        """A response with one audio item; previous None: out of band (no conversation.item)."""
        self.server(t_ms - 5, {"type": "response.created", "response": {
            "id": response_id, "object": "realtime.response", "status": "in_progress",
            "output": []}})
        item = {"id": item_id, "type": "message", "role": "assistant", "status": "in_progress",
                "content": []}
        if previous is not None:
            self.server(t_ms - 4, {"type": "conversation.item.added", "item": item,
                                   "previous_item_id": previous})
        self.server(t_ms - 3, {"type": "response.output_item.added", "response_id": response_id,
                               "output_index": 0, "item": item})
        self.server(t_ms - 2, {"type": "response.content_part.added", "response_id": response_id,
                               "item_id": item_id, "output_index": 0, "content_index": 0,
                               "part": {"type": "audio", "transcript": ""}})
        for n, delta in enumerate(deltas):
            self.server(t_ms + n, {
                "type": "response.output_audio.delta", "response_id": response_id,
                "item_id": item_id, "output_index": 0, "content_index": 0,
                "delta": base64.b64encode(delta).decode(),
            })
        self.server(t_ms + 50, {
            "type": "response.output_audio_transcript.done", "response_id": response_id,
            "item_id": item_id, "output_index": 0, "content_index": 0, "transcript": transcript,
        })
        done = {**item, "status": "completed",
                "content": [{"type": "output_audio", "transcript": transcript}]}
        self.server(t_ms + 51, {"type": "response.output_item.done", "response_id": response_id,
                                "output_index": 0, "item": done})
        self.server(t_ms + 52, {"type": "response.done", "response": {
            "id": response_id, "object": "realtime.response", "status": "completed",
            "output": [done]}})


def known_session(audio_format: dict[str, Any] | str | None = None) -> SessionScript:
    s = SessionScript(audio_format)
    s.session_created()
    for k in range(10):  # 100 ms chunks captured in real time: sent at 100, 200, ... 1000 ms
        s.append(100 * (k + 1), s.encode(100 * (k + 1), 100))
    s.user_turn("item_u1", None, 200, 800, 1010, "Hello there")
    s.assistant_turn("resp_1", "item_a1", "item_u1", 1500,
                     [s.encode(-2000, 100) for _ in range(5)], "Hi, how can I help?")
    s.assistant_turn("resp_2", "item_a2", "item_a1", 1700,
                     [s.encode(-100 * (j + 1), 100) for j in range(10)],
                     "Let me tell you a long story about audio.")
    s.client(2400, {"type": "conversation.item.truncate", "item_id": "item_a2",
                    "content_index": 0, "audio_end_ms": 300})
    s.server(2401, {"type": "conversation.item.truncated", "item_id": "item_a2",
                    "content_index": 0, "audio_end_ms": 300})
    for k in range(10, 20):  # the client paused sending for 2 s
        s.append(3100 + 100 * (k - 10), s.encode(100 * (k + 1), 100))
    s.user_turn("item_u2", "item_a2", 1200, 1800, 4010, "Stop, please.")
    return s


async def store(tmp_path: Path, frames: list[Frame]) -> str:
    db = str(tmp_path / "rec.db")
    log = await open_log(db)
    try:
        sid = await log.begin_session("ga", "gpt-realtime", "wss://example.invalid/v1/realtime")
        for frame in frames:
            log.append(sid, frame)
        await log.end_session(sid, status="complete", closed_by="client")
    finally:
        await log.close()
    return db


def read_wav(path: Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        frames = wav.readframes(wav.getnframes())
        data = np.frombuffer(frames, dtype="<i2").reshape(-1, wav.getnchannels())
        return wav.getframerate(), data


def at(rate: int, ms: float) -> int:
    return round(ms * rate / 1000)


def runs(channel: np.ndarray, rate: int) -> list[tuple[float, float, int]]:
    """(start ms, end ms, value) of each stretch of constant sample value."""
    edges = np.flatnonzero(np.diff(channel)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [channel.size]))
    pairs = zip(starts, ends, strict=True)
    return [(s * 1000 / rate, e * 1000 / rate, int(channel[s])) for s, e in pairs]


@pytest.fixture
async def exported(tmp_path: Path) -> tuple[Path, Any]:
    db = await store(tmp_path, known_session({"type": "audio/pcm", "rate": 24000}).frames)
    out = tmp_path / "out"
    report = await export_db(db, out)
    return out, report


# --- files and durations ----------------------------------------------------------------------


async def test_writes_every_file(exported: tuple[Path, Any]) -> None:
    out, report = exported
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "assistant-heard.wav", "assistant.wav", "conversation.wav", "transcript.json",
        "transcript.md", "transcript.srt", "transcript.vtt", "user.wav",
    ]
    assert report.had_audio
    assert report.corrupt_frames == 0


async def test_durations_are_bytes_over_48_per_ms(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    rate, user = read_wav(out / "user.wav")
    assert rate == 24000
    assert user.shape == (20 * 4800 // 2, 1)  # 20 chunks of 4800 bytes: 4800 / 48 = 100 ms each
    assert len(user) * 2 / 48 == 2000
    _, assistant = read_wav(out / "assistant.wav")
    assert len(assistant) * 2 / 48 == 1500  # 500 + 1000 ms, as generated
    _, heard = read_wav(out / "assistant-heard.wav")
    assert len(heard) * 2 / 48 == 800  # 500 + 300 ms (cut at audio_end_ms)


async def test_user_wav_holds_the_stream_in_order(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    rate, user = read_wav(out / "user.wav")
    assert [value for _, _, value in runs(user[:, 0], rate)] == [100 * k for k in range(1, 21)]


async def test_truncation_cuts_the_heard_audio(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    rate, heard = read_wav(out / "assistant-heard.wav")
    assert runs(heard[:, 0], rate) == [
        (0, 500, -2000), (500, 600, -100), (600, 700, -200), (700, 800, -300),
    ]
    _, full = read_wav(out / "assistant.wav")
    assert [v for _, _, v in runs(full[:, 0], rate)] == [-2000] + [-100 * j for j in range(1, 11)]


async def test_conversation_wav_places_each_utterance(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    rate, stereo = read_wav(out / "conversation.wav")
    assert stereo.shape == (at(rate, 4000), 2)
    left = runs(stereo[:, 0], rate)
    assert left == (
        [(100 * k, 100 * (k + 1), 100 * (k + 1)) for k in range(10)]
        + [(1000, 3000, 0)]
        + [(3000 + 100 * (k - 10), 3100 + 100 * (k - 10), 100 * (k + 1)) for k in range(10, 20)]
    )
    right = runs(stereo[:, 1], rate)
    assert right == [
        (0, 1500, 0),
        (1500, 2000, -2000),  # first delta recorded at 1500 ms
        (2000, 2100, -100),  # recorded at 1700 ms, shifted after the first: each utterance whole
        (2100, 2200, -200),
        (2200, 2300, -300),  # cut at audio_end_ms = 300
        (2300, 4000, 0),
    ]


# --- transcripts ------------------------------------------------------------------------------


def json_items(out: Path) -> dict[str, dict[str, Any]]:
    document = json.loads((out / "transcript.json").read_text())
    return {item["id"]: item for item in document["items"]}


async def test_json_items_carry_their_timeline_span(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    document = json.loads((out / "transcript.json").read_text())
    assert [i["id"] for i in document["items"]] == ["item_u1", "item_a1", "item_a2", "item_u2"]
    spans = {i["id"]: (i["start_ms"], i["end_ms"]) for i in document["items"]}
    assert spans == {
        "item_u1": (200, 800),
        "item_a1": (1500, 2000),
        "item_a2": (2000, 2300),
        "item_u2": (3200, 3800),  # stream 1200..1800 ms, sent after a 2 s pause
    }
    items = {i["id"]: i for i in document["items"]}
    assert items["item_a2"]["truncated"] is True
    assert items["item_u1"]["text"] == "Hello there"
    assert document["session"]["input_format"] == "pcm16"


SRT_CUE = re.compile(
    r"(\d+)\n(\d\d):(\d\d):(\d\d),(\d\d\d) --> (\d\d):(\d\d):(\d\d),(\d\d\d)\n(.+?)(?:\n\n|\n?$)",
    re.S,
)
VTT_CUE = re.compile(
    r"(\S+)\n(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)\n(.+?)(?:\n\n|\n?$)",
    re.S,
)


def to_ms(h: str, m: str, s: str, ms: str) -> int:
    return ((int(h) * 60 + int(m)) * 60 + int(s)) * 1000 + int(ms)


def parse(text: str, pattern: re.Pattern[str]) -> list[tuple[str, int, int, str]]:
    cues = []
    for match in pattern.finditer(text):
        g = match.groups()
        cues.append((g[0], to_ms(*g[1:5]), to_ms(*g[5:9]), g[9].strip()))
    # every cue block was understood: nothing left over but whitespace
    assert pattern.sub("", text).strip() in ("", "WEBVTT")
    return cues


async def test_srt_parses_and_matches_the_json(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    items = json_items(out)
    cues = parse((out / "transcript.srt").read_text(), SRT_CUE)
    assert [c[0] for c in cues] == ["1", "2", "3", "4"]
    expected = [(items[i]["start_ms"], items[i]["end_ms"]) for i in
                ("item_u1", "item_a1", "item_a2", "item_u2")]
    assert [(c[1], c[2]) for c in cues] == expected
    assert cues[0][3] == "User: Hello there"
    # the reply was cut off: the cue spans what was heard and says so
    assert cues[2][3] == (
        "Assistant: Let me tell you a long story about audio. [interrupted: heard 0.3 s of 1.0 s]"
    )


async def test_vtt_parses_and_matches_the_json(exported: tuple[Path, Any]) -> None:
    out, _ = exported
    text = (out / "transcript.vtt").read_text()
    assert text.startswith("WEBVTT\n")
    items = json_items(out)
    cues = parse(text, VTT_CUE)
    assert [c[0] for c in cues] == ["item_u1", "item_a1", "item_a2", "item_u2"]
    for cue_id, start, end, body in cues:
        assert (start, end) == (items[cue_id]["start_ms"], items[cue_id]["end_ms"])
        assert body.startswith(("<v User>", "<v Assistant>"))


async def test_markdown_says_who_said_what_and_marks_the_interruption(
    exported: tuple[Path, Any],
) -> None:
    out, _ = exported
    md = (out / "transcript.md").read_text()
    assert "**User:** Hello there" in md
    assert "**Assistant:** Hi, how can I help?" in md
    assert "_interrupted: heard 0.3 s of 1.0 s_" in md
    assert md.index("Hello there") < md.index("Hi, how") < md.index("long story") < md.index(
        "Stop, please."
    )


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize("wire", ["g711_ulaw", {"type": "audio/pcma"}])
async def test_g711_is_decoded_at_8_khz(tmp_path: Path, wire: Any) -> None:
    script = known_session(wire)
    db = await store(tmp_path, script.frames)
    out = tmp_path / "out"
    report = await export_db(db, out)
    rate, user = read_wav(out / "user.wav")
    assert rate == 8000
    assert len(user) == 20 * 800  # 20 chunks of 800 G.711 bytes: 800 / 8 = 100 ms each
    assert len(user) / 8 == 2000
    values = [v for _, _, v in runs(user[:, 0], rate)]
    fmt = AudioFormat.from_wire(wire)
    expected = [int(np.frombuffer(fmt.to_pcm16(script.encode(100 * k, 1)), "<i2")[0])
                for k in range(1, 21)]
    assert values == expected  # each chunk decoded in place, in order
    rate, heard = read_wav(out / "assistant-heard.wav")
    assert (rate, len(heard) / 8) == (8000, 800)
    rate, stereo = read_wav(out / "conversation.wav")
    assert rate == 8000  # both sides 8 kHz: nothing resampled
    assert report.resampled is None
    assert next((s, e) for s, e, v in runs(stereo[:, 1], rate) if v != 0) == (1500, 2000)


async def test_mixed_rates_resample_the_8_khz_side(tmp_path: Path) -> None:
    script = known_session({"type": "audio/pcmu"})
    # the output side speaks pcm16 at 24 kHz: re-announce the formats before any audio
    session = {"type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}},
                                             "output": {"format": {"type": "audio/pcm",
                                                                   "rate": 24000}}}}
    script.frames.insert(1, Frame(Direction.SERVER, 1, Opcode.TEXT, json.dumps(
        {"type": "session.updated", "event_id": "e0", "session": session}).encode()))
    pcm = SessionScript({"type": "audio/pcm", "rate": 24000})
    # rebuild the assistant deltas at 24 kHz
    frames = []
    for frame in script.frames:
        event = json.loads(frame.data)
        if event["type"] == "response.output_audio.delta":
            first_sample = ulaw_decode(base64.b64decode(event["delta"])[:1])
            value = int(np.frombuffer(first_sample, dtype="<i2")[0])
            event["delta"] = base64.b64encode(pcm.encode(value, 100)).decode()
            frame = Frame(frame.direction, frame.t_ns, frame.opcode, json.dumps(event).encode())
        frames.append(frame)
    db = await store(tmp_path, frames)
    out = tmp_path / "out"
    report = await export_db(db, out)
    assert report.resampled == (
        "user audio 8000 Hz -> 24000 Hz by repeating samples in conversation.wav"
    )
    assert read_wav(out / "user.wav")[0] == 8000
    rate, stereo = read_wav(out / "conversation.wav")
    assert rate == 24000
    assert stereo.shape[0] == at(rate, 4000)
    left = [(s, e) for s, e, v in runs(stereo[:, 0], rate)]
    assert left[0] == (0, 100) and left[10] == (1000, 3000)
    right = [(s, e) for s, e, v in runs(stereo[:, 1], rate) if v != 0]
    assert right[0] == (1500, 2000)
    assert right[-1] == (2200, 2300)


# --- bad input --------------------------------------------------------------------------------


async def test_corrupt_base64_is_skipped_counted_and_the_rest_exported(tmp_path: Path) -> None:
    script = known_session({"type": "audio/pcm", "rate": 24000})
    frames = []
    deltas = 0
    for frame in script.frames:
        event = json.loads(frame.data)
        if event["type"] == "response.output_audio.delta":
            deltas += 1
        if (event["type"] == "input_audio_buffer.append" and len(frames) in (3, 5)) or (
            event["type"] == "response.output_audio.delta" and deltas == 2
        ):
            event["audio" if "audio" in event else "delta"] = "!!not base64!!"
            frame = Frame(frame.direction, frame.t_ns, frame.opcode, json.dumps(event).encode())
        frames.append(frame)
    db = await store(tmp_path, frames)
    out = tmp_path / "out"
    warnings: list[str] = []
    report = await export_db(db, out, warn=warnings.append)
    assert report.corrupt_frames == 3
    assert warnings[-1] == "skipped 3 frame(s) with corrupt base64 audio; the rest was exported"
    assert re.fullmatch(
        r"skipped frame seq \d+ \(input_audio_buffer\.append\) of session \S+: corrupt base64 "
        r"audio", warnings[0]
    )
    assert re.fullmatch(
        r"skipped frame seq \d+ \(response audio delta\) of session \S+: corrupt base64 audio",
        warnings[2],
    )
    _, user = read_wav(out / "user.wav")
    assert len(user) * 2 / 48 == 1800  # 18 of 20 chunks
    _, assistant = read_wav(out / "assistant.wav")
    assert len(assistant) * 2 / 48 == 1400  # 14 of 15 deltas
    _, heard = read_wav(out / "assistant-heard.wav")
    assert len(heard) * 2 / 48 == 700  # the first answer lost 100 ms; the cut one still 300


def _break_json(frame: Frame) -> Frame:
    """The frame with its closing brace removed: no longer JSON, but still starts like itself."""
    return Frame(frame.direction, frame.t_ns, frame.opcode, frame.data.rstrip()[:-1])


@pytest.mark.parametrize("audio_type", ["response.output_audio.delta", "input_audio_buffer.append"])
async def test_audio_events_with_broken_json_are_counted_and_warned_about(
    tmp_path: Path, audio_type: str
) -> None:
    frames = known_session({"type": "audio/pcm", "rate": 24000}).frames
    broken = next(i for i, f in enumerate(frames) if json.loads(f.data)["type"] == audio_type)
    frames[broken] = _break_json(frames[broken])
    db = await store(tmp_path, frames)
    warnings: list[str] = []
    report = await export_db(db, tmp_path / "out", warn=warnings.append)
    assert report.corrupt_frames == 1
    assert re.fullmatch(
        rf"skipped frame seq {broken + 1} \({re.escape(audio_type)}\) of session \S+: "
        r"not JSON: .+", warnings[0]
    )
    assert warnings[-1] == "skipped 1 frame(s) with corrupt audio; the rest was exported"
    assert report.warnings == warnings
    wav = "assistant.wav" if audio_type.startswith("response") else "user.wav"
    _, audio = read_wav(tmp_path / "out" / wav)
    assert len(audio) * 2 / 48 == (1400 if wav == "assistant.wav" else 1900)


async def test_session_without_audio_writes_transcripts_and_says_so(tmp_path: Path) -> None:
    s = SessionScript()
    s.session_created()
    item = {"id": "item_t1", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": "Just text."}]}
    s.client(100, {"type": "conversation.item.create", "item": item})
    s.server(110, {"type": "conversation.item.added", "item": item, "previous_item_id": None})
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    report = await export_db(db, out)
    assert not report.had_audio
    assert sorted(p.name for p in out.iterdir()) == [
        "transcript.json", "transcript.md", "transcript.srt", "transcript.vtt",
    ]
    assert report.warnings == [
        f"session {report.session_id} has no audio: wrote the transcripts only"
    ]
    assert "**User:** Just text." in (out / "transcript.md").read_text()
    # nothing was spoken, but the turn is there, as rtrec replay shows it
    assert parse((out / "transcript.srt").read_text(), SRT_CUE) == [
        ("1", 100, 1100, "User: Just text.")
    ]


def test_unwritable_output_directory_is_refused_before_any_work(tmp_path: Path) -> None:
    parent = tmp_path / "a-file"
    parent.write_text("x")
    out = parent / "out"  # cannot be created, whoever runs the test (root included)
    with pytest.raises(RtrecError) as caught:
        check_output_dir(out)
    assert str(caught.value) == (
        f"--out {out} cannot be made: {parent} is a file, not a folder; give the path of a "
        "folder (created if missing)"
    )


def test_output_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(RtrecError) as caught:
        check_output_dir(target)
    assert str(caught.value) == (
        f"--out {target} is a file, not a folder: give the path of a folder (created if missing)"
    )


def test_cli_refuses_a_bad_out_before_opening_the_database(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    missing_db = tmp_path / "never-created.db"
    result = CliRunner().invoke(cli, ["export", str(missing_db), "--out", str(target)])
    assert (result.exit_code, result.output) == (1, (
        f"Error: --out {target} is a file, not a folder: give the path of a folder "
        "(created if missing)\n"
    ))
    assert not missing_db.exists()  # nothing was opened or created


# --- per item and the CLI ---------------------------------------------------------------------


async def test_per_item_writes_one_wav_per_audio_part(tmp_path: Path) -> None:
    db = await store(tmp_path, known_session({"type": "audio/pcm", "rate": 24000}).frames)
    out = tmp_path / "out"
    await export_db(db, out, per_item=True)
    files = sorted(p.name for p in (out / "items").iterdir())
    assert files == [
        "001-user-item_u1-part0.wav", "002-assistant-item_a1-part0.wav",
        "003-assistant-item_a2-part0.wav", "004-user-item_u2-part0.wav",
    ]
    durations = {}
    for name in files:
        rate, data = read_wav(out / "items" / name)
        durations[name[:3]] = len(data) * 1000 / rate
    assert durations == {"001": 600, "002": 500, "003": 1000, "004": 600}
    _, u2 = read_wav(out / "items" / files[3])
    assert [v for _, _, v in runs(u2[:, 0], 24000)] == [1300, 1400, 1500, 1600, 1700, 1800]


async def test_an_export_into_a_used_folder_replaces_the_earlier_item_files(
    tmp_path: Path,
) -> None:
    first = await store(tmp_path, known_session().frames)
    renamed = [  # other item ids, and without the last user turn
        Frame(f.direction, f.t_ns, f.opcode,
              f.data.replace(b'"item_u', b'"other_u').replace(b'"item_a', b'"other_a'))
        for f in known_session().frames[:-5]
    ]
    (tmp_path / "second").mkdir()
    second = await store(tmp_path / "second", renamed)
    out = tmp_path / "out"
    await export_db(first, out, per_item=True)
    (out / "items" / "my-notes.txt").write_text("mine")
    (out / "items" / "take-2.wav").write_bytes(b"mine")
    await export_db(second, out, per_item=True)
    assert sorted(p.name for p in (out / "items").iterdir()) == [
        "001-user-other_u1-part0.wav", "002-assistant-other_a1-part0.wav",
        "003-assistant-other_a2-part0.wav", "my-notes.txt", "take-2.wav",
    ]
    await export_db(first, out)  # without --per-item: no item files of another export stay
    assert sorted(p.name for p in (out / "items").iterdir()) == ["my-notes.txt", "take-2.wav"]


def test_cli_exports_and_lists_what_it_wrote(tmp_path: Path) -> None:
    db = asyncio.run(store(tmp_path, known_session({"type": "audio/pcm", "rate": 24000}).frames))
    out = tmp_path / "cli-out"
    result = CliRunner().invoke(cli, ["export", db, "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(rf"Exported session \S+ to {re.escape(str(out))}", lines[0])
    assert lines[1:] == [
        "  user.wav  2.0 s", "  assistant.wav  1.5 s", "  assistant-heard.wav  0.8 s",
        "  conversation.wav  4.0 s", "  transcript.md", "  transcript.json",
        "  transcript.srt", "  transcript.vtt",
    ]
    assert (out / "conversation.wav").exists()


def test_cli_unknown_session_is_one_error_line(tmp_path: Path) -> None:
    db = asyncio.run(store(tmp_path, known_session().frames))
    result = CliRunner().invoke(cli, ["export", db, "--session", "nope", "--out",
                                      str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1


def test_cli_mistyped_database_path_is_one_error_line_and_creates_nothing(
    tmp_path: Path,
) -> None:
    db = tmp_path / "typo.db"
    result = CliRunner().invoke(cli, ["export", str(db), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {db} does not exist: check the path (recording or importing creates it)"]
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []  # --out is checked first, and not created


async def test_an_impossible_rate_is_a_warning_and_the_audio_exported_at_24_khz(
    tmp_path: Path,
) -> None:
    frames = known_session(None).frames  # pcm16 at 24 kHz, as the fallback reads it
    bad = {"type": "audio/pcm", "rate": -24000}
    session = {"type": "realtime", "id": "sess_1", "audio": {"input": {"format": bad},
                                                               "output": {"format": bad}}}
    frames[0] = Frame(Direction.SERVER, 0, Opcode.TEXT, json.dumps(
        {"type": "session.created", "event_id": "e0", "session": session}).encode())
    db = await store(tmp_path, frames)
    warnings: list[str] = []
    report = await export_db(db, tmp_path / "out", warn=warnings.append)
    assert len(warnings) == 2  # input and output format
    assert re.fullmatch(
        r"session \S+ seq 1: unsupported sample rate -24000 in audio format "
        r'\{"type":"audio/pcm","rate":-24000\}: expected a whole number of Hz from 8000 to '
        r"48000 \(the session's input format\); its audio is taken as pcm16 at 24 kHz",
        warnings[0],
    )
    assert all(line in report.warnings for line in warnings)
    assert report.sample_rate == 24000
    assert report.durations_ms["user.wav"] == 2000


async def test_a_failure_of_exports_own_pass_is_an_export_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any) -> None:
        raise ValueError("an rtrec bug")

    monkeypatch.setattr(ConversationFold, "_response_done", broken)
    db = await store(tmp_path, known_session().frames)
    with pytest.raises(RtrecError) as caught:
        await export_db(db, tmp_path / "out")
    message = str(caught.value)
    assert re.fullmatch(
        r"cannot export session (\S+): seq \d+ \(response\.done\) stopped the export with "
        r"ValueError: an rtrec bug; this is an rtrec bug, please report it with that frame "
        r"\(rtrec events DB --session \1 shows it\)", message
    )
    assert "receiver" not in message


async def test_a_session_that_names_no_format_is_pcm16_at_24_khz(tmp_path: Path) -> None:
    script = known_session(None)  # session.created without any audio settings
    assert script.format == PCM16_24K  # the frames carry 24 kHz pcm16, the API default
    db = await store(tmp_path, script.frames)
    out = tmp_path / "out"
    await export_db(db, out)
    document = json.loads((out / "transcript.json").read_text())
    assert document["session"]["input_format"] == "pcm16"
    assert document["session"]["input_sample_rate"] == 24000
    rate, user = read_wav(out / "user.wav")
    assert (rate, len(user) * 2 / 48) == (24000, 2000)


# --- realistic sessions (recorder.fake) -------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "protocol"),
    [("everything", "ga"), ("everything", "beta"), ("barge_in", "ga"), ("g711", "ga"),
     ("g711_alaw", "beta")],
)
async def test_realistic_sessions_export_consistently(
    tmp_path: Path, scenario: str, protocol: str
) -> None:
    from recorder.conversation import fold_log
    from recorder.fake.scenarios import build

    db = await store(tmp_path, build(scenario, protocol, seed=3))
    log = await open_log(db)
    try:
        conversation = (await fold_log(log, await log.get_session())).conversation
    finally:
        await log.close()
    out = tmp_path / "out"
    report = await export_db(db, out, per_item=True)
    assert report.corrupt_frames == 0

    input_format, output_format = conversation.input_format, conversation.output_format
    if scenario.startswith("g711"):
        assert (input_format.sample_rate, output_format.sample_rate) == (8000, 8000)
    parts = [p for i in conversation.items.values() if i.role != "user" for p in i.content]
    rate, user = read_wav(out / "user.wav")
    assert rate == input_format.sample_rate
    assert len(user) * input_format.sample_width == conversation.input_audio_bytes
    rate, assistant = read_wav(out / "assistant.wav")
    assert rate == output_format.sample_rate
    assert len(assistant) * output_format.sample_width == sum(p.audio_bytes for p in parts)
    _, heard = read_wav(out / "assistant-heard.wav")
    assert len(heard) * output_format.sample_width == sum(p.heard_bytes for p in parts)
    if scenario == "barge_in":
        assert sum(p.heard_bytes for p in parts) < sum(p.audio_bytes for p in parts)

    items = json_items(out)
    rate, stereo = read_wav(out / "conversation.wav")
    length_ms = len(stereo) * 1000 / rate
    assistant_spans = sorted(
        (i["start_ms"], i["end_ms"]) for i in items.values()
        if i["speaker"] == "assistant" and i["audio_ms"] > 0  # a text reply spans its deltas
    )
    assert assistant_spans
    for (_, end), (next_start, _) in itertools.pairwise(assistant_spans):
        assert end <= next_start  # each utterance whole, never over another
    outside = np.ones(len(stereo), dtype=bool)
    for start, end in assistant_spans:
        assert end <= length_ms + 1000 / rate  # within one sample of the file's end
        inside = stereo[at(rate, start) : at(rate, end), 1]
        assert np.mean(inside != 0) > 0.5  # speech (with its pauses) fills the span
        outside[at(rate, start) : at(rate, end)] = False
    assert not np.any(stereo[outside, 1])  # and the assistant is silent everywhere else
    srt_cues = parse((out / "transcript.srt").read_text(), SRT_CUE)
    vtt_cues = parse((out / "transcript.vtt").read_text(), VTT_CUE)
    assert [(c[1], c[2]) for c in srt_cues] == [(c[1], c[2]) for c in vtt_cues]
    assert sorted(c[0] for c in vtt_cues) == sorted(items)  # every turn, none left out
    for cue_id, start, end, _ in vtt_cues:
        item = items[cue_id]
        shown = item["end_ms"] if item["end_ms"] > item["start_ms"] else (
            item["start_ms"] + INSTANT_CUE_MS  # a turn without duration, e.g. a tool call
        )
        assert (start, end) == (round(item["start_ms"]), round(shown))
    assert len(list((out / "items").iterdir())) >= len(assistant_spans)


# --- transcripts of a realistic session, progress, a full disk --------------------------------


async def test_markdown_shows_tool_calls_results_failures_and_errors(tmp_path: Path) -> None:
    from recorder.fake.scenarios import build

    db = await store(tmp_path, build("everything", "ga", seed=1))
    out = tmp_path / "out"
    await export_db(db, out)
    md = (out / "transcript.md").read_text()
    call = re.search(r"\*\*Tool call\*\* `get_weather\(\{\"city\":\"Lisbon\"\}\)`", md)
    result = re.search(r"\*\*Tool result\*\* \(call \S+\): `\{\"temp_c\": 21", md)
    assert call and result and call.start() < result.start()
    assert "**User:** _(transcription failed: " in md
    assert "_interrupted: heard " in md
    assert re.search(r"## Errors\n\n- invalid_request_error: ", md)


async def test_progress_is_reported_up_to_the_frame_count(tmp_path: Path) -> None:
    from recorder.fake.scenarios import build

    frames = build("everything", "ga", seed=1) * 1  # a few thousand frames
    db = await store(tmp_path, frames)
    seen: list[tuple[int, int]] = []
    await export_db(db, tmp_path / "out", progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(frames), len(frames))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs the /dev/full device")
async def test_a_full_disk_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = await store(tmp_path, known_session().frames)
    out = tmp_path / "out"
    full_disk_stage(monkeypatch, "user.wav")
    with pytest.raises(OutputNotWritable) as caught:
        await export_db(db, out)
    assert isinstance(caught.value.__cause__, OSError)
    message = str(caught.value)
    assert message.startswith(f"cannot write {out / 'user.wav'}: No space left on device")
    assert message.endswith("; free some space or choose another --out")
    assert "\n" not in message


def test_cli_says_when_a_session_has_no_audio(tmp_path: Path) -> None:
    s = SessionScript()
    s.session_created()
    db = asyncio.run(store(tmp_path, s.frames))
    result = CliRunner().invoke(cli, ["export", db, "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("No audio in session ")
    assert result.output.splitlines()[-1].endswith(": wrote the transcripts only")


async def test_a_format_change_midway_decodes_each_chunk_in_its_own_format(
    tmp_path: Path,
) -> None:
    s = SessionScript({"type": "audio/pcm", "rate": 24000})
    s.session_created()
    s.append(100, s.encode(1000, 100))  # pcm16 at 24 kHz
    ulaw = {"type": "audio/pcmu"}
    s.server(150, {"type": "session.updated", "session": {
        "type": "realtime", "audio": {"input": {"format": ulaw}, "output": {"format": ulaw}}}})
    s.append(300, ulaw_encode(np.full(800, 2000, dtype="<i2").tobytes()))  # 100 ms at 8 kHz
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    await export_db(db, out)
    rate, user = read_wav(out / "user.wav")
    assert rate == 24000  # the rate user.wav started with
    expected_second = int(np.frombuffer(ulaw_decode(ulaw_encode(np.int16(2000).tobytes())),
                                        dtype="<i2")[0])
    assert runs(user[:, 0], rate) == [(0, 100, 1000), (100, 200, expected_second)]


async def test_out_of_band_audio_is_placed_and_in_the_transcripts(tmp_path: Path) -> None:
    s = known_session({"type": "audio/pcm", "rate": 24000})
    s.assistant_turn("resp_oob", "item_oob", None, 5000, [s.encode(-700, 100)] * 2,
                     "An aside outside the conversation.")
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    await export_db(db, out)
    items = {i["id"]: i for i in json.loads((out / "transcript.json").read_text())["items"]}
    assert items["item_oob"]["out_of_band"] is True
    assert not items["item_a1"]["out_of_band"]
    assert (items["item_oob"]["start_ms"], items["item_oob"]["end_ms"]) == (5000, 5200)
    rate, stereo = read_wav(out / "conversation.wav")
    assert runs(stereo[:, 1], rate)[-2:] == [(2300, 5000, 0), (5000, 5200, -700)]
    cues = parse((out / "transcript.srt").read_text(), SRT_CUE)
    assert cues[-1][1:] == (
        5000, 5200, "Assistant: An aside outside the conversation. [out of band]"
    )


async def test_audio_the_client_puts_in_an_item_is_placed_and_kept_out_of_user_wav(
    tmp_path: Path,
) -> None:
    s = known_session({"type": "audio/pcm", "rate": 24000})
    item = {"id": "item_c1", "type": "message", "role": "user",
            "content": [{"type": "input_audio",
                         "audio": base64.b64encode(s.encode(777, 200)).decode()}]}
    s.client(5000, {"type": "conversation.item.create", "item": item,
                    "previous_item_id": "item_u2"})
    echoed = {**item, "status": "completed",
              "content": [{"type": "input_audio", "transcript": None}]}
    s.server(5010, {"type": "conversation.item.added", "item": echoed,
                    "previous_item_id": "item_u2"})
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    report = await export_db(db, out, per_item=True)
    rate, user = read_wav(out / "user.wav")
    assert len(user) * 2 / 48 == 2000  # the input stream only
    _, stereo = read_wav(out / "conversation.wav")
    assert runs(stereo[:, 0], rate)[-2:] == [(4000, 5000, 0), (5000, 5200, 777)]
    items = {i["id"]: i for i in json.loads((out / "transcript.json").read_text())["items"]}
    assert (items["item_c1"]["start_ms"], items["item_c1"]["end_ms"]) == (5000, 5200)
    _, own = read_wav(out / "items" / "005-user-item_c1-part0.wav")
    assert runs(own[:, 0], rate) == [(0, 200, 777)]
    assert not list(out.glob(".*"))  # the side file is gone
    assert all(not p.name.startswith(".") for p in report.files)


async def test_audio_in_an_item_created_without_an_id_takes_the_servers_id(
    tmp_path: Path,
) -> None:
    """Clients often leave the id to the server: its echo names the item, and the audio the
    client sent goes where it would have gone with an id. A create the server refused (an
    error naming its event) is not matched to a later echo."""
    s = known_session({"type": "audio/pcm", "rate": 24000})
    refused = {"type": "message", "role": "user",
               "content": [{"type": "input_audio",
                            "audio": base64.b64encode(s.encode(555, 100)).decode()}]}
    s.client(4900, {"type": "conversation.item.create", "event_id": "evt_refused",
                    "item": refused})
    s.server(4905, {"type": "error", "event_id": "event_err",
                    "error": {"type": "invalid_request_error", "code": "bad", "message": "no",
                              "param": None, "event_id": "evt_refused"}})
    item = {"type": "message", "role": "user",
            "content": [{"type": "input_audio",
                         "audio": base64.b64encode(s.encode(777, 200)).decode()}]}
    s.client(5000, {"type": "conversation.item.create", "item": item})
    echoed = {"id": "item_srv1", "type": "message", "role": "user", "status": "completed",
              "content": [{"type": "input_audio", "transcript": None}]}
    s.server(5010, {"type": "conversation.item.added", "item": echoed,
                    "previous_item_id": "item_u2"})
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    await export_db(db, out, per_item=True)
    rate, stereo = read_wav(out / "conversation.wav")
    assert runs(stereo[:, 0], rate)[-2:] == [(4000, 5000, 0), (5000, 5200, 777)]
    items = {i["id"]: i for i in json.loads((out / "transcript.json").read_text())["items"]}
    assert (items["item_srv1"]["start_ms"], items["item_srv1"]["end_ms"]) == (5000, 5200)
    _, own = read_wav(out / "items" / "005-user-item_srv1-part0.wav")
    assert runs(own[:, 0], rate) == [(0, 200, 777)]


async def test_input_gathered_in_blocks_lands_as_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """user.wav and the user channel are the same whether the input stream is written chunk
    by chunk or gathered into blocks: a small block size makes many blocks, a chunk with a
    stray odd byte goes its own way, and a pause in sending still opens a gap."""
    import recorder.export

    monkeypatch.setattr(recorder.export, "PENDING_INPUT_BYTES", 10_000)  # ~2 chunks per block
    s = SessionScript({"type": "audio/pcm", "rate": 24000})
    s.session_created()
    # 100 ms chunks received at 100..600 ms, then after a 2 s pause; with ~2 chunks a block,
    # the odd chunk starts a block and the last two are still gathered when the stream ends
    for k in range(9):
        audio = s.encode(100 * (k + 1), 100) + (b"\x7f" if k == 3 else b"")
        s.append(100 * (k + 1) + (2000 if k >= 6 else 0), audio)
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    await export_db(db, out)

    rate, user = read_wav(out / "user.wav")
    assert runs(user[:, 0], rate) == [(100 * k, 100 * (k + 1), 100 * (k + 1)) for k in range(9)]
    rate, stereo = read_wav(out / "conversation.wav")
    left = runs(stereo[:, 0], rate)
    assert left[:6] == [(100 * k, 100 * (k + 1), 100 * (k + 1)) for k in range(6)]
    assert left[6] == (600, 2600, 0)  # the pause
    assert left[7:] == [(2000 + 100 * k, 2000 + 100 * (k + 1), 100 * (k + 1)) for k in range(6, 9)]


async def test_response_audio_gathered_in_blocks_lands_as_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """assistant.wav, the assistant channel, the heard copy and each part's file are the same
    whether the response audio is written delta by delta or gathered into blocks: a small
    block size makes many blocks, the two responses' parts keep their own stretches, a delta
    with a stray odd byte loses only that byte, and the truncation still cuts the heard copy."""
    import recorder.export

    monkeypatch.setattr(recorder.export, "PENDING_INPUT_BYTES", 10_000)  # ~2 deltas per block
    s = SessionScript({"type": "audio/pcm", "rate": 24000})
    s.session_created()
    s.append(100, s.encode(5, 100))
    s.assistant_turn("resp_1", "item_a1", None, 1000,
                     [s.encode(-(j + 1), 100) + (b"\x01" if j == 2 else b"") for j in range(5)],
                     "One.")
    s.assistant_turn("resp_2", "item_a2", None, 3000, [s.encode(j + 10, 100) for j in range(7)],
                     "Two.")
    s.server(3400, {"type": "conversation.item.truncated", "item_id": "item_a2",
                    "content_index": 0, "audio_end_ms": 350})
    db = await store(tmp_path, s.frames)
    out = tmp_path / "out"
    await export_db(db, out, per_item=True)

    rate, assistant = read_wav(out / "assistant.wav")
    first = [(100 * j, 100 * (j + 1), -(j + 1)) for j in range(5)]
    second = [(500 + 100 * j, 600 + 100 * j, j + 10) for j in range(7)]
    assert runs(assistant[:, 0], rate) == first + second
    _, heard = read_wav(out / "assistant-heard.wav")
    assert runs(heard[:, 0], rate) == first + [(500 + a, 500 + b, v) for a, b, v in
                                               [(0, 100, 10), (100, 200, 11), (200, 300, 12),
                                                (300, 350, 13)]]
    _, stereo = read_wav(out / "conversation.wav")
    right = runs(stereo[:, 1], rate)
    assert right[1:6] == [(1000 + a, 1000 + b, v) for a, b, v in first]
    assert right[7:11] == [(3000, 3100, 10), (3100, 3200, 11), (3200, 3300, 12), (3300, 3350, 13)]
    parts = sorted((out / "items").iterdir())
    assert [runs(read_wav(p)[1][:, 0], rate) for p in parts] == [
        first, [(a - 500, b - 500, v) for a, b, v in second]]
