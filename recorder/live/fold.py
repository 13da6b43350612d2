"""A Live session reconstructed from its steps (LIVE.md §2f-2i): a pure fold, no I/O.

Live has no conversation items and no turns, so this is a timeline, not an item list:

- speaker segments, grouped from the transcript fragments by the SDK's TranscriptGrouper policy
  (recorder.live.segments), on the session timeline (start_ms / end_ms), de-duplicated by
  event_id, the grouper's clock being the frames' recorded arrival;
- delegations (session.delegation.created, at offset_ms) with what the Responses backend did
  for them (response.event): its tool calls (name, arguments, call_id), the client's
  function_call_output (response.item.create), the backend's answer text and token usage;
  for a client delegation, the thinking / commentary the client appended for it;
- context appends (instructions, thinking, commentary) where the server says they went in;
- mute intervals and fixture plays, errors, the close reason and the audio-seconds usage;
- interruptions, only inferred: a user segment that starts while an assistant segment is open
  (no Live event marks one, and nothing says how much was heard).

Acknowledgements with no time of their own (muted, unmuted, fixture playing / played, errors)
are placed at the input-audio clock: the session timeline follows the audio the client has
streamed (LIVE.md §2b), so the decoded duration of the client's appends so far is where the
session was. Bad input never raises: it is folded as far as it goes and `notes` says what was
wrong (no session.start, a start refused, no session.closed, unknown types, unknown nested
Responses events, audio the announced format cannot hold).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from recorder.audio import PCM16, AudioFormat
from recorder.errors import RtrecError
from recorder.events import UnknownEvent
from recorder.live import events as ev
from recorder.live.segments import Grouper, Segment, Speaker
from recorder.protocol import names
from recorder.stream import Step
from recorder.wire import Direction, Opcode

_APPENDED_KIND = {
    ev.InstructionsAppended.type: "instructions", ev.ThinkingAppended.type: "thinking",
    ev.CommentaryAppended.type: "commentary",
}
_APPEND_KIND = {
    ev.InstructionsAppend.type: "instructions", ev.ThinkingAppend.type: "thinking",
    ev.CommentaryAppend.type: "commentary",
}


@dataclass
class ToolCall:
    """A function call of the Responses backend, and the client's answer to it."""

    call_id: str | None
    name: str | None
    arguments: str = ""
    item_id: str | None = None
    response_id: str | None = None
    seq: int = 0
    output: str | None = None  # the client's function_call_output
    output_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "name": self.name, "arguments": self.arguments,
                "item_id": self.item_id, "response_id": self.response_id, "seq": self.seq,
                "output": self.output, "output_seq": self.output_seq}


@dataclass
class BackendResponse:
    id: str
    status: str | None = None
    previous_response_id: str | None = None
    text: str = ""  # the backend's answer (output_text deltas, or the done text)
    usage: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "status": self.status,
                "previous_response_id": self.previous_response_id, "text": self.text,
                "usage": self.usage}


@dataclass
class Delegation:
    id: str | None
    target: str | None
    offset_ms: int
    seq: int
    response_id: str | None = None
    responses: list[BackendResponse] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    appends: list[ContextAppend] = field(default_factory=list)  # a client delegation's result

    @property
    def answer(self) -> str:
        return "".join(response.text for response in self.responses)

    @property
    def tokens(self) -> int:
        return sum((r.usage or {}).get("total_tokens") or 0 for r in self.responses)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "target": self.target, "offset_ms": self.offset_ms,
                "seq": self.seq, "response_id": self.response_id,
                "tool_calls": [call.to_dict() for call in self.tool_calls],
                "responses": [r.to_dict() for r in self.responses], "answer": self.answer,
                "tokens": self.tokens, "appends": [a.to_dict() for a in self.appends]}


@dataclass
class ContextAppend:
    """Text the client put into the session: instructions, thinking or commentary. start_ms /
    end_ms where the server says it went in (None until acknowledged)."""

    kind: str
    content: str
    delegation_id: str | None
    seq: int
    event_id: str | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    ack_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "content": self.content, "delegation_id": self.delegation_id,
                "seq": self.seq, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "ack_seq": self.ack_seq}


