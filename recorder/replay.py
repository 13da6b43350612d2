"""Replay a recorded session into any RealtimeEventReceiver, in recorded order.

The log is read in seq order, in batches (memory stays bounded however long the session), each
frame is decoded again (a better decoder upgrades old recordings for free), and dispatched:
server events through `receiver.on_realtime_event_received`, client events through
`receiver.on_client_event`. Before each dispatch `receiver.position` is set to the frame's
(seq, t_ns, direction): that is the replay clock, so time comes from the recording and never
from the wall clock, and two replays make the same calls with the same arguments in the same
order. `speed` paces the replay by the recorded t_ns (1.0 = real time); the default is as fast
as possible.

The frames are the log's steps (recorder.stream) and the driver (recorder.driver) is what
calls the receiver: receivers get audio as the protocol has it, base64 text, encoded again
only for a receiver that overrides an audio method. Readers that want the audio itself
(export, the conversation fold) read the steps, not a receiver.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from recorder.conversation import ConversationFold
from recorder.driver import (
    QUIET_SERVER_TYPES,
    AnyReceiver,
    ReceiverError,
    _one_line,
    adrive,
    check_protocol,
    skippable_types,
)
from recorder.errors import BadReceiver, RtrecError
from recorder.receiver import RealtimeEventReceiver
from recorder.store import EventLog, SessionInfo
from recorder.stream import log_steps

if TYPE_CHECKING:
    from recorder.live.fold import LiveFold

__all__ = ["QUIET_SERVER_TYPES", "PacedClock", "ReceiverError", "ReplayResult", "fold_recording",
           "load_receiver", "pace_lines", "replay_db", "replay_session", "resolve_session",
           "skippable_types", "until_note"]

Sleep = Callable[[float], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """What a replay went through: the session, how many frames, and the last seq dispatched."""

    session: SessionInfo
    frames: int
    last_seq: int | None


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
    receiver: AnyReceiver,
    session: SessionInfo,
    *,
    until: int | None = None,
    clock: PacedClock | None = None,
    batch_size: int = 5000,
) -> ReplayResult:
    """Drive receiver with every step of session (up to and including seq `until`): the
    log's steps (recorder.stream.log_steps) through the driver (recorder.driver.adrive).

    clock (a PacedClock) paces the frames by their recorded time; without it, as fast as
    possible. A receiver exception stops the replay as ReceiverError naming the session, seq
    and type (RtrecError is raised as it is).
    """
    check_protocol(receiver, session.protocol, session.id)
    quiet, quiet_client = skippable_types(receiver)
    if clock is None and (quiet or quiet_client):
        # The frames the receiver could not observe (the driver would skip them by their type)
        # are left out of the read itself: counted, never read (the bulk of a session, for a
        # receiver that ignores audio). Paced replays read every frame: the clock starts at
        # the first one.
        frames, last_seq = await log.frame_span(session.id, until)
        await adrive(
            receiver,
            log_steps(log, session, until=0 if last_seq is None else last_seq,
                      batch_size=batch_size, skip_types=quiet, skip_client=quiet_client),
            session_id=session.id,
        )
        return ReplayResult(session, frames, last_seq)
    driver = await adrive(
        receiver, log_steps(log, session, until=until, batch_size=batch_size),
        session_id=session.id, wait_for=clock.wait_for if clock is not None else None,
    )
    return ReplayResult(session, driver.frames, driver.last_seq)


async def replay_db(
    db: str | os.PathLike[str],
    receiver: AnyReceiver,
    *,
    session: str | None = None,
    until: int | None = None,
    speed: float | None = None,
) -> ReplayResult:
    """Replay one session (default: the newest) of a database, or the session of a file of
    events (recorder.recording), into receiver."""
    from recorder.recording import open_recording

    clock = PacedClock(speed) if speed is not None else None
    async with open_recording(db, session) as recording:  # a mistyped path is an error
        info = recording.info
        check_protocol(receiver, info.protocol, info.id)
        if recording.log is not None:
            return await replay_session(recording.log, receiver, info, until=until, clock=clock)
        driver = await adrive(
            receiver, recording.batches(until=until),
            session_id=info.id, wait_for=clock.wait_for if clock is not None else None,
        )
        return ReplayResult(info, driver.frames, driver.last_seq)


async def fold_recording(
    source: str | os.PathLike[str], *, session: str | None = None, until: int | None = None
) -> tuple[ReplayResult, ConversationFold | LiveFold, list[str]]:
    """Fold one session (default: the newest) of a database, or the session of a file of
    events (recorder.recording), into its conversation (up to and including seq `until`):
    what it went through, the fold, and the notes to print about the session. A Live
    session's fold is a LiveFold (recorder.recording.new_fold), finished."""
    from recorder.recording import new_fold, open_recording

    async with open_recording(source, session) as recording:
        fold = new_fold(recording.info)
        apply_batch = fold.apply_batch
        async for batch in recording.batches(until=until):
            apply_batch(batch)
        if not isinstance(fold, ConversationFold):
            # stopped by --until: its end is not missing
            fold.finish(cut=until is not None and fold.frames < recording.info.frames)
        return ReplayResult(recording.info, fold.frames, fold.last_seq), fold, recording.notes


def load_receiver(path: str) -> AnyReceiver:
    """An instance of the receiver class named 'module:Class' (the current directory is
    importable, as for `python -m`): a RealtimeEventReceiver or a LiveEventReceiver."""
    import importlib
    import os
    import sys

    module_name, _, class_name = path.partition(":")
    if not module_name or not class_name:
        raise BadReceiver(f"--receiver {path!r}: expected module:Class, e.g. myapp.agent:Agent")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        raise BadReceiver(
            f"--receiver {path}: cannot import {module_name} ({type(error).__name__}: "
            f"{_one_line(error)}); check the module path and PYTHONPATH"
        ) from error
    cls = getattr(module, class_name, None)
    if cls is None:
        raise BadReceiver(f"--receiver {path}: module {module_name} has no {class_name}")
    from recorder.live.receiver import LiveEventReceiver

    if not (isinstance(cls, type) and issubclass(cls, RealtimeEventReceiver | LiveEventReceiver)):
        raise BadReceiver(
            f"--receiver {path}: {class_name} is not a subclass of "
            "recorder.RealtimeEventReceiver (or, for a Live session, of "
            "recorder.live.receiver.LiveEventReceiver)"
        )
    try:
        return cls()
    except Exception as error:
        raise BadReceiver(
            f"--receiver {path}: {class_name}() raised {type(error).__name__}: "
            f"{_one_line(error)}; the class must be constructible with no arguments"
        ) from error
