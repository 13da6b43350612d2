"""LiveEventReceiver: a method per Live event type, driven by recorder.driver like the
Realtime receiver, and `rtrec replay --receiver` with one."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from live_sessions import AUDIO_100MS, CALL_ID, weather
from test_live_replay import write_live_db

from recorder.cli import cli
from recorder.driver import QUIET_LIVE_SERVER_TYPES, drive, skippable_types
from recorder.live import events as live_events
from recorder.live.receiver import (
    CLIENT_METHODS,
    SERVER_METHODS,
    LiveEventReceiver,
    method_name,
)
from recorder.stream import frame_steps
from recorder.wire import Direction


def test_every_live_event_type_has_its_method_derived_from_the_table() -> None:
    assert len(SERVER_METHODS) == 30 and len(CLIENT_METHODS) == 16
    for cls in live_events.SERVER_EVENT_CLASSES:
        name = method_name(Direction.SERVER, cls.type)
        assert name == "on_" + cls.type.replace(".", "_") == SERVER_METHODS[cls.type]
        assert callable(getattr(LiveEventReceiver, name))
    for cls in live_events.CLIENT_EVENT_CLASSES:
        assert callable(getattr(LiveEventReceiver, "on_client_" + cls.type.replace(".", "_")))
    assert LiveEventReceiver.on_session_output_audio_delta.__doc__.startswith(  # type: ignore[attr-defined]
        "session.output_audio.delta (server). A frame of the continuous output track")
    # the sideband's reflected audio and the microphone have a method each
    assert SERVER_METHODS["session.input_audio.append"] == "on_session_input_audio_append"
    assert CLIENT_METHODS["session.input_audio.append"] == "on_client_session_input_audio_append"
    assert set(QUIET_LIVE_SERVER_TYPES.values()) <= set(SERVER_METHODS.values())


class Recorder(LiveEventReceiver):
    """Writes down what it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[Any, ...]] = []

    def on_session_state_changed(self, state: str) -> None:
        self.calls.append(("state", state))

    def on_session_started(self, event: Any) -> None:
        self.calls.append(("started", event.session.id, self.position.seq))  # type: ignore[union-attr]

    def on_session_input_transcript_delta(self, event: Any) -> None:
        self.calls.append(("user", event.delta, event.start_ms))

    def on_session_output_transcript_delta(self, event: Any) -> None:
        self.calls.append(("assistant", event.delta, event.start_ms))

    def on_response_event(self, event: Any) -> None:
        self.calls.append(("backend", event.delegation_id, event.event.type))

    def on_client_response_item_create(self, event: Any) -> None:
        self.calls.append(("client item", event.item.call_id))

    def on_session_closed(self, event: Any) -> None:
        self.calls.append(("closed", event.reason))

    def on_unknown_event(self, event: Any) -> None:
        self.calls.append(("unknown", event.type))


def test_the_driver_calls_the_live_methods_in_recorded_order() -> None:
    receiver = Recorder()
    driver = drive(receiver, frame_steps(weather().frames, protocol="live"))
    assert driver.frames == len(weather().frames)
    calls = receiver.calls
    assert calls[:3] == [("state", "connected"), ("state", "started"),
                         ("started", "live_u0_7QmV2rK9sT", 2)]
    assert calls[-2:] == [("closed", "close_requested"), ("state", "closed")]
    assert [c[1] for c in calls if c[0] == "user"] == [
        "What's the", " weather in Lisbon?", " weather in Lisbon?", "Thanks, that's all"]
    assert [c[2] for c in calls if c[0] == "backend"][:3] == [
        "response.created", "response.output_item.added",
        "response.function_call_arguments.delta"]
    assert ("client item", CALL_ID) in calls
    assert not [c for c in calls if c[0] == "unknown"]