@dataclass
class Interval:
    """A mute (or a fixture playing): from start_ms to end_ms on the input-audio clock; end
    None while it lasts."""

    kind: str
    start_ms: float
    seq: int
    end_ms: float | None = None
    end_seq: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "start_ms": self.start_ms, "end_ms": self.end_ms,
                "seq": self.seq, "end_seq": self.end_seq}


@dataclass
class LiveError:
    seq: int
    at_ms: float
    message: str | None
    code: str | None = None
    type: str | None = None
    client_event_id: str | None = None
    delegation_id: str | None = None  # an error of the Responses backend

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at_ms": self.at_ms, "type": self.type, "code": self.code,
                "message": self.message, "client_event_id": self.client_event_id,
                "delegation_id": self.delegation_id}


@dataclass
class DecisionAnswer:
    """A Decisions backend's answers (name = value), for a delegation or a trigger."""

    seq: int
    at_ms: float
    answers: list[tuple[str, Any]]
    model: str | None = None
    tokens: int | None = None
    delegation_id: str | None = None
    trigger_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "at_ms": self.at_ms,
                "answers": [{"name": name, "value": value} for name, value in self.answers],
                "model": self.model, "tokens": self.tokens,
                "delegation_id": self.delegation_id, "trigger_id": self.trigger_id}


@dataclass
class Interruption:
    """Inferred: the user started speaking at `at_ms` while an assistant segment was open."""

    at_ms: int
    assistant_segment: int  # index in segments
    user_segment: int
    inferred: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "assistant_segment": self.assistant_segment,
                "user_segment": self.user_segment, "inferred": self.inferred}


