"""The driver: steps in, the receiver's methods called, with no database (frame_steps)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from recorder.driver import ReceiverError, drive
from recorder.receiver import Position, RealtimeEventReceiver
from recorder.stream import frame_steps
from recorder.testing import client_frame, server_frame
from recorder.wire import Direction

AUDIO = base64.b64encode(bytes(range(48))).decode()
FRAMES = [
    server_frame(1, {"type": "session.created", "event_id": "e1", "session": {"id": "s"}}),
    client_frame(2, {"type": "input_audio_buffer.append", "audio": AUDIO}),
    server_frame(3, {"type": "response.output_audio.delta", "event_id": "e2",
                     "response_id": "r", "item_id": "i", "output_index": 0,
                     "content_index": 0, "delta": AUDIO}),
]


class Listener(RealtimeEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any, Position | None]] = []

    def on_session_state_changed(self, state: str) -> None:
        self.calls.append(("state", str(state), self.position))

    def on_client_event(self, event: Any) -> None:
        self.calls.append(("client", event.audio, self.position))

    def on_response_audio_delta(self, event_id: str | None, response_id: str | None,
                                item_id: str | None, item_index: int | None,
                                content_index: int | None, delta: str | None) -> None:
        self.calls.append(("delta", delta, self.position))


def test_the_receiver_gets_base64_audio_and_the_position_of_each_step() -> None:
    receiver = Listener()
    driver = drive(receiver, frame_steps(FRAMES))
    assert (driver.frames, driver.last_seq) == (3, 3)
    assert [(kind, value) for kind, value, _ in receiver.calls] == [
        ("state", "connected"), ("state", "created"), ("client", AUDIO), ("delta", AUDIO),
        ("state", "closed")]
    assert receiver.calls[2][2] == Position(2, 2_000_000, Direction.CLIENT)
    assert receiver.calls[3][2] == Position(3, 3_000_000, Direction.SERVER)


class Quiet(RealtimeEventReceiver):
    """Overrides nothing the audio reaches: those steps are skipped, not dispatched."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[int] = []

    def on_session_created(self, event_id: str | None, session: Any) -> None:
        assert self.position is not None
        self.positions.append(self.position.seq)


def test_quiet_steps_are_counted_but_not_dispatched() -> None:
    receiver = Quiet()
    driver = drive(receiver, frame_steps(FRAMES))
    assert driver.frames == 3 and receiver.positions == [1]
    assert receiver.position == Position(1, 1_000_000, Direction.SERVER)  # never set after


class Exploding(RealtimeEventReceiver):
    def on_response_audio_delta(self, *args: Any) -> None:
        raise KeyError("boom")

    def on_client_event(self, event: Any) -> None:
        raise AssertionError("kept")


def test_a_receiver_exception_is_a_receiver_error_unless_kept() -> None:
    with pytest.raises(ReceiverError) as caught:
        drive(Exploding(), frame_steps(FRAMES[2:]), session_id="sess")
    assert str(caught.value).startswith(
        "receiver raised KeyError: 'boom' at session sess seq 1 (response.output_audio.delta)")
    assert isinstance(caught.value.__cause__, KeyError)
    with pytest.raises(AssertionError, match="kept"):
        drive(Exploding(), frame_steps(FRAMES[1:]), keep=(AssertionError,))
