"""The recording journal: a bounded local SQLite file of frames the store could not take yet.

While a PostgreSQL store is down and the writer's memory buffer is full, the writer moves the
frames waiting in memory (the oldest ones) here instead of shedding sessions; when the store
answers, the journal is written into it first, in the order appended, and each batch is
deleted here once it is stored. The file is the writer's alone (an exclusive lock, held while
it is open), written with WAL so that a crashed recorder leaves every appended frame behind:
the next recorder on the same path drains it into the store before anything new.

The journal names the store it belongs to (a leftover one is never written into another
store); its frames refer to the store's session keys. Size is the frames' bytes (data plus a
small per-row overhead), bounded by max_bytes: append() refuses what does not fit, whole.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from recorder.errors import RtrecError, StoreFull, StoreLocked
from recorder.redact import Redaction
from recorder.wire import Direction, Frame, Opcode

ROW_OVERHEAD = 64  # bytes counted per frame beside its data (keys, times, the row itself)

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS frames (id INTEGER PRIMARY KEY, session INTEGER NOT NULL, "
    "seq INTEGER NOT NULL, t_ns INTEGER NOT NULL, direction INTEGER NOT NULL, "
    "opcode INTEGER NOT NULL, data BLOB NOT NULL, redaction INTEGER)",
)


@dataclass(frozen=True, slots=True)
class JournalFrame:
    """A frame read back from the journal: its position (id), session key, seq and frame."""

    id: int
    session: int
    seq: int
    frame: Frame


class Journal:
    """A bounded, ordered, crash-safe journal of frames at `path` for the store `store`."""

    def __init__(self, path: Path, max_bytes: int, store: str) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._connection = _open(path, store)
        self.frames, self.bytes = self._measure()

    def _measure(self) -> tuple[int, int]:
        count, size = self._connection.execute(
            "SELECT count(*), coalesce(sum(length(data)), 0) FROM frames").fetchone()
        return int(count), int(size) + int(count) * ROW_OVERHEAD

    def room_for(self, sizes: list[int]) -> int:
        """How many of frames with data sizes `sizes` (in order) fit in the journal now."""
        free = self.max_bytes - self.bytes
        fitting = 0
        for size in sizes:
            free -= size + ROW_OVERHEAD
            if free < 0:
                break
            fitting += 1
        return fitting

    def append(self, frames: list[tuple[int, int, Frame]], *, first: bool = False) -> None:
        """Append (session key, seq, frame) items, in order, in one transaction; all or none;
        first=True puts them before every frame already there (they are older). Raises
        RtrecError (the journal unchanged) when they do not fit or the disk fails."""
        size = sum(len(frame.data) + ROW_OVERHEAD for _, _, frame in frames)
        if self.bytes + size > self.max_bytes:
            raise StoreFull(
                f"the journal {self.path} is full ({self.max_bytes // 2**20} MiB): give rtrec "
                "record a larger --journal-size"
            )
        rows = [(session, seq, frame.t_ns, 0 if frame.direction is Direction.CLIENT else 1,
                 int(frame.opcode), frame.data, int(frame.redaction) or None)
                for session, seq, frame in frames]
        try:
            with self._connection:
                start = None
                if first:  # ids below the lowest one there (they may go negative)
                    lowest = self._connection.execute("SELECT min(id) FROM frames").fetchone()[0]
                    start = (1 if lowest is None else int(lowest)) - len(rows)
                self._connection.executemany(
                    "INSERT INTO frames (id, session, seq, t_ns, direction, opcode, data, "
                    "redaction) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(None if start is None else start + n, *row) for n, row in enumerate(rows)])
        except sqlite3.Error as error:
            raise _explain(self.path, error) from error
        self.frames += len(rows)
        self.bytes += size

    def head(self, limit: int) -> list[JournalFrame]:
        """The oldest `limit` frames, in the order appended."""
        rows = self._connection.execute(
            "SELECT id, session, seq, t_ns, direction, opcode, data, redaction FROM frames "
            "ORDER BY id "
            "LIMIT ?", (limit,)).fetchall()
        return [
            JournalFrame(row[0], row[1], row[2], Frame(
                Direction.CLIENT if row[4] == 0 else Direction.SERVER, row[3], Opcode(row[5]),
                bytes(row[6]), Redaction(row[7] or 0)))
            for row in rows
        ]

    def delete_through(self, last_id: int) -> None:
        """Forget the frames up to `last_id` (they are in the store now)."""
        try:
            with self._connection:
                count, size = self._connection.execute(
                    "SELECT count(*), coalesce(sum(length(data)), 0) FROM frames WHERE id <= ?",
                    (last_id,)).fetchone()  # the batch only (by key), not the whole journal
                self._connection.execute("DELETE FROM frames WHERE id <= ?", (last_id,))
        except sqlite3.Error as error:
            raise _explain(self.path, error) from error
        self.frames -= int(count)
        self.bytes -= int(size) + int(count) * ROW_OVERHEAD

    def close(self) -> None:
        self._connection.close()


def _open(path: Path, store: str) -> sqlite3.Connection:
    """Open (creating) the journal and take it for this process; one RtrecError line if not."""
    if path.is_dir():
        raise RtrecError(f"the journal {path} is a directory: give a file path for --journal")
    if not path.parent.is_dir():
        raise RtrecError(
            f"cannot create the journal {path}: directory {path.parent} does not exist"
        )
    existed = path.exists()
    try:
        # The writer uses it from a worker thread, one thread at a time (its journal lock).
        connection = sqlite3.connect(path, timeout=0, isolation_level=None,
                                     check_same_thread=False)
    except sqlite3.Error as error:
        raise _explain(path, error) from error
    try:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables <= {"meta", "frames"}:
            raise RtrecError(
                f"the journal {path} is a SQLite database but not an rtrec journal: give "
                "another --journal path"
            )
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # survives a crash of the process
        connection.execute("BEGIN EXCLUSIVE")  # the lock is kept until the connection closes
        for statement in _SCHEMA:
            connection.execute(statement)
        found = connection.execute("SELECT value FROM meta WHERE key = 'store'").fetchone()
        if found is None:
            connection.execute("INSERT INTO meta (key, value) VALUES ('store', ?)", (store,))
        elif found[0] != store and connection.execute(
                "SELECT 1 FROM frames LIMIT 1").fetchone():
            raise RtrecError(
                f"the journal {path} holds frames for {found[0]}, not {store}: record into that "
                "store to drain it, or give another --journal path"
            )
        else:
            connection.execute("UPDATE meta SET value = ? WHERE key = 'store'", (store,))
        connection.execute("COMMIT")
        connection.isolation_level = "DEFERRED"  # `with connection:` transactions from here
    except BaseException as error:
        connection.close()
        if not existed:  # nothing half-made stays behind
            for name in (str(path), f"{path}-wal", f"{path}-shm"):
                Path(name).unlink(missing_ok=True)
        if isinstance(error, sqlite3.Error):
            raise _explain(path, error) from error
        raise
    return connection


def _explain(path: Path, error: sqlite3.Error) -> RtrecError:
    message = str(error)
    lowered = message.lower()
    if "locked" in lowered:
        return StoreLocked(
            f"the journal {path} is in use by another rtrec record: give each recorder its own "
            "--journal path"
        )
    if "not a database" in lowered:
        return RtrecError(
            f"the journal {path} is not an rtrec journal: give another --journal path"
        )
    if "readonly" in lowered or "unable to open" in lowered:
        return RtrecError(
            f"cannot write the journal {path} ({message}): give a --journal path in a writable "
            "directory"
        )
    return RtrecError(f"journal error on {path}: {message}")