class LiveFold:
    """apply(step) for each step of a Live session, in seq order; then read the attributes,
    or finish() (also called by `segments`) to close the transcript segments."""

    def __init__(self) -> None:
        self.frames = 0
        self.last_seq: int | None = None
        self.last_t_ns: int | None = None
        self.session_id: str | None = None
        self.model: str | None = None
        self.audio_format: AudioFormat | None = None
        self.format_announced = False
        self.started_seq: int | None = None
        self.start_seq: int | None = None
        self.start_refused: LiveError | None = None
        self.closed_reason: str | None = None
        self.closed_seq: int | None = None
        self.close_requested_seq: int | None = None
        self.usage_seconds: float | None = None
        self.input_audio_ms = 0.0
        self.output_audio_ms = 0.0
        self.delegations: list[Delegation] = []
        self.appends: list[ContextAppend] = []
        self.intervals: list[Interval] = []
        self.errors: list[LiveError] = []
        self.decisions: list[DecisionAnswer] = []
        self.notes: list[str] = []
        self.unknown: dict[str, list[int]] = {}  # type -> seqs
        self.unknown_nested: dict[str, list[int]] = {}
        self._grouper = Grouper()
        self._first_t_ns: int | None = None
        self._delegation_by_id: dict[str | None, Delegation] = {}
        self._calls_by_item: dict[str, ToolCall] = {}
        self._calls_by_call_id: dict[str, ToolCall] = {}
        self._responses: dict[str, BackendResponse] = {}
        self._pending_appends: dict[str, list[ContextAppend]] = {}
        self._open: dict[str, Interval] = {}
        self._bad_audio: list[int] = []
        self._finished = False
        self._segments: list[Segment] | None = None
        self.cut = False

    # ------------------------------------------------------------------ folding

    def apply(self, step: Step) -> None:
        self.frames += 1
        self.last_seq = step.seq
        t_ns = self.last_t_ns = step.t_ns
        if self._first_t_ns is None:
            self._first_t_ns = t_ns
        timer = self._grouper.timer_at
        if timer is not None and timer <= (t_ns - self._first_t_ns) / 1e6:
            self._grouper.at(self._now_ms())  # a grouping deadline fell due before this frame
        audio = step.audio
        if audio is not None and step.type is not None:  # the audio fast path: no decoding
            self._audio(step, step.type, len(audio))
            return
        if step.opcode is not Opcode.TEXT:
            self._unknown("(binary frame)", step.seq)
            return
        event = step.event
        if isinstance(event, UnknownEvent):
            self._unknown(event.type or "(no type)", step.seq)
            return
        handler = _HANDLERS.get((step.direction, event.type))
        if handler is not None:
            handler(self, step, event)

    def apply_batch(self, steps: Iterable[Step],
                    on_audio: Callable[[Step], object] | None = None) -> None:
        """apply() each step, with the same result. The audio of the two continuous tracks
        that came as bytes (the client's appends, the output deltas: the bulk of a session) is
        folded inline, decoding nothing, its counts kept in locals until another step comes;
        on_audio, when given, takes each step with audio after it is folded (export's tracks;
        it reads the fold's session facts, audio_format and start_seq, never its counters).
        Every other step goes through apply()."""
        apply, grouper = self.apply, self._grouper
        out_kind, in_kind = names.LIVE_OUTPUT_AUDIO_DELTA, names.LIVE_INPUT_AUDIO_APPEND
        client = Direction.CLIENT
        frames, out_ms, in_ms = self.frames, self.output_audio_ms, self.input_audio_ms
        last: Step | None = None  # the last step folded here, not yet in last_seq / last_t_ns
        fmt = self.audio_format
        per_s, pcm16 = self._rate_of(fmt)
        first, timer = self._first_t_ns, grouper.timer_at
        for step in steps:
            audio, kind = step.audio, step.type
            size = len(audio) if audio is not None else 1
            if (per_s and audio is not None and first is not None
                    and (kind == out_kind or (kind == in_kind and step.direction is client))
                    and not (pcm16 and size & 1)):
                frames += 1
                last = step
                if timer is not None and timer <= (step.t_ns - first) / 1e6:
                    self._sync(frames, out_ms, in_ms, last)  # as apply(): a deadline fell due
                    grouper.at(self._now_ms())
                    timer = grouper.timer_at
                if kind == out_kind:
                    out_ms += size * 1000 / per_s
                else:
                    in_ms += size * 1000 / per_s
                if on_audio is not None:
                    on_audio(step)
                continue
            if last is not None:  # else nothing was folded here since the last apply()
                self._sync(frames, out_ms, in_ms, last)
                last = None
            apply(step)  # anything else, or audio _audio notes as bad
            if on_audio is not None and audio is not None and kind is not None:
                on_audio(step)
            frames, out_ms, in_ms = self.frames, self.output_audio_ms, self.input_audio_ms
            if self.audio_format is not fmt:
                fmt = self.audio_format
                per_s, pcm16 = self._rate_of(fmt)
            first, timer = self._first_t_ns, grouper.timer_at
        self._sync(frames, out_ms, in_ms, last)

    @staticmethod
    def _rate_of(fmt: AudioFormat | None) -> tuple[int, bool]:
        """(bytes a second of the format, 0 for none; whether it is PCM16): what apply_batch's
        inline audio path divides by, as _audio does."""
        pcm16 = fmt is not None and fmt.name == _PCM16
        return (fmt.sample_rate * (2 if pcm16 else 1) if fmt is not None else 0), pcm16

    def _sync(self, frames: int, out_ms: float, in_ms: float, last: Step | None) -> None:
        self.frames, self.output_audio_ms, self.input_audio_ms = frames, out_ms, in_ms
        if last is not None:
            self.last_seq, self.last_t_ns = last.seq, last.t_ns

    def _now_ms(self) -> float:
        """The recorded clock: ms since the first frame."""
        if self._first_t_ns is None or self.last_t_ns is None:
            return 0.0
        return (self.last_t_ns - self._first_t_ns) / 1e6

    def finish(self, *, cut: bool = False) -> None:
        """The end of the recording: closes the open segments (session_closed if the session
        said so, else manual) and writes the notes. cut: the steps stop before the end of the
        recording (replay --until), so a missing session.closed is not noted. Idempotent."""
        if self._finished:
            return
        self._finished = True
        self.cut = cut
        if not self._grouper.done:
            self._grouper.at(self._now_ms())
            self._grouper.finish("manual")
        if self.start_seq is None and self.frames:
            self.notes.append("no session.start: the client never started this session (a "
                              "sideband, or a recording that began late)")
        if self.start_refused is not None:
            self.notes.append(f"session.start was refused (seq {self.start_refused.seq}): "
                              f"{self.start_refused.message or self.start_refused.code}")
        if self.closed_seq is None and self.frames and not cut:
            self.notes.append("no session.closed: the session did not confirm its end "
                              "(the recording stops without it)")
        for kind, seqs in self.unknown.items():
            self.notes.append(f"{len(seqs)} frame(s) of unknown type {kind} kept as they are "
                              f"(seq {_seqs(seqs)})")
        for kind, seqs in self.unknown_nested.items():
            self.notes.append(f"{len(seqs)} response.event(s) with a Responses event rtrec "
                              f"does not know, {kind}, kept as they are (seq {_seqs(seqs)})")
        if self._bad_audio:
            fmt = self.audio_format
            shown = f"{fmt.name} {fmt.sample_rate} Hz" if fmt is not None else "none"
            self.notes.append(f"{len(self._bad_audio)} audio frame(s) not in the announced "
                              f"format ({shown}) (seq {_seqs(self._bad_audio)})")

    @property
    def segments(self) -> list[Segment]:
        """The speaker segments in time order (the fold is finished first)."""
        self.finish()
        if self._segments is None:
            self._segments = sorted(self._grouper.segments(),
                                    key=lambda s: (s.start_ms, s.first_seq))
        return self._segments

    @property
    def interruptions(self) -> list[Interruption]:
        """User segments that start while an assistant segment is open (inferred): in one
        sweep over the segments in time order, the assistant segment reaching furthest."""
        found: list[Interruption] = []
        open_index: int | None = None
        for index, segment in enumerate(self.segments):
            if segment.speaker == "assistant":
                if open_index is None or segment.end_ms > self.segments[open_index].end_ms:
                    open_index = index
            elif open_index is not None:
                assistant = self.segments[open_index]
                if assistant.start_ms < segment.start_ms < assistant.end_ms:
                    found.append(Interruption(segment.start_ms, open_index, index))
        return found

    @property
    def status(self) -> str:
        if self.start_refused is not None and self.started_seq is None:
            return "refused"
        if self.closed_reason is not None:
            return f"closed ({self.closed_reason})"
        return "not closed"

    def to_dict(self) -> dict[str, Any]:
        segments = self.segments
        return {
            "protocol": names.LIVE_PROTOCOL, "session_id": self.session_id,
            "model": self.model, "status": self.status,
            "audio_format": ({"name": self.audio_format.name,
                              "rate": self.audio_format.sample_rate}
                             if self.audio_format is not None else None),
            "input_audio_ms": self.input_audio_ms, "output_audio_ms": self.output_audio_ms,
            "segments": [s.to_dict() for s in segments],
            "interruptions": [i.to_dict() for i in self.interruptions],
            "delegations": [d.to_dict() for d in self.delegations],
            "appends": [a.to_dict() for a in self.appends],
            "intervals": [i.to_dict() for i in self.intervals],
            "errors": [e.to_dict() for e in self.errors],
            "decisions": [d.to_dict() for d in self.decisions],
            "close": {"reason": self.closed_reason, "seq": self.closed_seq,
                      "usage_seconds": self.usage_seconds},
            "notes": list(self.notes),
        }

    # ------------------------------------------------------------------ handlers

    def _unknown(self, kind: str, seq: int) -> None:
        self.unknown.setdefault(kind, []).append(seq)

    def _audio(self, step: Step, kind: str, size: int | None) -> None:
        """An audio frame of `size` bytes (None: its base64 does not decode)."""
        fixed = kind == names.LIVE_OUTPUT_AUDIO_FIXTURE_PLAY or (
            step.direction is Direction.SERVER and kind == names.LIVE_INPUT_AUDIO_APPEND)
        fmt = _PCM24 if fixed else self.audio_format
        if fmt is None or size is None or (size & 1 and fmt.name == _PCM16):
            self._bad_audio.append(step.seq)
            fmt = fmt or _PCM24
        ms = (size or 0) * 1000 / (fmt.sample_rate * (2 if fmt.name == _PCM16 else 1))
        if kind == names.LIVE_OUTPUT_AUDIO_DELTA:
            self.output_audio_ms += ms
        elif kind == names.LIVE_INPUT_AUDIO_APPEND and step.direction is Direction.CLIENT:
            self.input_audio_ms += ms

    def _audio_text(self, step: Step, event: Any) -> None:
        """An audio event whose base64 was not canonical (the store kept it as text)."""
        text = event.delta if event.type == names.LIVE_OUTPUT_AUDIO_DELTA else event.audio
        try:
            size: int | None = len(base64.b64decode(text, validate=True))
        except ValueError:
            size = None
        self._audio(step, event.type, size)

    def _session_start(self, step: Step, event: ev.SessionStart) -> None:
        if self.start_seq is None:
            self.start_seq = step.seq
        self.model = self.model or event.session.model
        self._take_format(event.session)

    def _session_started(self, step: Step, event: ev.SessionStarted) -> None:
        self.started_seq = step.seq
        self.session_id = event.session.id or self.session_id
        self.model = event.session.model or self.model
        self._take_format(event.session)

    def _take_format(self, session: Any) -> None:
        wire = session.audio.format if session.audio is not None else None
        if wire is None:
            if self.audio_format is None:
                self.audio_format = _PCM24  # Live's default
            return
        try:
            self.audio_format = AudioFormat.from_wire(wire)
            self.format_announced = True
        except RtrecError as error:
            self.notes.append(f"audio format not understood: {error}")
            self.audio_format = None

    def _transcript(self, step: Step, event: Any) -> None:
        speaker: Speaker = (
            "user" if event.type == names.LIVE_INPUT_TRANSCRIPT_DELTA else "assistant")
        self._grouper.add(event.event_id, speaker, event.delta, event.start_ms, event.end_ms,
                          step.seq, at_ms=self._now_ms())

    def _session_closed(self, step: Step, event: ev.SessionClosed) -> None:
        self.closed_reason = event.reason
        self.closed_seq = step.seq
        if event.usage is not None and event.usage.seconds is not None:
            self.usage_seconds = event.usage.seconds
        self._grouper.at(self._now_ms())
        self._grouper.finish("session_closed")

    def _session_close(self, step: Step, _event: Any) -> None:
        self.close_requested_seq = step.seq

    def _usage(self, _step: Step, event: ev.SessionUsageUpdated) -> None:
        if event.usage.seconds is not None:
            self.usage_seconds = event.usage.seconds

    def _append(self, step: Step, event: Any) -> None:
        append = ContextAppend(_APPEND_KIND[event.type], event.content, event.delegation_id,
                               step.seq, event.event_id)
        self.appends.append(append)
        self._pending_appends.setdefault(append.kind, []).append(append)
        delegation = self._delegation_by_id.get(event.delegation_id)
        if event.delegation_id is not None and delegation is not None:
            delegation.appends.append(append)

    def _appended(self, step: Step, event: Any) -> None:
        kind = _APPENDED_KIND[event.type]
        waiting = self._pending_appends.get(kind, [])
        match = next((a for a in waiting if event.client_event_id is not None
                      and a.event_id == event.client_event_id), None)
        if match is None and waiting:
            match = waiting[0]
        if match is None:  # acknowledged, but the client's append was not recorded
            match = ContextAppend(kind, "", None, step.seq)
            self.appends.append(match)
        else:
            waiting.remove(match)
        match.start_ms, match.end_ms, match.ack_seq = event.start_ms, event.end_ms, step.seq

    def _mute(self, step: Step, event: Any) -> None:
        if event.type == "session.input_audio.muted":
            self._begin("muted", step)
        else:
            self._end("muted", step)

    def _fixture(self, step: Step, event: Any) -> None:
        if event.type == "session.output_audio.fixture.playing":
            self._begin("fixture", step)
        else:
            self._end("fixture", step)

    def _begin(self, kind: str, step: Step) -> None:
        if kind in self._open:
            return
        interval = Interval(kind, self.input_audio_ms, step.seq)
        self._open[kind] = interval
        self.intervals.append(interval)

    def _end(self, kind: str, step: Step) -> None:
        interval = self._open.pop(kind, None)
        if interval is None:
            interval = Interval(kind, 0.0, step.seq)
            self.intervals.append(interval)
        interval.end_ms, interval.end_seq = self.input_audio_ms, step.seq

    def _error(self, step: Step, event: ev.ErrorEvent) -> None:
        info = event.error
        error = LiveError(step.seq, self.input_audio_ms, info.message, info.code, info.type,
                          info.client_event_id or event.client_event_id)
        self.errors.append(error)
        if self.started_seq is None and self.start_refused is None:
            self.start_refused = error

    def _decision(self, step: Step, event: ev.DecisionEvent) -> None:
        decision = event.event.decision
        answers: list[tuple[str, Any]] = []
        for answer in (decision.answers if decision is not None else None) or []:
            value = next((v for v in (answer.choice, answer.probability, answer.score,
                                      answer.confidence) if v is not None), answer.type)
            answers.append((answer.name or answer.type or "?", value))
        usage = decision.usage if decision is not None else None
        self.decisions.append(DecisionAnswer(
            step.seq, self.input_audio_ms, answers,
            decision.model if decision is not None else None,
            usage.total_tokens if usage is not None else None,
            event.delegation_id, event.trigger_id))

    def _delegation(self, step: Step, event: ev.DelegationCreated) -> None:
        d = event.delegation
        delegation = Delegation(d.id, d.target, event.offset_ms, step.seq, d.response_id)
        self.delegations.append(delegation)
        self._delegation_by_id[d.id] = delegation

    def _response_event(self, step: Step, event: ev.ResponseEvent) -> None:
        nested = event.event
        delegation = self._delegation_by_id.get(event.delegation_id)
        if delegation is None:  # a backend event with no delegation recorded for it
            delegation = Delegation(event.delegation_id, "responses", 0, step.seq)
            self.delegations.append(delegation)
            self._delegation_by_id[event.delegation_id] = delegation
        if isinstance(nested, UnknownEvent):
            self.unknown_nested.setdefault(nested.type or "(no type)", []).append(step.seq)
            return
        if isinstance(nested, ev._Lifecycle):
            self._lifecycle(delegation, nested)
        elif isinstance(nested, ev.BackendOutputItemAdded | ev.BackendOutputItemDone):
            item = nested.item
            if item.type == "function_call":
                call = self._call(delegation, item.id, step.seq)
                call.name = item.name or call.name
                call.call_id = item.call_id or call.call_id
                if item.arguments:
                    call.arguments = item.arguments
        elif isinstance(nested, ev.BackendFunctionCallArgumentsDelta):
            self._call(delegation, nested.item_id, step.seq).arguments += nested.delta
        elif isinstance(nested, ev.BackendFunctionCallArgumentsDone):
            call = self._call(delegation, nested.item_id, step.seq)
            call.arguments = nested.arguments
            call.name = nested.name or call.name
        elif isinstance(nested, ev.BackendOutputTextDelta):
            self._current_response(delegation).text += nested.delta
        elif isinstance(nested, ev.BackendOutputTextDone):
            self._current_response(delegation).text = nested.text
        elif isinstance(nested, ev.BackendError):
            self.errors.append(LiveError(step.seq, self.input_audio_ms, nested.message,
                                         nested.code, "backend", delegation_id=delegation.id))

    def _lifecycle(self, delegation: Delegation, nested: Any) -> None:
        resp = nested.response
        key = resp.id or f"(response {len(delegation.responses) + 1})"
        response = self._responses.get(key)
        if response is None:
            response = BackendResponse(key, previous_response_id=resp.previous_response_id)
            self._responses[key] = response
            delegation.responses.append(response)
        response.status = resp.status or response.status
        if resp.usage is not None:
            response.usage = msgspec.to_builtins(resp.usage)

    def _current_response(self, delegation: Delegation) -> BackendResponse:
        if not delegation.responses:
            delegation.responses.append(BackendResponse("(unannounced response)"))
        return delegation.responses[-1]

    def _call(self, delegation: Delegation, item_id: str | None, seq: int) -> ToolCall:
        call = self._calls_by_item.get(item_id) if item_id is not None else None
        if call is None:
            response_id = delegation.responses[-1].id if delegation.responses else None
            call = ToolCall(None, None, item_id=item_id, response_id=response_id, seq=seq)
            delegation.tool_calls.append(call)
            if item_id is not None:
                self._calls_by_item[item_id] = call
        if call.call_id is not None:
            self._calls_by_call_id[call.call_id] = call
        return call

    def _item_create(self, step: Step, event: ev.ResponseItemCreate) -> None:
        item = event.item
        if item.type != "function_call_output":
            return
        call = self._calls_by_call_id.get(item.call_id or "")
        if call is None:
            call = next((c for d in self.delegations for c in d.tool_calls
                         if c.call_id is not None and c.call_id == item.call_id), None)
        output = item.output if isinstance(item.output, str) else msgspec.json.encode(
            msgspec.to_builtins(item.output)).decode()
        if call is None:
            self.notes.append(f"function_call_output for unknown call {item.call_id} "
                              f"(seq {step.seq})")
            return
        call.output, call.output_seq = output, step.seq


