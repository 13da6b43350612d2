"""The turn figures of a recorded session: one more fold over the read stream's steps.

StatsFold takes the steps of a recording one by one (`apply(step)`; `result()` at the end),
and `figures_of_steps` / `session_figures` do it for a whole session. It does not re-derive
the conversation: it drives a ConversationFold (items, parts, audio counts, truncation, first
audio delta of each part, responses' status and usage) and reads the one utterance timeline
(recorder.timeline.plan_timeline) for what was heard, and adds only the times the conversation
does not keep: which append frame carried each input sample, the client's commits, its
response.create and response.cancel, function_call_output items, the first text and
transcript delta of each response, errors and rate-limit states.

The definitions are written once, in the README's "Turn figures" section. A figure that
cannot be computed is None and an Unavailable says why; nothing here raises on odd input.
"""

from __future__ import annotations

import bisect
from array import array
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recorder.conversation import ConversationFold
from recorder.events import BETA_ONLY_TYPES, GA_ONLY_TYPES, UnknownEvent
from recorder.protocol import names
from recorder.protocol.audio_fields import INPUT_AUDIO
from recorder.stats.figures import (
    ErrorFigure,
    ResponseFigures,
    SessionFigures,
    ToolCallFigures,
    TurnFigures,
    Unavailable,
    Usage,
)
from recorder.stream import AudioChunk, Step
from recorder.timeline import plan_timeline
from recorder.wire import Direction

if TYPE_CHECKING:
    from recorder.recording import Source
    from recorder.stats.live import LiveStatsFold
    from recorder.store import EventLog, SessionInfo

__all__ = ["StatsFold", "figures_of_session", "figures_of_steps", "log_figures", "log_fold",
           "session_figures"]


def _ms(t_ns: int | None) -> float | None:
    return None if t_ns is None else t_ns / 1e6


