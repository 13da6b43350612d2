"""Speaker segments from Live transcript fragments: the policy of the openai SDK's
TranscriptGrouper (`openai.lib.live`, Apache-2.0; LIVE.md §2f), reimplemented here because
`openai` is a test dependency of rtrec only. tests/test_live_fold.py checks it against the
SDK's own grouper driven with the same recorded times.

The policy: fragments (speaker, text, start_ms, end_ms) on the session timeline, duplicates by
event_id ignored, empty text ignored; a new segment on a speaker change at least
min_turn_separation_ms (500) after the current one ends; an assistant segment closes after
assistant_silence_ms (2,000) of silence; a short acknowledgement ("yeah", "mhm", ...; under
backchannel_max_duration_ms, 1,000) isolated by backchannel_isolation_ms (2,000) from other
speech is a backchannel and dropped; fragments of both speakers with the same times wait up to
50 ms for each other. Segments close with speaker_change, inactivity, timestamp_reset,
session_closed or manual (the end of a recording that has no session.closed).

Time: the grouper's clock is the frames' recorded arrival (ms), never the wall clock; its
deadlines are on the session timeline, advanced from the last fragment's end by the arrival
time elapsed since it came (as the SDK does with its monotonic clock).
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

import msgspec

Speaker = Literal["user", "assistant"]
CloseReason = Literal["speaker_change", "inactivity", "timestamp_reset", "session_closed",
                      "manual"]

MIN_TURN_SEPARATION_MS = 500
ASSISTANT_SILENCE_MS = 2000
BACKCHANNEL_MAX_DURATION_MS = 1000
BACKCHANNEL_ISOLATION_MS = 2000
PENDING_MS = 50  # how long same-time fragments of the other speaker are waited for

_WHITESPACE = ("\u0009\u000a\u000b\u000c\u000d\u0020\u00a0\u1680\u2000\u2001\u2002\u2003"
               "\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff")
ACKNOWLEDGMENTS: tuple[str, ...] = (
    "aha", "alright", "gotcha", "hm", "hmm", "mhm", "mm", "mm hmm", "okay", "ok", "right",
    "sure", "uh huh", "yeah", "yep", "yes",
)


def _normal(text: str) -> str:
    text = text.lower().replace("-", " ").strip(_WHITESPACE + ".,!?;:\"'()[]{}")
    return re.sub(f"[{_WHITESPACE}]+", " ", text)


def _word_char(char: str) -> bool:
    return unicodedata.category(char)[0] in ("L", "N")


class Fragment(msgspec.Struct, frozen=True, gc=False):
    """One transcript fragment (a Struct: made in C, one per transcript event)."""

    speaker: Speaker
    text: str
    start_ms: int
    end_ms: int
    seq: int = 0


@dataclass
class Segment:
    """One speaker's run of speech on the session timeline; close_reason None while open.
    first_seq / last_seq: the frames of its first and last fragment."""

    speaker: Speaker
    text: str
    start_ms: int
    end_ms: int
    first_seq: int = 0
    last_seq: int = 0
    close_reason: CloseReason | None = None
    emitted: bool = False
    droppable: bool = True  # may still be dropped as a backchannel

    def to_dict(self) -> dict[str, object]:
        return {"speaker": self.speaker, "text": self.text, "start_ms": self.start_ms,
                "end_ms": self.end_ms, "first_seq": self.first_seq, "last_seq": self.last_seq,
                "close_reason": self.close_reason}


def _append(segment: Segment, fragment: Fragment, separate: bool = False) -> None:
    if (separate and segment.text and fragment.text and _word_char(segment.text[-1])
            and _word_char(fragment.text[0])):
        segment.text += " "
    segment.text += fragment.text
    segment.end_ms = max(segment.end_ms, fragment.end_ms)
    segment.last_seq = max(segment.last_seq, fragment.seq)


class _Policy:
    """The grouping on the session timeline alone: no clock."""

    def __init__(self, closed: list[Segment]) -> None:
        self.current: Segment | None = None
        self.buffered: Segment | None = None
        self.closed = closed  # emitted segments, in the order they closed
        self.last_assistant_end: int | None = None

    def process(self, fragments: list[Fragment]) -> None:
        if len(fragments) == 1:  # the usual case: nothing to order
            ordered = fragments
        else:
            preferred = self.current.speaker if self.current is not None else "user"
            ordered = ([f for f in fragments if f.speaker == preferred]
                       + [f for f in fragments if f.speaker != preferred])
        if not ordered:
            return
        first = ordered[0]
        deadline = self.deadline()
        while deadline is not None and deadline < first.start_ms:
            self.advance(deadline)
            deadline = self.deadline()
        if self.current is not None and not any(f.speaker == self.current.speaker
                                                for f in ordered):
            self.advance(first.start_ms, any(f.speaker == "user" for f in ordered))
        for fragment in ordered:
            self._ingest(fragment)

    def advance(self, time_ms: float, incoming_user: bool = False) -> None:
        current = self.current
        if (current is not None and self.buffered is not None
                and time_ms >= current.end_ms + MIN_TURN_SEPARATION_MS
                and not self._keep_backchannel(time_ms)):
            self.buffered = self._maybe_drop(time_ms)
            if self.buffered is not None:
                self._promote()
                return
        if (current is not None and current.speaker == "assistant" and not incoming_user
                and time_ms >= current.end_ms + ASSISTANT_SILENCE_MS):
            self._finish_current("inactivity")

    def deadline(self) -> float | None:
        current, buffered = self.current, self.buffered
        if current is None:
            return None
        if buffered is not None:
            separation = current.end_ms + MIN_TURN_SEPARATION_MS
            if (self._might_be_backchannel() and buffered.droppable
                    and not self._user_continued() and not self._recent_assistant()):
                return max(separation, buffered.end_ms + BACKCHANNEL_ISOLATION_MS)
            return separation
        if current.speaker == "assistant":
            return current.end_ms + ASSISTANT_SILENCE_MS
        return None

    def close(self, time_ms: float, reason: CloseReason) -> None:
        buffered = self._maybe_drop(time_ms)
        self._finish_current(reason)
        self.buffered = None
        if buffered is not None and buffered.text:
            buffered.emitted = True
            self._finish(buffered, reason)
        if reason == "timestamp_reset":
            self.last_assistant_end = None

    def _ingest(self, fragment: Fragment) -> None:
        current = self.current
        if current is None:
            self.current = self._new(fragment)
            self._emit(self.current)
            return
        if fragment.speaker == current.speaker:
            _append(current, fragment, self.buffered is not None)
            self._emit(current)
            return
        if current.speaker == "user" and self._user_continued():
            self.buffered = None
        if current.speaker == "assistant":
            self._buffer(fragment)
            self._promote()
            return
        if fragment.start_ms - current.end_ms < MIN_TURN_SEPARATION_MS:
            self._buffer(fragment, self._possible_ack(fragment))
            return
        if self.buffered is not None and self._standalone_ack(fragment, self.buffered):
            self._buffer(fragment, True)
            return
        if self.buffered is None and self._standalone_ack(fragment):
            self._buffer(fragment, False)
            return
        self.buffered = self._maybe_drop(next_fragment=fragment)
        self._finish_current("speaker_change")
        if self.buffered is not None:
            self.current, self.buffered = self.buffered, None
            _append(self.current, fragment)
        else:
            self.current = self._new(fragment)
        self._emit(self.current)

    @staticmethod
    def _new(fragment: Fragment) -> Segment:
        return Segment(fragment.speaker, fragment.text, fragment.start_ms, fragment.end_ms,
                       fragment.seq, fragment.seq)

    def _buffer(self, fragment: Fragment, droppable: bool | None = None) -> None:
        if self.buffered is not None:
            _append(self.buffered, fragment)
        else:
            self.buffered = self._new(fragment)
        if droppable is not None:
            self.buffered.droppable = droppable

    def _promote(self) -> None:
        if self.buffered is None:
            return
        self._finish_current("speaker_change")
        self.current, self.buffered = self.buffered, None
        self._emit(self.current)

    def _finish_current(self, reason: CloseReason) -> None:
        current, self.current = self.current, None
        if current is not None:
            self._finish(current, reason)

    def _finish(self, segment: Segment, reason: CloseReason) -> None:
        if segment.speaker == "assistant":
            self.last_assistant_end = segment.end_ms
        if segment.emitted:
            segment.close_reason = reason
            self.closed.append(segment)

    @staticmethod
    def _emit(segment: Segment) -> None:
        if segment.text:
            segment.emitted = True

    def _might_be_backchannel(self) -> bool:
        current, buffered = self.current, self.buffered
        return (current is not None and current.speaker == "user" and buffered is not None
                and buffered.speaker == "assistant"
                and buffered.end_ms - buffered.start_ms < BACKCHANNEL_MAX_DURATION_MS)

    def _user_continued(self) -> bool:
        return (self._might_be_backchannel() and self.buffered is not None
                and self.buffered.droppable and self.current is not None
                and self.current.end_ms > self.buffered.end_ms)

    def _recent_assistant(self) -> bool:
        current, buffered = self.current, self.buffered
        return (current is not None and buffered is not None
                and self.last_assistant_end is not None
                and buffered.start_ms - self.last_assistant_end < BACKCHANNEL_ISOLATION_MS
                and buffered.start_ms <= current.start_ms)

    def _keep_backchannel(self, time_ms: float) -> bool:
        return (self._might_be_backchannel() and self.buffered is not None
                and self.buffered.droppable and not self._user_continued()
                and not self._recent_assistant()
                and time_ms < self.buffered.end_ms + BACKCHANNEL_ISOLATION_MS)

    def _maybe_drop(self, time_ms: float | None = None,
                    next_fragment: Fragment | None = None) -> Segment | None:
        buffered = self.buffered
        if not self._might_be_backchannel() or buffered is None:
            return buffered
        if self._user_continued():
            return None
        if self._recent_assistant():
            return buffered
        if (next_fragment is not None
                and next_fragment.start_ms - buffered.end_ms < BACKCHANNEL_ISOLATION_MS):
            return buffered
        if next_fragment is None and (
                time_ms is None or time_ms < buffered.end_ms + BACKCHANNEL_ISOLATION_MS):
            return buffered
        return None if buffered.droppable else buffered

    def _standalone_ack(self, fragment: Fragment, previous: Segment | None = None) -> bool:
        start = previous.start_ms if previous is not None else fragment.start_ms
        text = (previous.text if previous is not None else "") + fragment.text
        return (fragment.end_ms - start < BACKCHANNEL_MAX_DURATION_MS
                and _normal(text) in ACKNOWLEDGMENTS)

    def _possible_ack(self, fragment: Fragment) -> bool:
        buffered = self.buffered
        text = _normal((buffered.text if buffered is not None else "") + fragment.text)
        start = buffered.start_ms if buffered is not None else fragment.start_ms
        return (fragment.end_ms - start < BACKCHANNEL_MAX_DURATION_MS and bool(text)
                and any(ack.startswith(text) for ack in ACKNOWLEDGMENTS))


@dataclass
class Grouper:
    """Feed it fragments (add) and the recorded clock (at), in arrival order; finish() at the
    end. `segments()` lists the segments so far: closed ones in closing order, then the open
    ones (close_reason None)."""

    closed: list[Segment] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _pending: list[tuple[Fragment, float]] = field(default_factory=list)
    _anchor: tuple[int, float] | None = None
    _last_start: int | None = None
    timer_at: float | None = None  # arrival ms when the next deadline falls due
    _now: float = 0.0
    done: bool = False

    def __post_init__(self) -> None:
        self._policy = _Policy(self.closed)

    def at(self, now_ms: float) -> None:
        """The recorded clock reached now_ms: fire the deadlines that fell due before it."""
        while self.timer_at is not None and self.timer_at <= now_ms and not self.done:
            self._now = self.timer_at
            self.timer_at = None
            self._flush()
            self._policy.advance(self._source_now())
            self._schedule()
        if now_ms > self._now:
            self._now = now_ms

    def add(self, event_id: str | None, speaker: Speaker, text: str, start_ms: int,
            end_ms: int, seq: int = 0, *, at_ms: float | None = None) -> bool:
        """One transcript fragment; False when it is ignored (a duplicate event_id, or text
        that is empty, or times that are not an interval). at_ms: the recorded clock reached
        it first (at(at_ms), in the same call)."""
        if at_ms is not None:
            timer = self.timer_at
            if timer is not None and timer <= at_ms:
                self.at(at_ms)
            elif at_ms > self._now:
                self._now = at_ms
        if self.done or start_ms < 0 or end_ms < start_ms:
            return False
        if event_id is not None:
            if event_id in self._seen:
                return False
            self._seen.add(event_id)
        if not text:
            return False
        if not self._pending and self._continues(speaker, text, start_ms, end_ms, seq):
            return True
        fragment = Fragment(speaker, text, start_ms, end_ms, seq)
        pending = self._pending[0][0] if self._pending else None
        if pending is not None and pending.start_ms == start_ms and pending.end_ms == end_ms:
            self._pending.append((fragment, self._now))
            if any(part.speaker != speaker for part, _ in self._pending):
                self._flush()
        else:
            if self._pending:
                self._flush()
            if self._policy.current is not None and self._policy.current.speaker == speaker:
                self._commit([(fragment, self._now)])
            else:
                self._pending.append((fragment, self._now))
        self._schedule()
        return True

    def _continues(self, speaker: Speaker, text: str, start_ms: int, end_ms: int,
                   seq: int) -> bool:
        """The usual fragment, in one step: the open segment's speaker goes on (nothing
        buffered, nothing pending, no timestamp reset, no deadline before it), so the fragment
        is appended as committing and processing it would. False: take the long way."""
        policy = self._policy
        current = policy.current
        if (current is None or current.speaker != speaker or policy.buffered is not None
                or (self._last_start is not None and start_ms < self._last_start)
                or (speaker == "assistant"
                    and current.end_ms + ASSISTANT_SILENCE_MS < start_ms)):
            return False
        self._last_start = start_ms
        anchor = self._anchor
        anchor_ms = anchor[0] if anchor is not None else 0
        self._anchor = (anchor_ms if anchor_ms > end_ms else end_ms, self._now)
        current.text += text
        if end_ms > current.end_ms:
            current.end_ms = end_ms
        if seq > current.last_seq:
            current.last_seq = seq
        current.emitted = True
        # _schedule() in this state: an assistant segment's silence deadline, on the source
        # clock that is at the anchor just set (nothing pending, nothing buffered)
        if speaker == "assistant":
            delay = current.end_ms + ASSISTANT_SILENCE_MS - self._anchor[0]
            self.timer_at = self._now + max(0, math.ceil(delay))
        else:
            self.timer_at = None
        return True

    def finish(self, reason: Literal["session_closed", "manual"]) -> None:
        if self.done:
            return
        self.done = True
        self._flush()
        self._policy.close(self._source_now(), reason)
        self.timer_at = None

    def segments(self) -> list[Segment]:
        open_ = [s for s in (self._policy.current, self._policy.buffered)
                 if s is not None and s.emitted and s.close_reason is None]
        pending = [_Policy._new(f) for f, _ in self._pending]
        return [*self.closed, *open_, *pending]

    def open_speaker(self) -> Speaker | None:
        current = self._policy.current
        return current.speaker if current is not None and current.emitted else None

    def _source_now(self) -> float:
        if self._anchor is None:
            return 0
        source_ms, received = self._anchor
        return source_ms + max(0.0, self._now - received)

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        self._commit(pending)

    def _commit(self, parts: list[tuple[Fragment, float]]) -> None:
        if not parts:
            return
        first = parts[0][0]
        if self._last_start is not None and first.start_ms < self._last_start:
            self._policy.close(self._source_now(), "timestamp_reset")
            self._anchor = None
        self._last_start = first.start_ms
        anchor_ms = self._anchor[0] if self._anchor is not None else 0
        if len(parts) == 1:  # the usual case
            received = parts[0][1]
            self._anchor = (max(anchor_ms, first.end_ms), received)
        else:
            self._anchor = (max(anchor_ms, *(part.end_ms for part, _ in parts)),
                            max(received for _, received in parts))
        self._policy.process([part for part, _ in parts])

    def _schedule(self) -> None:
        self.timer_at = None
        if self.done:
            return
        deadline = self._policy.deadline()
        if self._pending:
            delay = self._pending[0][1] + PENDING_MS - self._now
        elif deadline is not None:
            delay = deadline - self._source_now()
        else:
            return
        self.timer_at = self._now + max(0, math.ceil(delay))
