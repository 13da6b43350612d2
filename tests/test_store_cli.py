"""The store commands through click: exit codes and exact output."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from recorder.cli import cli
from recorder.store import StoredFrame, open_log
from recorder.store.migrate import head_revision
from recorder.wire import Direction, Frame, Opcode
from tests.test_store import ODD_FRAMES


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _record(db: Path | str, frames: list[Frame], **meta: str) -> str:
    async def work() -> str:
        async with await open_log(str(db)) as log:
            sid = await log.begin_session(meta.get("protocol", "ga"), meta.get("model"), None)
            for frame in frames:
                log.append(sid, frame)
            await log.end_session(sid, close_code=1000, closed_by="client")
            return sid

    return asyncio.run(work())


def _stored(db: Path | str, sid: str) -> list[StoredFrame]:
    async def work() -> list[StoredFrame]:
        async with await open_log(str(db)) as log:
            return [f async for batch in log.read(sid) for f in batch]

    return asyncio.run(work())


def assert_nothing_stored(db: Path | str) -> None:
    """A failed import left no trace: no new SQLite file, no session in a server database."""
    if "://" in str(db):
        assert invoke("sessions", str(db), "--json").stdout == "[]\n"
    else:
        assert list(Path(db).parent.glob(Path(db).name + "*")) == []


def _server(t_ns: int, text: str) -> Frame:
    return Frame(Direction.SERVER, t_ns, Opcode.TEXT, text.encode())


SMALL = [
    Frame(Direction.CLIENT, 1_000_000, Opcode.TEXT, b'{"type":"session.update","session":{}}'),
    _server(2_500_000, '{"type":"session.updated","event_id":"ev_1","session":{}}'),
    _server(1_250_000_000, '{"type":"response.done","event_id":"ev_2","response":{"id":"r1"}}'),
]


def test_reading_commands_refuse_a_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    for command in ("sessions", "events", "dump"):
        result = CliRunner().invoke(cli, [command, str(missing)])
        assert (result.exit_code, result.stderr) == (1, (
            f"Error: {missing} does not exist: check the path (recording or importing "
            "creates it)\n"
        ))
    assert not missing.exists()


def test_sessions_on_an_empty_log_lists_nothing(tmp_path: Path) -> None:
    assert invoke("db", "upgrade", str(tmp_path / "log.db")).exit_code == 0
    result = invoke("sessions", str(tmp_path / "log.db"))
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "no sessions\n")
    result = invoke("sessions", str(tmp_path / "log.db"), "--json")
    assert (result.exit_code, result.stdout) == (0, "[]\n")


def test_sessions_prints_one_row_per_session(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    sid = _record(db, SMALL, model="gpt-realtime")
    result = invoke("sessions", str(db))
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split() == ["id", "started", "(UTC)", "ended", "(UTC)", "protocol", "model",
                              "frames", "status", "not", "recorded"]
    cells = row.split()
    assert cells[0] == sid
    assert cells[5:] == ["ga", "gpt-realtime", "3", "complete"]
    listed = json.loads(invoke("sessions", str(db), "--json").stdout)
    assert [(s["id"], s["protocol"], s["model"], s["frames"], s["status"]) for s in listed] == [
        (sid, "ga", "gpt-realtime", 3, "complete")
    ]
    assert {"started_at", "ended_at"} <= listed[0].keys()


def _started(db: Path, sid: str) -> str:
    async def work() -> str:
        async with await open_log(str(db)) as log:
            return (await log.get_session(sid)).started_at.strftime("%Y-%m-%d %H:%M:%S")

    return asyncio.run(work())


def test_events_lists_the_newest_session_and_filters_by_type(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    _record(db, [_server(0, '{"type":"session.created"}')])
    sid = _record(db, SMALL)
    result = invoke("events", str(db))
    assert result.exit_code == 0
    width = len("conversation.item.input_audio_transcription.completed")  # the longest type
    assert result.stdout.splitlines() == [
        f"Session {sid} · ga · 3 frames · started {_started(db, sid)} UTC (the newest of 2 "
        "sessions: choose one with --session ID)",
        f"   seq            t  dir     {'type':<{width}}      size  event_id",
        f"     1       0.001s  client  {'session.update':<{width}}       38B",
        f"     2       0.003s  server  {'session.updated':<{width}}       57B  ev_1",
        f"     3       1.250s  server  {'response.done':<{width}}       65B  ev_2",
    ]
    chosen = invoke("events", str(db), "--session", sid[:12])
    assert chosen.stdout.splitlines()[0] == (
        f"Session {sid} · ga · 3 frames · started {_started(db, sid)} UTC"
    )
    only = invoke("events", str(db), "--type", "response.done", "--json")
    assert json.loads(only.stdout) == [{
        "seq": 3, "t": 1.25, "direction": "server", "opcode": 1, "type": "response.done",
        "event_id": "ev_2", "item_id": None, "response_id": "r1", "bytes": 65,
    }]


def test_events_of_a_type_the_session_lacks_is_one_line_listing_the_types(
    tmp_path: Path,
) -> None:
    db = tmp_path / "log.db"
    sid = _record(db, SMALL)
    none = CliRunner().invoke(cli, ["events", str(db), "--type", "nothing.like.this"])
    assert none.exit_code == 1
    assert none.stdout == ""
    assert none.stderr == (
        f"Error: session {sid} has no frame of type nothing.like.this; types present: "
        "response.done, session.update, session.updated\n"
    )
    as_json = CliRunner().invoke(cli, ["events", str(db), "--type", "nothing.like.this",
                                       "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == []  # still valid JSON for a script
    assert as_json.stderr == none.stderr


def test_events_columns_stay_in_line_on_long_type_names(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    long_type = "x." * 40 + "end"
    _record(db, [
        _server(0, '{"type":"conversation.item.input_audio_transcription.completed"}'),
        _server(1, json.dumps({"type": long_type, "event_id": "ev_9"})),
        _server(2, '{"type":"session.created","event_id":"ev_3"}'),
    ])
    lines = invoke("events", str(db)).stdout.splitlines()[1:]
    size_ends = [re.search(r" \d+B", line).end() for line in lines[1:]]  # type: ignore[union-attr]
    assert size_ends == [lines[0].index("size") + 4] * 3  # every row in line with the header
    assert [line.index("ev_") for line in lines[2:]] == [lines[0].index("event_id")] * 2
    cut = "x." * 13 + "~" + ".x" * 11 + ".end"  # a stranger's type, cut in the middle
    assert f"  {cut}  " in lines[2] and len(cut) == 53
    whole = json.loads(invoke("events", str(db), "--json").stdout)
    assert whole[1]["type"] == long_type  # --json keeps it whole


def test_an_unknown_session_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    _record(db, SMALL)
    result = CliRunner().invoke(cli, ["events", str(db), "--session", "nope"])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: no session nope in {db}: run `rtrec sessions {db}` to list them\n"
    )
    assert result.stdout == ""


def test_a_corrupt_database_is_one_error_line_and_exit_1(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    db.write_text("definitely not sqlite\n" * 50)
    result = CliRunner().invoke(cli, ["sessions", str(db)])
    assert (result.exit_code, result.stderr) == (1, (
        f"Error: {db} is not an rtrec database (not SQLite, or corrupt): check the path, or move "
        "the file away to start a new log\n"
    ))


def test_missing_arguments_are_usage_errors() -> None:
    assert CliRunner().invoke(cli, ["import"]).exit_code == 2
    assert CliRunner().invoke(cli, ["events"]).exit_code == 2


def test_import_jsonl_stores_each_line_exactly_and_prints_only_the_id(tmp_path: Path) -> None:
    lines = [
        '{"type":"session.created","event_id":"e1","session":{"model":"gpt-realtime"}}',
        '{ "type" : "session.update",   "session": {"instructions": "h\\u00e9"} }',
        '{"type":"response.output_audio.delta","delta":"AAAAAA=="}',
    ]
    source = tmp_path / "events.jsonl"
    source.write_bytes(("\n".join(lines) + "\n\n").encode())
    db = tmp_path / "log.db"
    result = invoke("import", str(db), str(source))
    assert result.exit_code == 0
    sid = result.stdout.strip()
    assert result.stdout == f"{sid}\n"
    assert result.stderr == f"imported 3 frames from {source} (1 client, 2 server)\n"
    stored = _stored(db, sid)
    assert [f.data.decode() for f in stored] == lines
    assert [f.direction for f in stored] == [Direction.SERVER, Direction.CLIENT, Direction.SERVER]


def test_import_json_array_reserializes_each_event_compactly(tmp_path: Path) -> None:
    source = tmp_path / "events.json"
    source.write_text('[\n {"type": "session.update", "session": {"voice": "alloy"}},\n'
                      ' {"type": "session.created", "session": {"model": "m"}}\n]\n')
    db = tmp_path / "log.db"
    result = invoke("import", str(db), str(source))
    assert result.exit_code == 0
    stored = _stored(db, result.stdout.strip())
    assert [f.data for f in stored] == [
        b'{"type":"session.update","session":{"voice":"alloy"}}',
        b'{"type":"session.created","session":{"model":"m"}}',
    ]


def test_dump_then_import_gives_back_identical_frames_and_times(tmp_path: Path, db: str) -> None:
    sid = _record(db, ODD_FRAMES)
    dumped = invoke("dump", str(db), "--session", sid)
    assert dumped.exit_code == 0
    first = json.loads(dumped.stdout.splitlines()[0])
    assert {"seq", "direction", "t", "frame"} <= first.keys()
    assert first["frame"] == ODD_FRAMES[0].data.decode()
    dump_file = tmp_path / "session.jsonl"
    dump_file.write_bytes(dumped.stdout_bytes)
    imported = invoke("import", str(db), str(dump_file))
    assert imported.exit_code == 0
    new_sid = imported.stdout.strip()
    assert new_sid != sid
    assert [f.to_frame() for f in _stored(db, new_sid)] == ODD_FRAMES
    assert invoke("dump", str(db), "--session", new_sid).stdout_bytes == dumped.stdout_bytes


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"type":"session.update"}\nnot json\n',
         "{path}:2 is not a JSON object: give JSONL (one event per line), a JSON array of "
         "events, or an `rtrec dump` file"),
        ('{"type":"session.update"}\n{"type":"made.up.event"}\n',
         "{path}:2: unknown event type 'made.up.event', so its direction is unknown: import it "
         "as an `rtrec dump` file, which says the direction"),
        ('{"type":"session.update"}\n{"no_type":1}\n',
         '{path}:2 has no event type: every event needs a string "type"'),
        ("[1, 2]", "{path}[0] is not a JSON object: every element must be an event"),
        ("", "{path} holds no events: nothing to import"),
    ],
)
def test_a_bad_import_file_is_one_line_and_stores_nothing(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(content)
    db = tmp_path / "log.db"
    result = CliRunner().invoke(cli, ["import", str(db), str(source)])
    assert result.exit_code == 1
    assert result.stderr == f"Error: {message.format(path=source)}\n"
    assert_nothing_stored(db)


def test_import_of_a_missing_file_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    result = CliRunner().invoke(cli, ["import", str(tmp_path / "log.db"), str(missing)])
    assert (result.exit_code, result.stderr) == (
        1, f"Error: cannot read {missing}: No such file or directory\n"
    )


def test_delete_and_db_upgrade(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    keep = _record(db, SMALL)
    drop = _record(db, SMALL[:1])
    result = invoke("delete", str(db), drop)
    assert (result.exit_code, result.stdout) == (0, f"deleted session {drop} (1 frames)\n")
    listed = json.loads(invoke("sessions", str(db), "--json").stdout)
    assert [s["id"] for s in listed] == [keep]
    upgraded = invoke("db", "upgrade", str(tmp_path / "new.db"))
    assert (upgraded.exit_code, upgraded.stdout) == (
        0, f"{tmp_path / 'new.db'}: schema at revision {head_revision()}\n"
    )


async def test_a_big_import_waits_for_the_writer_instead_of_dropping_frames(tmp_path: Path) -> None:
    from recorder.store.transfer import import_file

    source = tmp_path / "many.jsonl"
    line = '{"type":"response.output_text.delta","delta":"' + "x" * 1000 + '"}'
    source.write_text((line + "\n") * 300)
    async with await open_log(str(tmp_path / "log.db"), max_queue_bytes=20_000) as log:
        info = await import_file(log, source)
        assert log.failure is None
    assert (info.frames, info.status) == (300, "complete")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # no '@': user:password reads as host:port, and the port is not a number
        ("postgresql://postgres:s3cretPW/test", "postgresql://postgres:***/test"),
        ("postgresql+asyncpg://bob:s3cretPW@db:notaport/x",
         "postgresql+asyncpg://bob:***@db:notaport/x"),
    ],
)
@pytest.mark.parametrize("command", ["sessions", "dump", "import"])
def test_a_malformed_database_url_never_shows_its_password(
    tmp_path: Path, url: str, shown: str, command: str
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text('{"type":"session.update"}\n')
    args = [command, url] + ([str(source)] if command == "import" else [])
    result = CliRunner().invoke(cli, args)
    assert "s3cretPW" not in result.output + result.stderr + repr(result.exception)
    assert (result.exit_code, result.stderr) == (1, (
        f"Error: cannot parse database URL {shown}: give a file path or a URL like "
        "postgresql+asyncpg://user@host/db\n"
    ))


SECRET_EVENT = (
    '{"type":"session.created","session":{"id":"s",'
    '"client_secret":{"value":"ek_68a1b2c3d4e5f6","expires_at":1756000000}}}'
)
REDACTED_EVENT = SECRET_EVENT.replace("ek_68a1b2c3d4e5f6", "[REDACTED]")


@pytest.mark.parametrize(
    "content",
    [
        SECRET_EVENT + "\n",  # JSONL
        "[" + SECRET_EVENT + "]",  # JSON array (compact already, so re-serializing keeps it)
        json.dumps({"seq": 1, "t": 0.0, "t_ns": 0, "direction": "server",
                    "frame": SECRET_EVENT}) + "\n",  # rtrec dump
    ],
    ids=["jsonl", "array", "dump"],
)
def test_import_redacts_client_secrets_and_a_redacted_dump_round_trips(
    tmp_path: Path, content: str
) -> None:
    db = tmp_path / "log.db"
    source = tmp_path / "events.jsonl"
    source.write_text(content)
    sid = invoke("import", str(db), str(source)).stdout.strip()
    assert [f.data for f in _stored(db, sid)] == [REDACTED_EVENT.encode()]
    dumped = invoke("dump", str(db), "--session", sid).stdout_bytes
    assert b"ek_68a1b2c3d4e5f6" not in dumped
    again = tmp_path / "again.jsonl"
    again.write_bytes(dumped)
    sid_again = invoke("import", str(db), str(again)).stdout.strip()
    assert invoke("dump", str(db), "--session", sid_again).stdout_bytes == dumped


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (b'{"type":"session.update"}\n{"type":"session.update","x":"\xff"}\n', 2),  # JSONL
        (b'{"type":"\xfe"}\n', 1),  # JSONL, in the field the importer reads
        (b'[\n{"type":"session.update"},\n{"type":"session.update","x":"\xff"}\n]', 3),  # array
        (b'{"seq":1,"t":0.0,"t_ns":0,"direction":"server","frame":"{\xff}"}\n', 1),  # dump
    ],
    ids=["jsonl", "jsonl-type", "array", "dump"],
)
def test_an_import_file_that_is_not_utf8_is_one_line_naming_the_line(
    tmp_path: Path, content: bytes, line: int
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_bytes(content)
    db = tmp_path / "log.db"
    result = CliRunner().invoke(cli, ["import", str(db), str(source)])
    assert (result.exit_code, result.stderr) == (
        1, f"Error: {source}:{line} is not valid UTF-8: save the file as UTF-8\n"
    )
    assert_nothing_stored(db)


def _dump_with_t_ns(t_ns: int) -> str:
    frames = [(1, 0), (2, t_ns)]
    return "".join(
        json.dumps({"seq": seq, "t": t / 1e9, "t_ns": t, "direction": "server",
                    "frame": '{"type":"session.created"}'}) + "\n"
        for seq, t in frames
    )


@pytest.mark.parametrize("t_ns", [10**20, 2**63, -1])
def test_a_dump_with_t_ns_out_of_range_is_one_line_and_stores_nothing(
    tmp_path: Path, db: str, t_ns: int
) -> None:
    source = tmp_path / "session.jsonl"
    source.write_text(_dump_with_t_ns(t_ns))
    result = CliRunner().invoke(cli, ["import", db, str(source)])
    assert (result.exit_code, result.stderr) == (1, (
        f"Error: {source}:2 has t_ns {t_ns}, out of range: it must be 0..2**63-1 nanoseconds "
        "since the session started; fix it\n"
    ))
    assert_nothing_stored(db)


def test_a_dump_with_the_largest_t_ns_imports(tmp_path: Path, db: str) -> None:
    source = tmp_path / "session.jsonl"
    source.write_text(_dump_with_t_ns(2**63 - 1))
    sid = invoke("import", db, str(source)).stdout.strip()
    assert [f.t_ns for f in _stored(db, sid)] == [0, 2**63 - 1]


def test_import_keeps_a_line_nested_too_deep_for_msgspec(tmp_path: Path) -> None:
    deep = b'{"type":"input_audio_buffer.append","audio":"AAAA","x":' + b"[" * 3000 + b"]" * 3000
    lines = [b'{"type":"session.created","session":{}}', deep + b"}"]
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "log.db"
    result = invoke("import", str(db), str(source))
    assert result.exit_code == 0, result.output
    stored = _stored(db, result.stdout.strip())
    assert [f.data for f in stored] == lines
    assert [f.direction for f in stored] == [Direction.SERVER, Direction.CLIENT]
