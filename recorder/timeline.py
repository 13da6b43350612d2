"""One timeline for every output: where each turn of a conversation starts and ends.

`rtrec replay`, every transcript file (md, json, srt, vtt) and conversation.wav place a turn
the same way, on the session clock (milliseconds since the session started):

- a user turn spans its audio in the input stream: speech_started's audio_start_ms to
  speech_stopped's audio_end_ms (with a manual commit and no VAD, the committed buffer),
  placed where that audio was captured (audio.StreamPlacement). When no input audio was
  recorded, its recorded speech_started / speech_stopped times, else its commit (item) time;
- audio the client put inside conversation.item.create plays from when it was sent;
- an assistant reply starts at its first audio delta (later if the previous reply is still
  playing: each reply stays whole) and lasts as long as its audio was heard (cut at the
  truncation); a reply without audio spans its first to last text delta;
- anything else (tool calls and results) is an instant, at its recorded time.

turns() computes that list once (with text and marks); the renderers only format it.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.audio import AudioFormat, StreamPlacement, place_utterances
from recorder.conversation_model import ContentPart, Conversation, Item
from recorder.transcripts import NO_SPEECH, Entry

ClientSpans = dict[tuple[str, int], tuple[float, float]]


@dataclass(slots=True)
class PartPlan:
    """Where one assistant audio content part goes, and how much of it was heard."""

    item: Item
    part: ContentPart
    audio_format: AudioFormat
    start_ms: float
    heard_bytes: int

    @property
    def heard_ms(self) -> float:
        return self.audio_format.duration_ms(self.heard_bytes)


@dataclass
class TimelinePlan:
    parts: dict[tuple[str, int], PartPlan]

    @property
    def end_ms(self) -> float:
        return max((p.start_ms + p.heard_ms for p in self.parts.values()), default=0.0)


def plan_timeline(conversation: Conversation) -> TimelinePlan:
    """Start times of the assistant's utterances on the timeline, in the order spoken."""
    spoken: list[tuple[float, Item, ContentPart]] = []
    for item in conversation.items.values():
        if item.role == "user":
            continue  # the user side is the input stream, placed as it streamed
        for part in item.content:
            if part.audio_bytes > 0 and part.first_audio_t_ns is not None:
                spoken.append((part.first_audio_t_ns / 1e6, item, part))
    spoken.sort(key=lambda entry: entry[0])
    spans = [
        (earliest, item.format.duration_ms(part.heard_bytes)) for earliest, item, part in spoken
    ]
    starts = place_utterances(spans)
    return TimelinePlan({
        (item.id, part.index): PartPlan(item, part, item.format, start, part.heard_bytes)
        for start, (_, item, part) in zip(starts, spoken, strict=True)
    })


def client_spans(conversation: Conversation) -> ClientSpans:
    """Audio the client put inside items it created, from its recorded time, each whole.

    Export passes the spans it measured from the decoded audio instead (the same rule)."""
    parts: list[tuple[float, float, tuple[str, int]]] = []
    for item in conversation.items.values():
        if item.role != "user" or item.turn is not None or item.t_ns is None:
            continue
        for part in item.content:
            if part.audio_bytes > 0:
                duration = item.format.duration_ms(part.audio_bytes)
                parts.append((item.t_ns / 1e6, duration, (item.id, part.index)))
    parts.sort()
    starts = place_utterances([(at, duration) for at, duration, _ in parts])
    return {
        key: (start, start + duration)
        for start, (_, duration, key) in zip(starts, parts, strict=True)
    }


