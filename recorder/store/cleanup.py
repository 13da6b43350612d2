"""A SQLite file that a failed command created, and that holds no session, is removed again."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from recorder.store.urls import parse_db

_SIDE_FILES = ("-wal", "-shm", "-journal")
T = TypeVar("T")


@contextlib.contextmanager
def removed_on_failure(db: str) -> Iterator[None]:
    """Run a command that may create the SQLite file `db`; when it fails, remove the file if
    it did not exist before and holds no session (a server database is left as it is)."""
    with _new_file_removed_on_failure(parse_db(db).path, _holds_sessions, _SIDE_FILES):
        yield


@contextlib.contextmanager
def journal_removed_on_failure(journal: str | None) -> Iterator[None]:
    """Run a command that may create the journal file `journal`; when it fails, remove the
    file if it did not exist before and holds no frame (a leftover journal is kept)."""
    path = None if journal is None else Path(journal)
    with _new_file_removed_on_failure(path, _holds_frames, ("-wal", "-shm")):
        yield


@contextlib.contextmanager
def _new_file_removed_on_failure(
    path: Path | None, keep: Callable[[Path], bool], side_files: tuple[str, ...]
) -> Iterator[None]:
    if path is None or path.exists():
        yield
        return
    try:
        yield
    except BaseException:
        if path.is_file() and not keep(path):
            for name in (str(path), *(str(path) + side for side in side_files)):
                Path(name).unlink(missing_ok=True)
        raise


def _holds_sessions(path: Path) -> bool:
    """Whether the file has a session (or cannot be read: then it is not ours to remove)."""
    tables = _read_only(path, lambda c: {row[0] for row in c.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'"
    )})
    if tables is None:
        return True
    if "sessions" not in tables:
        return bool(tables)  # someone else's tables: keep the file
    count = _read_only(path, lambda c: c.execute("SELECT count(*) FROM sessions").fetchone()[0])
    return count is None or count > 0


def _holds_frames(path: Path) -> bool:
    """Whether the journal holds a frame (or cannot be read: then it is kept)."""
    count = _read_only(path, lambda c: c.execute("SELECT count(*) FROM frames").fetchone()[0])
    return count is None or count > 0


def _read_only(path: Path, query: Callable[[sqlite3.Connection], T]) -> T | None:
    """query's answer on a read-only connection to path, None when SQLite cannot answer."""
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error:
        return None
    try:
        return query(connection)
    except sqlite3.Error:
        return None
    finally:
        connection.close()
