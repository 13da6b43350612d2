"""Offline receiver testing: replay a recorded session into your receiver inside a test.

    from recorder.testing import replay

    def test_my_agent():
        agent = MyAgent()                      # a RealtimeEventReceiver subclass
        replay("fixtures/call.db", agent)      # one line; raises on the first divergence
        assert agent.answered

Whatever the receiver sends with `receiver.send(event)` during the replay is compared with the
recorded client events, in order: each sent event against the next recorded client event (audio
appends from the microphone are skipped by default on both sides, see `ignore_types`). Volatile ids
(event_id, client-chosen item ids) are ignored and measured timing fields (a truncate's
audio_end_ms) are accepted within a tolerance, as recorder.matching decides; `ignore`, `exact`
and `tolerance` change which fields are compared how (recorder.matching.MatchRules). The first
difference raises DivergenceError (an AssertionError, so pytest shows it as a test failure)
with the expected and the actual event and the fields that differ.

`replay` is synchronous and works in plain pytest and inside a running event loop (it then
runs the replay in a worker thread); `areplay` is the coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from recorder.errors import RtrecError
from recorder.receiver import RealtimeEventReceiver
from recorder.sendcheck import (
    DEFAULT_IGNORED,
    CheckedReplay,
    DivergenceError,
    SendChecker,
)
from recorder.sendcheck import areplay_checked as areplay
from recorder.store import open_log
from recorder.wire import Direction, Frame, Opcode

__all__ = [
    "DEFAULT_IGNORED",
    "CheckedReplay",
    "DivergenceError",
    "SendChecker",
    "arecord_frames",
    "areplay",
    "client_frame",
    "record_frames",
    "replay",
    "server_frame",
]

T = TypeVar("T")

FLUSH_BYTES = 8 * 2**20


def replay(
    db: str | Path,
    receiver: RealtimeEventReceiver,
    session: str | None = None,
    *,
    until: int | None = None,
    ignore_types: Iterable[str] = DEFAULT_IGNORED,
    ignore: Iterable[str] = (),
    exact: Iterable[str] = (),
    tolerance: Mapping[str, float] | None = None,
) -> CheckedReplay:
    """Synchronous areplay: one line in a plain test function (or inside a running loop)."""
    return _run(areplay(
        db, receiver, session, until=until, ignore_types=ignore_types, ignore=ignore,
        exact=exact, tolerance=tolerance,
    ))


def client_frame(t_ms: float, event: dict[str, Any]) -> Frame:
    """A client text frame of event (a wire dict) at t_ms into the session: fixture building."""
    return Frame(Direction.CLIENT, int(t_ms * 1_000_000), Opcode.TEXT, msgspec.json.encode(event))


def server_frame(t_ms: float, event: dict[str, Any]) -> Frame:
    """A server text frame of event (a wire dict) at t_ms into the session: fixture building."""
    return Frame(Direction.SERVER, int(t_ms * 1_000_000), Opcode.TEXT, msgspec.json.encode(event))


async def arecord_frames(
    db: str | Path,
    frames: Iterable[Frame],
    *,
    protocol: str | None = "ga",
    model: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Write frames as one complete session of db (made for test fixtures); its id.

    Every frame is kept: the writer is given time to drain every FLUSH_BYTES of frames (a
    log drops frames rather than let its queue grow without bound), and a writer failure is
    raised instead of leaving an incomplete fixture behind.
    """
    log = await open_log(str(db))
    try:
        sid = await log.begin_session(protocol, model, endpoint)
        pending = 0
        for frame in frames:
            log.append(sid, frame)
            pending += len(frame.data)
            if pending >= FLUSH_BYTES:
                await log.flush()
                pending = 0
        await log.end_session(sid, status="complete", closed_by="client")
        await log.flush()
        if log.failure is not None:
            raise RtrecError(f"writing a session to {db} failed: {log.failure}") from log.failure
        if log.shed:
            raise RtrecError(f"writing a session to {db} fell behind: {log.shed[0].reason}")
        return sid
    finally:
        await log.close()


def record_frames(
    db: str | Path,
    frames: Iterable[Frame],
    *,
    protocol: str | None = "ga",
    model: str | None = None,
    endpoint: str | None = None,
) -> str:
    """Synchronous arecord_frames."""
    return _run(arecord_frames(db, frames, protocol=protocol, model=model, endpoint=endpoint))


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, also from inside a running event loop (in a worker thread then)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()
