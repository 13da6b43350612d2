"""rtrec export of a Live session: the two continuous tracks on one timeline, the stereo file,
transcripts from the fold's segments, and the bad-input cases (each exported as far as it goes)."""

from __future__ import annotations

import json
import wave
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from live_examples import b64, tone
from live_sessions import AUDIO_100MS, SESSION_ID, Session, start, weather
from test_live_replay import write_live_db

from recorder.audio import ulaw_encode
from recorder.cli import cli
from recorder.export import export_db

AUDIO_FILES = ["user.wav", "assistant.wav", "conversation.wav"]
TRANSCRIPTS = ["transcript.md", "transcript.json", "transcript.srt", "transcript.vtt"]


def read_wav(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path)) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return rate, channels, data.reshape(-1, channels)


def export(tmp_path: Path, session: Session) -> tuple[Path, object]:
    db = tmp_path / "live.db"
    sid = asyncio_run(write_live_db(db, session.frames))
    out = tmp_path / "out"
    warnings: list[str] = []
    report = asyncio_run(export_db(str(db), out, session=sid, warn=warnings.append))
    assert report.warnings[: len(warnings)] == warnings
    return out, report


def asyncio_run(coro):  # type: ignore[no-untyped-def]
    import asyncio

    return asyncio.run(coro)


def test_the_weather_call_exports_both_tracks_on_one_timeline(tmp_path: Path) -> None:
    out, report = export(tmp_path, weather())
    assert sorted(p.name for p in report.files) == sorted(AUDIO_FILES + TRANSCRIPTS)
    assert not (out / "assistant-heard.wav").exists()
    rate, channels, user = read_wav(out / "user.wav")
    # 50 chunks of 100 ms from 100 ms on (arrival; the first frame is at 0 ms)
    assert (rate, channels, len(user)) == (24000, 1, 2400 + 50 * 2400)
    assert not user[:2400].any() and user[2400:].any()
    _, _, assistant = read_wav(out / "assistant.wav")
    assert len(assistant) == 3600 + 50 * 2400  # from 150 ms on
    assert not assistant[:3600].any()
    rate, channels, stereo = read_wav(out / "conversation.wav")
    assert (rate, channels, len(stereo)) == (24000, 2, len(assistant))
    chunk = np.frombuffer(AUDIO_100MS_BYTES, dtype="<i2")
    assert (stereo[2400:4800, 0] == chunk).all()  # user left, at 100 ms
    assert (stereo[3600:6000, 1] == chunk).all()  # assistant right, at 150 ms
    assert not stereo[:3600, 1].any() and not stereo[:2400, 0].any()
    assert report.durations_ms["conversation.wav"] == 5150.0
    assert report.sample_rate == 24000 and report.resampled is None


AUDIO_100MS_BYTES = tone(100)


def test_the_weather_transcripts_are_the_folds_segments(tmp_path: Path) -> None:
    out, _ = export(tmp_path, weather())
    data = json.loads((out / "transcript.json").read_text())
    said = [(t["speaker"], t["start_ms"], t["end_ms"], t["text"]) for t in data["items"]]
    assert said == [
        ("user", 200.0, 600.0, "What's the weather in Lisbon?"),
        ("assistant", 800.0, 1200.0, "Sure, checking the forecast."),
        ("assistant", 3300.0, 3900.0, "It's 21 degrees and sunny in Lisbon."),
        ("user", 3800.0, 4100.0, "Thanks, that's all"),
    ]
    assert data["session"]["server_session_id"] == SESSION_ID
    assert data["session"]["protocol"] == "live"
    srt = (out / "transcript.srt").read_text()
    assert "00:00:00,200 --> 00:00:00,600" in srt and "What's the weather in Lisbon?" in srt
    vtt = (out / "transcript.vtt").read_text()
    assert vtt.startswith("WEBVTT") and "00:00:03.300 --> 00:00:03.900" in vtt
    md = (out / "transcript.md").read_text()
    assert "Sure, checking the forecast." in md
    assert "unknown_parameter: Unknown parameter: 'session.voice'." in md


@pytest.mark.parametrize(
    ("fmt", "rate", "encode"),
    [({"type": "audio/pcm", "rate": 16000}, 16000, None),
     ({"type": "audio/pcmu"}, 8000, ulaw_encode)],
)
def test_pcm_16k_and_g711_8k_sessions_keep_their_rate(tmp_path: Path, fmt: dict, rate: int,
                                                       encode: object) -> None:
    s = start(Session(), fmt)
    pcm = tone(100, rate)
    audio = b64(encode(pcm) if callable(encode) else pcm)
    for n in range(10):
        s.client(100 + n * 100, {"type": "session.input_audio.append", "audio": audio})
        s.server(100 + n * 100, {"type": "session.output_audio.delta", "delta": audio})
    s.server(1200, {"type": "session.closed", "reason": "close_requested",
                    "session": {"id": SESSION_ID}})
    out, report = export(tmp_path, s)
    per_chunk = rate // 10
    for name in ("user.wav", "assistant.wav"):
        got_rate, _, data = read_wav(out / name)
        assert (got_rate, len(data)) == (rate, per_chunk + 10 * per_chunk)
    got_rate, channels, stereo = read_wav(out / "conversation.wav")
    assert (got_rate, channels, len(stereo)) == (rate, 2, 11 * per_chunk)
    assert (stereo[:, 0] == stereo[:, 1]).all()  # same audio at the same times
    assert report.warnings == []


