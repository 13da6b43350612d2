"""The recording journal on its own: order, deletion, size bounds, crash survival, errors."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from recorder.errors import RtrecError, StoreFull, StoreLocked
from recorder.store.journal import ROW_OVERHEAD, Journal
from recorder.wire import Direction, Frame, Opcode

STORE = "postgresql://postgres@127.0.0.1:5432/test"


def _frame(t_ns: int, size: int = 10) -> Frame:
    direction = Direction.CLIENT if t_ns % 2 else Direction.SERVER
    return Frame(direction, t_ns, Opcode.TEXT, b"x" * size)


def test_frames_read_back_in_the_order_appended_and_deleted_once_stored(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", 2**20, STORE)
    journal.append([(1, 1, _frame(10)), (2, 1, _frame(11))])
    journal.append([(1, 2, Frame(Direction.SERVER, 12, Opcode.BINARY, b"\x00\xff"))])
    head = journal.head(10)
    assert [(f.session, f.seq, f.frame) for f in head] == [
        (1, 1, _frame(10)), (2, 1, _frame(11)),
        (1, 2, Frame(Direction.SERVER, 12, Opcode.BINARY, b"\x00\xff"))]
    assert [f.seq for f in journal.head(2)] == [1, 1]
    assert (journal.frames, journal.bytes) == (3, 22 + 3 * ROW_OVERHEAD)
    journal.delete_through(head[1].id)
    assert [(f.session, f.seq) for f in journal.head(10)] == [(1, 2)]
    assert (journal.frames, journal.bytes) == (1, 2 + ROW_OVERHEAD)
    journal.delete_through(head[2].id)
    assert (journal.head(10), journal.frames, journal.bytes) == ([], 0, 0)
    journal.close()


def test_what_does_not_fit_is_refused_whole_and_room_says_how_much_fits(tmp_path: Path) -> None:
    limit = 3 * (100 + ROW_OVERHEAD)
    journal = Journal(tmp_path / "j.db", limit, STORE)
    assert journal.room_for([100, 100, 100, 100]) == 3
    journal.append([(1, 1, _frame(1, 100)), (1, 2, _frame(2, 100))])
    assert journal.room_for([100, 100]) == 1
    with pytest.raises(StoreFull) as refused:
        journal.append([(1, 3, _frame(3, 100)), (1, 4, _frame(4, 100))])
    assert str(refused.value) == (
        f"the journal {tmp_path / 'j.db'} is full (0 MiB): give rtrec record a larger "
        "--journal-size")
    assert [f.seq for f in journal.head(10)] == [1, 2] and journal.frames == 2
    journal.append([(1, 3, _frame(3, 100))])
    assert journal.room_for([1]) == 0
    journal.close()


_CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from recorder.store.journal import Journal
    from recorder.wire import Direction, Frame, Opcode
    journal = Journal(Path(sys.argv[1]), 2**20, sys.argv[2])
    for seq in range(1, 51):
        journal.append([(7, seq, Frame(Direction.SERVER, seq, Opcode.TEXT, b"frame"))])
    os._exit(9)  # no close, no checkpoint: as if killed
    """
)


def test_a_journal_left_by_a_crashed_process_keeps_every_frame(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    crashed = subprocess.run([sys.executable, "-c", _CRASH, str(path), STORE],
                             cwd=Path(__file__).resolve().parents[1], check=False,
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert crashed.returncode == 9
    journal = Journal(path, 2**20, STORE)
    assert [(f.session, f.seq) for f in journal.head(100)] == [(7, s) for s in range(1, 51)]
    assert journal.frames == 50
    journal.close()


def test_a_leftover_journal_of_another_store_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    journal = Journal(path, 2**20, STORE)
    journal.append([(1, 1, _frame(1))])
    journal.close()
    other = "postgresql://postgres@db.example:5432/rtrec"
    with pytest.raises(RtrecError) as refused:
        Journal(path, 2**20, other)
    assert str(refused.value) == (
        f"the journal {path} holds frames for {STORE}, not {other}: record into that store to "
        "drain it, or give another --journal path")
    Journal(path, 2**20, STORE).close()  # still there, for its own store


def test_an_empty_journal_may_serve_another_store(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    Journal(path, 2**20, STORE).close()
    Journal(path, 2**20, "postgresql://postgres@db.example:5432/rtrec").close()


def test_a_journal_open_in_another_recorder_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    first = Journal(path, 2**20, STORE)
    with pytest.raises(StoreLocked) as refused:
        Journal(path, 2**20, STORE)
    assert isinstance(refused.value.__cause__, sqlite3.OperationalError)
    assert str(refused.value) == (
        f"the journal {path} is in use by another rtrec record: give each recorder its own "
        "--journal path")
    first.close()
    Journal(path, 2**20, STORE).close()


def test_bad_paths_are_one_line_and_leave_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(RtrecError) as missing:
        Journal(tmp_path / "no" / "j.db", 2**20, STORE)
    assert str(missing.value) == (
        f"cannot create the journal {tmp_path / 'no' / 'j.db'}: directory {tmp_path / 'no'} "
        "does not exist")
    with pytest.raises(RtrecError) as directory:
        Journal(tmp_path, 2**20, STORE)
    assert str(directory.value) == (
        f"the journal {tmp_path} is a directory: give a file path for --journal")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE mine (x)")
    with pytest.raises(RtrecError, match="is a SQLite database but not an rtrec journal"):
        Journal(other, 2**20, STORE)
    text = tmp_path / "notes.txt"
    text.write_text("not sqlite at all, " * 100)
    with pytest.raises(RtrecError) as garbage:
        Journal(text, 2**20, STORE)
    assert str(garbage.value) == (
        f"the journal {text} is not an rtrec journal: give another --journal path")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "other.db"]


def test_a_path_nobody_may_write_is_one_line() -> None:
    path = Path("/proc/rtrec-journal.db")  # not writable, whoever runs this (root too)
    with pytest.raises(RtrecError) as refused:
        Journal(path, 2**20, STORE)
    assert str(refused.value).startswith(f"cannot write the journal {path} (")
    assert str(refused.value).endswith("): give a --journal path in a writable directory")
    assert not path.exists()


def test_frames_put_first_come_before_those_there(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.db", 2**20, STORE)
    journal.append([(1, 3, _frame(3)), (1, 4, _frame(4))])
    journal.append([(1, 1, _frame(1)), (1, 2, _frame(2))], first=True)
    journal.append([(1, 5, _frame(5))])
    journal.append([(1, 0, _frame(0))], first=True)
    assert [f.seq for f in journal.head(10)] == [0, 1, 2, 3, 4, 5]
    journal.delete_through(journal.head(10)[-1].id)
    journal.append([(2, 1, _frame(1))], first=True)  # into an empty journal
    assert [(f.session, f.seq) for f in journal.head(10)] == [(2, 1)]
    journal.close()
