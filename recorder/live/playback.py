"""A recorded Live session played back to a Live client: the Live policy of recorder.serve.

Realtime's lockstep (send the server frames in order, wait wherever the recording has a client
frame next) does not fit Live (LIVE.md §6.5): the server streams output audio about ten
frames a second whatever the client does. So a Live recording is played as two streams:

- the free-running stream: every server frame that does not answer the client (output audio,
  transcripts, usage, delegations and the backend's events before the client acts, unknown
  types) leaves at its recorded time, counted from the arrival of the client's
  `session.start` (from the connection's opening when the recording has none);
- the answers: a server frame that answers a client command is held back until the client
  has sent that command, then keeps its recorded delay after it:
      due = max(start + (t - t_start) / speed, received_c + (t - t_c) / speed)
  The answers are the frames whose `client_event_id` echoes a client command, an
  acknowledgement without one (the latest unanswered command of its kind: `…appended` after
  `…append`, `session.closed` after `session.close`, ...), and the backend's continuation: a
  delegation's `response.event`s after the client's `response.item.create` (its call_id
  names the delegation) or `response.create`.

Client control frames (everything but `session.input_audio.append`) are matched in order as
Realtime's are (recorder.serve.Playback.check). Client audio is matched only by its total
decoded duration (a client may send the same audio in other chunk sizes): when the client
sends the command recorded after the last audio (usually `session.close`), or when the
recording ends with audio, the audio it sent must last as long as the recorded audio (within
the MatchRules tolerance of `audio`, in ms; `--ignore audio` leaves it out).

Ids are fresh on every connection and kept consistent: every id the recorded server gave
(`session.id`, `event_id`s, delegation ids, the backend's resp_/fc_/msg_/call_ ids) is replaced
by a new one of the same shape in every frame that mentions it, including the recorded client
frames the client is matched against (a `call_id` the client echoes must be the one it was
given); a sideband's session id is the one its path names; `client_event_id` echoes the live
client's `event_id` (null when it sent none). Ids the client chose itself (they appear in a
client frame before any server frame) stay as they are.

Bad input is served as far as it goes, with a note (LivePlan.notes): no session.start (its
frames play from the opening; a client's session.start is accepted unmatched), a
session.start refused with an error, no session.closed, types Live does not define.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING

import msgspec

from recorder import jsontext
from recorder.live import events as ev
from recorder.live.serve_plan import Entry, LivePlan, audio_size
from recorder.protocol.audio_fields import LIVE_INPUT_AUDIO
from recorder.protocol.error_event import client_event_id
from recorder.script_player import Alarm, Pacing

if TYPE_CHECKING:
    from recorder.serve import Playback, RecordedFrame

_ID_ALPHABET = string.ascii_letters + string.digits


def fresh_id(recorded: str, rng: random.Random) -> str:
    """A new id of the recorded one's shape: its prefix (up to the last '_') kept, the rest
    random letters and digits of the same length."""
    prefix, _, rest = recorded.rpartition("_")
    return f"{prefix}_" + "".join(rng.choices(_ID_ALPHABET, k=len(rest)))


def _quoted(value: str) -> bytes:
    return msgspec.json.encode(value)


class LivePlayback:
    """The Live policy for one connection (recorder.serve.Policy): call it with the Playback.

    path_session_id: the session a sideband's path names (its session id is that one)."""

    def __init__(self, plan: LivePlan, path_session_id: str | None = None,
                 rng: random.Random | None = None) -> None:
        self.plan = plan
        self.rng = rng or random.Random()
        # recorded id (quoted) -> this connection's, made when first sent: a long session has
        # thousands, and the client's session.start must not wait for them
        self.ids: dict[bytes, bytes] = {}
        if plan.session_id is not None and path_session_id is not None:
            # a sideband observes the path's session
            self.ids[_quoted(plan.session_id)] = _quoted(path_session_id)
        self.arrivals: list[int | None] = [None] * len(plan.control)
        self.echo: list[bytes] = [b"null"] * len(plan.control)  # the live client's event_ids
        self.start_arrival: int | None = None
        self.audio_received = 0
        self.halted = False
        self.next_control = 0  # the next command the client is to send
        self.wake = Alarm()  # rung when a command arrives, or playback ends
        self._expected: dict[int, RecordedFrame] = {}

    # -- ids --------------------------------------------------------------------------------

    def rewrite(self, index: int) -> bytes:
        """Frame `index` with this connection's ids (and, in an answer, the client's
        event_ids)."""
        data = self.plan.frames[index].data
        for old in self.plan.ids_in.get(index, ()):
            quoted = _quoted(old)
            new = self.ids.get(quoted)
            if new is None:
                new = self.ids[quoted] = _quoted(fresh_id(old, self.rng))
            data = data.replace(quoted, new)
        for old, control in self.plan.echoes.get(index, ()):
            data = data.replace(_quoted(old), self.echo[control])
        return data

    def expected(self, frame: RecordedFrame) -> RecordedFrame:
        """A recorded client frame as this connection's client is to send it."""
        index = self.plan.control_at.get(frame.seq)
        if index is None or index not in self.plan.ids_in:
            return frame
        if index not in self._expected:
            self._expected[index] = replace(frame, data=self.rewrite(index))
        return self._expected[index]

    # -- playing ----------------------------------------------------------------------------

    async def __call__(self, playback: Playback, pacing: Pacing) -> bool:
        playback.expected = self.expected
        matcher = asyncio.create_task(self._match(playback))
        try:
            if not await self._send_all(playback, pacing):
                self._halt()
                if not matcher.done():  # the socket closed under the sender: the client left
                    matcher.cancel()
                    self._report_unused(playback, self.next_control)
                return False
            if not matcher.done() and self.next_control >= len(self.plan.control):
                # every command came and the recording is over: the audio is what it is now
                matcher.cancel()
                return await self._audio_check(playback, b"")
            return await matcher
        finally:
            if not matcher.done():
                matcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await matcher

    def _halt(self) -> None:
        self.halted = True
        self.wake.ring()

    def _due(self, entry: Entry, pacing: Pacing) -> int | None:
        speed = pacing.speed
        if speed is None:
            return None
        plan = self.plan
        if entry.dep is None or self.start_arrival is None:
            return pacing.opened_ns + int(entry.t_ns / speed)
        start_t = plan.frames[plan.control[plan.start]].t_ns if plan.start is not None else 0
        due = self.start_arrival + int((entry.t_ns - start_t) / speed)
        arrived = self.arrivals[entry.dep]
        if entry.dep != plan.start and arrived is not None:
            due = max(due, arrived + int((entry.t_ns - entry.dep_t_ns) / speed))
        return due

    def _ready(self, entry: Entry) -> bool:
        return entry.dep is None or self.arrivals[entry.dep] is not None

    async def _send_all(self, playback: Playback, pacing: Pacing) -> bool:
        """Both streams, each in recorded order, whichever frame is due first; False when the
        connection ended (or playback stopped) before the last one."""
        queues = (deque(self.plan.free), deque(self.plan.answers))
        frames = self.plan.frames
        if self.plan.start is None:
            self.start_arrival = pacing.opened_ns
        while queues[0] or queues[1]:
            if self.halted:
                return False
            self.wake.clear()
            ready = [(q, q[0]) for q in queues if q and self._ready(q[0])]
            if not ready:
                await self.wake.wait()
                continue
            queue, entry = min(ready, key=lambda pair: self._due(pair[1], pacing) or 0)
            due = self._due(entry, pacing)
            if due is not None:
                await self.wake.sleep_until(due)
                if self.wake.rung:
                    continue  # something arrived: a frame may be due sooner, or playback ended
            frame = frames[entry.index]
            data = self.rewrite(entry.index)
            if not await playback.send(frame if data is frame.data else replace(frame, data=data),
                                       due):
                return False
            queue.popleft()
        return True

    async def _match(self, playback: Playback) -> bool:
        """The client's frames: commands matched in order, audio counted. True once every
        command was matched and the audio is complete; False when playback stops."""
        plan = self.plan
        accept_start = plan.accept_start
        while not (self.next_control >= len(plan.control) and self._audio_done()):
            next_control = self.next_control
            item = await playback.inbox.get()
            if item is None:
                self._report_unused(playback, next_control)
                return self._stopped()
            arrived, data = item
            kind = jsontext.frame_type(data)
            if kind == LIVE_INPUT_AUDIO:
                self.audio_received += audio_size(data)
                continue
            if accept_start and kind == ev.SessionStart.type:
                accept_start = False  # the recording has none: accepted, not matched
                continue
            if next_control >= len(plan.control):
                if not await playback.unexpected(data):
                    return self._stopped()
                continue
            if next_control == plan.audio_gate and not await self._audio_check(playback, data):
                return self._stopped()
            index = plan.control[next_control]
            verdict = await playback.check(self.expected(plan.frames[index]), data, index)
            if verdict == "stop":
                return self._stopped()
            self.arrivals[next_control] = arrived
            if next_control == plan.start:
                self.start_arrival = arrived
            sent_id = client_event_id(data)
            self.echo[next_control] = _quoted(sent_id) if sent_id is not None else b"null"
            self.next_control = next_control + 1
            self.wake.ring()
        if plan.audio_gate is None and plan.audio and not await self._audio_check(playback, b""):
            return self._stopped()
        return True

    def _stopped(self) -> bool:
        self._halt()
        return False

    def _tolerance_bytes(self, playback: Playback) -> int | None:
        """How far the client's audio may be from the recorded (None: not compared)."""
        if playback.rules.is_ignored("audio", LIVE_INPUT_AUDIO):
            return None
        limit = playback.rules.tolerance_for("audio", LIVE_INPUT_AUDIO) or 0.0
        fmt = self.plan.audio_format
        return int(limit * fmt.bytes_per_ms) if fmt is not None else int(limit)

    def _audio_done(self) -> bool:
        """Nothing left of the recorded audio to wait for (a gate checks it when it comes)."""
        if self.plan.audio_gate is not None or not self.plan.audio:
            return True
        return self.audio_received >= self.plan.audio_bytes

    async def _audio_check(self, playback: Playback, data: bytes) -> bool:
        """The client's audio against the recorded total; False when playback stops."""
        from recorder.serve import Mismatch

        limit = self._tolerance_bytes(playback)
        recorded, received = self.plan.audio_bytes, self.audio_received
        if limit is None or abs(recorded - received) <= limit:
            return True
        last = self.plan.frames[self.plan.audio[-1][0]] if self.plan.audio else None
        before = (
            f"before {jsontext.frame_type(data) or 'its next frame'}" if data
            else "by the end of the recording"
        )
        message = (
            f"{playback.where()}: the client sent {self._seconds(received)} of audio "
            f"(session.input_audio.append) {before}, the recording has "
            f"{self._seconds(recorded)} in {len(self.plan.audio)} frame(s) "
            "(client audio is matched by its total duration, in any chunk sizes)"
        )
        playback.record(Mismatch(
            last.seq if last is not None else None, LIVE_INPUT_AUDIO, LIVE_INPUT_AUDIO,
            ("audio",), message, None, data,
        ))
        return await playback.reject(message, data)

    def _seconds(self, size: int) -> str:
        fmt = self.plan.audio_format
        if fmt is None:
            return f"{size} bytes"
        return f"{fmt.duration_ms(size) / 1000:.3f} s"

    def _report_unused(self, playback: Playback, next_control: int) -> None:
        """The client left: the commands it never sent, and the audio past what it sent."""
        plan = self.plan
        unused = [plan.frames[i] for i in plan.control[next_control:]]
        covered = 0
        for index, size in plan.audio:
            covered += size
            if covered > self.audio_received:
                unused.append(plan.frames[index])
        playback.report_unused(sorted(unused, key=lambda f: f.seq))
