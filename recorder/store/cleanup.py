"""A SQLite file that a failed command created, and that holds no session, is removed again."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from recorder.store.urls import parse_db

_SIDE_FILES = ("-wal", "-shm", "-journal")


@contextlib.contextmanager
def removed_on_failure(db: str) -> Iterator[None]:
    """Run a command that may create the SQLite file `db`; when it fails, remove the file if
    it did not exist before and holds no session (a server database is left as it is)."""
    path = parse_db(db).path
    if path is None or path.exists():
        yield
        return
    try:
        yield
    except BaseException:
        if path.is_file() and not _holds_sessions(path):
            for name in (str(path), *(str(path) + side for side in _SIDE_FILES)):
                Path(name).unlink(missing_ok=True)
        raise


def _holds_sessions(path: Path) -> bool:
    """Whether the file has a session (or cannot be read: then it is not ours to remove)."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return True
    try:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )}
        if "sessions" not in tables:
            return bool(tables)  # someone else's tables: keep the file
        return connection.execute("SELECT count(*) FROM sessions").fetchone()[0] > 0
    except sqlite3.Error:
        return True
    finally:
        connection.close()


@contextlib.contextmanager
def journal_removed_on_failure(journal: str | None) -> Iterator[None]:
    """Run a command that may create the journal file `journal`; when it fails, remove the
    file if it did not exist before and holds no frame (a leftover journal is kept)."""
    path = None if journal is None else Path(journal)
    if path is None or path.exists():
        yield
        return
    try:
        yield
    except BaseException:
        if path.is_file() and not _holds_frames(path):
            for name in (str(path), f"{path}-wal", f"{path}-shm"):
                Path(name).unlink(missing_ok=True)
        raise


def _holds_frames(path: Path) -> bool:
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return True
    try:
        return connection.execute("SELECT count(*) FROM frames").fetchone()[0] > 0
    except sqlite3.Error:
        return True
    finally:
        connection.close()
