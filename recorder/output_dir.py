"""An export's output folder: checked before any work, written only when the work is complete.

check_output_dir proves --out is (or can become) a writable folder without creating anything,
so a missing or corrupt database leaves no empty folder behind. staged_output hands out a
hidden folder inside --out to write into and moves its files into place only when the block
ends without error; when it fails, the hidden folder goes, and so does every folder it created,
so a full disk leaves neither 0-byte WAVs nor a half-written export over an earlier one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from recorder.errors import OutputNotWritable, RtrecError

STAGE_PREFIX = ".rtrec-export-"


def check_output_dir(out_dir: Path) -> None:
    """Prove out_dir is a writable folder or can be made one, or raise one clear line; creates
    nothing."""
    existing = _nearest_existing(out_dir)
    if existing == out_dir and not existing.is_dir():
        raise OutputNotWritable(
            f"--out {out_dir} is a file, not a folder: give the path of a folder "
            "(created if missing)"
        )
    if not existing.is_dir():
        raise OutputNotWritable(
            f"--out {out_dir} cannot be made: {existing} is a file, not a folder; give the "
            "path of a folder (created if missing)"
        )
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".rtrec-probe-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputNotWritable(
            f"cannot write to output directory {out_dir}: {reason}; "
            "choose another --out or fix its permissions"
        ) from error


@contextlib.contextmanager
def staged_output(out_dir: Path) -> Iterator[Path]:
    """A hidden folder inside out_dir (created with its parents if missing) to write into; its
    files replace those of the same names in out_dir when the block ends without error.

    OSError from making the folders or moving the files propagates; an RtrecError from the
    block that names a staged file names its place in out_dir instead.
    """
    made = _missing_folders(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        stage = new_stage(out_dir)
    except BaseException:
        _remove_folders(made)
        raise
    try:
        try:
            yield stage
        except RtrecError as error:
            shown = str(error).replace(f"{stage}{os.sep}", f"{out_dir}{os.sep}")
            if shown != str(error):  # the same error (its type, cause, fields), renamed
                error.args = (shown,)
            raise
        _publish(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        _remove_folders(made)
        raise
    shutil.rmtree(stage, ignore_errors=True)


def new_stage(out_dir: Path) -> Path:
    """The hidden folder an export writes into (a function of its own: tests put a full disk
    in it)."""
    return Path(tempfile.mkdtemp(dir=out_dir, prefix=STAGE_PREFIX))


def _publish(stage: Path, out_dir: Path) -> None:
    """Move every file of stage to the same place under out_dir (a rename: same file system)."""
    for source in sorted(stage.rglob("*")):
        if source.is_dir():
            continue
        target = out_dir / source.relative_to(stage)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path.cwd()  # not reached: some parent of a path exists


def _missing_folders(path: Path) -> list[Path]:
    """The folders mkdir(parents=True) would create for path, outermost first."""
    missing = []
    for candidate in (path, *path.parents):
        if candidate.exists():
            break
        missing.append(candidate)
    return missing[::-1]


def _remove_folders(folders: list[Path]) -> None:
    """Remove the folders this command created, innermost first, if they are empty."""
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()
