"""The figures of a Live session: what of the turn figures applies to Live (issue 18 item 6).

A Live session has no user items, no responses of the voice model and no speech_started /
speech_stopped on the wire (LIVE.md §5), so its SessionFigures has no turns and no responses:
the fleet summary counts it as a session, with its errors, and never mixes a made-up turn into
Realtime's voice-to-voice percentiles. What does apply is read from the Live fold
(recorder.live.fold), driven as replay drives it (apply_batch):

- tool calls: each function call of a delegation's Responses backend, on the proxy's clock as
  for Realtime: arguments_done_ms (the nested response.function_call_arguments.done arrived),
  output_ms (the client's function_call_output, response.item.create, left the client),
  tool_ms between them, and next_response_id (the backend's continuation after it);
  output_to_next_audio_ms is unavailable: Live's output track never pauses;
- errors: the session's and its backend's error events, at their arrival;
- `live` (LiveFigures): the speaker segments (session timeline), delegations and backend
  token usage, audio sent each way and the billed audio seconds, the close reason, the fold's
  notes, and what can only be inferred, so named: interruptions, and the voice-to-voice gap
  from a user segment's end to the next assistant segment's start.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from recorder.live import events as ev
from recorder.live.fold import LiveFold
from recorder.protocol import names
from recorder.stats.figures import (
    ErrorFigure,
    LiveFigures,
    LiveSegmentFigure,
    SessionFigures,
    ToolCallFigures,
    Unavailable,
    Usage,
)
from recorder.stats.summary import percentile
from recorder.stream import Step
from recorder.wire import Direction

if TYPE_CHECKING:
    from recorder.recording import Recording
    from recorder.store import EventLog, SessionInfo

__all__ = ["SEGMENT_COLUMNS", "LiveStatsFold", "live_log_figures", "live_log_fold",
           "live_recording_figures", "live_summary", "render_live_lines", "segment_rows"]


class LiveStatsFold:
    """The Live fold, plus the arrival times it does not keep: of every frame but audio (by
    seq), and of each backend function call's arguments.done (by item id)."""

    def __init__(self, *, model: str | None = None, session_id: str | None = None,
                 status: str | None = None, started_at: datetime | None = None) -> None:
        self.model, self.session_id, self.status = model, session_id, status
        self.started_at = started_at
        self.fold = LiveFold()
        self._t_of: dict[int, int] = {}
        self._args_done_t: dict[str, int] = {}
        self._last_t: int | None = None

    def apply_batch(self, steps: Iterable[Step]) -> None:
        steps = steps if isinstance(steps, list) else list(steps)
        self.fold.apply_batch(steps)
        t_of = self._t_of
        for step in steps:
            if step.audio is not None:
                continue
            t_of[step.seq] = step.t_ns
            if step.type == names.LIVE_RESPONSE_EVENT and step.direction is Direction.SERVER:
                nested = getattr(step.event, "event", None)  # decoded by the fold already
                if isinstance(nested, ev.BackendFunctionCallArgumentsDone) and nested.item_id:
                    self._args_done_t[nested.item_id] = step.t_ns
        if steps:
            self._last_t = steps[-1].t_ns

    def _ms(self, seq: int | None) -> float | None:
        t = self._t_of.get(seq) if seq is not None else None
        return None if t is None else t / 1e6

    def result(self) -> SessionFigures:
        fold = self.fold
        fold.finish()
        missing = [
            Unavailable("turns", "a Live session has no user items or responses on the wire: "
                        "its speech is in live.segments, from the transcripts"),
            Unavailable("heard_share", "no Live event says what the listener heard"),
            Unavailable("tokens", "Live's voice model reports audio seconds (live.usage_"
                        "seconds); its Responses backend's tokens are live.backend_tokens"),
        ]
        segments = fold.segments
        live = LiveFigures(
            segments=[LiveSegmentFigure(speaker=s.speaker, start_ms=s.start_ms, end_ms=s.end_ms,
                                        close_reason=s.close_reason) for s in segments],
            user_segments=sum(1 for s in segments if s.speaker == "user"),
            assistant_segments=sum(1 for s in segments if s.speaker == "assistant"),
            delegations=len(fold.delegations),
            client_delegations=sum(1 for d in fold.delegations if d.target == "client"),
            backend_responses=sum(len(d.responses) for d in fold.delegations),
            backend_tokens=_backend_tokens(fold),
            input_audio_ms=fold.input_audio_ms,
            output_audio_ms=fold.output_audio_ms,
            usage_seconds=fold.usage_seconds,
            close_reason=fold.closed_reason,
            inferred_interruptions=len(fold.interruptions),
            inferred_voice_to_voice_ms=_gaps(segments),
            notes=list(fold.notes),
        )
        if self.status == "interrupted":
            missing.append(Unavailable(
                "session", "the recording was interrupted (status interrupted): figures stop at "
                "its last frame, and what came after was not recorded"))
        return SessionFigures(
            protocol=names.LIVE_PROTOCOL,
            model=self.model or fold.model,
            duration_ms=None if self._last_t is None else self._last_t / 1e6,
            tool_calls=self._calls(missing),
            errors=sorted((ErrorFigure(at_ms=self._ms(e.seq) or 0.0, kind="error",
                                       code=e.code, message=e.message) for e in fold.errors),
                          key=lambda error: error.at_ms),
            unavailable=missing,
            session_id=self.session_id,
            status=self.status,
            started_at=self.started_at,
            live=live,
        )

    def _calls(self, missing: list[Unavailable]) -> list[ToolCallFigures]:
        out = []
        for delegation in self.fold.delegations:
            for call in delegation.tool_calls:
                call_id = call.call_id or call.item_id or f"(call at seq {call.seq})"
                done_t = self._args_done_t.get(call.item_id) if call.item_id else None
                done = None if done_t is None else done_t / 1e6
                output = self._ms(call.output_seq)
                following = next((r.id for r in delegation.responses
                                  if call.response_id is not None
                                  and r.previous_response_id == call.response_id), None)
                if output is None:
                    missing.append(Unavailable(f"tool call {call_id} tool_ms",
                                               "the client sent no function_call_output for it"))
                elif done is None:
                    missing.append(Unavailable(
                        f"tool call {call_id} tool_ms",
                        "no response.function_call_arguments.done for it was recorded"))
                missing.append(Unavailable(
                    f"tool call {call_id} output_to_next_audio_ms",
                    "Live's output audio never pauses: no first audio of the answer to time"))
                out.append(ToolCallFigures(
                    call_id=call_id, name=call.name, response_id=call.response_id,
                    arguments_done_ms=done, output_ms=output,
                    tool_ms=None if output is None or done is None else output - done,
                    next_response_id=following,
                ))
        return out


