"""An export's output folder: nothing made before the database is known good, and a failed
export (a full disk) leaves neither partial files nor an empty folder, nor a changed earlier
export."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import recorder.output_dir
from recorder.cli import cli
from recorder.errors import RtrecError
from recorder.export import export_db

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "barge_in.db"
EXPORTED = {"user.wav", "assistant.wav", "assistant-heard.wav", "conversation.wav",
            "transcript.md", "transcript.json", "transcript.srt", "transcript.vtt"}
needs_dev_full = pytest.mark.skipif(
    not Path("/dev/full").exists(), reason="needs the /dev/full device"
)


def full_disk_stage(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Make every export's write of `name` fail with ENOSPC, as on a full disk."""
    new_stage = recorder.output_dir.new_stage

    def stage_with_a_full_file(out_dir: Path) -> Path:
        stage = new_stage(out_dir)
        (stage / name).symlink_to("/dev/full")
        return stage

    monkeypatch.setattr(recorder.output_dir, "new_stage", stage_with_a_full_file)


def _recording(tmp_path: Path) -> str:
    db = tmp_path / "rec.db"
    shutil.copy(FIXTURE, db)
    return str(db)


def _contents(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@needs_dev_full
@pytest.mark.parametrize("name", ["user.wav", "conversation.wav", "transcript.md"])
def test_a_full_disk_leaves_no_files_and_no_folder_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    db = _recording(tmp_path)
    out = tmp_path / "exports" / "one"
    full_disk_stage(monkeypatch, name)
    result = CliRunner().invoke(cli, ["export", db, "--out", str(out)])
    # the transcripts are written with Path.write_text, whose error on close names no file
    where = "the output directory" if name.endswith(".md") else out / name
    assert (result.exit_code, result.output) == (1, (
        f"Error: cannot write {where}: No space left on device; free some space or "
        "choose another --out\n"
    ))
    assert not (tmp_path / "exports").exists()  # the folders it made are gone again


@needs_dev_full
async def test_a_failed_export_over_an_earlier_one_leaves_the_earlier_one_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = _recording(tmp_path)
    out = tmp_path / "out"
    await export_db(db, out, per_item=True)
    (out / "notes.txt").write_text("mine")
    before = _contents(out)
    full_disk_stage(monkeypatch, "assistant-heard.wav")
    with pytest.raises(RtrecError):
        await export_db(db, out, per_item=True)
    assert _contents(out) == before  # no file replaced, none added, no hidden folder left


async def test_a_finished_export_leaves_no_hidden_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = await export_db(_recording(tmp_path), out)
    assert {p.name for p in out.iterdir()} == EXPORTED
    assert {p.name for p in report.files} == EXPORTED
    assert all(p.parent == out and p.is_file() for p in report.files)
    assert report.out_dir == out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"SQLite format 3\x00" + bytes(range(256)) * 8,
         "{db} is not an rtrec database (not SQLite, or corrupt): check the path, or move the "
         "file away to start a new log"),
        (b"just some text\n" * 100,
         "{db} is not an rtrec database (not SQLite, or corrupt): check the path, or move the "
         "file away to start a new log"),
        (None, "{db} does not exist: check the path (recording or importing creates it)"),
    ],
    ids=["corrupt", "not-sqlite", "missing"],
)
def test_export_of_a_bad_database_creates_no_output_folder(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    db = tmp_path / "rec.db"
    if content is not None:
        db.write_bytes(content)
    out = tmp_path / "new" / "out"
    result = CliRunner().invoke(cli, ["export", str(db), "--out", str(out)])
    assert (result.exit_code, result.output) == (1, f"Error: {message.format(db=db)}\n")
    assert not (tmp_path / "new").exists()
    assert db.exists() == (content is not None)
    if content is not None:
        assert db.read_bytes() == content  # not touched


def test_export_of_a_log_without_sessions_creates_no_output_folder(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    assert CliRunner().invoke(cli, ["db", "upgrade", str(db)]).exit_code == 0
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["export", str(db), "--out", str(out)])
    assert (result.exit_code, result.output) == (
        1, f"Error: no sessions in {db} yet: record or import one first\n"
    )
    assert not out.exists()
