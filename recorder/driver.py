"""Drive a RealtimeEventReceiver (or a LiveEventReceiver, recorder.live.receiver) with the
steps of a recording: the only caller of its methods.

For each step the driver sets `receiver.position` (the replay clock: recorded time, never the
wall clock) and dispatches the event through the receiver's own routing: server events through
`on_realtime_event_received`, client events through `on_client_event`. Audio chunks reach a
receiver as the protocol has them, base64 text (AudioChunk.to_event()), and only a receiver
that could observe them pays for that: a high-volume type whose method (and the generic hooks)
the receiver leaves as the base class's no-op is skipped by its type alone (skippable_types).
A receiver exception stops the drive as ReceiverError naming the session, seq and type, except
RtrecError and the `keep` types, which are raised as they are.

A LiveEventReceiver is driven the same way: server events through `on_live_event_received`,
client events through `on_client_event`, Live's audio frames skipped by the same rule
(QUIET_LIVE_SERVER_TYPES). `check_protocol` refuses a receiver of the other API.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Awaitable, Callable, Iterable
from typing import Any

from recorder.errors import BadReceiver, RtrecError
from recorder.live import receiver as live_receiver
from recorder.protocol import names
from recorder.receiver import RealtimeEventReceiver, SessionState
from recorder.stream import AudioChunk, LiveAudioChunk, Step
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
# The same for a LiveEventReceiver: the continuous output track and the sideband's reflected
# input (server), whose methods come from recorder.live.receiver's table.
QUIET_LIVE_SERVER_TYPES: dict[str, str] = {
    kind: live_receiver.SERVER_METHODS[kind]
    for kind in (names.LIVE_OUTPUT_AUDIO_DELTA, names.LIVE_INPUT_AUDIO_APPEND)
}
_LIVE_GENERIC_HOOKS = ("on_live_event_received", "on_unknown_event")

AnyReceiver = RealtimeEventReceiver | live_receiver.LiveEventReceiver


def _inherited(receiver: AnyReceiver, name: str) -> bool:
    """Whether receiver.name is its base class's own (a no-op for the on_* methods)."""
    base: type = (live_receiver.LiveEventReceiver
                  if isinstance(receiver, live_receiver.LiveEventReceiver)
                  else RealtimeEventReceiver)
    return name not in vars(receiver) and getattr(type(receiver), name, None) is getattr(
        base, name
    )


def skippable_types(
    receiver: AnyReceiver, *, client_frames_observed: bool = False
) -> tuple[frozenset[str], bool]:
    """(server types replay may skip for this receiver, whether client frames may be skipped)."""
    live = isinstance(receiver, live_receiver.LiveEventReceiver)
    if not all(_inherited(receiver, hook)
               for hook in (_LIVE_GENERIC_HOOKS if live else _GENERIC_HOOKS)):
        return frozenset(), False
    quiet = QUIET_LIVE_SERVER_TYPES if live else QUIET_SERVER_TYPES
    server = frozenset(name for name, method in quiet.items() if _inherited(receiver, method))
    client = not client_frames_observed and _inherited(receiver, "on_client_event") and (
        not live or all(_inherited(receiver, method)
                        for method in live_receiver.CLIENT_METHODS.values()))
    return server, client


def check_protocol(receiver: AnyReceiver, protocol: str | None, session_id: str) -> None:
    """Refuse a Live receiver for a Realtime session, and a Realtime receiver for a Live one."""
    live_receiver_given = isinstance(receiver, live_receiver.LiveEventReceiver)
    live_session = protocol == names.LIVE_PROTOCOL
    if live_receiver_given == live_session:
        return
    name = type(receiver).__name__
    if live_session:
        raise BadReceiver(
            f"session {session_id} is a Live session but {name} is a RealtimeEventReceiver: "
            "replay it into a subclass of recorder.live.receiver.LiveEventReceiver"
        )
    raise BadReceiver(
        f"session {session_id} is a Realtime session ({protocol or 'protocol unknown'}) but "
        f"{name} is a LiveEventReceiver: replay it into a subclass of "
        "recorder.RealtimeEventReceiver"
    )


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
        receiver: AnyReceiver,
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
        self._server = (receiver.on_live_event_received
                        if isinstance(receiver, live_receiver.LiveEventReceiver)
                        else receiver.on_realtime_event_received)
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
        if type(event) is AudioChunk or type(event) is LiveAudioChunk:
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
    receiver: AnyReceiver,
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
    receiver: AnyReceiver,
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
