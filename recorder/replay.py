"""Replay a recorded session into any RealtimeEventReceiver, in recorded order.

The log is read in seq order, in batches (memory stays bounded however long the session), each
frame is decoded again (a better decoder upgrades old recordings for free), and dispatched:
server events through `receiver.on_realtime_event_received`, client events through
`receiver.on_client_event`. Before each dispatch `receiver.position` is set to the frame's
(seq, t_ns, direction): that is the replay clock, so time comes from the recording and never
from the wall clock, and two replays make the same calls with the same arguments in the same
order. `speed` paces the replay by the recorded t_ns (1.0 = real time); the default is as fast
as possible.

Receivers get audio as the protocol has it, base64 text (the log splices it back). A reader
that wants the audio itself (export) passes `on_audio`: the log then hands audio over as bytes
(StoredFrame.audio), and those frames go to on_audio(frame) instead of the receiver, undecoded,
so the audio is never encoded to base64 and decoded straight back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from recorder.conversation import ConversationFold, fold_log
from recorder.decode import decode
from recorder.errors import RtrecError
from recorder.receiver import Position, RealtimeEventReceiver, SessionState
from recorder.store import EventLog, SessionInfo, StoredFrame
from recorder.store.log import AudioMode
from recorder.wire import Direction

Sleep = Callable[[float], Awaitable[Any]]
ClientFrameHook = Callable[[StoredFrame, Any], None]
AudioHook = Callable[[StoredFrame], None]


# High-volume event types and the one receiver method each reaches. When the receiver leaves
# that method (and the generic hooks) as the base class's no-op, replaying the frame could not
# be observed, so it is neither decoded nor dispatched: most receivers ignore the audio deltas
# and microphone appends that make up most of a session. tests/test_replay.py checks this
# table against the receiver's dispatch.
QUIET_SERVER_TYPES: dict[str, str] = {
    "response.output_audio.delta": "on_response_audio_delta",
    "response.audio.delta": "on_response_audio_delta",
    "response.output_audio_transcript.delta": "on_response_audio_transcript_delta",
    "response.audio_transcript.delta": "on_response_audio_transcript_delta",
    "response.output_text.delta": "on_response_text_delta",
    "response.text.delta": "on_response_text_delta",
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


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay went through: the session, how many frames, and the last seq dispatched."""

    session: SessionInfo
    frames: int
    last_seq: int | None
    matched_sends: int = 0  # recorder.testing: events the receiver sent that matched the log


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


class PacedClock:
    """Waits until the recorded offset of each frame, scaled by speed, has passed.

    Only the pacing reads the event loop's clock; what receivers see is always the recorded
    time. `sleep` is injectable so tests can check pacing without timing anything.
    """

    def __init__(
        self,
        speed: float,
        *,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] | None = None,
    ) -> None:
        if not speed > 0:
            raise RtrecError(f"--speed {speed} is not a positive number; use e.g. --speed 1")
        self.speed = speed
        self._sleep = sleep
        self._now = now
        self._start: float | None = None
        self._first_t_ns: int | None = None

    async def wait_for(self, t_ns: int) -> None:
        """Return once the frame recorded at t_ns is due (the first frame is due at once)."""
        now = self._now or asyncio.get_running_loop().time
        if self._start is None or self._first_t_ns is None:
            self._start, self._first_t_ns = now(), t_ns
            return
        target = self._start + (t_ns - self._first_t_ns) / 1e9 / self.speed
        delay = target - now()
        if delay > 0:
            await self._sleep(delay)


async def pace_lines(
    lines: list[tuple[float, str]],
    speed: float,
    write: Callable[[str], None],
    *,
    sleep: Sleep = asyncio.sleep,
    now: Callable[[], float] | None = None,
) -> None:
    """Write each (ms on the session timeline, line) when its time comes, scaled by speed:
    the session's start is now."""
    clock = PacedClock(speed, sleep=sleep, now=now)
    await clock.wait_for(0)
    for at_ms, line in lines:
        await clock.wait_for(round(at_ms * 1e6))
        write(line)


def until_note(until: int | None, result: ReplayResult) -> str | None:
    """The line that says where a view stopped by --until stops, or that it did not."""
    if until is None:
        return None
    session = result.session
    if result.frames == session.frames and (result.last_seq is None or until > result.last_seq):
        last = f"last seq {result.last_seq}" if result.last_seq is not None else "no frames"
        return f"--until {until} is past the end of the session ({last}): showing all of it"
    where = f"seq {result.last_seq}" if result.last_seq is not None else "the start"
    return (
        f"Stopped at {where} (--until {until}) of {session.frames} frames: "
        "the state at that point, later frames not shown"
    )


async def resolve_session(log: EventLog, session: str | None) -> SessionInfo:
    """The session to replay: the given id (or unique prefix), or the newest.

    The log raises the one-line RtrecError for an empty database or an unknown id.
    """
    return await log.get_session(session)


