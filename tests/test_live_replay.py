"""rtrec replay of a Live session: the timeline as text, --json, --until, --speed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from live_sessions import weather

from recorder.cli import cli
from recorder.live.fold import fold_steps
from recorder.live.render import render_live_text
from recorder.stream import frame_steps
from recorder.wire import Frame


async def write_live_db(path: Path, frames: list[Frame]) -> str:
    from recorder.store import open_log

    log = await open_log(str(path))
    try:
        sid = await log.begin_session("live", "gpt-live-1", "/v1/live/sessions")
        for frame in frames:
            log.append(sid, frame)
        await log.end_session(sid, close_code=1000, close_reason="", closed_by="client")
    finally:
        await log.close()
    return sid


@pytest.fixture
async def live_db(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "live.db"
    return db, await write_live_db(db, weather().frames)


WEATHER_TEXT = """\
Live audio pcm16 24 kHz; 5.0 s of input audio sent, 5.0 s of output audio

[00:00.200] user: "What's the weather in Lisbon?"
[00:00.650] delegation item_4hTz81Lw to responses (resp_A1)
    calls get_weather({"city":"Lisbon"}) [call call_Wx12] -> {"temperature_c": 21}
    backend: resp_A1 completed, resp_B2 completed; 298 tokens
    backend answer: "21 degrees, sunny."
[00:00.800] assistant: "Sure, checking the forecast."
[00:01.500] instructions appended: Use Celsius.
[00:03.300] assistant: "It's 21 degrees and sunny in Lisbon."
[00:03.800] user: "Thanks, that's all"  (interrupts the assistant: inferred from overlapping \
speech)
[00:04.300] input muted until [00:04.600]
[00:04.700] error unknown_parameter: Unknown parameter: 'session.voice'.

