"""Replay engine and `rtrec replay`: order, determinism, --until, pacing, bad input."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_conversation import beta_session, ga_session

from recorder.cli import cli
from recorder.decode import decode
from recorder.errors import RtrecError
from recorder.receiver import RealtimeEventReceiver
from recorder.replay import (
    QUIET_SERVER_TYPES,
    PacedClock,
    ReceiverError,
    replay_db,
    replay_session,
    skippable_types,
)
from recorder.store import open_log
from recorder.testing import arecord_frames, record_frames, replay, server_frame
from recorder.wire import Direction


class CallLog(RealtimeEventReceiver):
    """Records every call it gets, with its arguments and the replay position."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    def on_realtime_event_received(self, event: Any) -> None:
        self.calls.append(("server", self.position, event))
        super().on_realtime_event_received(event)

    def on_client_event(self, event: Any) -> None:
        self.calls.append(("client", self.position, event))

    def on_session_state_changed(self, state: str) -> None:
        self.calls.append(("state", str(state)))

    def on_response_audio_delta(self, *args: Any) -> None:
        self.calls.append(("on_response_audio_delta", self.position, args))

    def on_conversation_item_input_audio_transcription_completed(
        self, *args: Any, **kwargs: Any
    ) -> None:
        self.calls.append(("transcription_completed", args, kwargs))


@pytest.fixture
async def ga_db(tmp_path: Path) -> tuple[str, str]:
    db = str(tmp_path / "ga.db")
    sid = await arecord_frames(db, ga_session(), protocol="ga", model="gpt-realtime")
    return db, sid


