"""rtrec stats: one session's turns, every session summarised, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import shlex
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recorder.cli import cli
from recorder.cli.stats import TURN_COLUMNS
from recorder.stats.summary import FLEET_KEYS

STARTS = (datetime(2026, 11, 20, 23, 59, 55, tzinfo=UTC).timestamp(),
          datetime(2026, 11, 21, 8, tzinfo=UTC).timestamp())
ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"


def rtrec(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="rtrec")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A database of three fixture sessions (two GA, one beta), imported from their dumps."""
    db = tmp_path / "fleet.db"
    done = rtrec("import", str(db), *(str(FIXTURES / f"{name}.jsonl") for name in
                                      ("barge_in", "function_call", "voice_turns_beta")))
    assert done.exit_code == 0, done.output
    with sqlite3.connect(db) as connection:  # bare dumps say no start: give two of them one
        ids = [row[0] for row in connection.execute("SELECT pk FROM sessions ORDER BY pk")]
        for pk, start in zip(ids, STARTS, strict=False):
            connection.execute("UPDATE sessions SET started_at = ?, ended_at = ? WHERE pk = ?",
                               (start, start + 10, pk))
    return db


def session_id(db: Path, index: int = 0) -> str:
    listed = json.loads(rtrec("sessions", str(db), "--json").output)
    return str(listed[index]["id"])


def test_one_session_as_json(store: Path) -> None:
    sid = session_id(store)
    done = rtrec("stats", str(store), "--session", sid, "--json")
    assert done.exit_code == 0, done.output
    payload = json.loads(done.output)
    assert payload["figures"]["session_id"] == sid
    assert payload["summary"]["turns"] == len(payload["figures"]["turns"]) == 2
    assert payload["summary"]["interruptions"] == 1
    assert payload["summary"]["latency"]["voice_to_voice_ms"]["count"] == 2


def test_one_session_as_csv_is_its_turns(store: Path) -> None:
    done = rtrec("stats", str(store), "--session", session_id(store), "--csv")
    assert done.exit_code == 0, done.output
    rows = list(csv.DictReader(io.StringIO(done.output)))
    assert tuple(rows[0]) == TURN_COLUMNS
    assert [row["turn"] for row in rows] == ["1", "2"]
    assert rows[0]["interrupted_by"] == "turn_detected"
    assert float(rows[0]["voice_to_voice_ms"]) > 0


def test_one_session_as_a_table_with_what_is_not_available(store: Path) -> None:
    done = rtrec("stats", str(store), "--session", session_id(store, 1))  # function_call
    assert done.exit_code == 0, done.output
    assert "voice-to-voice ms" in done.output
    assert "tool_ms: p50 " in done.output
    assert "tool calls" in done.output and "get_weather" in done.output
    assert "not available: turn 1 voice_to_voice_ms: its response " in done.output


def test_every_session_summarised_and_grouped(store: Path) -> None:
    done = rtrec("stats", str(store), "--json")
    assert done.exit_code == 0, done.output
    (row,) = json.loads(done.output)
    assert (row["sessions"], row["turns"], row["interruptions"]) == (3, 5, 1)
    by_model = json.loads(rtrec("stats", str(store), "--by", "model", "--json").output)
    assert [(r["group"], r["sessions"]) for r in by_model] == [
        ("gpt-4o-realtime-preview-2025-06-03", 1), ("gpt-realtime-2025-08-28", 2)]
    as_csv = rtrec("stats", str(store), "--by", "status", "--csv").output
    rows = list(csv.DictReader(io.StringIO(as_csv)))
    assert tuple(rows[0]) == FLEET_KEYS and rows[0]["sessions"] == "3"
    table = rtrec("stats", str(store), "--by", "day").output
    assert "v2v p50 ms" in table


def test_dates_filter_by_the_utc_day_sessions_started(store: Path) -> None:
    by_day = json.loads(rtrec("stats", str(store), "--by", "day", "--json").output)
    assert [(r["group"], r["sessions"]) for r in by_day] == [
        ("2026-11-20", 1), ("2026-11-21", 1), (None, 1)]
    kept = json.loads(rtrec("stats", str(store), "--from", "2026-11-21", "--to", "2026-11-21",
                            "--by", "day", "--json").output)
    assert [r["group"] for r in kept] == ["2026-11-21"]  # an unknown start is left out
    kept = json.loads(rtrec("stats", str(store), "--to", "2026-11-20", "--json").output)
    assert kept[0]["sessions"] == 1
    done = rtrec("stats", str(store), "--from", "2099-01-01")
    assert done.exit_code == 1
    assert done.output == (f"Error: no session of {store} started on or after 2099-01-01 (UTC): "
                           "widen --from/--to, or run `rtrec sessions` to see when they did\n")


