"""rtrec view's server: its JSON API, audio by range, access rules, and the command's bad input."""

from __future__ import annotations

import io
import shutil
import sqlite3
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from recorder.access import TOKEN_HEADER
from recorder.cli import cli
from recorder.render import render_text
from recorder.replay import fold_recording, until_note
from recorder.stats.figures import SessionFigures, TurnFigures
from recorder.store import open_log
from recorder.view.server import ViewServer, make_app

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _copy(tmp_path: Path, name: str) -> str:
    target = tmp_path / f"{name}.db"
    shutil.copyfile(FIXTURES / f"{name}.db", target)
    return str(target)


@pytest.fixture
def store(tmp_path: Path) -> str:
    """Three sessions: barge_in (incomplete, another model), function_call, voice_turns."""
    path = str(tmp_path / "many.db")
    result = CliRunner().invoke(cli, ["import", path, *(str(FIXTURES / f"{n}.jsonl") for n in
                                                          ("barge_in", "function_call",
                                                           "voice_turns"))])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT id FROM sessions ORDER BY pk").fetchall()
        db.execute("UPDATE sessions SET status = 'incomplete', model = 'gpt-other' WHERE id = ?",
                   rows[0])
        for n, (sid,) in enumerate(rows):
            db.execute("UPDATE sessions SET started_at = ?, ended_at = ? WHERE id = ?",
                       (1_800_000_000 + n * 60, 1_800_000_000 + n * 60 + 5 + n, sid))
    return path


async def _client(source: str, **kwargs: Any) -> AsyncIterator[TestClient[Any, Any]]:
    log = await open_log(source, create=False)
    client = TestClient(TestServer(make_app(log, source, **kwargs)))
    await client.start_server()
    try:
        yield client
    finally:
        await client.close()
        await log.close()


@pytest.fixture
async def many(store: str) -> AsyncIterator[TestClient[Any, Any]]:
    async for client in _client(store):
        yield client


