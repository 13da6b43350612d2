"""rtrec serve: a recording played to a live client (the official openai SDK, and raw aiohttp)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI

from recorder.errors import RtrecError
from recorder.fake.scenarios import SCENARIOS, build
from recorder.serve import (
    MISMATCH_CLOSE_CODE,
    Recording,
    ReplayServer,
    load_recording,
    parse_speed,
)
from recorder.store import open_log
from recorder.wire import Direction, Frame, Opcode

C, S = Direction.CLIENT, Direction.SERVER


def frame(direction: Direction, t_ms: float, event: dict[str, Any]) -> Frame:
    data = json.dumps(event, separators=(",", ":")).encode()
    return Frame(direction, int(t_ms * 1_000_000), Opcode.TEXT, data)


def text_turn_frames(text: str = "hi", gap_ms: float = 1.0) -> list[Frame]:
    """A small GA session: configure, one typed user turn, one text answer in three deltas."""
    r, i = "resp_001", "item_002"
    part = {"type": "text", "text": ""}
    t = iter(range(1, 100))

    def at() -> float:
        return next(t) * gap_ms

    session = {"type": "realtime", "id": "sess_1", "model": "gpt-realtime", "instructions": ""}
    frames = [
        frame(S, at(), {"type": "session.created", "event_id": "event_1", "session": session}),
        frame(
            C,
            at(),
            {
                "type": "session.update",
                "event_id": "evt_rec_1",
                "session": {"type": "realtime", "instructions": "Be brief."},
            },
        ),
        frame(
            S,
            at(),
            {
                "type": "session.updated",
                "event_id": "event_2",
                "session": {**session, "instructions": "Be brief."},
            },
        ),
        frame(
            C,
            at(),
            {
                "type": "conversation.item.create",
                "event_id": "evt_rec_2",
                "item": {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            },
        ),
        frame(
            S,
            at(),
            {
                "type": "conversation.item.added",
                "event_id": "event_3",
                "previous_item_id": None,
                "item": {
                    "id": "item_001",
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": text}],
                },
            },
        ),
        frame(C, at(), {"type": "response.create", "event_id": "evt_rec_3"}),
        frame(
            S,
            at(),
            {
                "type": "response.created",
                "event_id": "event_4",
                "response": {"id": r, "status": "in_progress", "output": []},
            },
        ),
        frame(
            S,
            at(),
            {
                "type": "response.output_item.added",
                "event_id": "event_5",
                "response_id": r,
                "output_index": 0,
                "item": {"id": i, "type": "message", "role": "assistant", "content": []},
            },
        ),
        frame(
            S,
            at(),
            {
                "type": "response.content_part.added",
                "event_id": "event_6",
                "response_id": r,
                "item_id": i,
                "output_index": 0,
                "content_index": 0,
                "part": part,
            },
        ),
    ]
    for n, delta in enumerate(["Hel", "lo", "!"]):
        frames.append(
            frame(
                S,
                at(),
                {
                    "type": "response.output_text.delta",
                    "event_id": f"event_d{n}",
                    "response_id": r,
                    "item_id": i,
                    "output_index": 0,
                    "content_index": 0,
                    "delta": delta,
                },
            )
        )
    frames.append(
        frame(
            S,
            at(),
            {
                "type": "response.done",
                "event_id": "event_9",
                "response": {"id": r, "status": "completed"},
            },
        )
    )
    return frames


def client_frames(frames: list[Frame]) -> list[dict[str, Any]]:
    return [json.loads(f.data) for f in frames if f.direction is C]


async def play_with_sdk(
    url: str, frames: list[Frame], *, replace: dict[int, dict[str, Any]] | None = None
) -> list[bytes]:
    """Follow the recording with the official SDK: send each client event (with a fresh
    event_id, re-serialized by the SDK), receive each server frame. Returns what arrived."""
    replace = replace or {}
    received: list[bytes] = []
    client = AsyncOpenAI(api_key="test", websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        sent = 0
        for f in frames:
            if f.direction is C:
                event = replace.get(sent, json.loads(f.data))
                await connection.send({**event, "event_id": f"evt_live_{sent}"})
                sent += 1
            else:
                received.append(await connection.recv_bytes())
    return received


async def test_the_sdk_receives_exactly_the_recorded_server_frames() -> None:
    frames = text_turn_frames()
    async with ReplayServer(Recording.from_frames(frames, session_id="s1")) as server:
        received = await play_with_sdk(server.url, frames)
        result = await server.next_result()
    assert received == [f.data for f in frames if f.direction is S]
    assert result.ok
    assert result.client_frames_matched == 3
    assert result.server_frames_sent == len(received)


async def test_the_sdk_decodes_the_served_frames_as_typed_events() -> None:
    frames = text_turn_frames()
    async with ReplayServer(Recording.from_frames(frames)) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            created = await connection.recv()
            await connection.session.update(
                session={"type": "realtime", "instructions": "Be brief."}
            )
            updated = await connection.recv()
        result = await server.next_result()
    assert created.type == "session.created"
    assert updated.type == "session.updated"
    assert updated.session.instructions == "Be brief."  # type: ignore[union-attr]
    assert [f.type for f in result.unused_client_frames] == [
        "conversation.item.create",
        "response.create",
    ]


async def test_strict_mismatch_sends_an_error_naming_both_events_and_the_field() -> None:
    frames = text_turn_frames("hi")
    wrong = client_frames(text_turn_frames("hello"))[1]
    async with ReplayServer(Recording.from_frames(frames, session_id="s1")) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.recv_bytes()  # session.created
            await connection.send(client_frames(frames)[0])
            await connection.recv_bytes()  # session.updated
            await connection.send({**wrong, "event_id": "evt_mine"})
            error = json.loads(await connection.recv_bytes())
            with pytest.raises(Exception) as closed:
                await connection.recv_bytes()
        result = await server.next_result()
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["code"] == "rtrec_mismatch"
    assert error["error"]["event_id"] == "evt_mine"
    message = error["error"]["message"]
    assert message == (
        'session s1, client frame seq 4: expected client event "conversation.item.create", '
        'received "conversation.item.create"; 1 field differs: item.content[0].text: '
        'expected "hi", received "hello".'
    )
    assert getattr(closed.value, "rcvd", None) is not None
    assert closed.value.rcvd.code == MISMATCH_CLOSE_CODE  # type: ignore[attr-defined]
    assert result.closed_on_mismatch and not result.finished
    assert [m.paths for m in result.mismatches] == [("item.content[0].text",)]
    assert [f.type for f in result.unused_client_frames] == ["response.create"]


async def test_an_item_id_the_client_chose_stands_for_the_recorded_one() -> None:
    def create(item_id: str) -> dict[str, Any]:
        item = {"id": item_id, "type": "message", "role": "user", "content": []}
        return {"type": "conversation.item.create", "item": item}

    frames = [
        frame(S, 1, {"type": "session.created"}),
        frame(C, 2, create("rec_item")),
        frame(S, 3, {"type": "conversation.item.added", "item": {"id": "rec_item"}}),
        frame(C, 4, {"type": "conversation.item.delete", "item_id": "rec_item"}),
        frame(S, 5, {"type": "conversation.item.deleted", "item_id": "rec_item"}),
        frame(C, 6, {"type": "conversation.item.delete", "item_id": "rec_item"}),
        frame(S, 7, {"type": "error"}),
    ]
    async with ReplayServer(Recording.from_frames(frames), match="lenient") as server:
        await play_with_sdk(
            server.url,
            frames,
            replace={
                0: create("my_own_id"),
                1: {"type": "conversation.item.delete", "item_id": "my_own_id"},
                2: {"type": "conversation.item.delete", "item_id": "someone_else"},
            },
        )
        result = await server.next_result()
    assert result.client_frames_matched == 2
    assert [(m.seq, m.paths) for m in result.mismatches] == [(6, ("item_id",))]


async def test_a_different_event_type_is_named_in_the_error() -> None:
    frames = text_turn_frames()
    async with ReplayServer(Recording.from_frames(frames)) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.recv_bytes()
            await connection.send({"type": "response.create"})
            error = json.loads(await connection.recv_bytes())
        await server.next_result()
    message = error["error"]["message"]
    assert 'expected client event "session.update", received "response.create"' in message
    assert 'type: expected "session.update", received "response.create"' in message
    assert "session: expected {" in message and "received (absent)" in message


async def test_lenient_mode_logs_the_difference_and_plays_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames = text_turn_frames("hi")
    wrong = client_frames(text_turn_frames("hello"))[1]
    recording = Recording.from_frames(frames)
    caplog.set_level(logging.INFO, logger="recorder.serve")
    async with ReplayServer(recording, match="lenient") as server:
        received = await play_with_sdk(server.url, frames, replace={1: wrong})
        result = await server.next_result()
    assert received == [f.data for f in frames if f.direction is S]
    assert result.finished and not result.closed_on_mismatch
    assert [m.paths for m in result.mismatches] == [("item.content[0].text",)]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("item.content[0].text" in w and "lenient" in w for w in warnings)


async def test_unused_recorded_client_frames_are_reported_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frames = text_turn_frames()
    caplog.set_level(logging.INFO, logger="recorder.serve")
    async with ReplayServer(Recording.from_frames(frames, session_id="s9")) as server:
        await play_with_sdk(server.url, frames[:3])  # leaves after session.updated
        result = await server.next_result()
    assert not result.ok
    assert [(f.seq, f.type) for f in result.unused_client_frames] == [
        (4, "conversation.item.create"),
        (6, "response.create"),
    ]
    assert any(
        "session s9: 2 recorded client frame(s) not used: seq 4 conversation.item.create, "
        "seq 6 response.create" in r.getMessage()
        for r in caplog.records
    )


async def test_each_connection_gets_a_fresh_playback() -> None:
    frames = text_turn_frames()
    expected = [f.data for f in frames if f.direction is S]
    async with ReplayServer(Recording.from_frames(frames)) as server:
        first = await play_with_sdk(server.url, frames)
        second = await play_with_sdk(server.url, frames)
        results = [await server.next_result(), await server.next_result()]
    assert first == expected and second == expected
    assert [r.connection for r in results] == [1, 2]
    assert all(r.ok for r in results)


async def test_concurrent_connections_play_independently() -> None:
    frames = text_turn_frames()
    expected = [f.data for f in frames if f.direction is S]
    async with ReplayServer(Recording.from_frames(frames)) as server:
        outcomes = await asyncio.gather(*(play_with_sdk(server.url, frames) for _ in range(5)))
        results = [await server.next_result() for _ in range(5)]
    assert all(o == expected for o in outcomes)
    assert all(r.ok for r in results)


async def test_a_client_frame_after_the_recording_ends_is_a_strict_mismatch() -> None:
    frames = text_turn_frames()
    async with ReplayServer(Recording.from_frames(frames)) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            for f in frames:
                if f.direction is C:
                    await connection.send(json.loads(f.data))
                else:
                    await connection.recv_bytes()
            await connection.send({"type": "response.create"})
            error = json.loads(await connection.recv_bytes())
        result = await server.next_result()
    assert error["error"]["code"] == "rtrec_mismatch"
    assert (
        'received client event "response.create" after the last recorded client frame'
        in (error["error"]["message"])
    )
    assert result.finished and result.closed_on_mismatch


async def test_a_server_close_is_played_with_its_recorded_code() -> None:
    frames = text_turn_frames()
    recording = Recording.from_frames(
        frames, close_code=4000, close_reason="beta_api_shape_disabled", closed_by="server"
    )
    async with ReplayServer(recording) as server, aiohttp.ClientSession() as http:
        async with http.ws_connect(server.url + "/realtime?model=m") as ws:
            for f in frames:
                if f.direction is C:
                    await ws.send_bytes(f.data)  # binary payload, same bytes: still a match
                else:
                    assert (await ws.receive()).data.encode() == f.data
            closing = await ws.receive()
        result = await server.next_result()
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (4000, "beta_api_shape_disabled")
    assert result.ok


async def test_a_recorded_drop_is_played_as_a_drop() -> None:
    frames = text_turn_frames()[:1]
    recording = Recording.from_frames(frames, close_code=1006, closed_by="server")
    async with (
        ReplayServer(recording) as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(server.url + "/realtime") as ws,
    ):
        first = await ws.receive()
        ending = await ws.receive()
        result = await server.next_result()
    assert first.data.encode() == frames[0].data
    assert ending.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert ws.close_code == 1006  # no close frame came
    assert result.ok


async def test_binary_frames_are_served_as_binary() -> None:
    frames = [
        Frame(S, 1_000_000, Opcode.BINARY, b"\x00\xffraw"),
        Frame(C, 2_000_000, Opcode.BINARY, b"\x01\x02"),
        Frame(S, 3_000_000, Opcode.TEXT, b'{"type":"x"}'),
    ]
    async with (
        ReplayServer(Recording.from_frames(frames)) as server,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(server.url + "/realtime") as ws:
            first = await ws.receive()
            await ws.send_bytes(b"\x01\x02")
            second = await ws.receive()
        result = await server.next_result()
    assert (first.type, first.data) == (aiohttp.WSMsgType.BINARY, b"\x00\xffraw")
    assert (second.type, second.data) == (aiohttp.WSMsgType.TEXT, '{"type":"x"}')
    assert result.ok


@pytest.mark.parametrize("path", ["/openai/realtime", "/openai/v1/realtime", "/realtime"])
async def test_azure_and_bare_paths_are_served(path: str) -> None:
    frames = text_turn_frames()[:1]
    async with (
        ReplayServer(Recording.from_frames(frames)) as server,
        aiohttp.ClientSession() as http,
    ):
        url = f"ws://127.0.0.1:{server.port}{path}?api-version=2025-04-01&deployment=d"
        async with http.ws_connect(url, headers={"api-key": "k"}) as ws:
            message = await ws.receive()
    assert message.data.encode() == frames[0].data


async def test_the_realtime_subprotocol_is_chosen_when_a_browser_offers_it() -> None:
    frames = text_turn_frames()[:1]
    offered = ("realtime", "openai-insecure-api-key.sk-browser-secret", "openai-beta.realtime-v1")
    async with (
        ReplayServer(Recording.from_frames(frames)) as server,
        aiohttp.ClientSession() as http,
        http.ws_connect(server.url + "/realtime", protocols=offered) as ws,
    ):
        await ws.receive()
        assert ws.protocol == "realtime"


async def test_a_plain_http_request_gets_426_and_what_to_do() -> None:
    async with (
        ReplayServer(Recording.from_frames([])) as server,
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{server.port}/v1/realtime") as response,
    ):
        body = await response.text()
    assert response.status == 426
    assert "connect with a WebSocket client" in body


async def test_keys_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    frames = text_turn_frames("hi")
    wrong = client_frames(text_turn_frames("hello"))[1]
    secret = "sk-test-never-log-this-0123456789"
    caplog.set_level(logging.DEBUG, logger="recorder.serve")
    async with ReplayServer(Recording.from_frames(frames), match="lenient") as server:
        client = AsyncOpenAI(api_key=secret, websocket_base_url=server.url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.recv_bytes()
            await connection.send(wrong)
            await connection.recv_bytes()
        await server.next_result()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert 'expected client event "session.update"' in logged and "lenient" in logged
    assert secret not in logged


async def test_speed_1_never_sends_a_frame_before_its_recorded_offset() -> None:
    frames = text_turn_frames(gap_ms=20.0)
    async with ReplayServer(Recording.from_frames(frames), speed=1.0) as server:
        started = time.monotonic()
        await play_with_sdk(server.url, frames)
        elapsed = time.monotonic() - started
        result = await server.next_result()
    assert len(result.lateness_ns) == result.server_frames_sent == 10
    assert min(result.lateness_ns) >= 0
    assert elapsed >= frames[-1].t_ns / 1e9


async def test_speed_1_keeps_the_recorded_gap_after_a_slow_client_frame() -> None:
    # the answer to response.create was recorded 50 ms after it; the client sends 300 ms late
    frames = [
        frame(S, 0, {"type": "session.created"}),
        frame(C, 10, {"type": "response.create"}),
        frame(S, 60, {"type": "response.created"}),
    ]
    async with ReplayServer(Recording.from_frames(frames), speed=1.0) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.recv_bytes()
            await asyncio.sleep(0.3)
            sent = time.monotonic()
            await connection.send({"type": "response.create"})
            await connection.recv_bytes()
            answered = time.monotonic() - sent
        result = await server.next_result()
    assert answered >= 0.05
    assert result.ok


async def test_asap_records_no_lateness() -> None:
    frames = text_turn_frames(gap_ms=1000.0)  # 14 s of recording, served at once
    async with ReplayServer(Recording.from_frames(frames)) as server:
        await play_with_sdk(server.url, frames)
        result = await server.next_result()
    assert result.ok and result.lateness_ns == []


def test_parse_speed() -> None:
    assert parse_speed("asap") is None
    assert parse_speed("ASAP") is None
    assert parse_speed("1") == 1.0
    assert parse_speed("2.5") == 2.5
    assert parse_speed("0.001") == 0.001
    for bad in ("0", "-1", "fast", "inf", "nan", "1e-300", "0.0009"):
        with pytest.raises(RtrecError, match=f"--speed '{bad}' is not valid: use 'asap'"):
            parse_speed(bad)


def test_an_invalid_match_mode_is_refused() -> None:
    with pytest.raises(RtrecError, match="--match 'loose' is not valid: use strict or lenient"):
        ReplayServer(Recording.from_frames([]), match="loose")  # type: ignore[arg-type]


# -- from the event log, and the command line ---------------------------------------------------


async def make_db(path: Path | str, frames: list[Frame], **end: Any) -> str:
    event_log = await open_log(str(path))
    try:
        sid = await event_log.begin_session("ga", "gpt-realtime", "wss://example.invalid/v1")
        for f in frames:
            event_log.append(sid, f)
        await event_log.end_session(sid, **({"closed_by": "client", "close_code": 1000} | end))
    finally:
        await event_log.close()
    return sid


async def test_load_recording_reads_the_session_from_the_log(tmp_path: Path) -> None:
    frames = text_turn_frames()
    older = await make_db(tmp_path / "s.db", text_turn_frames("older"))
    sid = await make_db(tmp_path / "s.db", frames, closed_by="server", close_code=1001)
    event_log = await open_log(str(tmp_path / "s.db"))
    try:
        newest = await load_recording(event_log)
        chosen = await load_recording(event_log, older)
    finally:
        await event_log.close()
    assert newest.session_id == sid and chosen.session_id == older
    assert [(f.direction, f.t_ns, f.opcode, f.data) for f in newest.frames] == [
        (f.direction, f.t_ns, f.opcode, f.data) for f in frames
    ]
    assert [f.seq for f in newest.frames] == list(range(1, len(frames) + 1))
    assert newest.frames[0].type == "session.created"
    assert (newest.closed_by, newest.close_code) == ("server", 1001)


async def test_load_recording_keeps_audio_and_binary_frames_byte_for_byte(tmp_path: Path) -> None:
    # the log keeps canonical audio as bytes; playback reads it through the stream and must
    # still send every frame as it crossed the wire, binary frames as binary
    audio = base64.b64encode(bytes(range(256)) * 4).decode()
    frames = [
        frame(S, 1, {"type": "session.created", "event_id": "e1", "session": {"id": "s"}}),
        frame(C, 2, {"type": "input_audio_buffer.append", "audio": audio}),
        Frame(C, 3_000_000, Opcode.BINARY, b"\x00\xffraw"),
        frame(S, 4, {"type": "response.output_audio.delta", "event_id": "e2",
                     "response_id": "r", "item_id": "i", "output_index": 0,
                     "content_index": 0, "delta": audio}),
    ]
    await make_db(tmp_path / "s.db", frames)
    event_log = await open_log(str(tmp_path / "s.db"))
    try:
        recording = await load_recording(event_log)
    finally:
        await event_log.close()
    assert [(f.direction, f.t_ns, f.opcode, f.data) for f in recording.frames] == [
        (f.direction, f.t_ns, f.opcode, f.data) for f in frames
    ]
    assert [f.type for f in recording.frames] == [
        "session.created", "input_audio_buffer.append", None, "response.output_audio.delta"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def stored_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty log on each engine: a SQLite file, or the run's PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    return str(request.getfixturevalue("pg_url"))


async def test_a_stored_session_serves_the_sdk(stored_db: str) -> None:
    db = stored_db
    frames = build("barge_in")
    sid = await make_db(db, frames)
    event_log = await open_log(db)
    try:
        recording = await load_recording(event_log, sid)
    finally:
        await event_log.close()
    async with ReplayServer(recording) as server:
        received = await play_with_sdk(server.url, frames)
        result = await server.next_result()
    assert received == [f.data for f in frames if f.direction is S]
    assert result.ok


def rtrec(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from recorder.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_rtrec_serve_serves_until_interrupted(tmp_path: Path) -> None:
    frames = text_turn_frames("hi")
    sid = await make_db(tmp_path / "s.db", frames)
    process = rtrec("serve", str(tmp_path / "s.db"), "--listen", "127.0.0.1:0", "--speed", "asap")
    try:
        assert process.stdout is not None
        banner = [await asyncio.to_thread(process.stdout.readline) for _ in range(3)]
        assert banner[0].startswith(f"rtrec: serving session {sid} from {tmp_path / 's.db'}")
        assert "10 server frames, 3 client frames" in banner[0]
        url = re.search(r'websocket_base_url="([^"]+)"', banner[2]).group(1)  # type: ignore[union-attr]
        received = await play_with_sdk(url, frames)
        wrong = client_frames(text_turn_frames("hello"))
        with pytest.raises(Exception):  # noqa: B017 (the SDK's close error type varies)
            await play_with_sdk(url, frames, replace={1: wrong[1]})
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0, err
    assert received == [f.data for f in frames if f.direction is S]
    assert "rtrec serve: connection 1: ended: 10 server frames sent, 3 client frames matched" in err
    assert "connection 2: session" in err and 'expected "hi", received "hello"' in err
    assert "seq 6 response.create" in err  # the unused frame after the mismatch


def test_rtrec_serve_refuses_a_missing_database(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    process = rtrec("serve", str(missing))
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err == f"Error: {missing} does not exist: give the database you recorded into\n"
    assert not missing.exists()


def test_rtrec_serve_refuses_a_bad_speed(tmp_path: Path) -> None:
    process = rtrec("serve", str(tmp_path / "x.db"), "--speed", "warp")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err == "Error: --speed 'warp' is not valid: use 'asap' or a positive number such as 1\n"


async def test_rtrec_serve_names_an_unknown_session(tmp_path: Path) -> None:
    await make_db(tmp_path / "s.db", text_turn_frames())
    process = rtrec("serve", str(tmp_path / "s.db"), "--session", "sess_unknown")
    _, err = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 1
    assert err.startswith("Error: ") and "sess_unknown" in err


# -- realistic sessions (recorder.fake scenarios), GA and beta ----------------------------------


@pytest.mark.parametrize("protocol", ["ga", "beta"])
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_every_scenario_plays_to_the_sdk_byte_for_byte(name: str, protocol: str) -> None:
    frames = build(name, protocol)
    async with ReplayServer(Recording.from_frames(frames, session_id=name)) as server:
        received = await play_with_sdk(server.url, frames)
        result = await server.next_result()
    assert received == [f.data for f in frames if f.direction is S]
    assert result.ok, (result.mismatches[:1], result.unused_client_frames[:1])
    assert result.client_frames_matched == sum(1 for f in frames if f.direction is C)


async def test_a_scenario_with_a_changed_function_output_is_caught() -> None:
    frames = build("function_call")
    sent = client_frames(frames)
    index = next(
        i
        for i, e in enumerate(sent)
        if e["type"] == "conversation.item.create"
        and e["item"].get("type") == "function_call_output"
    )
    changed = {**sent[index], "item": {**sent[index]["item"], "output": '{"temp": -40}'}}
    async with ReplayServer(Recording.from_frames(frames, session_id="fc")) as server:
        with pytest.raises(Exception):  # noqa: B017 (the SDK raises on the close after the error)
            await play_with_sdk(server.url, frames, replace={index: changed})
        result = await server.next_result()
    assert [m.paths for m in result.mismatches] == [("item.output",)]
    assert "item.output: expected" in result.mismatches[0].message
    assert 'received "{\\"temp\\": -40}"' in result.mismatches[0].message


# -- who may connect ----------------------------------------------------------------------------


def test_rtrec_serve_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    process = rtrec("serve", str(tmp_path / "x.db"), "--listen", "0.0.0.0:0")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err == (
        "Error: --listen 0.0.0.0 is not a loopback address: pass --token SECRET (or set "
        "RTREC_TOKEN); clients then send it as header X-Rtrec-Token or query rtrec_token\n"
    )


async def test_with_a_token_only_clients_that_present_it_are_served() -> None:
    frames = text_turn_frames("hi")
    async with ReplayServer(Recording.from_frames(frames), token="s3cret") as server:
        endpoint = f"{server.url}/realtime"
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(endpoint)
            assert refused.value.status == 401
            async with http.ws_connect(endpoint, headers={"X-Rtrec-Token": "s3cret"}) as ws:
                first = await ws.receive()
    assert first.data.encode() == frames[0].data


async def test_a_page_on_another_origin_needs_the_token() -> None:
    frames = text_turn_frames("hi")
    async with aiohttp.ClientSession() as http:
        async with ReplayServer(Recording.from_frames(frames)) as server:
            endpoint = f"{server.url}/realtime"
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(endpoint, origin="https://evil.example")
            assert refused.value.status == 403
            async with http.ws_connect(endpoint, origin="http://localhost:5173") as ws:
                local = await ws.receive()
        async with ReplayServer(Recording.from_frames(frames), token="s3cret") as server:
            endpoint = f"{server.url}/realtime?rtrec_token=s3cret"
            async with http.ws_connect(endpoint, origin="https://app.example") as ws:
                allowed = await ws.receive()
    assert local.data.encode() == allowed.data.encode() == frames[0].data


async def test_stopping_closes_connected_clients_with_1001_and_logs_their_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="recorder.serve")
    # the second server frame is due an hour in: the client is mid-playback when serve stops
    frames = [
        frame(S, 1, {"type": "session.created", "event_id": "e1", "session": {}}),
        frame(S, 3_600_000, {"type": "response.done", "event_id": "e2", "response": {}}),
    ]
    server = ReplayServer(Recording.from_frames(frames, session_id="sess_stop"), speed=1.0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{server.url}/realtime") as ws:
            await ws.receive()
            # a hang guard, not a timing check: before the fix the client waited minutes
            await asyncio.wait_for(server.close(), 30)
            closing = await asyncio.wait_for(ws.receive(), 30)
    finally:
        await server.close()
    assert closing.type is aiohttp.WSMsgType.CLOSE
    assert (closing.data, closing.extra) == (1001, "rtrec serve is stopping")
    [result] = server.results
    assert (result.server_frames_sent, result.finished) == (1, False)
    assert "connection 1: ended: 1 server frames sent" in caplog.text
