"""A recording is a database's session or a file of events: replay reads both the same way."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import NoReturn

import pytest
from click.testing import CliRunner

import recorder.store.db
from recorder.cli import cli
from recorder.receiver import RealtimeEventReceiver
from recorder.testing import replay

FIXTURES = Path(__file__).parent.parent / "fixtures"
NAMES = sorted(json.loads((FIXTURES / "manifest.json").read_text()))


def _no_database(*_args: object, **_kwargs: object) -> NoReturn:
    raise AssertionError("a file of events was read through a database")


@pytest.fixture
def copies(tmp_path: Path) -> Path:
    """The fixtures' .db and .jsonl files, copied (nothing may be written beside them)."""
    for name in NAMES:
        for suffix in (".db", ".jsonl"):
            shutil.copy(FIXTURES / f"{name}{suffix}", tmp_path / f"{name}{suffix}")
    return tmp_path


@pytest.mark.parametrize("name", NAMES)
def test_replaying_a_file_prints_the_conversation_the_database_gives(
    copies: Path, name: str
) -> None:
    from_db = CliRunner().invoke(cli, ["replay", str(copies / f"{name}.db"), "--json"])
    from_file = CliRunner().invoke(cli, ["replay", str(copies / f"{name}.jsonl"), "--json"])
    assert (from_db.exit_code, from_file.exit_code) == (0, 0), from_file.output
    db_view, file_view = json.loads(from_db.output), json.loads(from_file.output)
    # the session's facts differ (a file has no id, recorder or close); its conversation not
    assert file_view["session"]["id"] == f"{name}.jsonl"
    assert file_view["session"]["frames"] == db_view["session"]["frames"]
    assert file_view["session"]["client_frames"] == db_view["session"]["client_frames"]
    for view in (db_view, file_view):
        del view["session"]
    assert file_view == db_view


def test_a_file_is_replayed_without_a_database(
    copies: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder.store.db.Database, "__init__", _no_database)
    monkeypatch.setattr(sqlite3, "connect", _no_database)
    before = sorted(copies.iterdir())
    result = CliRunner().invoke(cli, ["replay", str(copies / "barge_in.jsonl")])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Session barge_in.jsonl · protocol ga · ")
    assert '"Wait, stop."' in result.output
    assert sorted(copies.iterdir()) == before  # nothing made beside it


class _Counter(RealtimeEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.server_events = 0

    def on_realtime_event_received(self, event: object) -> None:
        self.server_events += 1
        super().on_realtime_event_received(event)


def test_a_receiver_replays_from_a_file_as_from_the_database(copies: Path) -> None:
    counted = []
    for suffix in (".db", ".jsonl"):
        receiver = _Counter()
        result = replay(copies / f"function_call{suffix}", receiver)
        counted.append((result.frames, result.last_seq, receiver.server_events))
    assert counted[0] == counted[1] and counted[0][2] > 0


def test_the_cli_receiver_replay_takes_a_file(copies: Path) -> None:
    result = CliRunner().invoke(cli, [
        "replay", str(copies / "barge_in.jsonl"),
        "--receiver", "recorder.receiver:RealtimeEventReceiver",
    ])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Replayed 283 frames of session barge_in.jsonl ")


def test_a_session_id_for_a_file_is_one_line(copies: Path) -> None:
    path = copies / "barge_in.jsonl"
    result = CliRunner().invoke(cli, ["replay", str(path), "--session", "01a1"])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {path} holds one session and no session id, so there is no session 01a1 "
        "to choose: leave the session out\n"
    )


def test_a_broken_file_is_imports_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"type": "session.created", "event_id": "e1"}\n{"type": \n')
    result = CliRunner().invoke(cli, ["replay", str(path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {path}")
    assert len(result.output.splitlines()) == 1


async def test_replay_db_takes_a_file_too(copies: Path) -> None:
    from recorder.replay import replay_db

    results = []
    for suffix in (".db", ".jsonl"):
        receiver = _Counter()
        result = await replay_db(copies / f"voice_turns{suffix}", receiver, until=40)
        results.append((result.frames, result.last_seq, receiver.server_events))
    assert results[0] == results[1] and results[0][1] == 40
