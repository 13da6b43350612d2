"""A failed command leaves nothing behind, and its one line names the real cause: imports (all
or nothing, files that are not events), record on a busy port, --listen, postgres:// URLs."""

from __future__ import annotations

import gzip
import json
import socket
import wave
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import recorder.store.transfer
from recorder.cli import cli
from recorder.errors import RtrecError
from recorder.redact import Redaction
from recorder.store.urls import parse_db

GOOD = '{"type":"session.update","session":{}}\n{"type":"session.updated","session":{}}\n'
ACCEPTED = (
    "import takes JSONL (one event per line), a JSON array of events, or an `rtrec dump` file"
)


def rtrec(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def files_named(db: Path) -> list[str]:
    """The database file and its -wal/-shm companions, if any."""
    return sorted(p.name for p in db.parent.glob(db.name + "*"))


def session_ids(db: str) -> list[str]:
    result = rtrec("sessions", db, "--json")
    assert result.exit_code == 0, result.output
    return [s["id"] for s in json.loads(result.stdout)]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- import: nothing made, all or nothing -------------------------------------------------------


def test_importing_a_missing_file_creates_no_database(tmp_path: Path) -> None:
    db = tmp_path / "nope.db"
    result = rtrec("import", str(db), "/no/such.jsonl")
    assert (result.exit_code, result.stderr) == (
        1, "Error: cannot read /no/such.jsonl: No such file or directory\n"
    )
    assert files_named(db) == []


def test_a_bad_second_file_imports_nothing_into_a_new_database(tmp_path: Path) -> None:
    good = _write(tmp_path / "good.jsonl", GOOD)
    bad = _write(tmp_path / "bad.jsonl", '{"type":"session.update"}\nnot json\n')
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(good), str(bad))
    assert (result.exit_code, result.stdout, result.stderr) == (1, "", (
        f"Error: {bad}:2 is not a JSON object: give JSONL (one event per line), a JSON array "
        "of events, or an `rtrec dump` file\n"
    ))
    assert files_named(db) == []


def test_a_bad_second_file_leaves_an_existing_database_as_it_was(tmp_path: Path, db: str) -> None:
    good = _write(tmp_path / "good.jsonl", GOOD)
    bad = _write(tmp_path / "bad.jsonl", '{"type":"made.up.event"}\n')
    assert rtrec("import", db, str(good)).exit_code == 0
    before = session_ids(db)
    result = rtrec("import", db, str(good), str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {bad}:1: unknown event type 'made.up.event'")
    assert session_ids(db) == before
    # fixed and run again: each file goes in once, none twice
    _write(bad, GOOD)
    again = rtrec("import", db, str(good), str(bad))
    assert again.exit_code == 0, again.output
    assert session_ids(db) == before + again.stdout.split()
    assert len(again.stdout.split()) == 2


def test_a_store_failure_midway_removes_what_the_import_wrote(
    tmp_path: Path, db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _write(tmp_path / "first.jsonl", GOOD)
    second = _write(tmp_path / "second.jsonl", GOOD + '{"type":"session.update","x":"boom"}\n')
    kept = _write(tmp_path / "kept.jsonl", GOOD)
    assert rtrec("import", db, str(kept)).exit_code == 0
    before = session_ids(db)
    redactor = recorder.store.transfer.FrameRedactor  # one per imported session

    class FailingRedactor:  # the import's seam: FrameRedactor().redact(data)
        def __init__(self) -> None:
            self._redactor = redactor()

        def redact(self, data: bytes) -> tuple[bytes, Redaction]:
            if b"boom" in data:  # the store going away in the middle of the 2nd file
                raise RtrecError("database error on the test's database: it went away")
            return self._redactor.redact(data)

    monkeypatch.setattr(recorder.store.transfer, "FrameRedactor", FailingRedactor)
    result = rtrec("import", db, str(first), str(second))
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "Error: database error on the test's database: it went away\n"
    )
    assert session_ids(db) == before  # neither the first file's session nor half the second


def test_a_store_failure_in_a_new_database_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _write(tmp_path / "events.jsonl", GOOD)

    class FailingRedactor:
        def redact(self, data: bytes) -> tuple[bytes, Redaction]:
            raise RtrecError("database error: it went away")

    monkeypatch.setattr(recorder.store.transfer, "FrameRedactor", FailingRedactor)
    db = tmp_path / "new.db"
    result = rtrec("import", str(db), str(source))
    assert (result.exit_code, result.stderr) == (1, "Error: database error: it went away\n")
    assert files_named(db) == []


# --- import: files that are not events say what they are ----------------------------------------


def _sqlite_log(path: Path) -> Path:
    assert rtrec("db", "upgrade", str(path)).exit_code == 0
    return path


def _wav(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24000)
        out.writeframes(b"\x01\x00" * 2400)
    return path


def _gzip(path: Path) -> Path:
    path.write_bytes(gzip.compress(GOOD.encode()))
    return path


@pytest.mark.parametrize(
    ("make", "what"),
    [
        (_sqlite_log, "is a SQLite database (an rtrec log? `rtrec dump` it to a file first)"),
        (_wav, "is a WAV audio file, not events"),
        (_gzip, "is binary, not JSON text"),
    ],
    ids=["sqlite", "wav", "binary"],
)
def test_importing_a_file_that_is_not_text_says_what_it_is(
    tmp_path: Path, make: Callable[[Path], Path], what: str
) -> None:
    source = make(tmp_path / "input.file")
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(source))
    assert (result.exit_code, result.stderr) == (1, f"Error: {source} {what}: {ACCEPTED}\n")
    assert files_named(db) == []