@pytest.fixture
async def barge(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async for client in _client(_copy(tmp_path, "barge_in")):
        yield client


async def _get(client: TestClient[Any, Any], path: str, status: int = 200) -> Any:
    response = await client.get(path)
    assert response.status == status, await response.text()
    return await response.json()


async def test_sessions_are_listed_sorted_filtered_and_paged(many: TestClient[Any, Any]) -> None:
    data = await _get(many, "/api/sessions")
    assert data["total"] == 3 and len(data["sessions"]) == 3
    assert data["statuses"] == ["complete", "incomplete"]
    assert data["models"] == ["gpt-other", "gpt-realtime-2025-08-28"]
    newest_first = [s["started_at"] for s in data["sessions"]]
    assert newest_first == sorted(newest_first, reverse=True)
    data = await _get(many, "/api/sessions?sort=duration&order=asc")
    assert [s["duration_ms"] for s in data["sessions"]] == [5000.0, 6000.0, 7000.0]
    data = await _get(many, "/api/sessions?status=incomplete")
    assert [(s["status"], s["model"], s["frames"]) for s in data["sessions"]] == [
        ("incomplete", "gpt-other", 283)]
    data = await _get(many, "/api/sessions?model=gpt-realtime-2025-08-28")
    assert data["total"] == 2
    data = await _get(many, "/api/sessions?per_page=2&page=2&sort=frames&order=asc")
    assert (data["total"], [s["frames"] for s in data["sessions"]]) == (3, [293])
    bad = await _get(many, "/api/sessions?sort=colour", 400)
    assert bad == {"error": "sort='colour' is not one of started, model, status, duration, "
                            "frames, protocol"}
    bad = await _get(many, "/api/sessions?page=zero", 400)
    assert bad == {"error": "page='zero' is not a whole number"}


async def test_a_sessions_lanes_counts_and_notes(barge: TestClient[Any, Any]) -> None:
    data = await _get(barge, "/api/sessions/01a1")
    assert data["session"]["id"] == "01a1fc8bd58a1df8aa01910d"
    assert (data["session"]["turns"], data["session"]["interruptions"]) == (2, 1)
    assert len(data["lanes"]["assistant"]) == 2 and data["has_audio"]
    assert data["lanes"]["assistant"][0]["truncated"]
    assert data["events"] == 283
    assert data["commands"]["replay"].startswith("rtrec replay ")
    assert data["commands"]["replay"].endswith(" --session 01a1fc8bd58a1df8aa01910d")
    missing = await _get(barge, "/api/sessions/zzz", 404)
    assert missing["error"].startswith("no session zzz in ")


async def test_latency_markers_come_from_the_injected_figures(tmp_path: Path) -> None:
    asked: list[tuple[str, str]] = []

    async def figures(source: str, session: str) -> SessionFigures:
        asked.append((source, session))
        return SessionFigures(turns=[TurnFigures(index=1, item_id="a", voice_to_voice_ms=800.0),
                                     TurnFigures(index=2, item_id="b", voice_to_voice_ms=600.0)])

    source = _copy(tmp_path, "barge_in")
    async for client in _client(source, figures=figures):
        data = await _get(client, "/api/sessions/01a1")
        assert [t["voice_to_voice_ms"] for t in data["figures"]["turns"]] == [800.0, 600.0]
        assert data["session"]["p50_voice_to_voice_ms"] == 700.0
        assert data["figures_note"] is None
        await _get(client, "/api/sessions/01a1")  # computed once per session
    assert asked == [(source, "01a1fc8bd58a1df8aa01910d")]

    async def broken(source: str, session: str) -> SessionFigures:
        raise ValueError("no response.done")

    async for client in _client(source, figures=broken):
        data = await _get(client, "/api/sessions/01a1")
        assert data["figures"] is None
        assert data["figures_note"] == "turn figures could not be computed: no response.done"
        assert len(data["lanes"]["user"]) == 2


async def test_events_by_window_and_frames_as_on_the_wire(barge: TestClient[Any, Any]) -> None:
    data = await _get(barge, "/api/sessions/01a1/events?from_ms=0&to_ms=370&kinds=session,input")
    assert data["fields"] == ["seq", "t_ms", "direction", "type", "kind", "size"]
    assert [e[0] for e in data["events"]] == [1, 2, 3, 4] and not data["more"]
    assert data["events"][3][3:] == ["input_audio_buffer.append", "input", 1327]
    data = await _get(barge, "/api/sessions/01a1/events?limit=5")
    assert len(data["events"]) == 5 and data["more"]
    frame = await _get(barge, "/api/sessions/01a1/frames/4")
    assert frame["raw"] == '{"type":"input_audio_buffer.append","audio":""}'
    assert (frame["audio_bytes"], frame["raw_bytes"], frame["direction"]) == (960, 1327, "client")
    frame = await _get(barge, "/api/sessions/01a1/frames/1")
    assert frame["raw"].startswith('{"type":"session.created","event_id":"event_Rd4nXiHf929Es')
    assert frame["decoded"]["type"] == "session.created" and frame["audio_bytes"] is None
    missing = await _get(barge, "/api/sessions/01a1/frames/9999", 404)
    assert missing == {"error": "session 01a1fc8bd58a1df8aa01910d has no frame 9999"}
    chunk = await barge.get("/api/sessions/01a1/frames/4.wav")
    with wave.open(io.BytesIO(await chunk.read())) as wav:
        assert (wav.getframerate(), wav.getnframes()) == (24000, 480)


async def test_state_here_is_what_replay_until_prints(tmp_path: Path) -> None:
    source = _copy(tmp_path, "barge_in")
    result, fold, _ = await fold_recording(source, until=150)
    expected = render_text(fold.conversation, result.session, until_note(150, result))
    async for client in _client(source):
        data = await _get(client, "/api/sessions/01a1/state?seq=150")
        assert data["text"] == expected
        assert data["last_seq"] == 150
        assert data["note"].startswith("Stopped at seq 150 (--until 150) of 283 frames")


async def test_audio_is_a_wav_served_by_range(barge: TestClient[Any, Any]) -> None:
    whole = await barge.get("/api/sessions/01a1/audio/stereo.wav")
    assert whole.status == 200 and whole.headers["Accept-Ranges"] == "bytes"
    body = await whole.read()
    assert int(whole.headers["Content-Length"]) == len(body)
    with wave.open(io.BytesIO(body)) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, 24000)
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    assert frames[:, 0].any() and frames[:, 1].any()
    part = await barge.get("/api/sessions/01a1/audio/stereo.wav",
                           headers={"Range": "bytes=100000-100099"})
    assert part.status == 206
    assert part.headers["Content-Range"] == f"bytes 100000-100099/{len(body)}"
    assert await part.read() == body[100000:100100]
    tail = await barge.get("/api/sessions/01a1/audio/stereo.wav", headers={"Range": "bytes=-10"})
    assert await tail.read() == body[-10:]
    past = await barge.get("/api/sessions/01a1/audio/stereo.wav",
                           headers={"Range": f"bytes={len(body)}-"})
    assert past.status == 416 and past.headers["Content-Range"] == f"bytes */{len(body)}"
    user = await (await barge.get("/api/sessions/01a1/audio/user.wav")).read()
    assert np.array_equal(np.frombuffer(user[44:], "<i2"), frames[:, 0])
    side = await _get(barge, "/api/sessions/01a1/audio/left.wav", 404)
    assert side == {"error": "audio side 'left' is not one of user, assistant, stereo"}