def turns(
    conversation: Conversation,
    plan: TimelinePlan | None = None,
    spans: ClientSpans | None = None,
) -> list[Entry]:
    """Every item rtrec replay shows, in its order: the conversation, then out-of-band
    items, then deleted ones, each with its span on the timeline, text and marks."""
    plan = plan if plan is not None else plan_timeline(conversation)
    spans = spans if spans is not None else client_spans(conversation)
    answered = {
        item.call_id for item in conversation.ordered_items()
        if item.type == "function_call_output" and item.call_id
    }
    sections = (
        ("conversation", conversation.ordered_items()),
        ("out_of_band", conversation.unplaced_items()),
        ("deleted", conversation.deleted_items()),
    )
    entries = []
    for section, items in sections:
        for item in items:
            start, end = _span(item, plan, conversation.input_placement, spans)
            entries.append(_entry(conversation, item, section, start, end, answered))
    return entries


def _entry(
    conversation: Conversation,
    item: Item,
    section: str,
    start: float,
    end: float,
    answered: set[str],
) -> Entry:
    kind = item.type or "message"
    speaker = "tool" if kind in ("function_call", "function_call_output") else (
        item.role or "system"
    )
    output = item.output
    if kind == "function_call" and item.call_id and item.call_id not in answered:
        answer = conversation.output_for(item.call_id)
        output = answer.output if answer else None
    return Entry(
        item_id=item.id,
        kind=kind,
        speaker=speaker,
        start_ms=start,
        end_ms=end,
        text=_text(item),
        truncated=item.truncated,
        audio_ms=item.audio_ms,
        heard_ms=item.heard_ms,
        name=item.name,
        arguments=item.arguments,
        output=output,
        call_id=item.call_id,
        note=_note(item),
        section=section,
        details={**item.to_dict(), "out_of_band": section == "out_of_band"},
        item=item,
    )


def _text(item: Item) -> str | None:
    """What was said: the transcript, else the text; "" for an empty transcript (no speech)."""
    transcript = item.transcript
    if transcript:
        return transcript
    text = item.text
    return text if text is not None else transcript


def _note(item: Item) -> str | None:
    for part in item.content:
        if part.transcription_status == "failed":
            error = part.transcription_error or {}
            reason = error.get("message") or error.get("code")
            return f"transcription failed: {reason}" if reason else "transcription failed"
    if item.transcript == "" and not item.text:
        return NO_SPEECH
    if item.role == "user" and item.turn is not None and not item.transcript:
        return "no transcript"
    return None


def _span(
    item: Item, plan: TimelinePlan, placement: StreamPlacement, spans: ClientSpans
) -> tuple[float, float]:
    own = [spans[(item.id, p.index)] for p in item.content if (item.id, p.index) in spans]
    if own:  # audio the client sent inside the item
        return min(start for start, _ in own), max(end for _, end in own)
    if item.role == "user" and item.turn is not None:
        return _user_span(item, placement)
    parts = [plan.parts[key] for key in ((item.id, p.index) for p in item.content)
             if key in plan.parts]
    if parts:
        return min(p.start_ms for p in parts), max(p.start_ms + p.heard_ms for p in parts)
    texts = [p for p in item.content if p.first_text_t_ns is not None]
    if texts:
        first = min(p.first_text_t_ns or 0 for p in texts)
        last = max(p.last_text_t_ns or 0 for p in texts)
        return first / 1e6, last / 1e6
    at = _ms(item.t_ns)
    return at, at


def _user_span(item: Item, placement: StreamPlacement) -> tuple[float, float]:
    turn = item.turn
    assert turn is not None
    if placement.runs and turn.audio_start_ms is not None:
        start = placement.to_timeline(turn.audio_start_ms)
        end_offset = turn.audio_end_ms if turn.audio_end_ms is not None else turn.audio_start_ms
        return start, max(placement.to_timeline(end_offset), start)
    committed = turn.committed_t_ns if turn.committed_t_ns is not None else item.t_ns
    start = _ms(turn.speech_started_t_ns if turn.speech_started_t_ns is not None else committed)
    stopped = turn.speech_stopped_t_ns if turn.speech_stopped_t_ns is not None else committed
    return start, max(_ms(stopped), start)


def _ms(t_ns: int | None) -> float:
    return max((t_ns or 0) / 1e6, 0.0)
