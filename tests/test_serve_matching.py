"""Serve matching a real voice client: measured fields within a tolerance, the user's rules,
and a mismatch that names the recorded frame the client most likely sent out of order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI

from recorder.matching import MatchRules
from recorder.serve import PlaybackResult, Recording, ReplayServer
from recorder.testing import record_frames
from recorder.wire import Direction, Frame, Opcode

C, S = Direction.CLIENT, Direction.SERVER
ITEM = "item_assistant_1"


def frame(direction: Direction, t_ms: float, event: dict[str, Any]) -> Frame:
    return Frame(direction, int(t_ms * 1e6), Opcode.TEXT, json.dumps(event).encode())


def truncate(audio_end_ms: int) -> dict[str, Any]:
    return {"type": "conversation.item.truncate", "item_id": ITEM, "content_index": 0,
            "audio_end_ms": audio_end_ms}


def barge_in_frames(*, cancel_first: bool = False, played_ms: int = 430) -> list[Frame]:
    """The assistant speaks, the user talks over it, the client cuts the reply at played_ms."""
    frames = [
        frame(S, 1, {"type": "session.created", "event_id": "event_1",
                     "session": {"type": "realtime", "id": "sess_1"}}),
        frame(S, 2, {"type": "response.output_audio.delta", "event_id": "event_2",
                     "response_id": "resp_1", "item_id": ITEM, "output_index": 0,
                     "content_index": 0, "delta": "AAAA"}),
        frame(S, 3, {"type": "input_audio_buffer.speech_started", "event_id": "event_3",
                     "audio_start_ms": 2449, "item_id": "item_user_2"}),
    ]
    if cancel_first:
        frames.append(frame(C, 4, {"type": "response.cancel", "event_id": "evt_rec_0"}))
    frames += [
        frame(C, 5, {**truncate(played_ms), "event_id": "evt_rec_1"}),
        frame(S, 6, {"type": "conversation.item.truncated", "event_id": "event_4",
                     "item_id": ITEM, "content_index": 0, "audio_end_ms": played_ms}),
    ]
    return frames


async def barge_in(url: str, *sent: dict[str, Any]) -> list[dict[str, Any]]:
    """A barge-in client: waits for speech_started, sends its events, reads to the end."""
    received: list[dict[str, Any]] = []
    client = AsyncOpenAI(api_key="test", websocket_base_url=url)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        for _ in range(3):
            received.append(json.loads(await connection.recv_bytes()))
        for event in sent:
            await connection.send(event)
        # after a strict mismatch the socket closes: the error event came first
        with contextlib.suppress(Exception):
            received.append(json.loads(await connection.recv_bytes()))
    return received


async def serve_barge_in(
    *sent: dict[str, Any], rules: MatchRules | None = None, cancel_first: bool = False
) -> tuple[list[dict[str, Any]], PlaybackResult]:
    recording = Recording.from_frames(barge_in_frames(cancel_first=cancel_first), session_id="s1")
    kwargs = {"rules": rules} if rules is not None else {}
    async with ReplayServer(recording, **kwargs) as server:
        received = await barge_in(server.url, *sent)
        result = await server.next_result()
    return received, result


@pytest.mark.parametrize("played", [430, 435, 427, 432, 480, 380])
async def test_a_barge_in_client_a_few_ms_off_replays_in_strict_mode(played: int) -> None:
    received, result = await serve_barge_in(truncate(played))
    assert result.ok, result.mismatches
    assert received[-1]["type"] == "conversation.item.truncated"


async def test_one_off_by_more_than_the_tolerance_gets_the_pinned_error() -> None:
    received, result = await serve_barge_in(truncate(520))
    error = received[-1]
    assert error["type"] == "error" and error["error"]["code"] == "rtrec_mismatch"
    assert error["error"]["message"] == (
        'session s1, client frame seq 4: expected client event "conversation.item.truncate", '
        'received "conversation.item.truncate"; 1 field differs: audio_end_ms: expected 430, '
        "received 520 (more than the tolerance of 50)."
    )
    assert [m.paths for m in result.mismatches] == [("audio_end_ms",)]
    (mismatch,) = result.mismatches
    assert mismatch.report().splitlines()[1:] == [
        f"  expected: {json.dumps({**truncate(430), 'event_id': 'evt_rec_1'})}",
        f"  received: {json.dumps(truncate(520))}",
    ]


async def test_the_user_sets_the_tolerance_or_asks_for_an_exact_match() -> None:
    _, wide = await serve_barge_in(truncate(520), rules=MatchRules.build(
        tolerance={"audio_end_ms": 100}))
    assert wide.ok
    _, exact = await serve_barge_in(truncate(431), rules=MatchRules.build(exact=["audio_end_ms"]))
    assert [m.paths for m in exact.mismatches] == [("audio_end_ms",)]
    assert exact.mismatches[0].message.endswith("expected 430, received 431.")
    _, ignored = await serve_barge_in(truncate(9000), rules=MatchRules.build(
        ignore=["audio_end_ms"]))
    assert ignored.ok


async def test_events_in_another_order_name_the_nearest_recorded_frame() -> None:
    # recorded: response.cancel, then the truncate; this client truncates first
    received, result = await serve_barge_in(
        truncate(433), {"type": "response.cancel"}, cancel_first=True
    )
    assert received[-1]["error"]["message"] == (
        'session s1, client frame seq 4: expected client event "response.cancel", received '
        '"conversation.item.truncate"; 4 fields differ: audio_end_ms: expected (absent), '
        'received 433; content_index: expected (absent), received 0; item_id: expected '
        f'(absent), received "{ITEM}"; type: expected "response.cancel", received '
        '"conversation.item.truncate". The order differs: the nearest recorded '
        '"conversation.item.truncate" is client frame seq 5, 1 client frame(s) later, and '
        "matches it."
    )
    assert not result.ok


async def test_a_type_the_recording_does_not_hold_ahead_is_said_so() -> None:
    received, _ = await serve_barge_in({"type": "input_audio_buffer.clear"}, cancel_first=True)
    assert received[-1]["error"]["message"].endswith(
        ' No "input_audio_buffer.clear" among the next 1 recorded client frame(s).'
    )


def rtrec(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from recorder.cli import main; main()", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("bad", ["audio_end_ms", "audio_end_ms=soon", "=5", "audio_end_ms=-3"])
def test_rtrec_serve_refuses_a_bad_tolerance(tmp_path: Path, bad: str) -> None:
    process = rtrec("serve", str(tmp_path / "x.db"), "--tolerance", bad)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err == f"Error: --tolerance {bad!r} is not FIELD=N: e.g. --tolerance audio_end_ms=100\n"
    assert not (tmp_path / "x.db").exists()


async def test_rtrec_serve_takes_the_matching_list_from_its_flags(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    await asyncio.to_thread(record_frames, db, barge_in_frames())
    process = rtrec("serve", str(db), "--listen", "127.0.0.1:0", "--speed", "asap",
                    "--tolerance", "audio_end_ms=100", "--ignore", "metadata")
    try:
        assert process.stdout is not None
        banner = [await asyncio.to_thread(process.stdout.readline) for _ in range(3)]
        assert banner[0].rstrip().endswith(
            "matching strict (audio_end_ms within 100; audio_start_ms within 50; elapsed_ms "
            "within 50; ignoring metadata)"
        )
        url = re.search(r'websocket_base_url="([^"]+)"', banner[2]).group(1)  # type: ignore[union-attr]
        within = await barge_in(url, truncate(520))
        beyond = await barge_in(url, truncate(531))
    finally:
        process.send_signal(signal.SIGINT)
        _, err = await asyncio.to_thread(process.communicate, timeout=30)
    assert process.returncode == 0, err
    assert within[-1]["type"] == "conversation.item.truncated"
    assert beyond[-1]["type"] == "error"
    assert "received 531 (more than the tolerance of 100)" in beyond[-1]["error"]["message"]
