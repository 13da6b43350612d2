"""rtrec record's worker keeps each ended session's transcript text (view_text) from the same fold
as its figures (recorder.view.ended), so rtrec view searches a fleet's sessions without
indexing them first; on a SQLite file and the real PostgreSQL (the db fixture)."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner
from test_trace_record import wait_for

from recorder.cli import cli
from recorder.cli.record import SESSION_FIGURES
from recorder.console import Console
from recorder.conversation import fold_log
from recorder.fake.client import play_client
from recorder.fake.server import FakeUpstream
from recorder.proxy import ProxyConfig, record
from recorder.stats import table
from recorder.stats.fold import log_figures
from recorder.stats.worker import Computed
from recorder.store import EventLog, open_log
from recorder.view import search
from recorder.view.ended import figures_and_text
from recorder.view.index import lanes
from recorder.view.server import make_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SCENARIOS = ("barge_in", "function_call")


async def _texts(log: EventLog) -> dict[str, str]:
    """session id -> its view_text body, read from the table itself."""
    async with log.database.reading() as connection:
        rows = await log.database.fetch(
            connection, "SELECT s.id, v.body FROM view_text v JOIN sessions s ON s.pk = v.session")
    return {str(sid): str(body) for sid, body in rows}


async def _view_text(log: EventLog, sid: str) -> str:
    """The text rtrec view computes itself (its first search: the conversation fold's lanes)."""
    return search.transcript_text(lanes((await fold_log(log, await log.get_session(sid)))
                                        .conversation))


async def _health_when(base: str, done: Any, seconds: float = 60.0) -> dict[str, Any]:
    """GET /rtrec/status until done(its answer) (the worker computes after the session ends)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(int(seconds / 0.05)):
            async with http.get(base.replace("ws", "http", 1) + "/rtrec/status") as response:
                health: dict[str, Any] = await response.json()
            if done(health):
                return health
            await asyncio.sleep(0.05)
    raise AssertionError(f"the worker never got there: {health}")


async def test_recorded_sessions_are_searchable_before_any_search(db: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()
    async with FakeUpstream("voice_turns", pace=0) as fake:
        config = ProxyConfig(upstream=fake.url, host="127.0.0.1", port=0)
        running = asyncio.ensure_future(
            record(db, config, Console(out, err), stop=stop, figures=SESSION_FIGURES))
        await wait_for(lambda: "listening on" in out.getvalue())
        url = re.search(r"listening on (ws://\S+)/v1/realtime", out.getvalue())
        assert url is not None
        for scenario in SCENARIOS:
            await play_client(f"{url.group(1)}/v1/realtime?scenario={scenario}", scenario,
                              pace=0, model="gpt-realtime")
        health = await _health_when(url.group(1), lambda h: h["text_kept"] >= 2)
        stop.set()
        assert await running == 0
    assert (health["figures_computed"], health["figures_failed"], health["text_kept"],
            health["text_failed"], health["text_errors"]) == (2, 0, 2, 0, {})
    async with await open_log(db, create=False) as log:
        sessions = await log.select_sessions()
        assert [info.status for info in sessions] == ["complete", "complete"]
        texts = await _texts(log)  # before any search or view
        assert set(texts) == {info.id for info in sessions}
        for info in sessions:  # the text rtrec view would keep, from the worker's one fold
            assert texts[info.id] == await _view_text(log, info.id) != ""
        assert await search.stale(log) == []
        assert await table.stale(log) == []  # and the figures, from the same fold
        barge_in, function_call = (info.id for info in sessions)
        assert "moon" in texts[barge_in].lower() and "moon" not in texts[function_call].lower()
        client = TestClient(TestServer(make_app(log, db, figures=None)))
        await client.start_server()
        try:
            response = await client.get("/api/sessions", params={"q": "moon"})
            body = await response.json()
            assert response.status == 200, body
            assert [s["id"] for s in body["sessions"]] == [barge_in]
        finally:
            await client.close()
    assert "text" not in err.getvalue()  # no failure said


@pytest.fixture
def two(db: str) -> str:
    """The store with a Realtime and a Live fixture imported."""
    result = CliRunner().invoke(cli, ["import", db, *(str(FIXTURES / f"{n}.jsonl")
                                                      for n in ("voice_turns", "live_tool_call"))])
    assert result.exit_code == 0, result.output
    return db


async def test_the_text_comes_from_the_figures_fold_for_realtime_and_live(two: str) -> None:
    db = two
    async with await open_log(db, create=False) as log:
        client = TestClient(TestServer(make_app(log, db, figures=None)))
        await client.start_server()
        try:
            for info in await log.select_sessions():
                computed = await figures_and_text(log, info.id)
                assert isinstance(computed, Computed)
                assert computed.figures == await log_figures(log, info)
                assert await computed.also(log) is True
            kept = await _texts(log)
            assert all(kept.values()) and len(kept) == 2
            # the same text rtrec view's own indexing keeps (its first search)
            from recorder.view.derived import clear

            await clear(log)
            response = await client.get("/api/sessions", params={"q": "zzzz"})
            assert response.status == 200
            assert await _texts(log) == kept
        finally:
            await client.close()


def test_texts_not_kept_are_said_once_at_stop_by_error_type() -> None:
    out, err = io.StringIO(), io.StringIO()
    Console(out, err).texts_left(3, {"ValueError": 2, "DatabaseError": 1})
    assert err.getvalue().splitlines() == [
        "rtrec: transcript text of 3 session(s) not kept as they ended (DatabaseError x1, "
        "ValueError x2): rtrec view indexes them on its first search"]
