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
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import msgspec

from recorder import jsontext
from recorder.audio import AudioFormat
from recorder.errors import RtrecError
from recorder.live import events as ev
from recorder.protocol import b64
from recorder.protocol.audio_fields import LIVE_AUDIO_TYPES, LIVE_INPUT_AUDIO
from recorder.protocol.error_event import client_event_id
from recorder.script_player import Alarm, Pacing
from recorder.wire import Direction

if TYPE_CHECKING:
    from recorder.serve import Playback, RecordedFrame, Recording

# The answer to each command, for an answer recorded without a client_event_id.
ANSWERS: dict[str, str] = {
    ev.SessionStarted.type: ev.SessionStart.type,
    ev.SessionUpdated.type: ev.SessionUpdate.type,
    ev.InputAudioMuted.type: ev.InputAudioMute.type,
    ev.InputAudioUnmuted.type: ev.InputAudioUnmute.type,
    ev.OutputAudioFixturePlaying.type: ev.OutputAudioFixturePlay.type,
    ev.InstructionsAppended.type: ev.InstructionsAppend.type,
    ev.ThinkingAppended.type: ev.ThinkingAppend.type,
    ev.CommentaryAppended.type: ev.CommentaryAppend.type,
    ev.DecisionItemCreated.type: ev.DecisionItemCreate.type,
    ev.DecisionItemDeleted.type: ev.DecisionItemDelete.type,
    ev.SessionClosed.type: ev.SessionClose.type,
    ev.TransportDtmfSent.type: ev.TransportDtmfSend.type,
}
# The client commands after which a delegation's backend events continue.
CONTINUATIONS = frozenset({ev.ResponseItemCreate.type, ev.ResponseCreate.type})
# Keys whose values are ids the server chose (regenerated per connection).
ID_KEYS = frozenset({
    "id", "event_id", "delegation_id", "call_id", "item_id", "response_id",
    "previous_response_id", "source_event_id",
})
_ID_ALPHABET = string.ascii_letters + string.digits
MAX_TYPES_NAMED = 5


@dataclass(frozen=True, slots=True)
class Entry:
    """A server frame of the plan: frames[index], held back until control frame `dep` has
    arrived (None: only the connection's opening; the start control frame: free-running)."""

    index: int
    t_ns: int
    dep: int | None
    dep_t_ns: int


@dataclass
class LivePlan:
    """How a Live recording is played, worked out once from its frames (pure: no socket)."""

    frames: tuple[RecordedFrame, ...]
    control: list[int] = field(default_factory=list)  # frame indexes of client commands
    free: list[Entry] = field(default_factory=list)  # in recorded order
    answers: list[Entry] = field(default_factory=list)  # in recorded order
    start: int | None = None  # the control index of session.start
    audio: list[tuple[int, int]] = field(default_factory=list)  # client audio: (index, bytes)
    audio_format: AudioFormat | None = None
    audio_gate: int | None = None  # the control index recorded right after the last audio
    session_id: str | None = None  # session.started's session.id
    server_ids: set[str] = field(default_factory=set)
    ids_in: dict[int, tuple[str, ...]] = field(default_factory=dict)  # frame index -> ids
    # server frame index -> ((recorded client event_id, control index), ...)
    echoes: dict[int, tuple[tuple[str, int], ...]] = field(default_factory=dict)
    control_at: dict[int, int] = field(default_factory=dict)  # a command's seq -> its index
    accept_start: bool = False  # no session.start recorded: a client's is accepted unmatched
    notes: list[str] = field(default_factory=list)

    @property
    def audio_bytes(self) -> int:
        return sum(size for _, size in self.audio)

    @classmethod
    def of(cls, recording: Recording) -> LivePlan:
        plan = cls(recording.frames)
        _Planner(plan, recording).run()
        return plan


class _Append(msgspec.Struct):
    audio: str = ""


_append_decoder = msgspec.json.Decoder(_Append)


def audio_size(data: bytes) -> int:
    """The decoded bytes of a session.input_audio.append frame's audio (0: none readable)."""
    try:
        text = _append_decoder.decode(data).audio
    except jsontext.FAILURES:
        return 0
    decoded = b64.decode(text)
    return len(decoded) if decoded is not None else 0


