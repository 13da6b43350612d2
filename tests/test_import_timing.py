"""Imports keep what the file knows: a dump's frame offsets and its session's start and end;
bare events, which carry no time, give a session whose start and end are unknown (NULL), shown
as such by sessions, replay and export instead of the moment of the import."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from recorder.cli import cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
BARE = '{"type":"session.update","session":{}}\n{"type":"session.updated","session":{}}\n'


def rtrec(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def sessions(db: str) -> list[dict[str, object]]:
    result = rtrec("sessions", db, "--json")
    assert result.exit_code == 0, result.output
    listed: list[dict[str, object]] = json.loads(result.stdout)
    return listed


def import_one(db: str, source: Path) -> str:
    result = rtrec("import", db, str(source))
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def t_ns_of(db: str, sid: str) -> list[int]:
    result = rtrec("dump", db, "--session", sid)
    return [json.loads(line)["t_ns"] for line in result.stdout.splitlines()]


def test_bare_events_give_a_session_whose_times_are_unknown(tmp_path: Path, db: str) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(BARE)
    sid = import_one(db, source)
    [info] = sessions(db)
    assert (info["id"], info["started_at"], info["ended_at"]) == (sid, None, None)
    table = rtrec("sessions", db).stdout.splitlines()
    assert table[1].split()[:3] == [sid, "unknown", "unknown"]
    assert t_ns_of(db, sid) == [0, 0]  # no time invented for the frames either


def test_replay_and_export_show_unknown_times_cleanly(tmp_path: Path) -> None:
    db = str(tmp_path / "log.db")
    sid = import_one(db, FIXTURES / "barge_in.jsonl")  # a dump without the session's times
    replayed = rtrec("replay", db)
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout.splitlines()[0] == (
        f"Session {sid} · protocol ga · model gpt-realtime-2025-08-28 · status complete · "
        "frames 283"
    )
    as_json = json.loads(rtrec("replay", db, "--json").stdout)
    assert (as_json["session"]["started_at"], as_json["session"]["ended_at"]) == (None, None)
    out = tmp_path / "out"
    assert rtrec("export", db, "--out", str(out)).exit_code == 0
    facts = json.loads((out / "transcript.json").read_text())["session"]
    assert (facts["started_at"], facts["ended_at"]) == (None, None)
    assert "started" not in (out / "transcript.md").read_text()


def test_a_dump_keeps_its_frame_offsets(tmp_path: Path, db: str) -> None:
    source = FIXTURES / "barge_in.jsonl"
    expected = [json.loads(line)["t_ns"] for line in source.read_text().splitlines()]
    sid = import_one(db, source)
    assert t_ns_of(db, sid) == expected
    assert expected[-1] > 5 * 10**9  # the frames span over 5 s, whatever the session's times


def test_dump_then_import_keeps_the_sessions_start_and_end(tmp_path: Path, db: str) -> None:
    recorded = tmp_path / "rec.db"
    shutil.copy(FIXTURES / "barge_in.db", recorded)
    [original] = sessions(str(recorded))
    dump = rtrec("dump", str(recorded)).stdout
    first = json.loads(dump.splitlines()[0])
    assert first["started_at"] < first["ended_at"]
    source = tmp_path / "session.jsonl"
    source.write_text(dump)
    sid = import_one(db, source)
    [imported] = sessions(db)
    assert (imported["started_at"], imported["ended_at"]) == (
        original["started_at"], original["ended_at"]
    )
    assert rtrec("dump", db, "--session", sid).stdout == dump  # the round trip is exact


def test_sessions_of_unknown_start_sort_by_when_they_were_imported(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    shutil.copy(FIXTURES / "barge_in.db", db)  # recorded before this test ran
    [recorded] = sessions(str(db))
    source = tmp_path / "events.jsonl"
    source.write_text(BARE)
    sid = import_one(str(db), source)
    assert [s["id"] for s in sessions(str(db))] == [recorded["id"], sid]
    newest = rtrec("events", str(db))  # no --session: the newest
    header, _columns, first, *_ = newest.stdout.splitlines()
    assert header.startswith(f"Session {sid} ")
    assert first.split()[3] == "session.update"


def _dump(**times: object) -> str:
    lines = [{"seq": 1, "t": 0.0, "t_ns": 0, "direction": "client",
              "frame": '{"type":"session.update"}', **times},
             {"seq": 2, "t": 1.0, "t_ns": 10**9, "direction": "server",
              "frame": '{"type":"session.updated"}'}]
    return "".join(json.dumps(line) + "\n" for line in lines)


@pytest.mark.parametrize(
    ("times", "message"),
    [
        ({"started_at": -1.0},
         "{path}:1 has started_at -1.0, out of range: it must be unix seconds (UTC) up to the "
         "year 9999; fix it"),
        ({"started_at": 1e300},
         "{path}:1 has started_at 1e+300, out of range: it must be unix seconds (UTC) up to the "
         "year 9999; fix it"),
        ({"started_at": 1763702385.0, "ended_at": 1763702000.0},
         "{path}:1 has ended_at 1763702000.0 before started_at 1763702385.0: fix it"),
        ({"started_at": "yesterday"},
         "{path}:1 is not a valid `rtrec dump` line (Expected `float | null`, got `str` - at "
         "`$.started_at`): fix it"),
    ],
    ids=["negative", "huge", "ends-first", "not-a-number"],
)
def test_bad_session_times_in_a_dump_are_one_line_and_store_nothing(
    tmp_path: Path, times: dict[str, object], message: str
) -> None:
    source = tmp_path / "session.jsonl"
    source.write_text(_dump(**times))
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(source))
    assert (result.exit_code, result.stderr) == (1, f"Error: {message.format(path=source)}\n")
    assert not db.exists()


def _migrate_to(connection: Any, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    from recorder.store.migrate import migrations_dir

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def test_a_log_of_the_first_schema_keeps_its_sessions_and_takes_unknown_starts(
    tmp_path: Path, db: str
) -> None:
    from recorder.store import open_log
    from recorder.store.db import Database
    from recorder.store.urls import parse_db
    from recorder.wire import Direction, Frame, Opcode

    database = Database(parse_db(db))
    await database.prepare()
    async with database.writing() as connection:  # a log made by rtrec before revision 0002
        await connection.run_sync(_migrate_to, "0001")
        await connection.exec_driver_sql(
            "INSERT INTO sessions (id, started_at, ended_at, last_seen, heartbeat, status) "
            "VALUES ('old', 1700000000.5, 1700000005.5, 1700000005.5, 1.0, 'complete')"
        )
    await database.dispose()
    async with await open_log(db) as log:  # migrates
        sid = await log.begin_session("ga", None, None, started_at=None)
        log.append(sid, Frame(Direction.CLIENT, 0, Opcode.TEXT, b'{"type":"session.update"}'))
        await log.end_session(sid, ended_at=None)
        old, new = await log.list_sessions()
    assert (old.id, old.started_at and old.started_at.timestamp()) == ("old", 1700000000.5)
    assert (new.id, new.started_at, new.ended_at, new.frames) == (sid, None, None, 1)