async def test_peaks_per_level_from_the_log(barge: TestClient[Any, Any]) -> None:
    fine = await _get(barge, "/api/sessions/01a1/peaks?side=user&level=0")
    coarse = await _get(barge, "/api/sessions/01a1/peaks?side=user&level=3")
    assert fine["bucket_ms"] == 10.0 and coarse["bucket_ms"] == 80.0
    assert len(coarse["min"]) == -(-len(fine["min"]) // 8)
    assert max(coarse["max"]) == max(fine["max"]) > 0
    assert min(coarse["min"]) == min(fine["min"]) < 0
    window = await _get(barge, "/api/sessions/01a1/peaks?side=assistant&level=0&from_ms=3000"
                               "&to_ms=3100")
    assert window["from_ms"] == 3000.0 and len(window["min"]) == 10
    bad = await _get(barge, "/api/sessions/01a1/peaks?side=both", 400)
    assert bad == {"error": "side='both' is not user or assistant"}


async def test_a_session_still_recording_says_so(tmp_path: Path) -> None:
    source = _copy(tmp_path, "voice_turns")
    with sqlite3.connect(source) as db:
        db.execute("UPDATE sessions SET status = 'recording', ended_at = NULL, recorder = NULL, "
                   "last_seen = ?, heartbeat = 3600", (time.time(),))
    async for client in _client(source):
        data = await _get(client, "/api/sessions/01a1")
        assert data["session"]["status"] == "recording"
        assert "this session is still being recorded: refresh to see what came since" in (
            data["notes"])


async def test_pages_and_assets_are_served(barge: TestClient[Any, Any]) -> None:
    page = await barge.get("/")
    assert page.status == 200 and "text/html" in page.headers["Content-Type"]
    assert '<script type="module" src="/static/sessions.js">' in await page.text()
    session = await barge.get("/s/01a1fc8bd58a1df8aa01910d")
    assert '<script type="module" src="/static/session.js">' in await session.text()
    script = await barge.get("/static/session.js")
    assert script.headers["Content-Type"].startswith("text/javascript")
    for text in (await page.text(), await session.text(), await script.text()):
        assert "http://" not in text and "https://" not in text  # nothing from the network
    assert (await barge.get("/static/..%2Fserver.py")).status == 404


REBOUND = ("rtrec: refused a request for a host name that is not localhost, 127.0.0.1 or [::1] "
           "(a web page after DNS rebinding sends one): connect to a loopback address, or start "
           f"rtrec with --token SECRET and send it as header {TOKEN_HEADER}\n")


async def test_foreign_hosts_and_origins_are_refused(barge: TestClient[Any, Any]) -> None:
    rebound = await barge.get("/api/sessions", headers={"Host": "evil.example"})
    assert (rebound.status, await rebound.text()) == (403, REBOUND)
    page = await barge.get("/api/sessions", headers={"Origin": "http://evil.example"})
    assert page.status == 403
    assert (await page.text()).startswith("rtrec: refused a request from a web page on another")
    local = await barge.get("/api/sessions", headers={"Origin": "http://localhost:3000"})
    assert local.status == 200


async def test_a_token_in_the_url_once_then_a_cookie(tmp_path: Path) -> None:
    source = _copy(tmp_path, "barge_in")
    async for client in _client(source, token="s3cret"):
        assert (await client.get("/api/sessions")).status == 401
        first = await client.get("/s/01a1?rtrec_token=s3cret&t=5", allow_redirects=False)
        assert first.status == 302 and first.headers["Location"] == "/s/01a1?t=5"
        cookie = first.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        again = await client.get("/api/sessions")  # the client keeps the cookie
        assert again.status == 200
        foreign = await client.get("/api/sessions", headers={"Origin": "http://evil.example"})
        assert foreign.status == 403
        client.session.cookie_jar.clear()
        wrong = await client.get("/api/sessions", headers={"Cookie": "rtrec_token=guess"})
        assert wrong.status == 401
        assert "s3cret" not in await wrong.text()


def test_view_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["view", _copy(tmp_path, "barge_in"), "--listen",
                                      "0.0.0.0:0"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: --listen 0.0.0.0 is not a loopback address: pass "
                                    "--token SECRET")


def test_a_missing_database_is_one_line_before_serving(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = CliRunner().invoke(cli, ["view", str(missing), "--listen", "127.0.0.1:0"])
    assert result.exit_code == 1
    assert result.output == (f"Error: {missing} does not exist: check the path (recording or "
                             "importing creates it)\n")
    assert not missing.exists()


async def test_the_server_opens_the_log_before_listening(tmp_path: Path) -> None:
    server = ViewServer(_copy(tmp_path, "barge_in"), port=0, token=None, figures=None)
    url = await server.start("01a1")
    try:
        assert url == f"http://127.0.0.1:{server.port}/s/01a1fc8bd58a1df8aa01910d"
    finally:
        await server.close()
    tokened = ViewServer(_copy(tmp_path, "barge_in"), port=0, token="a b", figures=None)
    assert (await tokened.start()).endswith("/?rtrec_token=a%20b")
    await tokened.close()


async def test_the_export_downloads_as_a_zip_of_the_export_files(
        barge: TestClient[Any, Any], tmp_path: Path) -> None:
    import zipfile

    from recorder.export import export_db

    response = await barge.get("/api/sessions/01a1/export.zip")
    assert response.status == 200 and response.headers["Content-Type"] == "application/zip"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="rtrec-01a1fc8bd58a1df8aa01910d.zip"')
    archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    out = tmp_path / "cli-export"
    await export_db(_copy(tmp_path, "barge_in"), out)
    expected = sorted(p.name for p in out.iterdir())
    prefix = "rtrec-01a1fc8bd58a1df8aa01910d/"
    assert sorted(n.removeprefix(prefix) for n in archive.namelist()) == expected
    for name in expected:
        assert archive.read(prefix + name) == (out / name).read_bytes(), name


async def test_events_thinned_per_bucket_for_a_zoomed_out_page(
        barge: TestClient[Any, Any]) -> None:
    every = await _get(barge, "/api/sessions/01a1/events?kinds=input")
    thinned = await _get(barge, "/api/sessions/01a1/events?kinds=input&bucket_ms=1000")
    assert len(every["events"]) > 200
    seconds = {(int(e[1] // 1000), e[2]) for e in every["events"]}
    assert len(thinned["events"]) == len(seconds)  # one per second and direction
    assert thinned["events"][0] == every["events"][0]


async def test_counts_are_kept_once_made_and_listed_after(many: TestClient[Any, Any]) -> None:
    listed = await _get(many, "/api/sessions?sort=frames&order=asc")
    assert all("turns" not in row for row in listed["sessions"])
    assert listed["sessions"][0]["summary_frames_max"] == 20_000
    first = listed["sessions"][0]["id"]
    summary = await _get(many, f"/api/sessions/{first}/summary")
    assert (summary["id"], summary["turns"], summary["interruptions"], summary["errors"]) == (
        first, 1, 0, 0)
    assert summary["p50_voice_to_voice_ms"] is None  # no turn figures in this test
    listed = await _get(many, "/api/sessions?sort=frames&order=asc")
    assert listed["sessions"][0]["turns"] == 1
    assert all("turns" not in row for row in listed["sessions"][1:])