def _leaves(value: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    """(key, string) for every string in a decoded JSON value (a list item: its list's key)."""
    if isinstance(value, str):
        yield key, value
    elif isinstance(value, dict):
        for name, child in value.items():
            yield from _leaves(child, name)
    elif isinstance(value, list):
        for child in value:
            yield from _leaves(child, key)


def _looks_like_id(value: str) -> bool:
    prefix, underscore, rest = value.rpartition("_")
    return bool(underscore and prefix and rest) and len(value) <= 128 and " " not in value


class _Planner:
    """One pass over the recording, in order: commands, answers, ids, audio, notes."""

    def __init__(self, plan: LivePlan, recording: Recording) -> None:
        self.plan = plan
        self.recording = recording
        self.by_event_id: dict[str, int] = {}  # a client command's event_id -> control index
        self.unanswered: dict[str, list[int]] = {}  # command type -> control indexes
        self.call_delegation: dict[str, str] = {}  # backend call_id -> delegation id
        self.delegation: str | None = None  # the latest delegation seen
        self.continued: dict[str | None, int] = {}  # delegation -> its latest continuation
        self.client_chosen: set[str] = set()
        self.strings: dict[int, set[str]] = {}  # frame index -> its strings
        self.unknown: set[str] = set()
        self.refused: str | None = None
        self.closed = False
        self.started = False
        self.format_refused = False

    def run(self) -> None:
        plan, frames = self.plan, self.plan.frames
        last_audio: int | None = None
        for index, frame in enumerate(frames):
            if frame.direction is Direction.CLIENT and frame.type == LIVE_INPUT_AUDIO:
                plan.audio.append((index, audio_size(frame.data)))
                last_audio = index
                continue
            event = self._parse(frame)
            if frame.direction is Direction.CLIENT:
                self._command(index, frame, event)
            else:
                self._answer(index, frame, event)
        if last_audio is not None:
            plan.audio_gate = next(
                (c for c, i in enumerate(plan.control) if i > last_audio), None
            )
        for index, strings in self.strings.items():
            ids = tuple(sorted(strings & plan.server_ids))
            if ids:
                plan.ids_in[index] = ids
        plan.control_at = {frames[i].seq: i for i in plan.control}
        if plan.audio_format is None and not self.format_refused:
            plan.audio_format = AudioFormat.from_wire(None)  # Live's default, PCM 24 kHz
        self._notes()

    def _parse(self, frame: RecordedFrame) -> Any:
        if frame.type in LIVE_AUDIO_TYPES:  # server audio and fixtures carry no ids
            return None
        try:
            return jsontext.parse(frame.data)
        except jsontext.NotJson:
            return None

    def _command(self, index: int, frame: RecordedFrame, event: Any) -> None:
        plan = self.plan
        control = len(plan.control)
        plan.control.append(index)
        kind = frame.type
        if kind not in ev.CLIENT_TYPES:
            self.unknown.add(kind or "(untyped)")
        if kind == ev.SessionStart.type and plan.start is None and control == 0:
            plan.start = control
        strings = {value for _, value in _leaves(event)}
        self.client_chosen |= strings - plan.server_ids
        self.strings[index] = strings
        if isinstance(event, dict) and isinstance(event.get("event_id"), str):
            self.by_event_id.setdefault(event["event_id"], control)
        if kind is not None:
            self.unanswered.setdefault(kind, []).append(control)
        if kind in CONTINUATIONS:
            delegation = self.delegation
            item = event.get("item") if isinstance(event, dict) else None
            call_id = item.get("call_id") if isinstance(item, dict) else None
            if isinstance(call_id, str) and call_id in self.call_delegation:
                delegation = self.call_delegation[call_id]
            self.delegation = delegation
            self.continued[delegation] = control

    def _answer(self, index: int, frame: RecordedFrame, event: Any) -> None:
        plan = self.plan
        kind = frame.type
        if kind not in ev.SERVER_TYPES:
            self.unknown.add(kind or "(untyped)")
        deps: list[int] = []
        if plan.start is not None:
            deps.append(plan.start)
        strings: set[str] = set()
        echoes: list[tuple[str, int]] = []
        for key, value in _leaves(event):
            strings.add(value)
            if key == "client_event_id" and value in self.by_event_id:
                echoes.append((value, self.by_event_id[value]))
            elif key in ID_KEYS and value not in self.client_chosen and _looks_like_id(value):
                plan.server_ids.add(value)
        if strings:
            self.strings[index] = strings
        if echoes:
            plan.echoes[index] = tuple(sorted(set(echoes)))
            deps += [control for _, control in echoes]
            for _, control in echoes:  # answered: an answer without an id takes another
                command = plan.frames[plan.control[control]].type
                waiting = self.unanswered.get(command or "", [])
                if control in waiting:
                    waiting.remove(control)
        elif kind in ANSWERS and self.unanswered.get(ANSWERS[kind]):
            deps.append(self.unanswered[ANSWERS[kind]].pop(0))
        if kind == ev.ResponseEvent.type and isinstance(event, dict):
            deps += self._backend(event)
        if kind == ev.DelegationCreated.type and isinstance(event, dict):
            delegation = event.get("delegation")
            if isinstance(delegation, dict) and isinstance(delegation.get("id"), str):
                self.delegation = delegation["id"]
        self._facts(kind, event, echoes)
        dep = max(deps) if deps else None
        dep_t = frame.t_ns if dep is None else self.plan.frames[plan.control[dep]].t_ns
        entry = Entry(index, frame.t_ns, dep, dep_t)
        (plan.free if dep is None or dep == plan.start else plan.answers).append(entry)

    def _backend(self, event: dict[str, Any]) -> list[int]:
        """A response.event: note its function calls' delegation; its continuation, if any."""
        delegation = event.get("delegation_id")
        delegation = delegation if isinstance(delegation, str) else None
        nested = event.get("event")
        item = nested.get("item") if isinstance(nested, dict) else None
        call_id = item.get("call_id") if isinstance(item, dict) else None
        if isinstance(call_id, str) and delegation is not None:
            self.call_delegation[call_id] = delegation
        if delegation is not None:
            self.delegation = delegation
        continued = self.continued.get(delegation)
        if continued is None and delegation is None and self.continued:
            continued = max(self.continued.values())
        return [] if continued is None else [continued]

    def _facts(self, kind: str | None, event: Any, echoes: list[tuple[str, int]]) -> None:
        plan = self.plan
        if not isinstance(event, dict):
            return
        session = event.get("session")
        if kind == ev.SessionStarted.type:
            self.started = True
            if isinstance(session, dict) and plan.session_id is None:
                session_id = session.get("id")
                plan.session_id = session_id if isinstance(session_id, str) else None
        if kind in (ev.SessionStarted.type, ev.SessionStart.type):
            self._format(session)
        if kind == ev.SessionClosed.type:
            self.closed = True
        if kind == ev.ErrorEvent.type and not self.started and plan.start is not None and any(
            control == plan.start for _, control in echoes
        ):
            error = event.get("error")
            code = error.get("code") if isinstance(error, dict) else None
            self.refused = code if isinstance(code, str) else "no code"

    def _format(self, session: Any) -> None:
        audio = session.get("audio") if isinstance(session, dict) else None
        wire = audio.get("format") if isinstance(audio, dict) else None
        if wire is None and self.plan.audio_format is not None:
            return
        try:
            self.plan.audio_format = AudioFormat.from_wire(wire)
        except RtrecError as error:
            self.format_refused = True
            self.plan.audio_format = None
            self.plan.notes.append(f"{self._where()}: audio format not understood ({error}): "
                                   "client audio is compared in bytes")

    def _where(self) -> str:
        return f"session {self.recording.session_id or '(frames)'}"

    def _notes(self) -> None:
        plan, where = self.plan, self._where()
        attach = self.recording.connection == "attach"
        if plan.start is None and not attach:
            first = next((f.type for f in plan.frames if f.direction is Direction.CLIENT), None)
            plan.accept_start = True
            plan.notes.append(
                f"{where}: the recording has no session.start (the client's first frame: "
                f"{first or 'none'}): its frames play from the connection's opening, and a "
                "client's session.start is accepted unmatched"
            )
        if self.refused is not None:
            plan.notes.append(
                f"{where}: session.start was refused (error {self.refused}): playback answers "
                "it with that error, as recorded"
            )
        if not self.closed:
            plan.notes.append(
                f"{where}: the recording has no session.closed (the session did not end "
                "cleanly): playback ends where the recording does"
            )
        if self.unknown:
            named = sorted(self.unknown)
            more = len(named) - MAX_TYPES_NAMED
            shown = ", ".join(named[:MAX_TYPES_NAMED]) + (f" and {more} more" if more > 0 else "")
            plan.notes.append(
                f"{where}: frames of types Live does not define ({shown}): played as recorded "
                "(server frames on the free-running stream, client frames matched as recorded)"
            )


def fresh_id(recorded: str, rng: random.Random) -> str:
    """A new id of the recorded one's shape: its prefix (up to the last '_') kept, the rest
    random letters and digits of the same length."""
    prefix, _, rest = recorded.rpartition("_")
    return f"{prefix}_" + "".join(rng.choices(_ID_ALPHABET, k=len(rest)))


def _quoted(value: str) -> bytes:
    return msgspec.json.encode(value)


class LivePlayback:
    """The Live policy for one connection (recorder.serve.Policy): call it with the Playback.

    path_session_id: the session the client's path names (a sideband's is its session id)."""

    def __init__(self, plan: LivePlan, path_session_id: str | None = None,
                 rng: random.Random | None = None) -> None:
        self.plan = plan
        rng = rng or random.Random()
        ids = {old: fresh_id(old, rng) for old in sorted(plan.server_ids)}
        if plan.session_id is not None and path_session_id is not None:
            ids[plan.session_id] = path_session_id  # a sideband observes the path's session
        self.ids = {_quoted(old): _quoted(new) for old, new in ids.items()}
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
            data = data.replace(quoted, self.ids[quoted])
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
