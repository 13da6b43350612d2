"""Transcript files: Markdown to read, JSON to search, SRT and WebVTT to line up with audio.

Every writer takes the same list of Entry that `rtrec replay` renders (recorder.timeline.turns:
one per item, the conversation first, then out-of-band and deleted items, each with its span on
the session timeline), so all four files and the replay agree on what was said and when, and
mark the same turns: cut off, transcription failed, no speech (transcribed as "": an empty
turn, not a missing one), out of band, deleted. A subtitle shows every turn; one without a
duration (a tool call) is shown for INSTANT_CUE_MS.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INSTANT_CUE_MS = 1000.0  # how long a subtitle shows a turn that has no duration
SECTION_TITLES = {"out_of_band": "Out-of-band (not in the conversation)", "deleted": "Deleted"}
SECTION_MARKS = {"out_of_band": "out of band", "deleted": "deleted"}
NO_SPEECH = "no speech"  # the mark of an empty transcript: transcribed, and nothing was said


@dataclass(frozen=True, slots=True)
class Entry:
    """One conversation item as the transcripts show it.

    speaker is the item's role (user, assistant, system) or, for tool traffic, "tool".
    start_ms / end_ms place it on the conversation timeline (equal for items without audio).
    truncated: the listener was cut off; heard_ms of audio_ms was heard.
    text is "" for an empty transcript (no speech), None when none arrived.
    """

    item_id: str
    kind: str  # message | function_call | function_call_output | any other item type
    speaker: str
    start_ms: float
    end_ms: float
    text: str | None = None
    truncated: bool = False
    audio_ms: float | None = None
    heard_ms: float | None = None
    name: str | None = None  # function name
    arguments: str | None = None
    output: str | None = None
    call_id: str | None = None
    note: str | None = None  # what the transcript cannot say, e.g. "transcription failed"
    section: str = "conversation"  # | "out_of_band" | "deleted", as rtrec replay groups them
    details: dict[str, Any] = field(default_factory=dict)  # the full item, for the JSON file
    item: Any = field(default=None, compare=False, repr=False)  # the Item, for rtrec replay

    @property
    def spoken(self) -> bool:
        return self.end_ms > self.start_ms


def clock(ms: float, separator: str = ".") -> str:
    """HH:MM:SS.mmm (or with ',' for SRT), rounded to the millisecond."""
    total = max(round(ms), 0)
    hours, rest = divmod(total, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}{separator}{millis:03d}"


def _label(speaker: str) -> str:
    return speaker[:1].upper() + speaker[1:]


def marks(entry: Entry) -> list[str]:
    """What a reader must know about a turn beyond its words, the same in every format."""
    found = []
    if entry.truncated:
        heard = f"{(entry.heard_ms or 0) / 1000:.1f} s"
        total = f"{(entry.audio_ms or 0) / 1000:.1f} s"
        found.append(f"interrupted: heard {heard} of {total}")
    if entry.note:
        found.append(entry.note)
    if entry.section in SECTION_MARKS:
        found.append(SECTION_MARKS[entry.section])
    return found


def _cues(entries: list[Entry]) -> list[tuple[Entry, float, str]]:
    """Every entry as a cue (entry, end shown, text), in the order they start."""
    cues = []
    for entry in sorted(entries, key=lambda e: e.start_ms):
        end = entry.end_ms if entry.spoken else entry.start_ms + INSTANT_CUE_MS
        cues.append((entry, end, _cue_text(entry)))
    return cues


def _cue_text(entry: Entry) -> str:
    if entry.kind == "function_call":
        words = f"Tool call: {entry.name or '?'}({_inline(entry.arguments or '')})"
        if entry.output is not None:
            words += f" -> {_inline(entry.output)}"
    elif entry.kind == "function_call_output":
        words = f"Tool result: {_inline(entry.output or '')}"
    elif entry.kind != "message":
        words = f"{_label(entry.speaker)} ({entry.kind})"
    else:
        text = _one_paragraph(entry.text or "")
        words = f"{_label(entry.speaker)}: {text}" if text else f"{_label(entry.speaker)}:"
    found = marks(entry)
    return f"{words} [{'; '.join(found)}]" if found else words


def _one_paragraph(text: str) -> str:
    """A cue ends at a blank line in SRT and VTT, so a cue's text must not contain one."""
    return "\n".join(line for line in text.strip().splitlines() if line.strip())