@pytest.mark.parametrize(("args", "code", "line"), [
    (["--json", "--csv"], 2, "Error: --json and --csv cannot be combined: choose one; "
     "see 'rtrec stats --help'"),
    (["--session", "x", "--by", "model"], 2, "Error: --by summarise every session and cannot "
     "go with --session: leave one out; see 'rtrec stats --help'"),
    (["--session", "x", "--from", "2026-01-01", "--to", "2026-01-02"], 2, "Error: --from and "
     "--to summarise every session and cannot go with --session: leave one out; see 'rtrec "
     "stats --help'"),
    (["--from", "2026-02-02", "--to", "2026-02-01"], 2, "Error: --from 2026-02-02 is after --to "
     "2026-02-01: swap them; see 'rtrec stats --help'"),
    (["--from", "yesterday"], 2, "Error: Invalid value for '--from': 'yesterday' does not match "
     "the format '%Y-%m-%d'; see 'rtrec stats --help'"),
    (["--by", "week"], 2, "Error: Invalid value for '--by': 'week' is not one of 'model', "
     "'day', 'status'; see 'rtrec stats --help'"),
])
def test_bad_flags_are_one_line(store: Path, args: list[str], code: int, line: str) -> None:
    done = rtrec("stats", str(store), *args)
    assert (done.exit_code, done.output) == (code, line + "\n")


def test_a_missing_session_or_database_is_one_line(store: Path, tmp_path: Path) -> None:
    done = rtrec("stats", str(store), "--session", "nope")
    assert (done.exit_code, done.output) == (1, f"Error: no session nope in {store}: run "
                                                f"`rtrec sessions {store}` to list them\n")
    missing = tmp_path / "missing.db"
    done = rtrec("stats", str(missing))
    assert done.exit_code == 1 and done.output.startswith(f"Error: {missing} does not exist")
    assert not missing.exists()
    empty = tmp_path / "empty.db"
    assert rtrec("db", "upgrade", str(empty)).exit_code == 0  # a log with no sessions
    done = rtrec("stats", str(empty))
    assert (done.exit_code, done.output) == (
        1, f"Error: no sessions in {empty} yet: record or import one first\n")


def test_a_sessions_errors_are_listed() -> None:
    done = rtrec("stats", str(FIXTURES / "transcription_failed.db"), "--session",
                 session_id(FIXTURES / "transcription_failed.db"))
    assert done.exit_code == 0, done.output
    assert "\ntranscription_failed at " in done.output
    assert done.output.rstrip().endswith(
        "ms: audio_unintelligible: Audio could not be transcribed.")


def test_a_file_of_events_is_one_session(tmp_path: Path) -> None:
    done = rtrec("stats", str(FIXTURES / "barge_in.jsonl"), "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)[0]["sessions"] == 1
    path = FIXTURES / "barge_in.jsonl"
    done = rtrec("stats", str(path), "--session", "x")
    assert (done.exit_code, done.output) == (1, f"Error: {path} holds one session and no "
                                                "session id, so there is no session x to choose: "
                                                "leave the session out\n")


def test_the_readme_command_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    line = next(line.strip() for line in (ROOT / "README.md").read_text().splitlines()
                if line.startswith("    rtrec stats fixtures/"))
    argv = shlex.split(line.split("  ")[0])
    (tmp_path / "fixtures").mkdir()
    shutil.copy(FIXTURES / "barge_in.db", tmp_path / "fixtures" / "barge_in.db")
    monkeypatch.chdir(tmp_path)
    done = rtrec(*argv[1:])
    assert done.exit_code == 0, done.output
    assert "v2v p50 ms" in done.output and "│ all" in done.output


def test_both_engines_give_the_figures_of_the_recording(db: str) -> None:
    """SQLite and PostgreSQL: the stored session's figures are its dump's."""
    done = rtrec("import", db, str(FIXTURES / "barge_in.jsonl"),
                 str(FIXTURES / "voice_turns_beta.jsonl"))
    assert done.exit_code == 0, done.output
    (row,) = json.loads(rtrec("stats", db, "--json").output)
    assert (row["sessions"], row["turns"], row["interruptions"]) == (2, 4, 1)
    listed = json.loads(rtrec("sessions", db, "--json").output)
    sid = next(s["id"] for s in listed if s["frames"] == 283)
    stored = json.loads(rtrec("stats", db, "--session", sid, "--json").output)["figures"]
    dumped = json.loads(rtrec("stats", str(FIXTURES / "barge_in.db"), "--session",
                              session_id(FIXTURES / "barge_in.db"), "--json").output)["figures"]
    for key in ("session_id", "status", "started_at"):
        stored.pop(key), dumped.pop(key)
    assert stored == dumped
