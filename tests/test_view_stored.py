"""rtrec view's index and peaks kept as derived tables (view_index, view_peaks): a server that
has seen a session draws it again without reading its frames, on both stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from recorder.cli import cli
from recorder.store import EventLog, open_log
from recorder.stream import file_steps
from recorder.view import derived, stored
from recorder.view.index import build_index
from recorder.view.server import make_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAGES = ("", "/events?from_ms=0&to_ms=4000&bucket_ms=50", "/peaks?side=user&level=0",
         "/peaks?side=assistant&level=3&from_ms=2000", "/summary")


@pytest.fixture
def barge(db: str) -> str:
    result = CliRunner().invoke(cli, ["import", db, str(FIXTURES / "barge_in.jsonl")])
    assert result.exit_code == 0, result.output
    return db


class _Reads:
    """Counts the log's reads of frames (read_parts: what building an index does)."""

    def __init__(self, log: EventLog) -> None:
        self.count = 0
        original = log.read_parts

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return original(*args, **kwargs)
        log.read_parts = counted  # type: ignore[method-assign]


async def _pages(db: str) -> tuple[list[Any], bytes, int]:
    """What a fresh server answers for the session's page data and audio, and how many frame
    reads it made."""
    log = await open_log(db, create=False)
    reads = _Reads(log)
    client = TestClient(TestServer(make_app(log, db, figures=None)))
    await client.start_server()
    try:
        sid = (await log.get_session()).id
        out = []
        for page in PAGES:
            response = await client.get(f"/api/sessions/{sid}{page}")
            assert response.status == 200, await response.text()
            out.append(await response.json())
        wav = await (await client.get(f"/api/sessions/{sid}/audio/stereo.wav")).read()
        return out, wav, reads.count
    finally:
        await client.close()
        await log.close()


async def test_a_server_started_again_draws_a_session_from_its_kept_index(barge: str) -> None:
    first, first_wav, built_reads = await _pages(barge)
    again, again_wav, kept_reads = await _pages(barge)
    assert built_reads >= 1
    # the page data from the tables; the audio still read from the log, chunk by chunk
    audio_reads = kept_reads
    assert again == first and again_wav == first_wav
    log = await open_log(barge, create=False)
    try:
        info = await log.get_session()
        assert await derived.stale(log, stored.INDEX_TABLE, stored.INDEX_VERSION) == []
        kept = await stored.load(log, info)
        assert kept is not None and set(kept[1]) == {"user", "assistant"}
        # the session changes (another status): its rows are stale, the index built again
        db = log.database
        async with db.writing() as connection:
            await connection.exec_driver_sql(
                db.sql("UPDATE sessions SET status = 'incomplete' WHERE id = ?"), (info.id,))
        assert await stored.load(log, await log.get_session()) is None
    finally:
        await log.close()
    changed, _wav, rebuilt_reads = await _pages(barge)
    assert rebuilt_reads > audio_reads
    assert changed[0]["session"]["status"] == "incomplete"
    assert changed[1:4] == first[1:4]  # events and peaks (the summary has the status)


async def test_no_frame_is_read_for_the_page_data_of_a_kept_session(barge: str) -> None:
    await _pages(barge)
    log = await open_log(barge, create=False)
    reads = _Reads(log)
    client = TestClient(TestServer(make_app(log, barge, figures=None)))
    await client.start_server()
    try:
        sid = (await log.get_session()).id
        for page in PAGES:
            assert (await client.get(f"/api/sessions/{sid}{page}")).status == 200
        assert reads.count == 0
    finally:
        await client.close()
        await log.close()


async def test_a_session_being_recorded_is_not_kept(barge: str) -> None:
    import time

    log = await open_log(barge, create=False)
    try:
        db = log.database
        async with db.writing() as connection:
            await connection.exec_driver_sql(db.sql(
                "UPDATE sessions SET status = 'recording', last_seen = ?, heartbeat = 60"),
                (time.time(),))
    finally:
        await log.close()
    await _pages(barge)
    log = await open_log(barge, create=False)
    try:
        info = await log.get_session()
        assert info.status == "recording"
        assert await stored.load(log, info) is None
    finally:
        await log.close()


def test_the_kept_index_is_the_built_one() -> None:
    index = build_index(file_steps(FIXTURES / "barge_in.jsonl"))
    kept = stored.decode(stored.encode(index))
    for name in ("tick_t", "tick_seq", "tick_direction", "tick_type", "tick_kind",
                 "tick_size"):
        assert np.array_equal(getattr(kept, name), getattr(index, name)), name
    assert kept.segments == index.segments
    assert (kept.lanes, kept.types, kept.warnings) == (index.lanes, index.types, index.warnings)
    assert (kept.end_ms, kept.sample_rate(), kept.has_audio) == (
        index.end_ms, index.sample_rate(), index.has_audio)
    assert kept.events(0, 5000, {"response"}, 50, 20.0) == index.events(
        0, 5000, {"response"}, 50, 20.0)


async def test_rebuild_empties_the_view_tables(barge: str) -> None:
    from recorder.view.server import ViewServer

    await _pages(barge)
    server = ViewServer(barge, figures=None)
    await server.start(rebuild=True)
    try:
        assert server.log is not None
        assert await stored.load(server.log, await server.log.get_session()) is None
        assert len(await derived.stale(server.log, "view_text", 1)) == 1
    finally:
        await server.close()