_PCM16 = PCM16
_PCM24 = AudioFormat(_PCM16, 24000)

_HANDLERS: dict[tuple[Direction, str], Any] = {
    (Direction.CLIENT, names.LIVE_SESSION_START): LiveFold._session_start,
    (Direction.CLIENT, names.LIVE_SESSION_CLOSE): LiveFold._session_close,
    (Direction.CLIENT, "response.item.create"): LiveFold._item_create,
    **{(direction, kind): LiveFold._audio_text for direction in Direction
       for kind in (names.LIVE_INPUT_AUDIO_APPEND, names.LIVE_OUTPUT_AUDIO_DELTA,
                    names.LIVE_OUTPUT_AUDIO_FIXTURE_PLAY)},
    **{(Direction.CLIENT, kind): LiveFold._append for kind in _APPEND_KIND},
    (Direction.SERVER, names.LIVE_SESSION_STARTED): LiveFold._session_started,
    (Direction.SERVER, names.LIVE_SESSION_CLOSED): LiveFold._session_closed,
    (Direction.SERVER, "session.usage.updated"): LiveFold._usage,
    (Direction.SERVER, names.LIVE_INPUT_TRANSCRIPT_DELTA): LiveFold._transcript,
    (Direction.SERVER, names.LIVE_OUTPUT_TRANSCRIPT_DELTA): LiveFold._transcript,
    (Direction.SERVER, names.LIVE_DELEGATION_CREATED): LiveFold._delegation,
    (Direction.SERVER, names.LIVE_RESPONSE_EVENT): LiveFold._response_event,
    (Direction.SERVER, "error"): LiveFold._error,
    (Direction.SERVER, "decision.event"): LiveFold._decision,
    (Direction.SERVER, "session.input_audio.muted"): LiveFold._mute,
    (Direction.SERVER, "session.input_audio.unmuted"): LiveFold._mute,
    (Direction.SERVER, "session.output_audio.fixture.playing"): LiveFold._fixture,
    (Direction.SERVER, "session.output_audio.fixture.played"): LiveFold._fixture,
    **{(Direction.SERVER, kind): LiveFold._appended for kind in _APPENDED_KIND},
}


def _seqs(seqs: list[int]) -> str:
    shown = ", ".join(str(seq) for seq in seqs[:5])
    return shown + (", ..." if len(seqs) > 5 else "")


def fold_steps(steps: Any) -> LiveFold:
    """The fold of a Live session's steps (e.g. recorder.stream.frame_steps(frames,
    protocol="live")), finished."""
    fold = LiveFold()
    fold.apply_batch(steps)
    fold.finish()
    return fold
