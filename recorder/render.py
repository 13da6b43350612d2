"""The conversation as a person reads it: who said what, tool calls, interruptions, durations.

Plain text, one block per item in conversation order, each line starting with where the item
starts on the session timeline (minutes:seconds.millis; see recorder.timeline).
"""

from __future__ import annotations

from typing import Any

from recorder.conversation_model import Conversation, Item
from recorder.transcripts import NO_SPEECH, SECTION_TITLES

MAX_ARGUMENT_CHARS = 300


TimedLine = tuple[float, str]  # (when on the session timeline, ms; the line)


def render_text(conversation: Conversation, session: Any = None, note: str | None = None) -> str:
    """The whole conversation as text; session (a SessionInfo) adds a header line, and note a
    line under it (where a view that stops early stops)."""
    return "".join(line + "\n" for _, line in render_lines(conversation, session, note))


def render_lines(
    conversation: Conversation, session: Any = None, note: str | None = None
) -> list[TimedLine]:
    """render_text's lines, each with the time it belongs to on the session timeline: the
    header at 0, a turn's lines at its start, the summary at the last recorded frame.

    The items, their order and their times are recorder.timeline.turns, as in every
    transcript file: each line starts with the turn's start on the session timeline."""
    from recorder.timeline import turns

    header = [_session_line(session)] if session is not None else []
    header += [note] if note is not None else []
    header += [_formats_line(conversation), ""]
    lines: list[TimedLine] = [(0.0, line) for line in header]
    entries = turns(conversation)
    if not any(entry.section == "conversation" for entry in entries):
        lines.append((0.0, "(no conversation items)"))
    section = "conversation"
    at = 0.0
    for entry in entries:
        at = max(at, entry.start_ms)  # a paced view never goes back in time
        if entry.section != section:
            section = entry.section
            lines += [(at, ""), (at, f"{SECTION_TITLES[section]}:")]
        indent = "" if section == "conversation" else "  "
        lines += [(at, indent + line)
                  for line in _item_lines(conversation, entry.item, entry.start_ms)]
    end = max(at, (conversation.last_t_ns or 0) / 1e6)
    lines += [(end, ""), (end, _responses_line(conversation))]
    for error in conversation.errors:
        message = error.get("message") if isinstance(error, dict) else error
        lines.append((end, f"server error: {message}"))
    return lines


def _session_line(session: Any) -> str:
    parts = [f"Session {session.id}"]
    for label, value in (
        ("protocol", getattr(session, "protocol", None)),
        ("model", getattr(session, "model", None)),
        ("status", getattr(session, "status", None)),
        ("frames", getattr(session, "frames", None)),
    ):
        if value is not None:
            parts.append(f"{label} {value}")
    started = getattr(session, "started_at", None)
    if started is not None:
        parts.append(f"started {started.isoformat(timespec='seconds')}")
    return " · ".join(parts)


def _formats_line(conversation: Conversation) -> str:
    source = "" if conversation.formats_from_session else " (not set by the session: API default)"
    return (
        f"Audio: input {_format(conversation.input_format)}, "
        f"output {_format(conversation.output_format)}{source}; "
        f"{_seconds(conversation.input_audio_ms)} of input audio sent"
    )


def _format(audio_format: Any) -> str:
    return f"{audio_format.name} {audio_format.sample_rate // 1000} kHz"


def _clock(at_ms: float) -> str:
    ms = max(round(at_ms), 0)
    return f"[{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}]"


def _seconds(ms: float) -> str:
    return f"{ms / 1000:.1f} s"


def _item_lines(conversation: Conversation, item: Item, at_ms: float) -> list[str]:
    head = _clock(at_ms)
    if item.type == "function_call":
        arguments = _clip(item.arguments or "")
        line = f"{head} assistant calls {item.name or '?'}({arguments}) [call {item.call_id}]"
        return [line + _response_note(conversation, item)]
    if item.type == "function_call_output":
        call = conversation.call_for(item.call_id) if item.call_id else None
        name = call.name if call is not None and call.name else "tool"
        return [f"{head} {name} result [call {item.call_id}]: {_clip(item.output or '')}"]
    if item.type not in (None, "message"):
        details = item.name or item.output or ""
        return [f"{head} {item.type} {item.id} {_clip(details)}".rstrip()]
    who = item.role or "?"
    notes = _audio_notes(item)
    words = _words(item)
    line = f"{head} {who}{notes}: {words}" if words else f"{head} {who}{notes}"
    return [line + _response_note(conversation, item)]


def _audio_notes(item: Item) -> str:
    notes: list[str] = []
    if item.audio_ms:
        if item.truncated:
            notes.append(
                f"audio {_seconds(item.audio_ms)}, interrupted: heard {_seconds(item.heard_ms)}"
            )
        else:
            notes.append(f"audio {_seconds(item.audio_ms)}")
    if item.status and item.status != "completed":
        notes.append(item.status)
    return f" ({'; '.join(notes)})" if notes else ""


def _words(item: Item) -> str:
    pieces: list[str] = []
    for part in item.content:
        if part.text:
            pieces.append(part.text)
        if part.transcript:
            mark = " [cut off: not all of it was heard]" if part.transcript_truncated else ""
            pieces.append(f'"{part.transcript}"{mark}')
        elif part.transcript == "":
            pieces.append(f'"" [{NO_SPEECH}]')
        elif part.transcription_status == "failed":
            error = part.transcription_error or {}
            pieces.append(f"[transcription failed: {error.get('message') or error.get('code')}]")
        elif part.type == "input_audio":
            pieces.append("[no transcript]")
    return " ".join(pieces)


def _response_note(conversation: Conversation, item: Item) -> str:
    response = conversation.responses.get(item.response_id) if item.response_id else None
    if response is None or response.status in (None, "completed", "in_progress"):
        return ""
    details = response.status_details or {}
    reason = details.get("reason") or (details.get("error") or {}).get("message")
    return f"  <response {response.status}{': ' + reason if reason else ''}>"


def _responses_line(conversation: Conversation) -> str:
    responses = list(conversation.responses.values())
    if not responses:
        return "Responses: none"
    counts: dict[str, int] = {}
    for response in responses:
        key = response.status or "unfinished"
        counts[key] = counts.get(key, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    tokens = sum((r.usage or {}).get("total_tokens") or 0 for r in responses)
    return f"Responses: {len(responses)} ({summary}); {tokens} tokens"


def _clip(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > MAX_ARGUMENT_CHARS:
        return text[:MAX_ARGUMENT_CHARS] + "..."
    return text
