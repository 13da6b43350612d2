"""rtrec view on a Live session (fixtures/live_tool_call.db): listed with its protocol, and its
page's data from the Live fold and the Live export's tracks, never a crash or a 500."""

from __future__ import annotations

import io
import shutil
import wave
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient
from live_sessions import Session, start
from test_live_replay import write_live_db
from test_view_server import _client, _get

from recorder.events import UnknownEvent
from recorder.export import export_session
from recorder.live.fold import LiveFold
from recorder.live.render import render_live_text
from recorder.replay import fold_recording, until_note
from recorder.store import open_log
from recorder.stream import Step, log_steps
from recorder.view import stored
from recorder.view.index import KINDS, SessionIndex, _bucket_count
from recorder.view.live_index import LiveIndexBuilder, live_kind_of
from recorder.wire import Direction, Frame, Opcode

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SID = "01a23cbde7745a9aa5bbcaf7"


@pytest.fixture
def source(tmp_path: Path) -> str:
    target = tmp_path / "live.db"
    shutil.copyfile(FIXTURES / "live_tool_call.db", target)
    return str(target)


@pytest.fixture
async def client(source: str) -> AsyncIterator[TestClient[Any, Any]]:
    async for client in _client(source, figures=None):
        yield client


async def _fold(source: str, until: int | None = None) -> LiveFold:
    _, fold, _ = await fold_recording(source, until=until)
    assert isinstance(fold, LiveFold)
    return fold


async def test_the_sessions_list_shows_the_protocol(client: TestClient[Any, Any]) -> None:
    data = await _get(client, "/api/sessions")
    assert [(s["id"], s["protocol"]) for s in data["sessions"]] == [(SID, "live")]
    summary = await _get(client, f"/api/sessions/{SID}/summary")
    assert summary["protocol"] == "live" and summary["errors"] == 0


async def test_lanes_are_the_live_folds_segments_and_tool_calls(
        client: TestClient[Any, Any], source: str) -> None:
    fold = await _fold(source)
    data = await _get(client, f"/api/sessions/{SID}")
    lanes = data["lanes"]
    users = [s for s in fold.segments if s.speaker == "user"]
    assistants = [s for s in fold.segments if s.speaker == "assistant"]
    assert users and assistants  # the fixture speaks both ways
    assert [t["text"] for t in lanes["user"]] == [" ".join(s.text.split()) for s in users]
    assert [t["text"] for t in lanes["assistant"]] == [" ".join(s.text.split())
                                                       for s in assistants]
    calls = [call for d in fold.delegations for call in d.tool_calls]
    assert calls
    spans = [c for c in lanes["tools"] if c["kind"] == "tool_call"]
    assert [(c["name"], c["call_id"], c["output"]) for c in spans] == [
        (c.name, c.call_id, c.output) for c in calls]
    assert all(c["end_ms"] is not None and c["end_ms"] >= c["start_ms"] for c in spans)
    delegations = [c for c in lanes["tools"] if c["kind"] == "delegation"]
    assert [(d["item_id"], d["output"]) for d in delegations] == [
        (d.id, d.answer) for d in fold.delegations]
    assert all(d["start_ms"] <= c["start_ms"] <= c["end_ms"] <= d["end_ms"]
               for d in delegations for c in spans)
    assert not any(t["truncated"] for t in lanes["assistant"])
    assert data["session"]["turns"] == len(users)
    # no heard-audio in Live: the page says why there is no truncation shading
    assert any("truncation" in note for note in lanes["notes"].values())
    assert data["has_audio"]
    assert not [n for n in data["notes"] if "could not be decoded" in n]


async def test_events_are_ticks_of_live_kinds(client: TestClient[Any, Any]) -> None:
    data = await _get(client, f"/api/sessions/{SID}")
    page = await _get(client, f"/api/sessions/{SID}/events")
    kinds = {row[3]: row[4] for row in page["events"]}
    assert len(page["events"]) == data["events"] == 141
    assert "unknown" not in kinds.values()
    assert kinds["session.start"] == "session"
    assert kinds["session.input_audio.append"] == "input"
    assert kinds["session.output_audio.delta"] == "output"
    assert kinds["session.delegation.created"] == "delegation"
    assert set(kinds.values()) <= set(data["kinds"])
    only = await _get(client, f"/api/sessions/{SID}/events?kinds=delegation")
    assert {row[4] for row in only["events"]} == {"delegation"}