def _answer_gap(ordered: list[Any], index: int) -> float | None:
    """Inferred voice-to-voice of the user segment at `index` of segments in time order: the
    gap from its end to the start of the first assistant segment that starts after it ends;
    None when the user speaks again first (a barge-in or an overlap gives none)."""
    segment = ordered[index]
    if segment.speaker != "user":
        return None
    for later in ordered[index + 1:]:
        if later.start_ms >= segment.end_ms:
            return float(later.start_ms - segment.end_ms) if later.speaker == "assistant" else None
    return None


def _gaps(ordered: list[Any]) -> list[float]:
    """Every user segment's inferred voice-to-voice gap (segments in time order)."""
    found = (_answer_gap(ordered, index) for index in range(len(ordered)))
    return [gap for gap in found if gap is not None]


def _backend_tokens(fold: LiveFold) -> Usage | None:
    usages = [r.usage for d in fold.delegations for r in d.responses if r.usage]
    if not usages:
        return None

    def total(key: str, details: str | None = None) -> int | None:
        values = []
        for usage in usages:
            value = usage.get(details, {}).get(key) if details else usage.get(key)
            if isinstance(value, int) and not isinstance(value, bool):
                values.append(value)
        return sum(values) if values else None

    return Usage(input_tokens=total("input_tokens"), output_tokens=total("output_tokens"),
                 total_tokens=total("total_tokens"),
                 input_cached_tokens=total("cached_tokens", "input_tokens_details"))


async def live_log_fold(log: EventLog, info: SessionInfo) -> LiveStatsFold:
    """The stats fold of a Live session of an open event log, every step applied."""
    from recorder.stream import log_steps

    fold = LiveStatsFold(model=info.model, session_id=info.id, status=info.status,
                         started_at=info.started_at)
    async for batch in log_steps(log, info, batch_size=5000):
        fold.apply_batch(batch)
    return fold


async def live_log_figures(log: EventLog, info: SessionInfo) -> SessionFigures:
    """The figures of a Live session of an open event log."""
    return (await live_log_fold(log, info)).result()


async def live_recording_figures(recording: Recording) -> SessionFigures:
    """The figures of a Live session opened with recorder.recording.open_recording."""
    info = recording.info
    fold = LiveStatsFold(model=info.model, session_id=info.id, status=info.status,
                         started_at=info.started_at)
    async for batch in recording.batches():
        fold.apply_batch(batch)
    return fold.result()


