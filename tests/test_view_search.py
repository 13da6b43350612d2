"""rtrec view's sessions list in SQL (sorted, filtered, paged) and its transcript search (view_text:
SQLite FTS5, PostgreSQL full-text search), on both stores."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from test_view_server import _client

from recorder.cli import cli
from recorder.store import EventLog
from recorder.view import derived, search
from recorder.view.listing import list_sessions

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
NAMES = ("barge_in", "function_call", "voice_turns")


async def _exec(log: EventLog, statement: str, params: tuple[Any, ...] = ()) -> None:
    db = log.database
    async with db.writing() as connection:
        await connection.exec_driver_sql(db.sql(statement), params)


async def _ids(log: EventLog) -> dict[str, str]:
    """fixture name -> session id (imported in NAMES order)."""
    return dict(zip(NAMES, [info.id for info in await log.select_sessions()], strict=True))


@pytest.fixture
def three(db: str) -> str:
    """The store with barge_in, function_call and voice_turns imported (in that order)."""
    result = CliRunner().invoke(cli, ["import", db, *(str(FIXTURES / f"{n}.jsonl")
                                                      for n in NAMES)])
    assert result.exit_code == 0, result.output
    return db


@pytest.fixture
async def client(three: str) -> AsyncIterator[TestClient[Any, Any]]:
    async for served in _client(three, figures=None):
        yield served


def _log(client: TestClient[Any, Any]) -> EventLog:
    from recorder.view.server import STATE

    return client.server.app[STATE].log


async def _found(client: TestClient[Any, Any], query: str, status: int = 200) -> Any:
    response = await client.get("/api/sessions", params={"q": query, "sort": "frames",
                                                        "order": "asc"})
    body = await response.json()
    assert response.status == status, body
    return body


async def test_a_search_finds_the_sessions_whose_transcripts_have_every_word(
    client: TestClient[Any, Any],
) -> None:
    ids = await _ids(_log(client))
    assert [s["id"] for s in (await _found(client, "moon"))["sessions"]] == [ids["barge_in"]]
    lisbon = await _found(client, "LISBON")  # case folded; both sides' transcripts
    assert [s["id"] for s in lisbon["sessions"]] == [ids["function_call"], ids["voice_turns"]]
    assert lisbon["total"] == 2 and lisbon["q"] == "lisbon"
    # every word must match, each as the start of a word
    both = await _found(client, "Lisbon, capit")
    assert [s["id"] for s in both["sessions"]] == [ids["voice_turns"]]
    assert (await _found(client, "satellite weather"))["sessions"] == []
    assert (await _found(client, "oon"))["sessions"] == []  # not inside a word
    bad = await _found(client, "!!", 400)
    assert bad == {"error": "q='!!' has no words to search for"}
    # without a query, every session
    assert (await _found(client, ""))["total"] == 3


async def test_search_combines_with_the_filters_and_the_page(
    client: TestClient[Any, Any],
) -> None:
    log = _log(client)
    ids = await _ids(log)
    await _exec(log, "UPDATE sessions SET model = 'gpt-other' WHERE id = ?",
                (ids["voice_turns"],))
    response = await client.get("/api/sessions", params={"q": "lisbon", "model": "gpt-other"})
    body = await response.json()
    assert [s["id"] for s in body["sessions"]] == [ids["voice_turns"]]
    response = await client.get("/api/sessions", params={
        "q": "lisbon", "per_page": "1", "page": "2", "sort": "frames", "order": "desc"})
    body = await response.json()
    assert (body["total"], [s["id"] for s in body["sessions"]]) == (2, [ids["function_call"]])


async def test_the_text_table_is_derived_kept_current_and_goes_with_its_session(
    client: TestClient[Any, Any],
) -> None:
    log = _log(client)
    ids = await _ids(log)
    assert len(await search.stale(log)) == 3  # nothing computed before the first search
    await _found(client, "moon")
    assert await search.stale(log) == []
    body = await derived.fresh(log, search.TABLE, search.TEXT_VERSION,
                               await log.get_session(ids["barge_in"]), ["body"])
    assert body == [("Tell me about the moon.\nThe moon is our only natural satellite and it "
                     "is slowly drifting away from us.\nWait, stop.\nSure, I stopped.",)]
    # another status (or more frames): stale, and computed again by the next search
    await _exec(log, "UPDATE sessions SET status = 'incomplete' WHERE id = ?",
                (ids["barge_in"],))
    assert [info.id for info in await search.stale(log)] == [ids["barge_in"]]
    await _found(client, "moon")
    assert await search.stale(log) == []
    # a version of the text's code newer than the rows: all stale
    assert len(await derived.stale(log, search.TABLE, search.TEXT_VERSION + 1)) == 3
    # deleted with its session (SQLite's FTS5 rows by the trigger): found no more
    await log.delete_session(ids["barge_in"])
    assert (await _found(client, "moon"))["sessions"] == []
    if log.database.is_sqlite:
        async with log.database.reading() as connection:
            rows = await log.database.fetch(
                connection, "SELECT count(*) FROM view_text_fts WHERE view_text_fts MATCH ?",
                ("moon",))
        assert rows == [(0,)]
    # emptied (a rebuild): the next search computes every text again
    await derived.clear(log)
    assert len(await search.stale(log)) == 2
    assert len((await _found(client, "lisbon"))["sessions"]) == 2


async def test_a_session_being_recorded_gets_no_text_until_it_ends(
    client: TestClient[Any, Any],
) -> None:
    log = _log(client)
    ids = await _ids(log)
    await _exec(log, "UPDATE sessions SET status = 'recording', last_seen = ?, heartbeat = 60, "
                "recorder = NULL WHERE id = ?", (time.time(), ids["barge_in"]))
    assert (await _found(client, "moon"))["sessions"] == []
    assert ids["barge_in"] not in {info.id for info in await search.stale(log)}
    # its recorder gone quiet: it reads as interrupted, and is searchable
    await _exec(log, "UPDATE sessions SET last_seen = 0 WHERE id = ?", (ids["barge_in"],))
    found = (await _found(client, "moon"))["sessions"]
    assert [(s["id"], s["status"]) for s in found] == [(ids["barge_in"], "interrupted")]


async def test_the_list_sorts_filters_and_pages_in_sql(client: TestClient[Any, Any]) -> None:
    log = _log(client)
    ids = await _ids(log)
    for n, name in enumerate(NAMES):
        await _exec(log, "UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = ?",
                    (1_800_000_000.0 + n * 60, 1_800_000_010.0 + n * 60, ids[name]))
    # an unknown start and model sort first ascending, last descending, on both stores
    await _exec(log, "UPDATE sessions SET started_at = NULL, ended_at = NULL, model = NULL "
                "WHERE id = ?", (ids["function_call"],))
    await _exec(log, "UPDATE sessions SET status = 'recording', last_seen = 0, heartbeat = 1, "
                "recorder = NULL WHERE id = ?", (ids["voice_turns"],))
    up = await list_sessions(log, sort="started", order="asc")
    assert [s.id for s in up.sessions] == [ids[n] for n in ("function_call", "barge_in",
                                                             "voice_turns")]
    down = await list_sessions(log, sort="model", order="desc")
    assert down.sessions[-1].id == ids["function_call"]
    # a recording whose recorder is gone reads (and filters) as interrupted
    assert up.statuses == ["complete", "interrupted"]
    assert up.models == ["gpt-realtime-2025-08-28"]
    gone = await list_sessions(log, status="interrupted")
    assert [(s.id, s.status) for s in gone.sessions] == [(ids["voice_turns"], "interrupted")]
    assert (await list_sessions(log, status="recording")).total == 0
    paged = await list_sessions(log, sort="frames", order="desc", per_page=2, page=2)
    assert (paged.total, [s.frames for s in paged.sessions]) == (3, [183])
    assert [s.frames for s in (await list_sessions(log, sort="frames", per_page=2)).sessions
            ] == [293, 283]


async def test_long_sessions_are_indexed_in_the_background_and_said_so(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import asyncio

    from recorder.view import server

    monkeypatch.setattr(server, "SEARCH_NOW_FRAMES", 200)  # function_call (183 frames) only
    ids = await _ids(_log(client))
    first = await _found(client, "lisbon")
    assert [s["id"] for s in first["sessions"]] == [ids["function_call"]]
    assert first["notes"] == ["2 sessions are not searchable yet (their text is being "
                              "indexed): search again in a moment"]
    for _ in range(100):  # the background task indexes the other two
        if not await search.stale(_log(client)):
            break
        await asyncio.sleep(0.05)
    again = await _found(client, "lisbon")
    assert [s["id"] for s in again["sessions"]] == [ids["function_call"], ids["voice_turns"]]
    assert again["notes"] == []
