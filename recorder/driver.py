"""Drive a RealtimeEventReceiver with the steps of a recording: the only caller of its methods.

For each step the driver sets `receiver.position` (the replay clock: recorded time, never the
wall clock) and dispatches the event through the receiver's own routing: server events through
`on_realtime_event_received`, client events through `on_client_event`. Audio chunks reach a
receiver as the protocol has them, base64 text (AudioChunk.to_event()), and only a receiver
that could observe them pays for that: a high-volume type whose method (and the generic hooks)
the receiver leaves as the base class's no-op is skipped by its type alone (skippable_types).
A receiver exception stops the drive as ReceiverError naming the session, seq and type, except
RtrecError and the `keep` types, which are raised as they are.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from recorder.errors import RtrecError
from recorder.protocol import names
from recorder.receiver import RealtimeEventReceiver, SessionState
from recorder.stream import AudioChunk, Step
from recorder.wire import Direction

# High-volume event types and the one receiver method each reaches. When the receiver leaves
# that method (and the generic hooks) as the base class's no-op, replaying the frame could not
# be observed, so it is neither decoded nor dispatched: most receivers ignore the audio deltas
# and microphone appends that make up most of a session. tests/test_replay.py checks this
# table against the receiver's dispatch.
QUIET_SERVER_TYPES: dict[str, str] = {
    **dict.fromkeys(names.spellings("audio", "delta"), "on_response_audio_delta"),
    **dict.fromkeys(names.spellings("audio_transcript", "delta"),
                    "on_response_audio_transcript_delta"),
    **dict.fromkeys(names.spellings("text", "delta"), "on_response_text_delta"),
    "response.function_call_arguments.delta": "on_response_function_call_arguments_delta",
    "conversation.item.input_audio_transcription.delta": (
        "on_conversation_item_input_audio_transcription_delta"
    ),
}
_GENERIC_HOOKS = ("on_realtime_event_received", "on_unknown_event")


def _inherited(receiver: RealtimeEventReceiver, name: str) -> bool:
    """Whether receiver.name is RealtimeEventReceiver's own (a no-op for the on_* methods)."""
    return name not in vars(receiver) and getattr(type(receiver), name, None) is getattr(
        RealtimeEventReceiver, name
    )


def skippable_types(
    receiver: RealtimeEventReceiver, *, client_frames_observed: bool = False
) -> tuple[frozenset[str], bool]:
    """(server types replay may skip for this receiver, whether client frames may be skipped)."""
    if not all(_inherited(receiver, hook) for hook in _GENERIC_HOOKS):
        return frozenset(), False
    server = frozenset(
        name for name, method in QUIET_SERVER_TYPES.items() if _inherited(receiver, method)
    )
    client = not client_frames_observed and _inherited(receiver, "on_client_event")
    return server, client


class ReceiverError(RtrecError):
    """The receiver raised while handling a replayed event; the original is the __cause__."""

    def __init__(self, session_id: str, seq: int | None, event_type: str | None, error: Exception):
        where = f"seq {seq} ({event_type or 'unknown type'})" if seq is not None else event_type
        super().__init__(
            f"receiver raised {type(error).__name__}: {_one_line(error)} at session {session_id} "
            f"{where}; fix the receiver, or replay with --until {_before(seq)} to stop before it"
        )
        self.session_id = session_id
        self.seq = seq
        self.event_type = event_type


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return text[:200] or "(no message)"


def _before(seq: int | None) -> int:
    return max((seq or 0) - 1, 0)


class Driver:
    """One receiver, one session: start(), step(step) for each step in seq order, finish()."""

    def __init__(
        self,
        receiver: RealtimeEventReceiver,
        session_id: str,
        *,
        keep: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.receiver = receiver
        self.session_id = session_id
        self.keep: tuple[type[BaseException], ...] = (RtrecError, *keep)
        self.frames = 0
        self.last_seq: int | None = None
        self._quiet, self._quiet_client = skippable_types(receiver)
        self._server = receiver.on_realtime_event_received
        self._client = receiver.on_client_event

    def start(self) -> None:
        self._state(SessionState.CONNECTED)

    def finish(self) -> None:
        self._state(SessionState.CLOSED)

    def step(self, step: Step) -> None:
        """Dispatch one step (or skip it, when the receiver could not observe it)."""
        self.frames += 1
        self.last_seq = step.seq
        client = step.direction is Direction.CLIENT
        if self._quiet_client if client else step.type in self._quiet:
            return
        event = step.event
        if type(event) is AudioChunk:
            event = event.to_event()  # receivers get the protocol's base64 text
        self.receiver.position = step.position
        try:
            if client:
                self._client(event)
            else:
                self._server(event)
        except Exception as error:
            if isinstance(error, self.keep):
                raise
            kind = step.type or getattr(event, "type", None)
            raise ReceiverError(self.session_id, step.seq, kind, error) from error

    def _state(self, state: SessionState) -> None:
        try:
            self.receiver.on_session_state_changed(state)
        except Exception as error:
            if isinstance(error, self.keep):
                raise
            raise ReceiverError(self.session_id, None, f"session state {state!s}", error) from error


def drive(
    receiver: RealtimeEventReceiver,
    steps: Iterable[Step],
    *,
    session_id: str = "(in memory)",
    keep: tuple[type[BaseException], ...] = (),
) -> Driver:
    """Drive receiver with steps (e.g. recorder.stream.frame_steps); the driver, with its
    frames and last_seq."""
    driver = Driver(receiver, session_id, keep=keep)
    driver.start()
    step = driver.step
    for one in steps:
        step(one)
    driver.finish()
    return driver


async def adrive(
    receiver: RealtimeEventReceiver,
    batches: AsyncIterable[Iterable[Step]],
    *,
    session_id: str,
    wait_for: Callable[[int], Awaitable[Any]] | None = None,
    keep: tuple[type[BaseException], ...] = (),
) -> Driver:
    """drive over batches of steps (recorder.stream.log_steps); wait_for(t_ns), if given,
    paces each step by its recorded time (recorder.replay.PacedClock.wait_for)."""
    driver = Driver(receiver, session_id, keep=keep)
    driver.start()
    step = driver.step
    async for batch in batches:
        if wait_for is None:
            for one in batch:
                step(one)
        else:
            for one in batch:
                await wait_for(one.t_ns)
                step(one)
    driver.finish()
    return driver