def live_summary(figures: SessionFigures) -> dict[str, Any] | None:
    """The Live part of a session's summary (None for another protocol's session)."""
    live = figures.live
    if live is None:
        return None
    gaps = live.inferred_voice_to_voice_ms
    tokens = live.backend_tokens
    return {
        "user_segments": live.user_segments, "assistant_segments": live.assistant_segments,
        "delegations": live.delegations, "client_delegations": live.client_delegations,
        "backend_responses": live.backend_responses,
        "backend_tokens": None if tokens is None else {
            "input_tokens": tokens.input_tokens, "output_tokens": tokens.output_tokens,
            "total_tokens": tokens.total_tokens, "cached_tokens": tokens.input_cached_tokens},
        "input_audio_ms": live.input_audio_ms, "output_audio_ms": live.output_audio_ms,
        "usage_seconds": live.usage_seconds, "close_reason": live.close_reason,
        "inferred_interruptions": live.inferred_interruptions,
        "inferred_voice_to_voice_ms": {
            "count": len(gaps), "p50": percentile(gaps, 50), "p95": percentile(gaps, 95),
            "max": max(gaps) if gaps else None},
        "notes": list(live.notes),
    }


# The columns of a Live session's segment table (rtrec stats --session --csv).
SEGMENT_COLUMNS = ("segment", "speaker", "start_ms", "end_ms", "close_reason",
                   "inferred_voice_to_voice_ms")


def segment_rows(figures: SessionFigures) -> list[dict[str, Any]]:
    """One row a speaker segment; a user segment's inferred voice-to-voice gap beside it."""
    segments = figures.live.segments if figures.live is not None else []
    return [{"segment": index + 1, "speaker": segment.speaker, "start_ms": segment.start_ms,
             "end_ms": segment.end_ms, "close_reason": segment.close_reason,
             "inferred_voice_to_voice_ms": _answer_gap(segments, index)}
            for index, segment in enumerate(segments)]


def _num(value: float | int | None) -> str:
    return "-" if value is None else f"{value:.0f}" if isinstance(value, float) else str(value)


def render_live_lines(figures: SessionFigures) -> list[str]:
    """`rtrec stats --session` of a Live session, as lines a person reads."""
    summary = live_summary(figures)
    assert summary is not None and figures.live is not None
    gaps = summary["inferred_voice_to_voice_ms"]
    tokens = summary["backend_tokens"] or {}
    seconds = summary["usage_seconds"]
    lines = [
        f"session {figures.session_id}: Live, model {figures.model or '-'}, closed "
        f"{summary['close_reason'] or '(never: no session.closed)'}",
        f"segments: {summary['user_segments']} user, {summary['assistant_segments']} assistant;"
        f" audio sent {summary['input_audio_ms'] / 1000:.1f} s, received "
        f"{summary['output_audio_ms'] / 1000:.1f} s; billed "
        f"{'-' if seconds is None else f'{seconds:g}'} audio seconds",
        f"delegations {summary['delegations']} ({summary['client_delegations']} to the client),"
        f" backend responses {summary['backend_responses']}, tool calls "
        f"{len(figures.tool_calls)}; backend tokens in {_num(tokens.get('input_tokens'))}, out "
        f"{_num(tokens.get('output_tokens'))}",
        f"errors {sum(1 for e in figures.errors if e.kind == 'error')}; interruptions "
        f"{summary['inferred_interruptions']} (inferred: a user segment begins while an "
        "assistant segment is open)",
    ]
    if gaps["count"]:
        lines.append(
            f"voice-to-voice (inferred from the transcript segments' session times, not the "
            f"wire): p50 {_num(gaps['p50'])}, p95 {_num(gaps['p95'])}, max {_num(gaps['max'])} "
            f"ms (n={gaps['count']})")
    else:
        lines.append("voice-to-voice (inferred from the transcript segments): no user segment "
                     "is followed by an assistant one")
    for call in figures.tool_calls:
        lines.append(f"tool call {call.call_id} {call.name or '-'}: tool {_num(call.tool_ms)} ms"
                     f", next response {call.next_response_id or '-'}")
    for error in figures.errors:
        said = ": ".join(part for part in (error.code, error.message) if part)
        lines.append(f"{error.kind} at {error.at_ms:.0f} ms" + (f": {said}" if said else ""))
    lines += [f"note: {note}" for note in figures.live.notes]
    return lines
