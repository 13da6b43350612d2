"""Library failures are typed (subclasses of RtrecError) and keep their cause; the CLI's line
for each is pinned in the CLI tests."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from recorder.errors import NotAnEventLog, RtrecError, StoreFull, StoreLocked, UnknownSession
from recorder.store import open_log
from recorder.store.failures import explain


@pytest.mark.parametrize(("driver", "kind", "advice"), [
    ("database is locked", StoreLocked,
     "is locked by another process: wait for it to finish (or stop it) and retry"),
    ("database or disk is full", StoreFull,
     "is full (no space left for it): free some space and retry; what was already stored is kept"),
    ("file is not a database", NotAnEventLog,
     "is not an rtrec database (not SQLite, or corrupt): check the path, or move the file away "
     "to start a new log"),
])
def test_sqlite_failures_have_their_type_and_message(
    driver: str, kind: type[RtrecError], advice: str
) -> None:
    error = explain(sqlite3.OperationalError(driver), "x.db", sqlite=True)
    assert type(error) is kind
    assert str(error) == f"x.db {advice}"


async def test_a_file_that_is_not_a_database_is_not_an_event_log_and_keeps_its_cause(
    tmp_path: Path,
) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(NotAnEventLog) as caught:
        await open_log(str(path), create=False)
    assert caught.value.__cause__ is not None


async def test_a_foreign_sqlite_file_is_not_an_event_log(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (x)")
    with pytest.raises(NotAnEventLog):
        await open_log(str(path), create=False)


async def test_an_unknown_session_is_typed(tmp_path: Path) -> None:
    async with await open_log(str(tmp_path / "log.db")) as log:
        await log.begin_session("ga", None, None)
        with pytest.raises(UnknownSession, match=r"^no session zzz in "):
            await log.get_session("zzz")
