"""How a recorded Live session is played (recorder.live.playback), worked out once from its
frames: which server frames run free and which answer a client command (and which), the
client's commands and audio, the ids the server chose, and notes on what the recording lacks.
Pure: frames in, a LivePlan out; no socket."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from recorder import jsontext
from recorder.audio import AudioFormat
from recorder.errors import RtrecError
from recorder.live import events as ev
from recorder.protocol import b64
from recorder.protocol.audio_fields import LIVE_AUDIO_TYPES, LIVE_INPUT_AUDIO
from recorder.wire import Direction

if TYPE_CHECKING:
    from recorder.serve import RecordedFrame, Recording

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


def _leaves(value: Any) -> Iterator[tuple[str | None, str]]:
    """(key, string) for every string in a decoded JSON value (a list item: its list's key);
    iterative, so a frame nested as deep as msgspec reads costs no recursion."""
    stack: list[tuple[str | None, Any]] = [(None, value)]
    while stack:
        key, item = stack.pop()
        if isinstance(item, str):
            yield key, item
        elif isinstance(item, dict):
            stack.extend(reversed(item.items()))
        elif isinstance(item, list):
            stack.extend((key, child) for child in reversed(item))


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
