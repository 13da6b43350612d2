"""The one script player (serve's playback, the fake client and upstream): send my side in
order, wait for the other side where the script says, pace by the script's clock."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from recorder.script_player import Inbox, NoReply, Outcome, Pacing, Verdict, play_script
from recorder.wire import Direction

C, S = Direction.CLIENT, Direction.SERVER


@dataclass(frozen=True)
class Step:
    direction: Direction
    t_ns: int
    name: str


SCRIPT = [Step(S, 0, "hello"), Step(C, 10, "update"), Step(S, 20, "updated"),
          Step(C, 30, "create"), Step(S, 40, "done")]


class Side:
    """Records what the player sent and checked; checks by name with a verdict for others."""

    def __init__(self, other: Verdict = "stop", sendable: int | None = None) -> None:
        self.log: list[str] = []
        self.other = other
        self.sendable = sendable  # send fails after this many frames
        self.dues: list[int | None] = []

    async def send(self, step: Step, due: int | None) -> bool:
        if self.sendable is not None and len(self.dues) >= self.sendable:
            return False
        self.dues.append(due)
        self.log.append(f"sent {step.name}")
        return True

    async def check(self, step: Step, got: str, index: int) -> Verdict:
        self.log.append(f"got {got} for {step.name} at {index}")
        return "matched" if got == step.name else self.other


async def test_my_frames_leave_in_order_and_the_other_sides_are_awaited() -> None:
    side, inbox = Side(), Inbox[str]()
    player = asyncio.ensure_future(
        play_script(SCRIPT, S, inbox, send=side.send, check=side.check))
    await asyncio.sleep(0.05)
    assert side.log == ["sent hello"]  # held back: the script waits for the client's update
    inbox.put("update")
    await asyncio.sleep(0.05)
    assert side.log == ["sent hello", "got update for update at 1", "sent updated"]
    inbox.put("create")
    assert await asyncio.wait_for(player, 5) == Outcome(True, len(SCRIPT))
    assert side.log[-2:] == ["got create for create at 3", "sent done"]
    assert side.dues == [None, None, None]  # speed None: nothing paced


async def test_the_client_side_of_the_same_script_sends_the_client_frames() -> None:
    side, inbox = Side(), Inbox[str]()
    for name in ("hello", "updated", "done"):
        inbox.put(name)
    assert await play_script(SCRIPT, C, inbox, send=side.send, check=side.check) == Outcome(
        True, len(SCRIPT))
    assert [line for line in side.log if line.startswith("sent")] == [
        "sent update", "sent create"]


async def test_skipped_frames_are_passed_over_until_the_expected_one_comes() -> None:
    side, inbox = Side(other="skip"), Inbox[str]()
    for name in ("noise", "more noise", "update", "create"):
        inbox.put(name)
    assert await play_script(SCRIPT, S, inbox, send=side.send, check=side.check) == Outcome(
        True, len(SCRIPT))
    assert side.log[:4] == ["sent hello", "got noise for update at 1",
                            "got more noise for update at 1", "got update for update at 1"]


async def test_a_stop_ends_the_playback_after_the_checked_frame() -> None:
    side, inbox = Side(other="stop"), Inbox[str]()
    inbox.put("something else")
    assert await play_script(SCRIPT, S, inbox, send=side.send, check=side.check) == Outcome(
        False, 2)  # SCRIPT[2:] was not played
    assert side.log == ["sent hello", "got something else for update at 1"]


async def test_the_other_side_leaving_ends_the_playback_at_the_awaited_frame() -> None:
    side, inbox = Side(), Inbox[str]()
    inbox.put("update")
    inbox.close()
    assert await play_script(SCRIPT, S, inbox, send=side.send, check=side.check) == Outcome(
        False, 3)
    assert inbox.gone.is_set()


async def test_a_frame_that_cannot_be_sent_ends_the_playback_there() -> None:
    side, inbox = Side(sendable=1), Inbox[str]()
    inbox.put("update")
    assert await play_script(SCRIPT, S, inbox, send=side.send, check=side.check) == Outcome(
        False, 2)


async def test_silence_past_the_timeout_is_no_reply_naming_the_awaited_frame() -> None:
    side, inbox = Side(), Inbox[str]()
    started = time.monotonic()
    with pytest.raises(NoReply) as caught:
        await play_script(SCRIPT, S, inbox, send=side.send, check=side.check, timeout=0.1)
    assert caught.value.expected == SCRIPT[1]
    assert isinstance(caught.value, TimeoutError)
    assert str(caught.value) == "nothing received within 0.1 s"
    assert time.monotonic() - started < 2


def test_pacing_follows_the_offsets_and_the_latest_matched_frame() -> None:
    assert Pacing(None, opened_ns=1000).due(5000) is None
    pacing = Pacing(2.0, opened_ns=1000)
    assert pacing.due(4000) == 3000  # opened + t / speed
    pacing.matched(2000, arrived_ns=10_000)  # the peer was late: later frames follow it
    assert pacing.due(4000) == 11_000  # received_c + (t - t_c) / speed
    pacing.matched(3000, arrived_ns=1200)  # early: no frame leaves before its own offset
    assert pacing.due(4000) == 3000


async def test_paced_frames_leave_at_their_offsets() -> None:
    script = [Step(S, 0, "a"), Step(S, 60_000_000, "b"), Step(S, 120_000_000, "c")]
    side, inbox = Side(), Inbox[str]()
    sent_at: list[int] = []

    async def send(step: Step, due: int | None) -> bool:
        sent_at.append(time.monotonic_ns())
        return await side.send(step, due)

    pacing = Pacing(2.0)  # twice as fast: 0, 30 and 60 ms after the start
    await play_script(script, S, inbox, send=send, check=side.check, pacing=pacing)
    offsets = [(at - pacing.opened_ns) / 1e6 for at in sent_at]
    assert side.dues == [pacing.opened_ns + t // 2 for t in (0, 60_000_000, 120_000_000)]
    assert offsets[1] >= 30 and offsets[2] >= 60
    assert all(at >= due for at, due in zip(sent_at, side.dues, strict=True) if due)


async def test_an_alarm_ring_cuts_a_sleep_short_and_a_due_time_ends_it() -> None:
    from recorder.script_player import Alarm

    alarm = Alarm()
    sleeper = asyncio.create_task(alarm.sleep_until(time.monotonic_ns() + 3600 * 10**9))
    await asyncio.sleep(0)
    assert not sleeper.done()
    alarm.ring()
    await asyncio.wait_for(sleeper, 5)  # a guard against a hang, not a timing
    assert alarm.rung
    await asyncio.wait_for(alarm.wait(), 5)  # rung: returns at once until cleared
    alarm.clear()
    due = time.monotonic_ns() + 20_000_000
    await asyncio.wait_for(alarm.sleep_until(due), 5)
    assert time.monotonic_ns() >= due and not alarm.rung
