"""Checking what a receiver sends against the recording: a stage on the replayed steps.

Whatever the receiver sends with `receiver.send(event)` during a replay is compared with the
recorded client events, in order (see recorder.testing for the rules). SendChecker.stage wraps
the log's steps: each recorded client step is checked as the driver reaches it, before the
receiver sees it. `areplay_checked` is the replay with the check, for recorder.testing and
`rtrec replay --receiver`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from recorder import jsontext
from recorder.driver import AnyReceiver, adrive, check_protocol
from recorder.matching import (
    DEFAULT_RULES,
    LOOKAHEAD,
    MatchRules,
    describe_mismatch,
    diff_events,
    order_hint,
    show_frame,
)
from recorder.protocol.audio_fields import INPUT_AUDIO, LIVE_INPUT_AUDIO
from recorder.recording import open_recording
from recorder.replay import PacedClock, ReplayResult
from recorder.stream import Step
from recorder.wire import Direction

DEFAULT_IGNORED = frozenset({INPUT_AUDIO, LIVE_INPUT_AUDIO})


@dataclass(frozen=True, slots=True)
class CheckedReplay(ReplayResult):
    """A replay whose sends were checked: how many events the receiver sent matched the log."""

    matched_sends: int = 0
    notes: list[str] = field(default_factory=list)  # about the session (recorder.recording)


class DivergenceError(AssertionError):
    """The receiver sent something other than what the recorded client sent at that point."""

    def __init__(
        self,
        message: str,
        *,
        session_id: str,
        seq: int | None,
        expected: bytes | None,
        actual: bytes,
        paths: list[str],
    ) -> None:
        super().__init__(message)
        self.headline = message.splitlines()[0]
        self.session_id = session_id
        self.seq = seq  # seq of the recorded client event compared against (None: none left)
        self.expected = expected
        self.actual = actual
        self.paths = paths

    def one_line(self) -> str:
        """The report in one line (for the CLI): where it diverged and which fields differ."""
        fields = f"; differing fields: {', '.join(self.paths)}" if self.paths else ""
        return (
            f"{self.headline}{fields}; replay it with recorder.testing.replay in a test to see "
            "both events"
        )


@dataclass
class SendChecker:
    """Collects what the receiver sends and checks it against the recorded client frames."""

    session_id: str
    ignore_types: frozenset[str] = DEFAULT_IGNORED
    rules: MatchRules = DEFAULT_RULES
    pending: deque[tuple[bytes, int | None]] = field(default_factory=deque)
    matched: int = 0
    _receiver: AnyReceiver | None = None
    # a send of another type than the recorded event: held while the next LOOKAHEAD recorded
    # client frames are read, so the report can name the one it most likely stands for
    _held: tuple[int, bytes, bytes, list[str], int | None] | None = None
    _ahead: list[tuple[int, bytes]] = field(default_factory=list)

    def attach(self, receiver: AnyReceiver) -> None:
        self._receiver = receiver
        receiver.attach_sender(self.send)

    def send(self, event: Any) -> None:
        """The receiver's sender during replay: queue the event until its recorded match.

        Ignored types are dropped here as they are skipped on the recorded side: a receiver
        that streams microphone audio would otherwise have every append compared with the
        next recorded event that is not one.
        """
        data = _as_bytes(event)
        if _type_of(event, data) in self.ignore_types:
            return
        position = self._receiver.position if self._receiver is not None else None
        self.pending.append((data, position.seq if position else None))

    async def stage(self, batches: AsyncIterator[list[Step]]) -> AsyncIterator[Iterator[Step]]:
        """The steps as they were, each recorded client step checked as it is reached: before
        the receiver sees it, after the receiver handled everything before it."""
        async for batch in batches:
            yield self._checked(batch)

    def _checked(self, batch: list[Step]) -> Iterator[Step]:
        client = Direction.CLIENT
        for step in batch:
            if step.direction is client:
                self.on_client_step(step)
            yield step

    def on_client_step(self, step: Step) -> None:
        """A recorded client step is reached: it is what the oldest pending send should be."""
        if self._held is None and not self.pending:
            return
        if (step.type or getattr(step.event, "type", None)) in self.ignore_types:
            return
        data = step.frame_data()
        if self._held is not None:
            self._ahead.append((step.seq, data))
            held = self.held_divergence()
            if held is not None and len(self._ahead) >= LOOKAHEAD:
                raise held
            return
        actual, sent_at = self.pending.popleft()
        paths = diff_events(data, actual, rules=self.rules)
        if not paths:
            self.matched += 1
        elif jsontext.frame_type(data) != jsontext.frame_type(actual):
            self._held = (step.seq, data, actual, paths, sent_at)
        else:
            raise self._divergence(step.seq, data, actual, paths, sent_at)

    def held_divergence(self) -> DivergenceError | None:
        """The divergence held for its look ahead, if there is one."""
        if self._held is None:
            return None
        seq, expected, actual, paths, sent_at = self._held
        hint = order_hint(actual, self._ahead, rules=self.rules)
        return self._divergence(seq, expected, actual, paths, sent_at, hint)

    def finish(self) -> None:
        """After the replay: a send with no recorded client event left is a divergence too."""
        held = self.held_divergence()
        if held is not None:
            raise held
        if self.pending:
            actual, sent_at = self.pending[0]
            raise self._divergence(None, None, actual, [], sent_at)

    def _divergence(
        self,
        seq: int | None,
        expected: bytes | None,
        actual: bytes,
        paths: list[str],
        sent_at: int | None,
        hint: str = "",
    ) -> DivergenceError:
        when = f"while handling seq {sent_at}" if sent_at is not None else "outside any event"
        if expected is None:
            head = (
                f"session {self.session_id}: the receiver sent an event {when}, but the "
                "recording has no further client event"
            )
            lines = [head, f"  actual:   {show_frame(actual)}"]
        else:
            head = (
                f"session {self.session_id}: the event the receiver sent {when} differs from "
                f"the recorded client event at seq {seq}"
            )
            lines = [
                head,
                f"  {describe_mismatch(expected, actual, paths, self.rules)}{hint}",
                f"  fields:   {', '.join(paths)}",
                f"  expected: {show_frame(expected)}",
                f"  actual:   {show_frame(actual)}",
            ]
        return DivergenceError(
            "\n".join(lines),
            session_id=self.session_id,
            seq=seq,
            expected=expected,
            actual=actual,
            paths=paths,
        )


def _as_bytes(event: Any) -> bytes:
    """What would go on the wire for a sent event: bytes, str, dict or a typed event."""
    if isinstance(event, bytes):
        return event
    if isinstance(event, str):
        return event.encode()
    return msgspec.json.encode(event)


def _type_of(event: Any, data: bytes) -> str | None:
    """The type of a sent event (a dict, a typed event, or its JSON); None if it has none."""
    if isinstance(event, dict):
        kind = event.get("type")
    elif not isinstance(event, bytes | str):
        kind = getattr(event, "type", None)
    else:
        kind = jsontext.frame_type(data)  # None: not JSON or no string type, compared as it is
    return kind if isinstance(kind, str) else None


async def areplay_checked(
    db: str | Path,
    receiver: AnyReceiver,
    session: str | None = None,
    *,
    until: int | None = None,
    ignore_types: Iterable[str] = DEFAULT_IGNORED,
    speed: float | None = None,
    wrap_assertions: bool = False,
    ignore: Iterable[str] = (),
    exact: Iterable[str] = (),
    tolerance: Mapping[str, float] | None = None,
) -> CheckedReplay:
    """Replay session (default: the newest) of db into receiver, checking what it sends.

    ignore, exact and tolerance: fields not compared, measured fields compared exactly, and
    {field: tolerance} (see recorder.matching.MatchRules).

    speed paces the replay (see recorder.replay.PacedClock). An AssertionError raised by the
    receiver reaches the caller as it is (pytest shows it), unless wrap_assertions, as for any
    other exception, turns it into ReceiverError naming the session, seq and type (the CLI).
    """
    rules = MatchRules.build(ignore=ignore, exact=exact, tolerance=tolerance)
    clock = PacedClock(speed) if speed is not None else None
    passthrough = (DivergenceError,) if wrap_assertions else (AssertionError,)
    async with open_recording(db, session) as recording:  # a mistyped path is an error
        info = recording.info
        check_protocol(receiver, info.protocol, info.id)
        checker = SendChecker(info.id, frozenset(ignore_types), rules)
        checker.attach(receiver)
        try:
            driver = await adrive(
                receiver, checker.stage(recording.batches(until=until)),
                session_id=info.id, wait_for=clock.wait_for if clock is not None else None,
                keep=passthrough,
            )
        except Exception:
            held = checker.held_divergence()  # what went wrong first
            if held is not None:
                raise held from None
            raise
        finally:
            receiver.attach_sender(None)
        checker.finish()
        return CheckedReplay(info, driver.frames, driver.last_seq, checker.matched,
                             recording.notes)