def test_utf16_text_says_to_save_it_as_utf8(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(GOOD, encoding="utf-16")  # with its byte order mark
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(source))
    assert (result.exit_code, result.stderr) == (
        1, f"Error: {source} is UTF-16 text, not UTF-8: save the file as UTF-8\n"
    )
    assert files_named(db) == []


def test_latin1_text_still_names_its_line(tmp_path: Path) -> None:
    source = tmp_path / "latin1.jsonl"
    source.write_bytes(b'{"type":"session.update"}\n{"type":"session.update","x":"caf\xe9"}\n')
    result = rtrec("import", str(tmp_path / "log.db"), str(source))
    assert (result.exit_code, result.stderr) == (
        1, f"Error: {source}:2 is not valid UTF-8: save the file as UTF-8\n"
    )


# --- record, serve: --listen and a busy port ----------------------------------------------------


@pytest.mark.parametrize("command", ["record", "serve"])
@pytest.mark.parametrize("port", ["99999", "65536"])
def test_a_port_out_of_range_says_so(tmp_path: Path, command: str, port: str) -> None:
    db = tmp_path / "r.db"
    args = ["--db", str(db)] if command == "record" else [str(db)]
    result = rtrec(command, *args, "--listen", f"127.0.0.1:{port}")
    assert (result.exit_code, result.output) == (1, (
        f"Error: --listen '127.0.0.1:{port}': port {port} is out of range: give 1-65535, or 0 "
        "for any free port\n"
    ))
    assert files_named(db) == []


def test_record_on_a_busy_port_creates_no_database(tmp_path: Path) -> None:
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    port = blocker.getsockname()[1]
    db = tmp_path / "r.db"
    try:
        result = rtrec("record", "--db", str(db), "--listen", f"127.0.0.1:{port}")
    finally:
        blocker.close()
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        f"Error: cannot listen on 127.0.0.1:{port} (error while attempting to bind on address "
        f"('127.0.0.1', {port}): address already in use): pick another --listen HOST:PORT "
        "(port 0 picks a free one)"
    )
    assert files_named(db) == []


def test_record_on_a_busy_port_keeps_an_existing_database(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    source = _write(tmp_path / "events.jsonl", GOOD)
    assert rtrec("import", str(db), str(source)).exit_code == 0
    before = session_ids(str(db))
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        result = rtrec("record", "--db", str(db), "--listen",
                       f"127.0.0.1:{blocker.getsockname()[1]}")
    finally:
        blocker.close()
    assert result.exit_code == 1
    assert session_ids(str(db)) == before


# --- postgres:// and postgresql:// --------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "engine", "shown"),
    [
        ("postgres://bob:hunter2@db.example:5432/rec",
         "postgresql+asyncpg://bob:hunter2@db.example:5432/rec",
         "postgresql+asyncpg://bob:***@db.example:5432/rec"),
        ("postgresql://bob:hunter2@db.example/rec?sslmode=require",
         "postgresql+asyncpg://bob:hunter2@db.example/rec?ssl=require",
         "postgresql+asyncpg://bob:***@db.example/rec?ssl=require"),
        ("postgresql+psycopg://bob@db.example/rec", "postgresql+asyncpg://bob@db.example/rec",
         "postgresql+asyncpg://bob@db.example/rec"),
    ],
)
def test_libpq_urls_map_to_asyncpg(given: str, engine: str, shown: str) -> None:
    target = parse_db(given)
    assert target.url.render_as_string(hide_password=False) == engine
    assert target.display == shown


def test_an_unreachable_postgres_url_never_shows_the_password() -> None:
    result = rtrec("sessions", "postgres://bob:hunter2@127.0.0.1:1/rec")
    assert result.exit_code == 1
    assert "hunter2" not in result.output + repr(result.exception)
    assert result.stderr.startswith(
        "Error: cannot connect to postgresql+asyncpg://bob:***@127.0.0.1:1/rec: "
    )


@pytest.mark.postgres
def test_postgres_url_records_and_reads_back(tmp_path: Path, pg_url: str) -> None:
    libpq = pg_url.replace("postgresql+asyncpg://", "postgres://", 1)
    assert libpq.startswith("postgres://")
    source = _write(tmp_path / "events.jsonl", GOOD)
    imported = rtrec("import", libpq, str(source))
    assert imported.exit_code == 0, imported.output
    assert session_ids(libpq) == imported.stdout.split()
    assert session_ids(pg_url) == imported.stdout.split()  # the same database