class Listener(LiveEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.audio: list[str] = []

    def on_session_output_audio_delta(self, event: Any) -> None:
        self.audio.append(event.delta)


def test_audio_reaches_a_receiver_as_base64_text_and_is_skipped_for_one_that_ignores_it(
) -> None:
    listener = Listener()
    drive(listener, frame_steps(weather().frames, protocol="live"))
    assert listener.audio == [AUDIO_100MS] * 50
    quiet, quiet_client = skippable_types(LiveEventReceiver())
    assert quiet == frozenset(QUIET_LIVE_SERVER_TYPES) and quiet_client
    assert skippable_types(listener) == (frozenset({"session.input_audio.append"}), True)
    assert skippable_types(Recorder()) == (frozenset(), False)  # it has on_unknown_event
    steps = list(frame_steps(weather().frames, protocol="live"))
    drive(LiveEventReceiver(), steps)
    audio = [s for s in steps if s.type == "session.output_audio.delta"]
    assert all(s._event is None for s in audio)  # never decoded


@pytest.fixture
def live_receivers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"live_rcv_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(
        "from recorder.live.receiver import LiveEventReceiver\n"
        "from recorder.receiver import RealtimeEventReceiver\n"
        "class Printer(LiveEventReceiver):\n"
        "    def on_session_output_transcript_delta(self, event):\n"
        "        print('assistant', repr(event.delta))\n"
        "class Tools(LiveEventReceiver):\n"
        "    temp = 21\n"
        "    def on_response_event(self, event):\n"
        "        nested = event.event\n"
        "        if nested.type == 'response.output_item.added':\n"
        "            self.call_id = nested.item.call_id\n"
        "        if nested.type == 'response.function_call_arguments.done':\n"
        "            self.send({'type': 'response.item.create', 'event_id': 'evt_c012',\n"
        "                       'item': {'type': 'function_call_output', 'call_id': self.call_id,\n"
        "                                'output': '{\"temperature_c\": %d}' % self.temp}})\n"
        "            self.send({'type': 'response.create', 'event_id': 'evt_c013'})\n"
        "class WrongTools(Tools):\n"
        "    temp = 30\n"
        "class Realtime(RealtimeEventReceiver):\n"
        "    pass\n"
    )
    monkeypatch.chdir(tmp_path)
    return name


@pytest.fixture
def live_db(tmp_path: Path) -> tuple[str, str]:
    db = tmp_path / "live.db"
    sid = asyncio.run(write_live_db(db, weather().frames))
    return str(db), sid


def test_rtrec_replay_receiver_drives_a_live_receiver(
    live_db: tuple[str, str], live_receivers: str
) -> None:
    db, sid = live_db
    result = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{live_receivers}:Printer"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:2] == ["assistant 'Sure, checking'", "assistant ' the forecast.'"]
    assert lines[-1] == (f"Replayed 135 frames of session {sid} into {live_receivers}:Printer "
                         "(last seq 135; 0 sent events matched the recording)")


def test_what_a_live_receiver_sends_is_checked_against_the_recording(
    live_db: tuple[str, str], live_receivers: str
) -> None:
    db, _ = live_db
    result = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{live_receivers}:Tools"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].endswith("(last seq 135; 2 sent events matched the "
                                                   "recording)")
    wrong = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{live_receivers}:WrongTools"])
    assert wrong.exit_code == 1
    assert "event at seq 39; differing fields: item.output;" in wrong.output


def test_a_receiver_of_the_other_api_is_refused_in_one_line(
    live_db: tuple[str, str], live_receivers: str
) -> None:
    db, sid = live_db
    result = CliRunner().invoke(cli, ["replay", db, "--receiver", f"{live_receivers}:Realtime"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: session {sid} is a Live session but Realtime is a RealtimeEventReceiver: "
        "replay it into a subclass of recorder.live.receiver.LiveEventReceiver"]


def test_a_live_receiver_is_refused_for_a_realtime_session(
    tmp_path: Path, live_receivers: str
) -> None:
    import shutil

    db = tmp_path / "barge_in.db"
    shutil.copy(Path(__file__).parent.parent / "fixtures" / "barge_in.db", db)
    result = CliRunner().invoke(cli, ["replay", str(db), "--receiver", f"{live_receivers}:Tools"])
    assert result.exit_code == 1
    (line,) = result.output.splitlines()
    assert line.startswith("Error: session ")
    assert line.endswith(" is a Realtime session (ga) but Tools is a LiveEventReceiver: replay "
                         "it into a subclass of recorder.RealtimeEventReceiver")


class Tools(LiveEventReceiver):
    """Answers the backend's tool call as the recorded client did."""

    call_id: str | None = None

    def on_response_event(self, event: Any) -> None:
        nested = event.event
        if nested.type == "response.output_item.added":
            self.call_id = nested.item.call_id
        if nested.type == "response.function_call_arguments.done":
            self.send({"type": "response.item.create", "event_id": "evt_c012",
                       "item": {"type": "function_call_output", "call_id": self.call_id,
                                "output": '{"temperature_c": 21}'}})
            self.send({"type": "response.create", "event_id": "evt_c013"})


def test_recorder_testing_replay_takes_a_live_receiver(live_db: tuple[str, str]) -> None:
    from recorder.testing import replay

    db, sid = live_db
    result = replay(db, Tools())
    assert (result.session.id, result.frames, result.matched_sends) == (sid, 135, 2)


def test_the_live_receiver_is_exported_by_the_package() -> None:
    import recorder

    assert recorder.LiveEventReceiver is LiveEventReceiver
    assert "LiveEventReceiver" in recorder.__all__