def _samples(wav: bytes) -> tuple[int, np.ndarray]:
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.getframerate(), np.frombuffer(reader.readframes(reader.getnframes()),
                                                    "<i2")


async def test_audio_and_peaks_are_the_live_exports_tracks(
        client: TestClient[Any, Any], source: str, tmp_path: Path) -> None:
    log = await open_log(source, create=False)
    try:
        await export_session(log, await log.get_session(SID), tmp_path / "out")
    finally:
        await log.close()
    data = await _get(client, f"/api/sessions/{SID}")
    first = await _get(client, f"/api/sessions/{SID}/events?limit=1")
    first_ms = first["events"][0][1]
    for side in ("user", "assistant"):
        response = await client.get(f"/api/sessions/{SID}/audio/{side}.wav")
        assert response.status == 200
        rate, viewed = _samples(await response.read())
        export_rate, exported = _samples((tmp_path / "out" / f"{side}.wav").read_bytes())
        assert rate == export_rate == data["sample_rate"]
        at = round(first_ms * rate / 1000)  # the export's track starts at the first frame
        assert np.abs(exported).max() > 0
        assert np.array_equal(viewed[at:at + len(exported)], exported)
        peaks = await _get(client, f"/api/sessions/{SID}/peaks?side={side}")
        assert max(peaks["max"]) > 0 and min(peaks["min"]) < 0


async def test_state_here_is_what_replay_until_prints_for_live(
        client: TestClient[Any, Any], source: str) -> None:
    result, fold, _ = await fold_recording(source, until=70)
    assert isinstance(fold, LiveFold)
    expected = render_live_text(fold, result.session, until_note(70, result))
    data = await _get(client, f"/api/sessions/{SID}/state?seq=70")
    assert data["text"] == expected
    assert data["conversation"]["protocol"] == "live"
    assert data["conversation"]["delegations"]  # the delegation came at seq 43


async def test_a_frame_decodes_as_live_and_the_export_zips(client: TestClient[Any, Any]) -> None:
    frame = await _get(client, f"/api/sessions/{SID}/frames/1")
    assert frame["type"] == "session.start" and not frame["unknown"]
    audio = await client.get(f"/api/sessions/{SID}/frames/3.wav")
    assert audio.status == 200 and (await audio.read())[:4] == b"RIFF"
    response = await client.get(f"/api/sessions/{SID}/export.zip")
    assert response.status == 200
    names = zipfile.ZipFile(io.BytesIO(await response.read())).namelist()
    assert f"rtrec-{SID}/user.wav" in names and f"rtrec-{SID}/assistant.wav" in names


async def test_a_kept_live_index_is_read_back_the_same(source: str) -> None:
    from recorder.view.server import STATE

    answers = []
    for _ in range(2):  # the second server reads the kept index and peaks, not the frames
        async for client in _client(source, figures=None):
            data = await _get(client, f"/api/sessions/{SID}")
            events = await _get(client, f"/api/sessions/{SID}/events")
            peaks = await _get(client, f"/api/sessions/{SID}/peaks?side=assistant&level=2")
            wav = await (await client.get(f"/api/sessions/{SID}/audio/stereo.wav")).read()
            state = client.server.app[STATE]
            await state.kept()
            assert (await stored.load(state.log, await state.info(SID))) is not None
            answers.append((data["lanes"], data["kinds"], events["events"], peaks, wav))
    assert answers[0] == answers[1]


async def test_a_live_sessions_transcript_is_searched(client: TestClient[Any, Any]) -> None:
    found = await _get(client, "/api/sessions?q=lisbon")
    assert [s["id"] for s in found["sessions"]] == [SID]
    assert (await _get(client, "/api/sessions?q=paris"))["sessions"] == []


