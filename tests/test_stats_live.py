"""rtrec stats of Live sessions (issue 18 item 6): what of the turn figures applies to Live,
from the Live fold (recorder.stats.live), dispatched by protocol where the figures are computed;
a Live session is listed in the fleet summary beside Realtime ones and never crashes it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from live_sessions import CALL_ID, RESP_B, SESSION_ID, Session, start, weather
from test_live_replay import write_live_db

from recorder.cli import cli
from recorder.stats.fold import figures_of_steps
from recorder.stream import frame_steps

ROOT = Path(__file__).resolve().parent.parent


def rtrec(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def live_figures(session: Session):  # type: ignore[no-untyped-def]
    steps = frame_steps(session.frames, protocol="live")
    return figures_of_steps(steps, protocol="live", session_id="s1", status="complete")


def test_the_figures_of_a_live_session_are_what_applies_to_live() -> None:
    figures = live_figures(weather())
    assert (figures.protocol, figures.turns, figures.responses) == ("live", [], [])
    [call] = figures.tool_calls
    # on the proxy's clock: arguments.done arrived at 950 ms, the client's output left at 1320
    assert (call.call_id, call.name, call.arguments_done_ms, call.output_ms) == (
        CALL_ID, "get_weather", 950.0, 1320.0)
    assert call.tool_ms == pytest.approx(370.0)
    assert (call.next_response_id, call.output_to_next_audio_ms) == (RESP_B, None)
    [error] = figures.errors
    assert (error.at_ms, error.kind, error.code) == (4750.0, "error", "unknown_parameter")
    live = figures.live
    assert live is not None
    assert [(s.speaker, s.start_ms, s.end_ms) for s in live.segments] == [
        ("user", 200, 600), ("assistant", 800, 1200), ("assistant", 3300, 3900),
        ("user", 3800, 4100)]
    assert (live.user_segments, live.assistant_segments, live.delegations) == (2, 2, 1)
    assert live.backend_tokens is not None
    assert (live.backend_tokens.input_tokens, live.backend_tokens.output_tokens,
            live.backend_tokens.total_tokens) == (270, 28, 298)
    assert (live.close_reason, live.usage_seconds) == ("close_requested", 5.0)
    assert live.input_audio_ms == pytest.approx(5000.0)
    # the user's "Thanks" begins inside the assistant's segment: one inferred interruption,
    # and only the first user segment is answered after it ends (800 - 600 ms)
    assert (live.inferred_interruptions, live.inferred_voice_to_voice_ms) == (1, [200.0])
    whys = {u.what: u.why for u in figures.unavailable}
    assert whys[f"tool call {CALL_ID} output_to_next_audio_ms"] == (
        "Live's output audio never pauses: no first audio of the answer to time")
    assert "heard_share" in whys and "turns" in whys


def test_a_live_session_that_went_wrong_still_has_its_figures_and_notes() -> None:
    s = Session()  # no session.start, no session.closed: a sideband seen from its middle
    s.server(0, {"type": "session.started", "session": {"id": SESSION_ID}})
    s.transcript(300, "assistant", "Hello", 100, 300)
    s.raw(s.frames[0].direction, 400, b'{"type":"session.brand_new"}')
    figures = live_figures(s)
    assert figures.live is not None and figures.live.close_reason is None
    assert figures.live.notes == [
        "no session.start: the client never started this session (a sideband, or a recording "
        "that began late)",
        "no session.closed: the session did not confirm its end (the recording stops without "
        "it)",
        "1 frame(s) of unknown type session.brand_new kept as they are (seq 3)"]
    refused = start(Session())
    refused.frames = refused.frames[:1]
    refused.server(30, {"type": "error", "error": {"type": "invalid_request_error",
                                                   "code": None, "message": "bad model"}})
    figures = live_figures(refused)
    assert [(e.code, e.message) for e in figures.errors] == [(None, "bad model")]
    assert figures.live is not None and "session.start was refused (seq 2): bad model" in (
        figures.live.notes)


@pytest.fixture
def mixed_db(tmp_path: Path) -> tuple[Path, str]:
    """A log with a Realtime session (the function_call fixture's dump) and the Live weather
    call."""
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(ROOT / "fixtures" / "function_call.jsonl"))
    assert result.exit_code == 0, result.output
    sid = asyncio.run(write_live_db(db, weather().frames))
    return db, sid


def test_rtrec_stats_of_a_live_session_prints_what_applies(mixed_db: tuple[Path, str]) -> None:
    db, sid = mixed_db
    result = rtrec("stats", str(db), "--session", sid)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:4] == [
        f"session {sid}: Live, model gpt-live-1, closed close_requested",
        "segments: 2 user, 2 assistant; audio sent 5.0 s, received 5.0 s; billed 5 audio "
        "seconds",
        "delegations 1 (0 to the client), backend responses 2, tool calls 1; backend tokens in "
        "270, out 28",
        "errors 1; interruptions 1 (inferred: a user segment begins while an assistant "
        "segment is open)",
    ]
    assert ("voice-to-voice (inferred from the transcript segments' session times, not the "
            "wire): p50 200, p95 200, max 200 ms (n=1)") in lines
    as_json = json.loads(rtrec("stats", str(db), "--session", sid, "--json").output)
    assert as_json["summary"]["live"]["inferred_voice_to_voice_ms"]["p50"] == 200.0
    assert as_json["figures"]["live"]["close_reason"] == "close_requested"
    rows = list(csv.DictReader(io.StringIO(
        rtrec("stats", str(db), "--session", sid, "--csv").output)))
    assert [(r["speaker"], r["start_ms"], r["inferred_voice_to_voice_ms"]) for r in rows] == [
        ("user", "200", "200.0"), ("assistant", "800", ""), ("assistant", "3300", ""),
        ("user", "3800", "")]


def test_the_fleet_summary_lists_live_sessions_beside_realtime_ones(
    mixed_db: tuple[Path, str]
) -> None:
    db, _ = mixed_db
    result = rtrec("stats", str(db), "--by", "model", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["group"]: row for row in json.loads(result.output)}
    live = rows["gpt-live-1"]
    # a session with its error; no made-up turns, responses or voice-to-voice of Live's
    assert (live["sessions"], live["turns"], live["responses"], live["voice_to_voice_count"],
            live["sessions_with_errors"]) == (1, 0, 0, 0, 1)
    [realtime] = [row for group, row in rows.items() if group != "gpt-live-1"]
    assert realtime["sessions"] == 1 and realtime["turns"] > 0
    text = rtrec("stats", str(db))
    assert text.exit_code == 0 and "│ all" in text.output
