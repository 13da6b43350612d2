"""A Live session as a person reads it: one line per thing that happened, on the session
timeline (minutes:seconds.millis), from the Live fold (recorder.live.fold).

Segments say who spoke; a delegation shows the backend's tool calls, the client's answers and
the backend's own answer; appends, mutes, fixtures and errors sit where they happened; an
interruption is marked as inferred (Live sends no event for one). The close and the notes end it.
"""

from __future__ import annotations

from typing import Any

from recorder.live.fold import LiveFold
from recorder.render import TimedLine, _clip, _clock, _seconds, _session_line


def render_live_text(fold: LiveFold, session: Any = None, note: str | None = None) -> str:
    return "".join(line + "\n" for _, line in render_live_lines(fold, session, note))


def render_live_lines(fold: LiveFold, session: Any = None, note: str | None = None
                      ) -> list[TimedLine]:
    """The lines, each with its time on the session timeline (ms), in time order."""
    header = [_session_line(session)] if session is not None else []
    header += [note] if note is not None else []
    header += [_audio_line(fold), ""]
    lines: list[TimedLine] = [(0.0, line) for line in header]
    entries: list[tuple[float, int, list[str]]] = []  # (at_ms, seq, lines)
    segments = fold.segments
    interrupted = {i.user_segment for i in fold.interruptions}
    for index, segment in enumerate(segments):
        text = " ".join(segment.text.split())
        mark = "  (interrupts the assistant: inferred from overlapping speech)" if (
            index in interrupted) else ""
        entries.append((segment.start_ms, segment.first_seq,
                        [f"{_clock(segment.start_ms)} {segment.speaker}: \"{text}\"{mark}"]))
    for delegation in fold.delegations:
        head = f"{_clock(delegation.offset_ms)} delegation {delegation.id} to {delegation.target}"
        if delegation.response_id:
            head += f" ({delegation.response_id})"
        body = [head]
        for call in delegation.tool_calls:
            answer = (f" -> {_clip(call.output)}" if call.output is not None
                      else " -> (no answer from the client)")
            body.append(f"    calls {call.name or '?'}({_clip(call.arguments)}) "
                        f"[call {call.call_id}]{answer}")
        for append in delegation.appends:
            body.append(f"    client {append.kind}: {_clip(append.content)}")
        if delegation.responses:
            statuses = ", ".join(f"{r.id} {r.status or 'unfinished'}"
                                 for r in delegation.responses)
            body.append(f"    backend: {statuses}; {delegation.tokens} tokens")
        if delegation.answer:
            body.append(f"    backend answer: \"{_clip(delegation.answer)}\"")
        entries.append((delegation.offset_ms, delegation.seq, body))
    for append in fold.appends:
        if append.delegation_id is not None and any(
                append in d.appends for d in fold.delegations):
            continue  # shown with its delegation
        went_in = append.start_ms if append.start_ms is not None else 0
        where = "" if append.start_ms is not None else " (not acknowledged)"
        entries.append((went_in, append.seq, [
            f"{_clock(went_in)} {append.kind} appended{where}: {_clip(append.content)}"]))
    for interval in fold.intervals:
        what = "input muted" if interval.kind == "muted" else "fixture playing"
        until = (f"until {_clock(interval.end_ms)}" if interval.end_ms is not None
                 else "to the end")
        entries.append((interval.start_ms, interval.seq,
                        [f"{_clock(interval.start_ms)} {what} {until}"]))
    for error in fold.errors:
        code = f" {error.code}" if error.code else ""
        source = "backend error" if error.delegation_id is not None else "error"
        entries.append((error.at_ms, error.seq,
                        [f"{_clock(error.at_ms)} {source}{code}: {error.message}"]))
    for decision in fold.decisions:
        shown = ", ".join(f"{name} = {value}" for name, value in decision.answers) or "no answers"
        about = (f" for {decision.delegation_id}" if decision.delegation_id
                 else f" on trigger {decision.trigger_id}" if decision.trigger_id else "")
        extra = ", ".join(part for part in (
            decision.model, f"{decision.tokens} tokens" if decision.tokens is not None else None)
            if part)
        entries.append((decision.at_ms, decision.seq, [
            f"{_clock(decision.at_ms)} decision{about}: {shown}"
            + (f" ({extra})" if extra else "")]))
    if not entries:
        lines.append((0.0, "(nothing said)"))
    at = 0.0
    for start_ms, _seq, body in sorted(entries, key=lambda entry: (entry[0], entry[1])):
        at = max(at, start_ms)  # a paced view never goes back in time
        lines += [(at, line) for line in body]
    lines += [(at, ""), (at, _close_line(fold))]
    lines += [(at, f"note: {line}") for line in fold.notes]
    return lines


def _audio_line(fold: LiveFold) -> str:
    fmt = fold.audio_format
    shown = f"{fmt.name} {fmt.sample_rate // 1000} kHz" if fmt is not None else "unknown"
    source = "" if fold.format_announced else " (not announced: Live's default)"
    return (f"Live audio {shown}{source}; {_seconds(fold.input_audio_ms)} of input audio "
            f"sent, {_seconds(fold.output_audio_ms)} of output audio")


def _close_line(fold: LiveFold) -> str:
    usage = (f"; usage {fold.usage_seconds:g} s of audio" if fold.usage_seconds is not None
             else "")
    if fold.closed_reason is not None:
        return f"Closed: {fold.closed_reason}{usage}"
    if fold.cut:
        return f"Not closed at this point{usage}"
    if fold.status == "refused":
        return f"Not started: session.start was refused{usage}"
    return f"Not closed: no session.closed{usage}"