def test_a_session_without_session_closed_is_exported_with_a_note(tmp_path: Path) -> None:
    s = weather()
    s.frames = [f for f in s.frames if b'"session.closed"' not in f.data]
    out, report = export(tmp_path, s)
    assert (out / "conversation.wav").exists()
    assert report.warnings == [
        f"session {report.session_id}: no session.closed: the session did not confirm its end "
        "(the recording stops without it)"]


def test_audio_not_in_the_announced_format_is_skipped_with_a_note(tmp_path: Path) -> None:
    s = start(Session())
    s.client(100, {"type": "session.input_audio.append", "audio": b64(b"\x01\x02\x03")})
    s.client(200, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
    s.server(300, {"type": "session.closed", "reason": "close_requested",
                   "session": {"id": SESSION_ID}})
    out, report = export(tmp_path, s)
    _, _, user = read_wav(out / "user.wav")
    assert len(user) == 4800 + 2400  # the odd chunk left out, the next at its time
    assert report.warnings == [
        f"session {report.session_id}: 1 audio frame(s) not in the announced format "
        "(pcm16 24000 Hz) (seq 3)"]


def test_a_session_without_audio_writes_the_transcripts_only(tmp_path: Path) -> None:
    s = start(Session())
    s.transcript(300, "user", "Hello?", 100, 300)
    out, report = export(tmp_path, s)
    assert sorted(p.name for p in report.files) == sorted(TRANSCRIPTS)
    assert not report.had_audio
    assert "Hello?" in (out / "transcript.md").read_text()


def test_rtrec_export_of_a_live_session_says_what_it_wrote_and_why_no_heard_file(
    tmp_path: Path
) -> None:
    db = tmp_path / "live.db"
    sid = asyncio_run(write_live_db(db, weather().frames))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(db), "--out", str(out)], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Exported session {sid} to {out}"
    assert "  conversation.wav  5.2 s" in lines
    assert lines[-1] == (
        "Note: assistant-heard.wav not written: a Live session says nothing about what the "
        "listener heard (no truncation events), so assistant.wav is all there is")


def test_a_failed_live_export_leaves_nothing_behind(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from recorder.live import export as live_export

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device", "transcript.md")

    monkeypatch.setattr(live_export, "write_transcripts", full)
    db = tmp_path / "live.db"
    sid = asyncio_run(write_live_db(db, weather().frames))
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(cli, ["export", str(db), "--out", str(out), "--session", sid],
                                prog_name="rtrec")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: cannot write transcript.md: No space left on device; free some space or choose "
        "another --out")
    assert list(out.iterdir()) == []


def sideband_session() -> Session:
    """A sideband's burst of output placed by start_ms, 400-600 ms dropped."""
    s = Session()
    s.server(0, {"type": "session.started", "session": {"id": SESSION_ID, "model": "gpt-live-1"}})
    frame = b64(tone(200))
    for at, start_ms in ((50, 0), (60, 200), (70, 600)):  # a burst; 400-600 ms was dropped
        s.server(at, {"type": "session.output_audio.delta", "delta": frame,
                      "start_ms": start_ms, "end_ms": start_ms + 200})
        s.server(at, {"type": "session.input_audio.append", "audio": frame})
    return s


def test_a_sideband_places_the_output_by_start_ms_with_its_gaps(tmp_path: Path) -> None:
    out, _ = export(tmp_path, sideband_session())
    _, _, assistant = read_wav(out / "assistant.wav")
    assert len(assistant) == 800 * 24
    assert assistant[: 400 * 24].any() and not assistant[400 * 24 : 600 * 24].any()
    assert assistant[600 * 24 :].any()
    _, _, user = read_wav(out / "user.wav")  # reflections: no times, placed by arrival
    assert len(user) == 50 * 24 + 3 * 200 * 24


def test_a_long_pause_in_the_input_stream_is_silence_of_its_length(tmp_path: Path) -> None:
    s = start(Session())
    s.client(100, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
    s.client(60_200, {"type": "session.input_audio.append", "audio": AUDIO_100MS})  # a minute on
    out, _ = export(tmp_path, s)
    _, _, user = read_wav(out / "user.wav")
    assert len(user) == 60_300 * 24
    assert not user[200 * 24 : 60_200 * 24].any() and user[60_200 * 24 :].any()