def srt(entries: list[Entry]) -> str:
    blocks = []
    for number, (entry, end, text) in enumerate(_cues(entries), start=1):
        blocks.append(
            f"{number}\n{clock(entry.start_ms, ',')} --> {clock(end, ',')}\n{text}\n"
        )
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt(entries: list[Entry]) -> str:
    blocks = ["WEBVTT\n"]
    for entry, end, text in _cues(entries):
        label = _label(entry.speaker)
        body = text.removeprefix(f"{label}:").lstrip() if entry.kind == "message" else text
        body = _vtt_escape(body).replace("-->", "--&gt;")
        blocks.append(
            f"{entry.item_id}\n{clock(entry.start_ms)} --> {clock(end)}\n<v {label}>{body}\n"
        )
    return "\n".join(blocks)


def turn_dict(entry: Entry) -> dict[str, Any]:
    """A turn's place on the timeline and what marks it, as transcript.json and
    `rtrec replay --json` give it."""
    return {
        "id": entry.item_id,
        "kind": entry.kind,
        "speaker": entry.speaker,
        "start_ms": round(entry.start_ms, 3),
        "end_ms": round(entry.end_ms, 3),
        "text": entry.text,
        "truncated": entry.truncated,
        "section": entry.section,
        "deleted": entry.section == "deleted",
        "marks": marks(entry),
    }


def to_json(entries: list[Entry], session: dict[str, Any]) -> str:
    """The session's description and its items, each with start_ms / end_ms on the timeline."""
    items = [{**entry.details, **turn_dict(entry)} for entry in entries]
    return json.dumps({"session": session, "items": items}, indent=2, ensure_ascii=False) + "\n"


def markdown(
    entries: list[Entry], title: str, facts: list[str], errors: list[str] | None = None
) -> str:
    """Who said what, tool calls with their results, where someone was interrupted, errors."""
    lines = [f"# {title}", ""]
    lines += [f"- {fact}" for fact in facts]
    if facts:
        lines.append("")
    section = "conversation"
    for entry in entries:
        if entry.section != section:
            section = entry.section
            lines += [f"## {SECTION_TITLES.get(section, section)}", ""]
        lines += _markdown_entry(entry)
        lines.append("")
    if not entries:
        lines += ["_(no conversation items)_", ""]
    if errors:
        lines += ["## Errors", ""]
        lines += [f"- {_inline(error)}" for error in errors]
        lines.append("")
    return "\n".join(lines)


def _markdown_entry(entry: Entry) -> list[str]:
    at = f"`{clock(entry.start_ms)}`"
    if entry.kind == "function_call":
        call = f"{entry.name or '?'}({entry.arguments or ''})"
        lines = [f"{at} **Tool call** `{call}`"]
        if entry.output is not None:
            lines.append(f"> result: `{_inline(entry.output)}`")
        return lines
    if entry.kind == "function_call_output":
        return [f"{at} **Tool result** (call {entry.call_id}): `{_inline(entry.output or '')}`"]
    if entry.kind != "message":
        return [f"{at} **{_label(entry.speaker)}** ({entry.kind})"]
    text = (entry.text or "").strip() or f"_({entry.note or 'no transcript'})_"
    lines = [f"{at} **{_label(entry.speaker)}:** {text}"]
    if entry.truncated:
        heard = f"{(entry.heard_ms or 0) / 1000:.1f} s"
        total = f"{(entry.audio_ms or 0) / 1000:.1f} s"
        lines.append(f"> _interrupted: heard {heard} of {total}_")
    return lines


def _inline(text: str) -> str:
    """Text inside a Markdown code span: one line, no backticks."""
    return " ".join(text.split()).replace("`", "'")


def write_files(
    out_dir: Path, entries: list[Entry], session_id: str, facts: dict[str, Any],
    errors: list[str],
) -> list[Path]:
    """transcript.md, .json, .srt and .vtt of `entries` in out_dir (facts: the session's, as
    the JSON's "session" and the Markdown's header lines); the paths written."""
    header = [f"{key.replace('_', ' ')}: {value}" for key, value in facts.items() if value]
    files = {
        "transcript.md": markdown(entries, f"Session {session_id}", header, errors),
        "transcript.json": to_json(entries, facts),
        "transcript.srt": srt(entries),
        "transcript.vtt": vtt(entries),
    }
    written = []
    for name, text in files.items():
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
