"""The bundled fixtures hold exactly what their scenario scripts produce (fixtures/make.py).

If a scenario changes, these fail until `python fixtures/make.py` is run again.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from recorder.fake.live import build_live
from recorder.fake.scenarios import build
from recorder.store import open_log
from recorder.wire import Direction

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())


def test_every_fixture_is_in_the_manifest_and_small() -> None:
    on_disk = {p.stem for p in FIXTURES.glob("*.db")}
    assert on_disk == set(MANIFEST)
    for name in MANIFEST:
        assert (FIXTURES / f"{name}.db").stat().st_size < 600_000
        assert (FIXTURES / f"{name}.jsonl").exists()


@pytest.mark.parametrize("name", sorted(MANIFEST))
async def test_fixture_frames_are_the_scenario_bytes(name: str, tmp_path: Path) -> None:
    spec = MANIFEST[name]
    db = tmp_path / f"{name}.db"
    shutil.copy(FIXTURES / f"{name}.db", db)  # opening migrates; never touch the original
    async with await open_log(str(db)) as log:
        info = await log.get_session()
        stored = [frame async for batch in log.read(info.id) for frame in batch]
    assert info.status == "complete" and info.protocol == spec["protocol"]
    if spec["protocol"] == "live":  # two free-running streams: each direction in script order
        script = build_live(spec["scenario"], spec["seed"], rate=spec["rate"])
        for direction in Direction:
            assert [f.data for f in stored if f.direction is direction] == [
                f.data for f in script if f.direction is direction]
        assert info.model == "gpt-live-1" and info.upstream_id == json.loads(
            next(f.data for f in script if b"session.started" in f.data[:40]))["session"]["id"]
    else:
        script = build(spec["scenario"], spec["protocol"], spec["seed"])
        assert [(f.direction, f.data) for f in stored] == [(f.direction, f.data) for f in script]
    dumped = [json.loads(line) for line in (FIXTURES / f"{name}.jsonl").read_text().splitlines()]
    assert [d["frame"].encode() for d in dumped] == [f.data for f in stored]
    assert [d["t_ns"] for d in dumped] == [f.t_ns for f in stored]