def _diff(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return later - earlier


class _Turn:
    """What the fold learns of one user turn while it streams past."""

    __slots__ = ("began_seq", "committed_t", "end_wire_t", "end_wire_why", "index", "item_id",
                 "item_seq", "response", "speech", "started_t", "stopped_t")

    def __init__(self, item_id: str | None, began_seq: int, *, speech: bool) -> None:
        self.item_id = item_id
        self.began_seq = began_seq
        self.speech = speech  # False: a text item the client created
        self.index = 0
        self.started_t: int | None = None
        self.stopped_t: int | None = None
        self.committed_t: int | None = None
        self.item_seq: int | None = None  # where the turn's user item was made
        self.end_wire_t: int | None = None
        self.end_wire_why: str | None = None
        self.response: _Response | None = None


class _Response:
    __slots__ = ("cancelled_by_client", "create_t", "created_seq", "created_t", "first_text_t",
                 "first_transcript_t", "id")

    def __init__(self, response_id: str, created_seq: int, created_t: int | None) -> None:
        self.id = response_id
        self.created_seq = created_seq
        self.created_t = created_t
        self.create_t: int | None = None  # the client's response.create answered by it
        self.first_text_t: int | None = None
        self.first_transcript_t: int | None = None
        self.cancelled_by_client = False


class _Call:
    __slots__ = ("args_done_t", "call_id", "name", "next_response", "output_t", "response_id")

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.name: str | None = None
        self.response_id: str | None = None
        self.args_done_t: int | None = None
        self.output_t: int | None = None
        self.next_response: _Response | None = None


class StatsFold:
    """Folds a session's steps into its SessionFigures (see the module docstring)."""

    def __init__(
        self,
        *,
        protocol: str | None = None,
        model: str | None = None,
        session_id: str | None = None,
        status: str | None = None,
        started_at: datetime | None = None,
    ) -> None:
        self.protocol = protocol
        self.model = model
        self.session_id = session_id
        self.status = status
        self.started_at = started_at
        self.fold = ConversationFold(on_client_item=self._client_item)
        self._conversation = self.fold.conversation
        self._apply_input_audio = self.fold.apply_input_audio
        # every input append: the input stream's size in bytes after it, and when it crossed
        self._append_end = array("q")
        self._append_t = array("q")
        self._append_end_add = self._append_end.append
        self._append_t_add = self._append_t.append
        self._seq = 0
        self._t = 0  # the last step other than an input append (_seq 0: none yet)
        self._turns: dict[str, _Turn] = {}
        self._turn_list: list[_Turn] = []
        self._unanswered: list[_Turn] = []  # turns with a user item and no response yet
        self._client_commit_t: int | None = None  # the client's last commit, not yet committed
        self._creates: list[tuple[int, str | None]] = []  # client response.create: (t, event_id)
        self._responses: dict[str, _Response] = {}
        self._in_progress: _Response | None = None  # the newest response not yet done
        self._calls: dict[str, _Call] = {}
        self._waiting_calls: list[_Call] = []  # outputs sent, no response created since
        self._errors: list[ErrorFigure] = []
        self._exhausted: set[str] = set()  # rate limits at 0 remaining, by name
        self._ga_names = False
        self._beta_names = False
        self._server: dict[str, Callable[[Any], None]] = {
            "input_audio_buffer.speech_started": self._speech_started,
            "input_audio_buffer.speech_stopped": self._speech_stopped,
            "input_audio_buffer.timeout_triggered": self._speech_stopped,
            "input_audio_buffer.committed": self._committed,
            "response.created": self._response_created,
            "response.done": self._response_done,
            "response.function_call_arguments.done": self._arguments_done,
            "conversation.item.input_audio_transcription.failed": self._transcription_failed,
            "rate_limits.updated": self._rate_limits,
            "error": self._error,
            **dict.fromkeys(names.spellings("text", "delta"), self._text_delta),
            **dict.fromkeys(names.spellings("audio_transcript", "delta"), self._transcript_delta),
        }
        self._client: dict[str, Callable[[Any], None]] = {
            "input_audio_buffer.commit": self._client_commit,
            "input_audio_buffer.clear": self._client_clear,
            "response.create": self._client_create,
            "response.cancel": self._client_cancel,
        }

    # -- the fold --------------------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        if step.audio is not None and step.type == INPUT_AUDIO:  # the bulk: nothing decoded
            self._apply_input_audio(step, step.audio)
            self._append_end_add(self._conversation.input_audio_bytes)
            self._append_t_add(step.t_ns)
            return
        self._apply_other(step)

    def _apply_other(self, step: Step) -> None:
        kind = step.type
        self._seq, self._t = step.seq, step.t_ns
        self.fold.apply(step)
        if kind is None:
            return
        if step.direction is Direction.CLIENT:
            if kind == INPUT_AUDIO:  # audio the log kept as text: the fold counted it
                self._append_end_add(self._conversation.input_audio_bytes)
                self._append_t_add(step.t_ns)
                return
            handler = self._client.get(kind)
        else:
            if kind in GA_ONLY_TYPES:
                self._ga_names = True
            elif kind in BETA_ONLY_TYPES:
                self._beta_names = True
            handler = self._server.get(kind)
        if handler is None:
            return
        event = step.event
        if isinstance(event, UnknownEvent | AudioChunk) or event.untyped:
            return  # not a shape anything here can rely on (the conversation counts it)
        handler(event)

    # -- turns -------------------------------------------------------------------------------------

    def _turn(self, item_id: str | None) -> _Turn:
        key = item_id or f"#{len(self._turn_list)}"
        turn = self._turns.get(key)
        if turn is None:
            turn = _Turn(item_id, self._seq, speech=True)
            self._turns[key] = turn
            self._turn_list.append(turn)
        return turn

    def _speech_started(self, e: Any) -> None:
        turn = self._turn(e.item_id)
        if turn.started_t is None:
            turn.started_t = self._t

    def _speech_stopped(self, e: Any) -> None:
        """speech_stopped (or timeout_triggered): where its audio_end_ms left the client."""
        turn = self._turn(e.item_id)
        turn.stopped_t = self._t
        turn.end_wire_t, turn.end_wire_why = self._carried(e.audio_end_ms)

    def _carried(self, audio_end_ms: int | None) -> tuple[int | None, str | None]:
        """When the append frame holding the input sample just before audio_end_ms crossed."""
        if audio_end_ms is None:
            return None, "speech_stopped gave no audio_end_ms"
        ends = self._append_end
        if not ends:
            return None, "no input audio was recorded before speech_stopped"
        offset = self.fold.conversation.input_format.bytes_for_ms(audio_end_ms)
        index = bisect.bisect_left(ends, max(offset, 1))
        if index >= len(ends):
            return None, (
                f"speech_stopped's audio_end_ms ({audio_end_ms} ms) lies beyond the "
                f"{self.fold.conversation.input_audio_ms:.0f} ms of input audio recorded"
            )
        return self._append_t[index], None

    def _client_commit(self, _e: Any) -> None:
        self._client_commit_t = self._t

    def _client_clear(self, _e: Any) -> None:
        self._client_commit_t = None

    def _committed(self, e: Any) -> None:
        turn = self._turn(e.item_id)
        turn.committed_t = self._t
        if turn.item_seq is None:
            turn.item_seq = self._seq
            self._unanswered.append(turn)
        if turn.stopped_t is None:  # no server VAD: the speech ended with the client's commit
            if self._client_commit_t is not None:
                turn.end_wire_t, turn.end_wire_why = self._client_commit_t, None
            else:
                turn.end_wire_why = (
                    "the buffer was committed with no speech_stopped and no client commit"
                )
        self._client_commit_t = None

    def _client_item(self, item_id: str, payload: Any, seq: int, t_ns: int) -> None:
        """Every item the client created (ConversationFold's hook): text turns, tool outputs."""
        kind = getattr(payload, "type", None) or "message"
        if kind == "function_call_output":
            call_id = getattr(payload, "call_id", None)
            if call_id:
                call = self._call(call_id)
                if call.output_t is None:
                    call.output_t = t_ns
                    self._waiting_calls.append(call)
            return
        if kind != "message" or getattr(payload, "role", None) != "user" or item_id in self._turns:
            return
        turn = _Turn(item_id, seq, speech=False)
        turn.item_seq = seq
        parts = getattr(payload, "content", None) or ()
        if any(getattr(part, "type", None) == "input_audio" for part in parts):
            turn.speech = True  # audio inside the item: its speech ends as the item is sent
            turn.end_wire_t = t_ns
        else:
            turn.end_wire_why = "a text item: there is no speech to end"
        self._turns[item_id] = turn
        self._turn_list.append(turn)
        self._unanswered.append(turn)

    # -- responses --------------------------------------------------------------------------------

    def _response_created(self, e: Any) -> None:
        response_id = getattr(e.response, "id", None)
        if not response_id or response_id in self._responses:
            return
        response = _Response(response_id, self._seq, self._t)
        self._responses[response_id] = response
        if self._creates:
            response.create_t, _ = self._creates.pop(0)
        self._in_progress = response
        for turn in self._unanswered:  # the first response created after each turn's item
            turn.response = response
        self._unanswered.clear()
        for call in self._waiting_calls:
            call.next_response = response
        self._waiting_calls.clear()

    def _response_done(self, e: Any) -> None:
        response_id = getattr(e.response, "id", None)
        if self._in_progress is not None and self._in_progress.id == response_id:
            self._in_progress = None

    def _client_create(self, e: Any) -> None:
        self._creates.append((self._t, getattr(e, "event_id", None)))

    def _client_cancel(self, e: Any) -> None:
        response_id = getattr(e, "response_id", None)
        target = self._responses.get(response_id) if response_id else self._in_progress
        if target is not None:
            target.cancelled_by_client = True

    def _text_delta(self, e: Any) -> None:
        response = self._responses.get(e.response_id)
        if response is not None and response.first_text_t is None:
            response.first_text_t = self._t

    def _transcript_delta(self, e: Any) -> None:
        response = self._responses.get(e.response_id)
        if response is not None and response.first_transcript_t is None:
            response.first_transcript_t = self._t

    # -- tools ------------------------------------------------------------------------------------

    def _call(self, call_id: str) -> _Call:
        call = self._calls.get(call_id)
        if call is None:
            call = self._calls[call_id] = _Call(call_id)
        return call

    def _arguments_done(self, e: Any) -> None:
        if not e.call_id:
            return
        call = self._call(e.call_id)
        if call.args_done_t is None:
            call.args_done_t = self._t
        call.response_id = call.response_id or e.response_id
        call.name = call.name or getattr(e, "name", None)

    # -- errors and rate limits ------------------------------------------------------------------

    def _error(self, e: Any) -> None:
        error = e.error
        refused = getattr(error, "event_id", None)
        if refused:  # a response.create the server refused made no response
            self._creates = [c for c in self._creates if c[1] != refused]
        code = getattr(error, "code", None)
        self._errors.append(ErrorFigure(
            at_ms=self._t / 1e6, kind="error", code=None if code is None else str(code),
            message=getattr(error, "message", None),
        ))

    def _transcription_failed(self, e: Any) -> None:
        error = e.error
        code = getattr(error, "code", None)
        self._errors.append(ErrorFigure(
            at_ms=self._t / 1e6, kind="transcription_failed",
            code=None if code is None else str(code), message=getattr(error, "message", None),
        ))

    def _rate_limits(self, e: Any) -> None:
        """A rate limit reaching 0 remaining is a rate-limited state (once until it recovers)."""
        for limit in e.rate_limits or ():
            name = getattr(limit, "name", None) or "?"
            remaining = getattr(limit, "remaining", None)
            if remaining is None:
                continue
            if remaining > 0:
                self._exhausted.discard(name)
            elif name not in self._exhausted:
                self._exhausted.add(name)
                reset = getattr(limit, "reset_seconds", None)
                total = getattr(limit, "limit", None)
                of = f" of {total}" if total is not None else ""
                resets = f"; resets in {reset:g} s" if reset is not None else ""
                self._errors.append(ErrorFigure(
                    at_ms=self._t / 1e6, kind="rate_limited", code=name,
                    message=f"{name}: 0{of} remaining{resets}",
                ))

    @property
    def last_t_ns(self) -> int | None:
        """When the last step applied crossed (None: no step yet)."""
        times = [t for t, seen in ((self._t, self._seq > 0),
                                   (self._append_t[-1] if self._append_t else 0,
                                    bool(self._append_t))) if seen]
        return max(times) if times else None

    # -- the result -------------------------------------------------------------------------------

    def result(self) -> SessionFigures:
        """The figures of everything applied so far (callable at any point)."""
        conversation = self.fold.conversation
        missing: list[Unavailable] = []
        responses = self._response_figures(missing)
        by_id = {r.response_id: r for r in responses}
        turns = self._turn_figures(by_id, missing)
        calls = self._call_figures(by_id, missing)

        generated = sum(r.audio_generated_ms or 0.0 for r in responses)
        heard = sum(r.audio_heard_ms or 0.0 for r in responses)
        heard_share = heard / generated if generated > 0 else None
        if heard_share is None:
            missing.append(Unavailable("heard_share", "no response sent audio"))
        usages = [r.usage for r in responses if r.usage is not None]
        tokens = _sum_usage(usages) if usages else None
        if tokens is None:
            missing.append(Unavailable("tokens", "no response.done reported usage"))
        if not responses:
            missing.append(Unavailable("responses", "the session has no response.created"))
        if not self._append_end:
            missing.append(Unavailable("input audio", "no input audio was recorded"))
        if self.status == "interrupted":
            missing.append(Unavailable(
                "session", "the recording was interrupted (status interrupted): figures stop at "
                "its last frame, and what came after was not recorded",
            ))
        protocol = self.protocol
        if protocol is None:
            protocol = ("mixed" if self._beta_names else "ga") if self._ga_names else (
                "beta" if self._beta_names else None)
        return SessionFigures(
            protocol=protocol,
            model=self.model or conversation.model,
            duration_ms=_ms(self.last_t_ns),
            turns=turns,
            responses=responses,
            tool_calls=calls,
            errors=sorted(self._errors, key=lambda error: error.at_ms),
            unavailable=missing,
            interruptions=sum(1 for r in responses if r.interrupted),
            heard_share=heard_share,
            tokens=tokens,
            session_id=self.session_id,
            status=self.status,
            started_at=self.started_at,
        )

    def _response_figures(self, missing: list[Unavailable]) -> list[ResponseFigures]:
        conversation = self.fold.conversation
        plan = plan_timeline(conversation)  # the one timeline: what of each part was heard
        first_audio: dict[str, int] = {}
        generated: dict[str, float] = {}
        heard: dict[str, float] = {}
        truncated: set[str] = set()
        for (_, _), part_plan in plan.parts.items():
            item, part = part_plan.item, part_plan.part
            rid = item.response_id
            if rid is None:
                continue
            at = part.first_audio_t_ns
            if at is not None and (rid not in first_audio or at < first_audio[rid]):
                first_audio[rid] = at
            generated[rid] = generated.get(rid, 0.0) + item.format.duration_ms(part.audio_bytes)
            heard[rid] = heard.get(rid, 0.0) + part_plan.heard_ms
            if part.truncated and part.heard_bytes < part.audio_bytes:
                truncated.add(rid)
        out = []
        known = dict(self._responses)
        for rid in conversation.responses:  # a response.done (or delta) with no created seen
            if rid not in known:
                known[rid] = _Response(rid, 0, None)
                missing.append(Unavailable(f"response {rid} created_ms",
                                           "no response.created for it was recorded"))
        for rid, tracked in known.items():
            folded = conversation.responses.get(rid)
            done_t = folded.done_t_ns if folded is not None else None
            status = folded.status if folded is not None and done_t is not None else None
            details = (folded.status_details or {}) if folded is not None else {}
            reason = details.get("reason") if done_t is not None else None
            interrupted_by: str | None = None
            if status == "cancelled":
                if reason == "client_cancelled" or (reason is None and tracked.cancelled_by_client):
                    interrupted_by = "client_cancel"
                else:
                    interrupted_by = reason or "cancelled"
            elif tracked.cancelled_by_client and done_t is None:
                interrupted_by = "client_cancel"
            elif rid in truncated:
                interrupted_by = "truncate"
            usage = _usage(folded.usage) if folded is not None and done_t is not None else None
            audio_at = _ms(first_audio.get(rid))
            created = _ms(tracked.created_t)
            create = _ms(tracked.create_t)
            done = _ms(done_t)
            if done is None:
                missing.append(Unavailable(
                    f"response {rid} done_ms",
                    "response.done never arrived: the recording ends before the response "
                    "finished", ))
            elif usage is None:
                missing.append(Unavailable(f"response {rid} usage", "response.done has no usage"))
            out.append(ResponseFigures(
                response_id=rid,
                created_ms=created,
                done_ms=done,
                status=status,
                status_reason=reason,
                first_audio_ms=audio_at,
                first_text_ms=_ms(tracked.first_text_t),
                first_transcript_ms=_ms(tracked.first_transcript_t),
                duration_ms=_diff(done, created),
                audio_generated_ms=generated.get(rid, 0.0 if done is not None else None),
                audio_heard_ms=heard.get(rid, 0.0 if done is not None else None),
                interrupted=interrupted_by is not None,
                interrupted_by=interrupted_by,
                usage=usage,
                create_ms=create,
                create_to_created_ms=_diff(created, create),
                create_to_first_audio_ms=_diff(audio_at, create),
            ))
        return out

    def _turn_figures(
        self, responses: dict[str, ResponseFigures], missing: list[Unavailable]
    ) -> list[TurnFigures]:
        conversation = self.fold.conversation
        out = []
        for index, turn in enumerate(sorted(self._turn_list, key=lambda t: t.began_seq), 1):
            what = f"turn {index}"
            answer = responses.get(turn.response.id) if turn.response is not None else None
            end_wire = _ms(turn.end_wire_t)
            stopped = _ms(turn.stopped_t)
            audio_at = answer.first_audio_ms if answer is not None else None
            voice = _diff(audio_at, end_wire)
            if voice is None:
                missing.append(Unavailable(f"{what} voice_to_voice_ms", self._why_no_voice(
                    turn, answer)))
            if stopped is None and turn.speech and turn.item_seq is not None:
                missing.append(Unavailable(
                    f"{what} stopped_to_*", "no speech_stopped (no server VAD): the latencies "
                    "from speech_stopped cannot be measured"))
            item = conversation.items.get(turn.item_id) if turn.item_id else None
            failed = item is not None and any(
                p.transcription_status == "failed" for p in item.content)
            out.append(TurnFigures(
                index=index,
                item_id=turn.item_id,
                speech_started_ms=_ms(turn.started_t),
                speech_stopped_ms=stopped,
                speech_end_wire_ms=end_wire,
                committed_ms=_ms(turn.committed_t),
                response_id=answer.response_id if answer is not None else None,
                voice_to_voice_ms=voice,
                stopped_to_created_ms=_diff(answer.created_ms if answer else None, stopped),
                stopped_to_first_audio_ms=_diff(audio_at, stopped),
                stopped_to_first_text_ms=_diff(answer.first_text_ms if answer else None, stopped),
                stopped_to_first_transcript_ms=_diff(
                    answer.first_transcript_ms if answer else None, stopped),
                transcript_failed=failed,
            ))
        return out

    @staticmethod
    def _why_no_voice(turn: _Turn, answer: ResponseFigures | None) -> str:
        if turn.end_wire_t is None and turn.end_wire_why is not None:
            return turn.end_wire_why
        if turn.item_seq is None:
            return "its audio was never committed (cleared, or the recording ends first)"
        if turn.end_wire_t is None:
            return "the end of its speech is not on the wire"
        if answer is None:
            return "no response was created after its user item"
        if answer.done_ms is None and answer.first_audio_ms is None:
            return f"its response {answer.response_id} never finished and sent no audio"
        return f"its response {answer.response_id} sent no audio"

    def _call_figures(
        self, responses: dict[str, ResponseFigures], missing: list[Unavailable]
    ) -> list[ToolCallFigures]:
        conversation = self.fold.conversation
        out = []
        for call in self._calls.values():
            name = call.name
            if name is None:
                item = conversation.call_for(call.call_id)
                name = item.name if item is not None else None
            output = _ms(call.output_t)
            args_done = _ms(call.args_done_t)
            following = responses.get(call.next_response.id) if call.next_response else None
            next_audio = following.first_audio_ms if following is not None else None
            if output is None:
                missing.append(Unavailable(
                    f"tool call {call.call_id} tool_ms",
                    "the client sent no function_call_output for it"))
            elif args_done is None:
                missing.append(Unavailable(
                    f"tool call {call.call_id} tool_ms",
                    "no response.function_call_arguments.done for it was recorded"))
            out.append(ToolCallFigures(
                call_id=call.call_id,
                name=name,
                response_id=call.response_id,
                arguments_done_ms=args_done,
                output_ms=output,
                tool_ms=_diff(output, args_done),
                next_response_id=following.response_id if following else None,
                output_to_next_audio_ms=_diff(next_audio, output),
            ))
        return out


def _usage(raw: dict[str, Any] | None) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    given = raw.get("input_token_details")
    inp: dict[str, Any] = given if isinstance(given, dict) else {}
    given = raw.get("output_token_details")
    out: dict[str, Any] = given if isinstance(given, dict) else {}
    return Usage(
        input_tokens=_int(raw.get("input_tokens")),
        output_tokens=_int(raw.get("output_tokens")),
        total_tokens=_int(raw.get("total_tokens")),
        input_text_tokens=_int(inp.get("text_tokens")),
        input_audio_tokens=_int(inp.get("audio_tokens")),
        input_cached_tokens=_int(inp.get("cached_tokens")),
        output_text_tokens=_int(out.get("text_tokens")),
        output_audio_tokens=_int(out.get("audio_tokens")),
    )


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_USAGE_FIELDS = tuple(Usage.__struct_fields__)


def _sum_usage(usages: list[Usage]) -> Usage:
    """Each field summed over the usages that report it (None if none does)."""
    totals: dict[str, int | None] = {}
    for name in _USAGE_FIELDS:
        values = [v for v in (getattr(u, name) for u in usages) if v is not None]
        totals[name] = sum(values) if values else None
    return Usage(**totals)


def figures_of_steps(
    steps: Iterable[Step],
    *,
    protocol: str | None = None,
    model: str | None = None,
    session_id: str | None = None,
    status: str | None = None,
    started_at: datetime | None = None,
) -> SessionFigures:
    """The figures of a session's steps (e.g. recorder.stream.frame_steps of frames)."""
    if protocol == names.LIVE_PROTOCOL:  # Live's own figures (recorder.stats.live)
        from recorder.stats.live import LiveStatsFold

        live = LiveStatsFold(model=model, session_id=session_id, status=status,
                             started_at=started_at)
        live.apply_batch(steps)
        return live.result()
    fold = StatsFold(protocol=protocol, model=model, session_id=session_id, status=status,
                     started_at=started_at)
    apply = fold.apply
    for step in steps:
        apply(step)
    return fold.result()


async def session_figures(source: Source, session: str | None = None) -> SessionFigures:
    """The figures of a recorded session: a database (path or URL; the session by id or unique
    prefix, the newest when None) or a file `rtrec import` reads. Errors are the log's and
    import's one-line RtrecErrors."""
    from recorder.recording import open_recording

    async with open_recording(source, session) as recording:
        info = recording.info
        if info.protocol == names.LIVE_PROTOCOL:  # Live's own figures (recorder.stats.live)
            from recorder.stats.live import live_recording_figures

            return await live_recording_figures(recording)
        fold = StatsFold(protocol=info.protocol, model=info.model, session_id=info.id,
                         status=info.status, started_at=info.started_at)
        apply = fold.apply
        async for batch in recording.batches():
            for step in batch:
                apply(step)
        return fold.result()


async def log_fold(log: EventLog, info: SessionInfo) -> StatsFold | LiveStatsFold:
    """The stats fold of one session of an open event log, every step applied (result():
    its figures; .fold: the conversation or Live fold under them, for what else is kept from
    the same pass)."""
    from recorder.stream import log_steps

    if info.protocol == names.LIVE_PROTOCOL:  # Live's own figures (recorder.stats.live)
        from recorder.stats.live import live_log_fold

        return await live_log_fold(log, info)

    fold = StatsFold(protocol=info.protocol, model=info.model, session_id=info.id,
                     status=info.status, started_at=info.started_at)
    apply = fold.apply
    async for batch in log_steps(log, info, batch_size=5000):
        for step in batch:
            apply(step)
    return fold


async def log_figures(log: EventLog, info: SessionInfo) -> SessionFigures:
    """The figures of one session of an open event log."""
    return (await log_fold(log, info)).result()


async def figures_of_session(log: EventLog, sid: str) -> SessionFigures:
    """The figures of session `sid` of an open event log: the compute function the derived
    tables (recorder.stats.table) and the recorder's stats worker call."""
    return await log_figures(log, await log.get_session(sid))