async def test_replay_dispatches_in_seq_order_with_positions(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    receiver = CallLog()
    result = await replay_db(db, receiver, session=sid)
    frames = ga_session()
    assert result.frames == len(frames)
    assert result.last_seq == len(frames)
    assert receiver.calls[0] == ("state", "connected")
    assert receiver.calls[-1] == ("state", "closed")
    dispatched = [c for c in receiver.calls if c[0] in ("server", "client")]
    assert [c[1].seq for c in dispatched] == list(range(1, len(frames) + 1))
    assert [c[1].t_ns for c in dispatched] == [f.t_ns for f in frames]
    assert [c[0] for c in dispatched] == [f.direction.value for f in frames]
    # GA renames reach the seed's methods, with the seed's parameters
    audio = [c for c in receiver.calls if c[0] == "on_response_audio_delta"]
    assert len(audio) == 2
    assert audio[0][2][1:5] == ("resp_1", "item_a1", 0, 0)
    completed = [c for c in receiver.calls if c[0] == "transcription_completed"]
    assert completed[0][2] == {"item_id": "item_u1"}


async def test_two_replays_make_identical_calls(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    first, second = CallLog(), CallLog()
    await replay_db(db, first, session=sid)
    await replay_db(db, second)  # newest session: the same one
    assert first.calls == second.calls
    assert len(first.calls) > 50


async def test_until_stops_after_that_seq(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    receiver = CallLog()
    result = await replay_db(db, receiver, session=sid, until=7)
    assert result.last_seq == 7
    dispatched = [c for c in receiver.calls if c[0] in ("server", "client")]
    assert [c[1].seq for c in dispatched] == list(range(1, 8))


async def test_paced_replay_waits_for_the_recorded_offsets(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    fake_time = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        fake_time[0] += seconds

    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        clock = PacedClock(2.0, sleep=sleep, now=lambda: fake_time[0])
        await replay_session(log, CallLog(), info, clock=clock)
    finally:
        await log.close()
    frames = ga_session()
    # every frame is 10 ms after the previous one; at speed 2 that is 5 ms of waiting each
    assert len(waits) == len(frames) - 1
    assert waits == pytest.approx([0.005] * (len(frames) - 1))
    assert fake_time[0] - 100.0 == pytest.approx((frames[-1].t_ns - frames[0].t_ns) / 2e9)


def test_speed_must_be_positive() -> None:
    with pytest.raises(Exception, match="--speed 0"):
        PacedClock(0)


class Exploding(RealtimeEventReceiver):
    def on_response_done(self, event_id: Any, response: Any) -> None:
        raise ValueError("no such tool")


async def test_receiver_exception_names_session_seq_and_type(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    with pytest.raises(ReceiverError) as caught:
        await replay_db(db, Exploding(), session=sid)
    seq = next(i for i, f in enumerate(ga_session(), 1) if b'"response.done"' in f.data)
    message = str(caught.value)
    assert "\n" not in message
    assert f"session {sid} seq {seq} (response.done)" in message
    assert "ValueError: no such tool" in message
    assert caught.value.seq == seq


# ---------------------------------------------------------------------------- CLI


def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)


def test_cli_prints_the_conversation(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    result = invoke(db)
    assert result.exit_code == 0, result.output
    assert f"Session {sid}" in result.output
    assert 'user (audio 1.7 s): "Hi"' in result.output
    assert "interrupted: heard 1.5 s" in result.output
    assert "get_weather result [call call_1]" in result.output


def test_cli_json_lists_items_in_conversation_order(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    result = invoke(db, "--session", sid, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["session"]["id"] == sid
    assert [i["id"] for i in data["items"]] == [
        "item_sys", "item_u1", "item_x", "item_a1", "item_u2", "item_f1", "item_o1", "item_f2"]
    a1 = data["items"][3]
    assert (a1["role"], a1["audio_ms"], a1["heard_ms"]) == ("assistant", 2000.0, 1500.0)


def test_cli_until_shows_the_state_at_that_point(ga_db: tuple[str, str]) -> None:
    db, _ = ga_db
    seq = next(i for i, f in enumerate(ga_session(), 1) if b'"item_a1"' in f.data) - 1
    data = json.loads(invoke(db, "--until", str(seq), "--json").output)
    assert [i["id"] for i in data["items"]] == ["item_u1"]
    assert data["last_seq"] == seq


def test_cli_beta_session(tmp_path: Path) -> None:
    db = str(tmp_path / "beta.db")
    record_frames(db, beta_session(), protocol="beta")
    result = CliRunner().invoke(cli, ["replay", db])
    assert result.exit_code == 0, result.output
    assert "g711_alaw 8 kHz" in result.output
    assert "[transcription failed: Audio was unintelligible.]" in result.output


def test_cli_unknown_session(ga_db: tuple[str, str]) -> None:
    db, _ = ga_db
    result = CliRunner().invoke(cli, ["replay", db, "--session", "nope"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no session nope in {db}: run `rtrec sessions {db}` to list them"]


def test_cli_replays_the_text_of_a_session_in_an_audio_format_it_cannot_read(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "opus.db")
    opus = {"type": "audio/opus"}
    item = {"id": "item_1", "type": "message", "role": "user", "status": "completed",
            "content": [{"type": "input_text", "text": "Typed, not spoken."}]}
    record_frames(db, [
        server_frame(0, {"type": "session.created", "event_id": "e1", "session": {
            "type": "realtime", "id": "sess_1",
            "audio": {"input": {"format": opus}, "output": {"format": opus}}}}),
        server_frame(10, {"type": "conversation.item.added", "event_id": "e2",
                          "previous_item_id": None, "item": item}),
    ])
    result = CliRunner().invoke(cli, ["replay", db])
    assert result.exit_code == 0, result.output
    assert "Typed, not spoken." in result.stdout
    warnings = result.stderr.splitlines()
    assert len(warnings) == 2
    assert re.fullmatch(
        r'Warning: session \S+ seq 1: unknown audio format \{"type":"audio/opus"\}: .* \(the '
        r"session's input format\); its audio is taken as pcm16 at 24 kHz", warnings[0]
    )


async def _create_empty_log(db: str) -> None:
    await (await open_log(db)).close()


def test_cli_empty_database(tmp_path: Path) -> None:
    db = str(tmp_path / "empty.db")
    asyncio.run(_create_empty_log(db))
    result = CliRunner().invoke(cli, ["replay", db])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: no sessions in {db} yet: record or import one first"]


@pytest.mark.parametrize(
    "receiver", [[], ["--receiver", "recorder.receiver:RealtimeEventReceiver"]]
)
def test_cli_mistyped_path_is_one_error_line_and_creates_nothing(
    tmp_path: Path, receiver: list[str]
) -> None:
    db = tmp_path / "typo.db"
    result = CliRunner().invoke(cli, ["replay", str(db), *receiver])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {db} does not exist: check the path (recording or importing creates it)"]
    assert not db.exists()
    assert list(tmp_path.iterdir()) == []


def test_testing_replay_of_a_mistyped_path_creates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "typo.db"
    with pytest.raises(RtrecError, match="does not exist: check the path"):
        replay(db, RealtimeEventReceiver())
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def receiver_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module in the current directory holding receivers, under a name unique to the test."""
    name = f"rcv_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from recorder.receiver import RealtimeEventReceiver\n"
        "class Counter(RealtimeEventReceiver):\n"
        "    def on_session_created(self, event_id, session):\n"
        "        print('created', session.id)\n"
        "class Boom(RealtimeEventReceiver):\n"
        "    def on_conversation_item_deleted(self, event_id, item_id):\n"
        "        raise KeyError(item_id)\n"
        "class NotAReceiver:\n"
        "    pass\n"
        "class Answers(RealtimeEventReceiver):\n"
        "    temp = 21\n"
        "    def on_response_function_call_arguments_done(self, *args, name=None):\n"
        "        self.send({'type': 'conversation.item.create', 'item': {\n"
        "            'type': 'function_call_output', 'call_id': args[4],\n"
        "            'output': '{\"temp\":%d}' % self.temp}})\n"
        "class WrongAnswers(Answers):\n"
        "    temp = 99\n"
        "class Asserts(RealtimeEventReceiver):\n"
        "    def on_response_done(self, event_id, response):\n"
        "        assert response.status == 'completed', 'not completed'\n"
    )
    (tmp_path / f"{name}_broken.py").write_text("import does_not_exist_anywhere\n")
    monkeypatch.chdir(tmp_path)
    return name


def test_cli_replays_into_a_user_receiver(ga_db: tuple[str, str], receiver_module: str) -> None:
    db, sid = ga_db
    result = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{receiver_module}:Counter"])
    assert result.exit_code == 0, result.output
    assert "created sess_1" in result.output
    assert f"Replayed {len(ga_session())} frames of session {sid}" in result.output


def test_cli_receiver_that_raises(ga_db: tuple[str, str], receiver_module: str) -> None:
    db, sid = ga_db
    seq = len(ga_session())  # the deletion is the last event
    result = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{receiver_module}:Boom"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: receiver raised KeyError: 'item_a2' at session ")
    assert f"session {sid} seq {seq} (conversation.item.deleted)" in lines[0]


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("{m}_broken:Anything", "Error: --receiver {m}_broken:Anything: cannot import {m}_broken "
                                "(ModuleNotFoundError: No module named 'does_not_exist_anywhere'); "
                                "check the module path and PYTHONPATH"),
        ("{m}:Missing", "Error: --receiver {m}:Missing: module {m} has no Missing"),
        ("{m}:NotAReceiver", "Error: --receiver {m}:NotAReceiver: NotAReceiver is not a subclass "
                             "of recorder.RealtimeEventReceiver (or, for a Live session, of "
                             "recorder.live.receiver.LiveEventReceiver)"),
        ("{m}", "Error: --receiver '{m}': expected module:Class, e.g. myapp.agent:Agent"),
    ],
)
def test_cli_bad_receiver_path(
    ga_db: tuple[str, str], receiver_module: str, target: str, expected: str
) -> None:
    db, _ = ga_db
    result = CliRunner().invoke(
        cli, ["replay", db, "--receiver", target.format(m=receiver_module)]
    )
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [expected.format(m=receiver_module)]


def test_cli_rejects_a_non_positive_speed(ga_db: tuple[str, str]) -> None:
    result = CliRunner().invoke(cli, ["replay", ga_db[0], "--speed", "0"])
    assert result.exit_code == 2
    assert "--speed" in result.output


# ---------------------------------------------------------------------------- skipping


def _quiet_event(type_name: str) -> bytes:
    fields: dict[str, Any] = {"type": type_name, "event_id": "ev", "response_id": "r",
                              "item_id": "i", "output_index": 0, "content_index": 0,
                              "call_id": "c", "delta": "AAAA"}
    return json.dumps(fields).encode()


@pytest.mark.parametrize("type_name", sorted(QUIET_SERVER_TYPES))
def test_quiet_table_names_the_method_the_receiver_dispatches_to(type_name: str) -> None:
    method = QUIET_SERVER_TYPES[type_name]
    seen: list[str] = []
    receiver = RealtimeEventReceiver()
    setattr(receiver, method, lambda *args, **kwargs: seen.append(method))
    receiver.on_realtime_event_received(decode(_quiet_event(type_name)))
    assert seen == [method]


class OnlyResponses(RealtimeEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.seqs: list[int] = []

    def on_response_done(self, event_id: Any, response: Any) -> None:
        assert self.position is not None
        self.seqs.append(self.position.seq)


class Unknowns(OnlyResponses):
    def on_unknown_event(self, event: Any) -> None:
        pass


def test_frames_only_a_no_op_would_see_are_skipped() -> None:
    server, client = skippable_types(OnlyResponses())
    assert server == frozenset(QUIET_SERVER_TYPES) and client
    assert skippable_types(OnlyResponses(), client_frames_observed=True)[1] is False
    assert skippable_types(CallLog()) == (frozenset(), False)  # generic dispatch overridden
    assert skippable_types(Unknowns()) == (frozenset(), False)  # would see broken deltas
    audio_only = CallLog.__dict__["on_response_audio_delta"]
    cls = type("AudioOnly", (RealtimeEventReceiver,), {"on_response_audio_delta": audio_only})
    server, _ = skippable_types(cls())
    assert "response.output_audio.delta" not in server
    assert "response.output_audio_transcript.delta" in server


async def test_skipping_changes_nothing_the_receiver_sees(ga_db: tuple[str, str]) -> None:
    db, sid = ga_db
    receiver = OnlyResponses()
    await replay_db(db, receiver, session=sid)
    expected = [i for i, f in enumerate(ga_session(), 1) if b'"response.done"' in f.data]
    assert receiver.seqs == expected


def test_cli_receiver_sends_are_checked_against_the_recording(
    ga_db: tuple[str, str], receiver_module: str
) -> None:
    db, sid = ga_db
    ok = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{receiver_module}:Answers"])
    assert ok.exit_code == 0, ok.output
    assert "1 sent events matched the recording" in ok.output

    frames = ga_session()
    sent_at = next(i for i, f in enumerate(frames, 1)
                   if b'"response.function_call_arguments.done"' in f.data)
    recorded = next(i for i, f in enumerate(frames, 1)
                    if b'"conversation.item.create"' in f.data)
    bad = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{receiver_module}:WrongAnswers"])
    assert bad.exit_code == 1
    assert bad.output.strip().splitlines() == [
        f"Error: session {sid}: the event the receiver sent while handling seq {sent_at} differs "
        f"from the recorded client event at seq {recorded}; differing fields: item.output; "
        "replay it with recorder.testing.replay in a test to see both events"]


def test_cli_receiver_assertion_is_one_line(ga_db: tuple[str, str], receiver_module: str) -> None:
    db, sid = ga_db
    seq = next(i for i, f in enumerate(ga_session(), 1) if b'"response.done"' in f.data)
    result = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{receiver_module}:Asserts"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: receiver raised AssertionError: not completed at session ")
    assert f"session {sid} seq {seq} (response.done)" in lines[0]


async def test_frames_a_receiver_cannot_observe_are_counted_not_read(
    ga_db: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """replay_session leaves the frames the driver would skip out of the read itself, and
    still reports every frame it went over (frames, last_seq), with --until too."""
    db, sid = ga_db
    frames = ga_session()
    made: list[int] = []
    from recorder import stream

    class Counted(stream.Step):
        def __post_init__(self) -> None:
            made.append(self.seq)

    monkeypatch.setattr("recorder.stream.Step", Counted)
    log = await open_log(db)
    try:
        info = await log.get_session(sid)
        for until in (None, 7, 0, 10_000):
            made.clear()
            receiver = OnlyResponses()
            result = await replay_session(log, receiver, info, until=until)
            upto = [(i, f) for i, f in enumerate(frames, 1) if until is None or i <= until]
            assert result.frames == len(upto)
            assert result.last_seq == (upto[-1][0] if upto else None)
            assert receiver.seqs == [i for i, f in upto if b'"response.done"' in f.data]
            quiet, _ = skippable_types(receiver)
            kept = [i for i, f in upto if f.direction is not Direction.CLIENT
                    and decode(f.data).type not in quiet]
            assert made == kept  # client frames and quiet types: never made into steps
            everything = CallLog()
            assert (await replay_session(log, everything, info, until=until)).frames == len(upto)
        assert await log.frame_span(sid, 3) == (3, 3)
    finally:
        await log.close()


async def test_replay_leaves_unobserved_frames_out_on_either_engine(db: str) -> None:
    frames = ga_session()
    sid = await arecord_frames(db, frames, protocol="ga", model="gpt-realtime")
    receiver = OnlyResponses()
    result = await replay_db(db, receiver, session=sid, until=len(frames) - 1)
    assert (result.frames, result.last_seq) == (len(frames) - 1, len(frames) - 1)
    done = [i for i, f in enumerate(frames[:-1], 1) if b'"response.done"' in f.data]
    assert receiver.seqs == done
    everything = CallLog()
    await replay_db(db, everything, session=sid)
    assert len([c for c in everything.calls if c[0] in ("server", "client")]) == len(frames)