async def test_a_live_session_with_no_audio_and_broken_frames(tmp_path: Path) -> None:
    session = start(Session())
    session.raw(Direction.SERVER, 50, b"{not json")
    session.frames.append(Frame(Direction.SERVER, 60_000_000, Opcode.BINARY, b"\x00\x01"))
    session.transcript(70, "user", "hello there", 0, 400)
    db = tmp_path / "bare.db"
    sid = await write_live_db(db, session.frames)
    async for client in _client(str(db), figures=None):
        data = await _get(client, f"/api/sessions/{sid}")
        assert not data["has_audio"]
        assert "this session has no audio: the lanes show its turns without waveforms" in \
            data["notes"]
        assert "2 frames could not be decoded: shown as unknown events" in data["notes"]
        assert [t["text"] for t in data["lanes"]["user"]] == ["hello there"]
        assert data["lanes"]["notes"]["tools"] == "no delegations or tool calls in this session"
        assert data["lanes"]["notes"]["assistant"].startswith("no assistant speech segments")
        events = await _get(client, f"/api/sessions/{sid}/events")
        assert [row[4] for row in events["events"]] == [
            "session", "session", "unknown", "unknown", "input"]
        for path in ("peaks?side=user", "audio/stereo.wav", "state?seq=3", "frames/3"):
            response = await client.get(f"/api/sessions/{sid}/{path}")
            assert response.status == 200, (path, await response.text())
        assert (await _get(client, f"/api/sessions/{sid}/frames/3"))["unknown"]


def _index_state(index: SessionIndex) -> dict[str, Any]:
    """Everything an index holds, as plain lists (what two builds compare by). Each chunk's
    peaks are its own buckets (where they sit among the others' follows the batches)."""
    state: dict[str, Any] = {
        name: getattr(index, name).tolist() for name in (
            "tick_t", "tick_seq", "tick_direction", "tick_type", "tick_kind", "tick_size")}
    state.update(types=index.types, lanes=index.lanes, warnings=index.warnings)
    for side, audio in index.audio.items():
        peaks = []
        for at, length, fmt in zip(audio.peak_at.tolist(), audio.length.tolist(),
                                   audio.format_id.tolist(), strict=True):
            end = at + _bucket_count(length, audio.formats[fmt])
            peaks.append((index.chunk_mins[at:end].tolist(), index.chunk_maxs[at:end].tolist()))
        state[side] = [audio.seq.tolist(), audio.start_ms.tolist(), audio.length.tolist(),
                       audio.format_id.tolist(), audio.formats, peaks]
    return state


async def _steps(db: str) -> list[Step]:
    log = await open_log(db)
    try:
        info = await log.get_session()
        return [step async for batch in log_steps(log, info, batch_size=5000) for step in batch]
    finally:
        await log.close()


async def test_a_batch_gives_the_index_of_one_step_at_a_time(source: str, tmp_path: Path
                                                             ) -> None:
    session = start(Session())
    session.raw(Direction.SERVER, 50, b"{not json")
    session.frames.append(Frame(Direction.SERVER, 60_000_000, Opcode.BINARY, b"\x00\x01"))
    session.raw(Direction.SERVER, 65, b'{"type":"session.not_an_event"}')  # typed, unknown
    session.transcript(70, "user", "hello there", 0, 400)
    bare = tmp_path / "bare.db"
    await write_live_db(bare, session.frames)
    for db in (source, str(bare)):
        steps = await _steps(db)
        states = []
        for size in (len(steps), 7, 1):  # whole, in batches, one step at a time
            builder = LiveIndexBuilder()
            for at in range(0, len(steps), size):
                builder.feed(iter(steps[at:at + size]))
            states.append(_index_state(builder.finish()))
        assert states[0] == states[1] == states[2]
        index = states[0]
        assert index["tick_seq"] == [step.seq for step in steps]
        # each tick's kind is its step's, as live_kind_of says one step at a time
        expected = []
        for step in steps:
            unknown = step.opcode is not Opcode.TEXT or (
                step.audio is None and isinstance(step.event, UnknownEvent))
            expected.append(KINDS.index(live_kind_of(step.type, unknown)))
        assert index["tick_kind"] == expected
        assert [index["types"][n] for n in index["tick_type"]] == [step.type for step in steps]
    # the bare session's broken frames, one of them of a type whose family has a kind
    assert [KINDS[kind] for kind, name in zip(index["tick_kind"], index["tick_type"], strict=True)
            if index["types"][name] == "session.not_an_event"] == ["unknown"]
