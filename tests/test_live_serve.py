"""rtrec serve for Live sessions (issue 18 item 6): a recorded Live session played to a Live
client. The plan (which frames answer the client, which ids are regenerated) is tested as a
pure function of the frames; playback with a client that behaves like an app
(live_serve_client), at --speed asap so that only causality orders the frames."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from live_serve_client import LiveRun, play_live_ws

from recorder.fake.live import FREE_RUNNING, build_live
from recorder.fake.live_server import play_live_client
from recorder.live.playback import LivePlayback, fresh_id
from recorder.live.serve_plan import LivePlan
from recorder.matching import MatchRules
from recorder.serve import Recording, ReplayServer
from recorder.testing import arecord_frames
from recorder.wire import Direction, Frame

C, S = Direction.CLIENT, Direction.SERVER


def recording(frames: list[Frame], **options: Any) -> Recording:
    options.setdefault("closed_by", "server")
    options.setdefault("close_code", 1000)
    return Recording.from_frames(frames, session_id="s1", **options)


def types_of(plan: LivePlan, entries: list[Any]) -> list[str | None]:
    return [plan.frames[e.index].type for e in entries]


def answered_by(plan: LivePlan) -> list[tuple[str | None, str | None]]:
    return [(plan.frames[e.index].type, plan.frames[plan.control[e.dep]].type)
            for e in plan.answers]


async def serve_to_client(rec: Recording, frames: list[Frame], *, path: str = "/live/sessions",
                          speed: float | None = None, match: str = "strict",
                          rules: MatchRules | None = None, **options: Any) -> tuple[
                              LiveRun, int | None, Any]:
    extra = {"rules": rules} if rules is not None else {}
    async with ReplayServer(rec, speed=speed, match=match, **extra) as server:  # type: ignore[arg-type]
        run, code = await play_live_ws(server.url + path, frames, **options)
        result = await server.next_result()
    return run, code, result


# --- the plan ------------------------------------------------------------------------------


def test_a_recording_that_starts_with_session_start_is_played_as_live() -> None:
    assert recording(build_live("spoken_turn")).is_live
    assert not Recording.from_frames([Frame(C, 0, 1, b'{"type":"session.update"}')]).is_live


async def test_the_plan_is_worked_out_when_the_server_starts_not_at_the_first_connection(
) -> None:
    # worked out while the first client's session.start waits unread, it made every frame
    # counted from that session.start late
    rec = recording(build_live("spoken_turn"))
    assert "live_plan" not in vars(rec)
    async with ReplayServer(rec):
        assert "live_plan" in vars(rec)


def test_only_the_frames_that_answer_the_client_are_held_back() -> None:
    plan = LivePlan.of(recording(build_live("tool_call")))
    answers = answered_by(plan)
    # the backend's continuation after response.create, and session.closed after session.close
    assert answers[-1] == ("session.closed", "session.close")
    assert set(answers[:-1]) == {("response.event", "response.create")}
    continued = [json.loads(plan.frames[e.index].data)["event"]["type"]
                 for e in plan.answers[:-1]]
    assert continued[0] == "response.completed"
    assert continued.count("response.output_text.delta") == 3
    # the function call the client answers runs free: the client cannot send before it has it
    free = types_of(plan, plan.free)
    assert free[0] == "session.started"
    assert {"session.output_audio.delta", "session.delegation.created",
            "response.event"} <= set(free)
    assert [plan.frames[i].type for i in plan.control] == [
        "session.start", "response.item.create", "response.create", "session.close"]
    assert plan.audio_gate == 3 and len(plan.audio) > 40 and plan.notes == []


@pytest.mark.parametrize(("scenario", "answer", "command"), [
    ("client_delegation", "session.commentary.appended", "session.commentary.append"),
    ("error", "error", "response.item.create"),
])
def test_acknowledgements_and_errors_answer_their_command(
    scenario: str, answer: str, command: str
) -> None:
    plan = LivePlan.of(recording(build_live(scenario)))
    assert (answer, command) in answered_by(plan)


def test_an_acknowledgement_without_client_event_id_answers_the_oldest_open_command() -> None:
    frames = [
        Frame(C, 0, 1, b'{"type":"session.start","session":{"model":"gpt-live-1"}}'),
        Frame(S, 1, 1,
              b'{"type":"session.started","event_id":"event_1","session":{"id":"live_u0_a"}}'),
        Frame(C, 2, 1, b'{"type":"session.input_audio.mute"}'),
        Frame(C, 3, 1, b'{"type":"session.input_audio.mute"}'),
        Frame(S, 4, 1, b'{"type":"session.input_audio.muted","event_id":"event_2"}'),
        Frame(S, 5, 1, b'{"type":"session.input_audio.muted","event_id":"event_3"}'),
    ]
    plan = LivePlan.of(recording(frames))
    assert [e.dep for e in plan.answers] == [1, 2]


def test_server_ids_are_regenerated_and_client_chosen_ones_kept() -> None:
    frames = build_live("tool_call")
    plan = LivePlan.of(recording(frames))
    started = json.loads(frames[1].data)
    call_id = next(json.loads(f.data)["item"]["call_id"] for f in frames
                   if b'"response.item.create"' in f.data)
    assert started["session"]["id"] in plan.server_ids and call_id in plan.server_ids
    assert started["event_id"] in plan.server_ids
    client_ids = {json.loads(f.data).get("event_id") for f in frames if f.direction is C}
    assert not client_ids & plan.server_ids  # evt_...: the client's own
    item_create = next(i for i in plan.control if plan.frames[i].type == "response.item.create")
    assert plan.ids_in[item_create] == (call_id,)


def test_a_fresh_id_keeps_the_recorded_shape() -> None:
    import random

    new = fresh_id("live_u0_abcDEF123", random.Random(1))
    assert new.startswith("live_u0_") and len(new) == len("live_u0_abcDEF123")
    assert new != "live_u0_abcDEF123"


def test_the_rewrite_is_consistent_across_frames_and_new_per_connection() -> None:
    frames = build_live("tool_call")
    plan = LivePlan.of(recording(frames))
    one, two = LivePlayback(plan), LivePlayback(plan)
    closed = next(e.index for e in plan.answers if plan.frames[e.index].type == "session.closed")
    first = json.loads(one.rewrite(0 + 1))["session"]["id"]
    assert first == json.loads(one.rewrite(closed))["session"]["id"]
    assert first != json.loads(two.rewrite(1))["session"]["id"]
    assert first != json.loads(frames[1].data)["session"]["id"]


# --- playback ------------------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["spoken_turn", "tool_call", "client_delegation",
                                      "barge_in", "error", "close"])
async def test_an_app_like_client_plays_every_scenario(scenario: str) -> None:
    frames = build_live(scenario)
    run, code, result = await serve_to_client(recording(frames), frames)
    assert result.ok, [m.message for m in result.mismatches]
    assert code == 1000
    recorded = [f for f in frames if f.direction is S]
    assert len(run.received) == len(recorded)
    # every frame without ids is served byte for byte (audio, transcripts)
    plain = {f.data for f in recorded if f.data.startswith(b'{"type":"session.output_audio')}
    assert plain and plain <= set(run.received)


async def test_ids_are_fresh_per_connection_consistent_and_echo_the_client() -> None:
    frames = build_live("tool_call")
    rec = recording(frames)
    runs = [await serve_to_client(rec, frames) for _ in range(2)]
    ids = []
    for run, _, result in runs:
        assert result.ok, [m.message for m in result.mismatches]
        [started] = run.events("session.started")
        [closed] = run.events("session.closed")
        assert closed["session"]["id"] == started["session"]["id"]
        assert started["client_event_id"] == run.sent[0]["event_id"] == "evt_client_1"
        assert closed["client_event_id"] == run.sent[-1]["event_id"]
        ids.append(started["session"]["id"])
        # the call_id the client echoed is the one this connection gave
        calls = [e["event"]["item"]["call_id"] for e in run.events("response.event")
                 if e["event"]["type"] == "response.output_item.added"]
        [item_create] = [e for e in run.sent if e["type"] == "response.item.create"]
        assert item_create["item"]["call_id"] == calls[0]
    recorded = json.loads(frames[1].data)["session"]["id"]
    assert len({recorded, *ids}) == 3


async def test_a_client_that_echoes_the_recorded_call_id_is_refused() -> None:
    frames = build_live("tool_call")
    run, code, result = await serve_to_client(recording(frames), frames, echo_ids=False)
    assert code == 4400
    [mismatch] = result.mismatches
    assert mismatch.paths == ("item.call_id",)
    assert "expected client event \"response.item.create\", received \"response.item.create\"" \
        in mismatch.message
    [error] = run.events("error")
    assert error["error"]["code"] == "rtrec_mismatch"
    [item_create] = [e for e in run.sent if e["type"] == "response.item.create"]
    assert error["client_event_id"] == error["error"]["client_event_id"] == item_create["event_id"]


async def test_the_continuation_waits_for_the_client_and_the_stream_does_not() -> None:
    frames = build_live("tool_call")
    total_audio = sum(1 for f in frames if f.direction is S and b"output_audio.delta" in f.data)

    async def hold_back(event: dict[str, Any], run: LiveRun, take: Any) -> None:
        if event["type"] == "response.create":  # the app is slow: it sends only once every
            while sum(b"output_audio.delta" in d for d in run.received) < total_audio - 5:
                assert await take() is not None  # audio frame but the last few has come

    run, _, result = await serve_to_client(recording(frames), frames, before=hold_back)
    assert result.ok, [m.message for m in result.mismatches]
    sent_create = run.sent_at[[e["type"] for e in run.sent].index("response.create")]
    completed = [i for i, data in enumerate(run.received)
                 if b'"response.completed"' in data]
    assert completed and min(completed) >= sent_create  # held back until it came
    closed = [i for i, d in enumerate(run.received) if b'"session.closed"' in d]
    assert closed[0] >= run.sent_at[len(run.sent) - 1]


async def test_at_speed_1_the_stream_keeps_its_recorded_order_and_answers_follow() -> None:
    frames = build_live("client_delegation")
    run, _, result = await serve_to_client(recording(frames), frames, speed=1.0)
    assert result.ok, [m.message for m in result.mismatches]
    assert len(result.lateness_ns) == len(run.received)
    assert min(result.lateness_ns) >= 0  # never before its due time
    recorded = [f.data for f in frames if f.direction is S and f.data.startswith(
        b'{"type":"session.output_audio.delta"')]
    assert [d for d in run.received if d in set(recorded)] == recorded


@pytest.mark.parametrize("chunk_bytes", [1200, 2400 * 3 + 2, 10**7])
async def test_client_audio_in_other_chunk_sizes_matches(chunk_bytes: int) -> None:
    frames = build_live("spoken_turn")
    _, code, result = await serve_to_client(recording(frames), frames, chunk_bytes=chunk_bytes)
    assert result.ok, [m.message for m in result.mismatches]
    assert code == 1000


async def test_too_little_client_audio_is_a_mismatch_before_session_close() -> None:
    frames = build_live("spoken_turn", seed=3)
    rec = recording(frames)
    total = rec.live_plan.audio_bytes
    run, code, result = await serve_to_client(rec, frames, audio=0.5)
    assert code == 4400
    [mismatch] = result.mismatches
    sent = total // 2 // 2 * 2
    assert mismatch.message == (
        f"session s1: the client sent {sent / 48000:.3f} s of audio (session.input_audio.append) "
        f"before session.close, the recording has {total / 48000:.3f} s in "
        f"{len(rec.live_plan.audio)} frame(s) (client audio is matched by its total duration, "
        "in any chunk sizes)"
    )
    assert run.events("error")[0]["error"]["message"] == mismatch.message


@pytest.mark.parametrize("rules", [
    MatchRules.build(ignore=["audio"]),
    MatchRules.build(tolerance={"session.input_audio.append:audio": 5000}),
])
async def test_the_audio_comparison_follows_the_match_rules(rules: MatchRules) -> None:
    frames = build_live("spoken_turn", seed=3)
    _, code, result = await serve_to_client(recording(frames), frames, audio=0.5, rules=rules)
    assert result.ok and code == 1000


async def test_a_client_that_leaves_early_leaves_its_commands_and_audio_unused() -> None:
    frames = build_live("spoken_turn")
    rec = recording(frames)
    async with ReplayServer(rec) as server, aiohttp.ClientSession() as http:
        async with http.ws_connect(server.url + "/live/sessions") as ws:
            await ws.send_str(frames[0].data.decode())
            await ws.receive()
        result = await server.next_result()
    assert not result.finished
    unused = [f.type for f in result.unused_client_frames]
    assert unused[-1] == "session.close" and unused.count("session.input_audio.append") == len(
        rec.live_plan.audio)


async def test_a_sideband_gets_the_session_id_its_path_names() -> None:
    frames = build_live("sideband", parent_id="live_u0_TheObservedCall000000")
    rec = recording(frames, connection="attach")
    run, _, result = await serve_to_client(
        rec, frames, path="/live/sessions/live_u0_SomeOtherCall11111111/attach")
    assert result.ok, [m.message for m in result.mismatches]
    [started] = run.events("session.started")
    assert started["session"]["id"] == "live_u0_SomeOtherCall11111111"


async def test_a_realtime_client_is_told_this_is_a_live_session() -> None:
    rec = recording(build_live("close"))
    async with ReplayServer(rec) as server, aiohttp.ClientSession() as http, http.get(
        server.url + "/realtime"
    ) as response:
        assert response.status == 404
        assert await response.text() == (
            "rtrec serve: session s1 is a Live session: connect a Live client "
            "(/v1/live/sessions)\n")


async def test_the_fake_scripted_client_is_served_too() -> None:
    # the fake's client echoes nothing (it plays recorded ids): lenient serves it whole
    frames = build_live("client_delegation")
    async with ReplayServer(recording(frames), match="lenient") as server:
        await play_live_client(server.url + "/live/sessions", "client_delegation", pace=0)
        result = await server.next_result()
    assert result.finished and [m.paths for m in result.mismatches] == [("delegation_id",)]


# --- bad input -----------------------------------------------------------------------------


async def test_a_recording_without_session_start_plays_from_the_opening() -> None:
    frames = build_live("spoken_turn")[1:]
    rec = recording(frames)
    assert rec.is_live  # by its session.started
    assert rec.notes() == [
        "session s1: the recording has no session.start (the client's first frame: "
        "session.input_audio.append): its frames play from the connection's opening, and a "
        "client's session.start is accepted unmatched"]
    full = build_live("spoken_turn")
    run, code, result = await serve_to_client(rec, full)
    assert result.ok, [m.message for m in result.mismatches]
    assert len(run.events("session.started")) == 1 and code == 1000


async def test_a_refused_session_start_is_answered_with_its_error() -> None:
    start = build_live("close")[0]
    error = (b'{"type":"error","event_id":"event_x1","error":{"type":"invalid_request_error",'
             b'"code":"credit_balance_exhausted","message":"No credit.","param":null,'
             b'"client_event_id":"' + json.loads(start.data)["event_id"].encode() + b'"}}')
    rec = recording([start, Frame(S, 50_000_000, 1, error)])
    assert rec.notes() == [
        "session s1: session.start was refused (error credit_balance_exhausted): playback "
        "answers it with that error, as recorded",
        "session s1: the recording has no session.closed (the session did not end cleanly): "
        "playback ends where the recording does"]
    run, _, result = await serve_to_client(rec, [start, Frame(S, 50_000_000, 1, error)])
    assert result.ok
    [got] = run.events("error")
    assert got["error"]["client_event_id"] == "evt_client_1"
    assert got["event_id"] != "event_x1"


async def test_unknown_types_are_served_with_a_note() -> None:
    frames = build_live("close")
    odd = Frame(S, frames[3].t_ns, 1, b'{"type":"session.brand_new","event_id":"event_n1"}')
    frames.insert(4, odd)
    rec = recording(frames)
    assert rec.notes() == [
        "session s1: frames of types Live does not define (session.brand_new): played as "
        "recorded (server frames on the free-running stream, client frames matched as "
        "recorded)"]
    run, _, result = await serve_to_client(rec, frames)
    assert result.ok and len(run.events("session.brand_new")) == 1


def test_free_running_types_of_the_fake_are_never_held_back() -> None:
    for scenario in ("spoken_turn", "tool_call", "client_delegation", "barge_in", "error"):
        plan = LivePlan.of(recording(build_live(scenario)))
        assert not set(types_of(plan, plan.answers)) & FREE_RUNNING, scenario


async def test_rtrec_serve_says_what_a_live_recording_lacks(tmp_path: Path) -> None:
    frames = [f for f in build_live("close") if b'"session.closed"' not in f.data]
    db = tmp_path / "live.db"
    sid = await arecord_frames(db, frames, protocol="live", model="gpt-live-1")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from recorder.cli import main; main()", "serve", str(db),
        "--listen", "127.0.0.1:0", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    banner = [(await process.stdout.readline()).decode() for _ in range(3)]
    note = (await process.stderr.readline()).decode()
    process.send_signal(signal.SIGINT)
    await process.communicate()
    assert banner[1].startswith("rtrec: listening on ws://127.0.0.1:")
    assert banner[1].endswith("/v1/live/sessions (a Live session)\n")
    assert note == (f"session {sid}: the recording has no session.closed (the session did not "
                    "end cleanly): playback ends where the recording does\n")
    assert process.returncode == 0


async def test_a_live_client_is_told_this_is_a_realtime_session() -> None:
    rec = Recording.from_frames([Frame(S, 0, 1, b'{"type":"session.created","event_id":"e"}')],
                                session_id="s2")
    async with ReplayServer(rec) as server, aiohttp.ClientSession() as http, http.get(
        server.url + "/live/sessions"
    ) as response:
        assert response.status == 404
        assert await response.text() == (
            "rtrec serve: session s2 is a Realtime session: connect a Realtime client "
            "(/v1/realtime)\n")


async def test_a_fork_is_served_on_its_path_with_a_new_session_id() -> None:
    frames = build_live("spoken_turn", connection="fork", parent_id="live_u0_Parent0000000000000")
    run, _, result = await serve_to_client(
        recording(frames, connection="fork"), frames,
        path="/live/sessions/live_u0_Parent0000000000000/fork")
    assert result.ok, [m.message for m in result.mismatches]
    [started] = run.events("session.started")
    assert started["session"]["id"] not in ("live_u0_Parent0000000000000",
                                            json.loads(frames[1].data)["session"]["id"])


async def test_hostile_frames_in_a_live_recording_are_served_as_recorded() -> None:
    frames = build_live("close")
    hostile = [
        b'{"type":"x","a":' + b"[" * 900 + b'"event_a"' + b"]" * 900 + b"}",
        b'{"type":"session.output_audio.delta"', b"not json", b'{"type":7}',
        b'{"type":"session.started","session":[1,2]}',
        b'{"type":"session.started","session":{"audio":{"format":{"type":"audio/pcm",'
        b'"rate":[1]}}}}',
    ]
    for data in hostile:
        frames.insert(3, Frame(S, frames[2].t_ns, 1, data))
    rec = recording(frames)
    assert rec.notes()[-1].startswith("session s1: frames of types Live does not define (")
    run, _, result = await serve_to_client(rec, frames)
    assert result.ok, [m.message for m in result.mismatches]
    assert set(hostile) <= set(run.received)
