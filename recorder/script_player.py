"""One script player: send my side's frames in order, wait for the other side's where the
script says, for `rtrec serve`'s playback and both sides of the fake (client and upstream).

A script is frames in order, each with a direction and a time (t_ns since the session start).
`play_script` walks it: a frame of my side is sent when it is due; a frame of the other side is
awaited from the inbox (what the other side sent, in arrival order) and handed to `check`,
which says whether it is the frame the script expects ("matched"), something to pass over
while waiting ("skip") or the end of the playback ("stop").

Pacing (`speed`): None sends as fast as possible. A number paces my frames: a frame at t leaves
at its offset from the start, and never sooner after the other side's latest matched frame than
the script shows:
    due = max(opened + t / speed, received_c + (t - t_c) / speed)
where (t_c, received_c) are the script time and the arrival time of that frame. So a slow peer
never makes this side rush through the frames that answer it, a peer that is early never pulls
frames ahead of their offsets, and once the peer is on time again so is this side.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, Literal, Protocol, TypeVar

from recorder.wire import Direction

SPIN_NS = 1_500_000  # pacing: the last 1.5 ms before a frame is due are spent yielding
MAX_SLEEP_NS = 250_000_000  # pacing: how soon a departed peer is noticed during a long gap

Verdict = Literal["matched", "skip", "stop"]

R = TypeVar("R")


class Timed(Protocol):
    """A frame of a script: which side sends it, and when (ns since the session start)."""

    @property
    def direction(self) -> Direction: ...

    @property
    def t_ns(self) -> int: ...


F = TypeVar("F", bound=Timed)


class NoReply(TimeoutError):
    """The other side sent nothing within the timeout where the script expects its frame."""

    def __init__(self, expected: Timed, timeout: float) -> None:
        super().__init__(f"nothing received within {timeout:g} s")
        self.expected = expected
        self.timeout = timeout


class Inbox(Generic[R]):
    """What the other side sent, in arrival order, each with its arrival time (monotonic ns);
    `gone` is set, and None queued, once it has left."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[int, R] | None] = asyncio.Queue()
        self.gone = asyncio.Event()

    def put(self, item: R) -> None:
        self._queue.put_nowait((time.monotonic_ns(), item))

    def close(self) -> None:
        """The other side left: whoever waits gets None."""
        self.gone.set()
        self._queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> tuple[int, R] | None:
        """The next arrival (TimeoutError after `timeout` seconds); None once the side left."""
        if timeout is None:
            return await self._queue.get()
        return await asyncio.wait_for(self._queue.get(), timeout)


class Pacing:
    """When my frames are due (the formula in the module's doc); speed None: never waits."""

    def __init__(self, speed: float | None, opened_ns: int | None = None) -> None:
        self.speed = speed
        self.opened_ns = time.monotonic_ns() if opened_ns is None else opened_ns
        self._shift = self.opened_ns

    def due(self, t_ns: int) -> int | None:
        """The monotonic time the frame at t_ns leaves (None: at once)."""
        if self.speed is None:
            return None
        return self._shift + int(t_ns / self.speed)

    def matched(self, t_ns: int, arrived_ns: int) -> None:
        """The other side's frame at t_ns arrived at arrived_ns: later frames follow it."""
        if self.speed is not None:
            self._shift = max(self.opened_ns, arrived_ns - int(t_ns / self.speed))


async def sleep_until(due_ns: int, gone: asyncio.Event | None = None) -> None:
    """Sleep until due_ns, precisely: the event loop wakes up to ~1 ms late (epoll timeouts are
    whole milliseconds), so the last SPIN_NS are spent yielding to the loop instead. Long waits
    are cut into slices so a peer that left (`gone`) is noticed."""
    while (remaining := due_ns - time.monotonic_ns()) > 0 and not (gone and gone.is_set()):
        if remaining > SPIN_NS:
            await asyncio.sleep(min(remaining - SPIN_NS, MAX_SLEEP_NS) / 1e9)
        else:
            await asyncio.sleep(0)


class Alarm:
    """A sleep another task can cut short: `sleep_until(due_ns)` returns at due_ns (as
    asyncio.sleep would: on the loop's timer, no spinning) or as soon as `ring()` is called;
    `wait()` sleeps until a ring. A ring before the sleep ends the next one at once, until
    `clear()`."""

    def __init__(self) -> None:
        self.rung = False
        self._waiter: asyncio.Future[None] | None = None

    def ring(self) -> None:
        self.rung = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def clear(self) -> None:
        self.rung = False

    async def wait(self) -> None:
        await self.sleep_until(None)

    async def sleep_until(self, due_ns: int | None) -> None:
        loop = asyncio.get_running_loop()
        # never before due_ns: the loop may run a timer up to its clock resolution early
        while not self.rung and (due_ns is None or due_ns > time.monotonic_ns()):
            self._waiter = waiter = loop.create_future()
            # loop.time() is time.monotonic(): the due time is a loop time as it is
            timer = None if due_ns is None else loop.call_at(due_ns / 1e9, _wake, waiter)
            try:
                await waiter
            finally:
                if timer is not None:
                    timer.cancel()
                self._waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(frozen=True, slots=True)
class Outcome:
    """How far the script got: rest is the index of the first frame not played."""

    finished: bool
    rest: int


async def play_script(
    frames: Sequence[F],
    mine: Direction,
    inbox: Inbox[R],
    *,
    send: Callable[[F, int | None], Awaitable[bool]],
    check: Callable[[F, R, int], Awaitable[Verdict]],
    speed: float | None = None,
    timeout: float | None = None,
    pacing: Pacing | None = None,
) -> Outcome:
    """Play `frames`: mine are sent (send(frame, due_ns) -> False when it cannot be sent: the
    other side left), the other side's awaited and checked (check(frame, received, index)).
    NoReply when the other side is silent for `timeout` seconds where the script expects it."""
    pacing = pacing or Pacing(speed)
    for index, frame in enumerate(frames):
        if frame.direction is mine:
            due = pacing.due(frame.t_ns)
            if due is not None:
                await sleep_until(due, inbox.gone)
            if not await send(frame, due):
                return Outcome(False, index)
            continue
        verdict: Verdict = "skip"
        while verdict == "skip":
            try:
                arrival = await inbox.get(timeout)
            except TimeoutError:
                assert timeout is not None
                raise NoReply(frame, timeout) from None
            if arrival is None:
                return Outcome(False, index)
            arrived_ns, received = arrival
            verdict = await check(frame, received, index)
        if verdict == "stop":
            return Outcome(False, index + 1)
        pacing.matched(frame.t_ns, arrived_ns)
    return Outcome(True, len(frames))