Closed: close_requested; usage 5 s of audio
"""


def test_the_weather_call_reads_as_a_timeline() -> None:
    fold = fold_steps(frame_steps(weather().frames, protocol="live"))
    assert render_live_text(fold) == WEATHER_TEXT


def test_rtrec_replay_prints_a_live_session(live_db: tuple[Path, str]) -> None:
    db, sid = live_db
    result = CliRunner().invoke(cli, ["replay", str(db)], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    head, _, rest = result.output.partition("\n")
    assert head.startswith(f"Session {sid} · protocol live · model gpt-live-1 · ")
    assert rest == WEATHER_TEXT


def test_rtrec_replay_until_shows_the_session_at_that_seq(live_db: tuple[Path, str]) -> None:
    db, _ = live_db
    result = CliRunner().invoke(cli, ["replay", str(db), "--until", "40"], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1] == ("Stopped at seq 40 (--until 40) of 135 frames: the state at that point, "
                        "later frames not shown")
    assert lines[3:] == [
        "",
        "[00:00.200] user: \"What's the weather in Lisbon?\"",
        "[00:00.650] delegation item_4hTz81Lw to responses (resp_A1)",
        '    calls get_weather({"city":"Lisbon"}) [call call_Wx12] -> {"temperature_c": 21}',
        "    backend: resp_A1 in_progress; 0 tokens",
        '[00:00.800] assistant: "Sure, checking the forecast."',
        "",
        "Not closed at this point",
    ]


def test_rtrec_replay_json_gives_the_fold(live_db: tuple[Path, str]) -> None:
    db, sid = live_db
    result = CliRunner().invoke(cli, ["replay", str(db), "--json"], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["session"]["id"] == sid and payload["session"]["protocol"] == "live"
    assert payload["status"] == "closed (close_requested)"
    assert [(s["speaker"], s["start_ms"], s["close_reason"]) for s in payload["segments"]] == [
        ("user", 200, "speaker_change"), ("assistant", 800, "inactivity"),
        ("assistant", 3300, "speaker_change"), ("user", 3800, "session_closed")]
    assert payload["interruptions"] == [{"at_ms": 3800, "assistant_segment": 2,
                                         "user_segment": 3, "inferred": True}]
    (delegation,) = payload["delegations"]
    assert delegation["tool_calls"][0]["output"] == '{"temperature_c": 21}'
    assert payload["close"] == {"reason": "close_requested", "seq": 135, "usage_seconds": 5.0}
    assert payload["notes"] == []


def test_rtrec_replay_speed_paces_the_same_lines(live_db: tuple[Path, str]) -> None:
    db, _ = live_db
    result = CliRunner().invoke(cli, ["replay", str(db), "--speed", "1000"], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    assert result.output.partition("\n")[2] == WEATHER_TEXT


def test_a_broken_live_session_replays_with_its_notes(tmp_path: Path) -> None:
    from live_sessions import Session

    s = Session()
    s.transcript(100, "assistant", "Hello", 0, 200)
    s.server(150, {"type": "session.hologram.delta"})
    db = tmp_path / "broken.db"
    asyncio.run(write_live_db(db, s.frames))
    result = CliRunner().invoke(cli, ["replay", str(db)], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-4:] == [
        "Not closed: no session.closed",
        "note: no session.start: the client never started this session (a sideband, or a "
        "recording that began late)",
        "note: no session.closed: the session did not confirm its end (the recording stops "
        "without it)",
        "note: 1 frame(s) of unknown type session.hologram.delta kept as they are (seq 2)",
    ]


def test_a_refused_start_a_client_delegation_and_a_fixture_read_as_lines() -> None:
    from live_sessions import Session

    refused = Session()
    refused.client(0, {"type": "session.start", "session": {"model": "gpt-live-1"}})
    refused.server(30, {"type": "error", "error": {"type": "insufficient_quota",
                                                   "code": "credit_balance_exhausted",
                                                   "message": "Your credit balance is exhausted."}})
    assert render_live_text(fold_steps(frame_steps(refused.frames, protocol="live"))) == (
        "Live audio pcm16 24 kHz (not announced: Live's default); 0.0 s of input audio sent, "
        "0.0 s of output audio\n"
        "\n"
        "[00:00.000] error credit_balance_exhausted: Your credit balance is exhausted.\n"
        "\n"
        "Not started: session.start was refused\n"
        "note: session.start was refused (seq 2): Your credit balance is exhausted.\n"
        "note: no session.closed: the session did not confirm its end (the recording stops "
        "without it)\n"
    )

    from live_sessions import start

    s = start(Session(), {"type": "audio/pcmu", "rate": 8000})
    s.client(50, {"type": "session.input_audio.append", "audio": "AAAAAAAAAAA="})  # 8 bytes, 1 ms
    s.server(100, {"type": "session.delegation.created", "offset_ms": 90,
                   "delegation": {"id": "item_c1", "type": "delegation", "target": "client"}})
    s.client(200, {"type": "session.commentary.append", "event_id": "e2",
                   "content": "It is sunny.", "delegation_id": "item_c1"})
    s.server(260, {"type": "session.commentary.appended", "client_event_id": "e2",
                   "start_ms": 250, "end_ms": 250})
    s.client(300, {"type": "session.output_audio.fixture.play", "event_id": "e3",
                   "audio": "AAAAAA=="})
    s.server(310, {"type": "session.output_audio.fixture.playing", "client_event_id": "e3"})
    s.server(900, {"type": "session.output_audio.fixture.played", "client_event_id": "e3"})
    s.server(1000, {"type": "session.closed", "reason": "remote_hangup"})
    assert render_live_text(fold_steps(frame_steps(s.frames, protocol="live"))) == (
        "Live audio g711_ulaw 8 kHz; 0.0 s of input audio sent, 0.0 s of output audio\n"
        "\n"
        "[00:00.001] fixture playing until [00:00.001]\n"
        "[00:00.090] delegation item_c1 to client\n"
        "    client commentary: It is sunny.\n"
        "\n"
        "Closed: remote_hangup\n"
    )


def test_a_dump_of_a_live_session_replays_as_live_with_no_database(
    live_db: tuple[Path, str], tmp_path: Path
) -> None:
    db, _ = live_db
    dump = tmp_path / "live.jsonl"
    dumped = CliRunner().invoke(cli, ["dump", str(db)], prog_name="rtrec")
    assert dumped.exit_code == 0
    dump.write_text(dumped.output)
    result = CliRunner().invoke(cli, ["replay", str(dump)], prog_name="rtrec")
    assert result.exit_code == 0, result.output
    head, _, rest = result.output.partition("\n")
    assert head.startswith("Session live.jsonl · protocol live · ")
    assert rest == WEATHER_TEXT


def test_a_decision_reads_as_its_answers() -> None:
    from live_examples import SERVER
    from live_sessions import Session, start

    s = start(Session())
    s.client(50, {"type": "session.input_audio.append", "audio": "AAAA" * 400})  # 1,200 B: 25 ms
    s.server(60, SERVER["decision.event"])
    fold = fold_steps(frame_steps(s.frames, protocol="live"))
    assert fold.to_dict()["decisions"] == [{
        "seq": 4, "at_ms": 25.0, "answers": [{"name": "wants_human", "value": 0.08}],
        "model": "gpt-5.1-mini", "tokens": 415, "delegation_id": None,
        "trigger_id": "trig_01"}]
    assert ("[00:00.025] decision on trigger trig_01: wants_human = 0.08 (gpt-5.1-mini, "
            "415 tokens)") in render_live_text(fold).splitlines()