async def replay_session(
    log: EventLog,
    receiver: RealtimeEventReceiver,
    session: SessionInfo,
    *,
    until: int | None = None,
    clock: PacedClock | None = None,
    on_client_frame: ClientFrameHook | None = None,
    passthrough: tuple[type[BaseException], ...] = (),
    batch_size: int = 5000,
    on_audio: AudioHook | None = None,
) -> ReplayResult:
    """Drive receiver with every frame of session (up to and including seq `until`).

    clock (a PacedClock) paces the frames by their recorded time; without it, as fast as
    possible.
    on_client_frame(frame, event), if given, sees every recorded client frame before the
    receiver does (recorder.testing uses it to compare what the receiver sends).
    A receiver exception stops the replay as ReceiverError naming the session, seq and type,
    except RtrecError and the `passthrough` types (recorder.testing lets assertions through).
    on_audio(frame), if given, takes the place of the receiver (and of on_client_frame) for the
    audio events whose audio the log holds as bytes (input_audio_buffer.append, response audio
    deltas): frame.audio is the audio, frame.data the event with its audio field empty
    (decoding it is on_audio's business), and the receiver's position is set as for any frame.
    Audio events the log keeps whole (non-canonical or broken base64) reach the receiver as
    usual, with their text.
    """
    sid = session.id
    frames = 0
    last_seq: int | None = None
    dispatch_server = receiver.on_realtime_event_received
    dispatch_client = receiver.on_client_event
    client = Direction.CLIENT
    # raised as they are, not wrapped in ReceiverError
    keep: tuple[type[BaseException], ...] = (RtrecError, *passthrough)
    quiet, quiet_client = skippable_types(
        receiver, client_frames_observed=on_client_frame is not None
    )

    _state(receiver, sid, SessionState.CONNECTED, passthrough)
    audio_mode: AudioMode = "base64" if on_audio is None else "bytes"
    async for batch in log.read(sid, until_seq=until, batch_size=batch_size, audio=audio_mode):
        for frame in batch:
            if clock is not None:
                await clock.wait_for(frame.t_ns)
            direction = frame.direction
            if frame.audio is not None and on_audio is not None:
                receiver.position = Position(frame.seq, frame.t_ns, direction)
                try:
                    on_audio(frame)
                except Exception as error:
                    if isinstance(error, keep):
                        raise
                    raise ReceiverError(sid, frame.seq, frame.type, error) from error
                continue
            if quiet_client if direction is client else frame.type in quiet:
                continue
            event = decode(frame.data)
            receiver.position = Position(frame.seq, frame.t_ns, direction)
            try:
                if direction is client:
                    if on_client_frame is not None:
                        on_client_frame(frame, event)
                    dispatch_client(event)
                else:
                    dispatch_server(event)
            except Exception as error:
                if isinstance(error, keep):
                    raise
                raise ReceiverError(sid, frame.seq, frame.type or event.type, error) from error
        if batch:
            last_seq = batch[-1].seq
            frames += len(batch)
    _state(receiver, sid, SessionState.CLOSED, passthrough)
    return ReplayResult(session, frames, last_seq)


def _state(
    receiver: RealtimeEventReceiver,
    sid: str,
    state: SessionState,
    passthrough: tuple[type[BaseException], ...],
) -> None:
    try:
        receiver.on_session_state_changed(state)
    except Exception as error:
        if isinstance(error, (RtrecError, *passthrough)):
            raise
        raise ReceiverError(sid, None, f"session state {state!s}", error) from error


async def replay_db(
    db: str,
    receiver: RealtimeEventReceiver,
    *,
    session: str | None = None,
    until: int | None = None,
    speed: float | None = None,
    on_client_frame: ClientFrameHook | None = None,
    passthrough: tuple[type[BaseException], ...] = (),
) -> ReplayResult:
    """Open the database db, replay one session (default: the newest) into receiver, close."""
    from recorder.store import open_log

    log = await open_log(db, create=False)  # a mistyped path is an error, not a new log
    try:
        info = await resolve_session(log, session)
        return await replay_session(
            log, receiver, info, until=until,
            clock=PacedClock(speed) if speed is not None else None,
            on_client_frame=on_client_frame, passthrough=passthrough,
        )
    finally:
        await log.close()


async def fold_db(
    db: str, *, session: str | None = None, until: int | None = None
) -> tuple[ReplayResult, ConversationFold]:
    """Open the database db, fold one session (default: the newest) into its conversation
    (up to and including seq `until`), close."""
    from recorder.store import open_log

    log = await open_log(db, create=False)  # a mistyped path is an error, not a new log
    try:
        info = await resolve_session(log, session)
        fold = await fold_log(log, info, until=until)
        return ReplayResult(info, fold.frames, fold.last_seq), fold
    finally:
        await log.close()


def load_receiver(path: str) -> RealtimeEventReceiver:
    """An instance of the receiver class named 'module:Class' (the current directory is
    importable, as for `python -m`)."""
    import importlib
    import os
    import sys

    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name:
        raise RtrecError(f"--receiver {path!r}: expected module:Class, e.g. myapp.agent:Agent")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise RtrecError(
            f"--receiver {path}: cannot import {module_name} ({type(error).__name__}: "
            f"{_one_line(error)}); check the module path and PYTHONPATH"
        ) from error
    cls = getattr(module, class_name, None)
    if cls is None:
        raise RtrecError(f"--receiver {path}: module {module_name} has no {class_name}")
    if not (isinstance(cls, type) and issubclass(cls, RealtimeEventReceiver)):
        raise RtrecError(
            f"--receiver {path}: {class_name} is not a subclass of "
            "recorder.RealtimeEventReceiver"
        )
    try:
        return cls()
    except Exception as error:
        raise RtrecError(
            f"--receiver {path}: {class_name}() raised {type(error).__name__}: "
            f"{_one_line(error)}; the class must be constructible with no arguments"
        ) from error
