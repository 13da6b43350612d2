"""Every file an export writes, byte for byte, for each committed fixture.

tests/vectors/export_digests.json holds the SHA-256 of each file `export_db(per_item=True)`
wrote for fixtures/*.db before the export's read path was made faster (issue 14): a faster
export must write the same bytes. A deliberate change of the output regenerates the file:
    PYTHONPATH=$PWD python tests/test_export_bytes.py > tests/vectors/export_digests.json
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DIGESTS = Path(__file__).resolve().parent / "vectors" / "export_digests.json"
# Live fixtures are not here: their export (speaker segments, two continuous tracks) is
# issue 18's Live fold, not this Realtime one; pin them when that lands.
_LIVE = {name for name, spec in json.loads((ROOT / "fixtures" / "manifest.json").read_text())
         .items() if spec["protocol"] == "live"}
FIXTURES = sorted(db for db in (ROOT / "fixtures").glob("*.db") if db.stem not in _LIVE)


def digests_of(db: Path) -> dict[str, str]:
    """SHA-256 of every file the export of db writes, by its path inside the output folder."""
    from recorder.export import export_db

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        asyncio.run(export_db(str(db), out, per_item=True))
        return {
            str(path.relative_to(out)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out.rglob("*"))
            if path.is_file()
        }


def test_every_fixture_has_its_digests() -> None:
    assert sorted(json.loads(DIGESTS.read_text())) == [db.stem for db in FIXTURES]


@pytest.mark.parametrize("db", FIXTURES, ids=[db.stem for db in FIXTURES])
def test_export_writes_the_same_bytes(db: Path) -> None:
    expected = json.loads(DIGESTS.read_text())[db.stem]
    assert digests_of(db) == expected


if __name__ == "__main__":
    json.dump({db.stem: digests_of(db) for db in FIXTURES}, sys.stdout, indent=1, sort_keys=True)
    print()
