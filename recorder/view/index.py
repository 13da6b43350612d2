"""What the viewer knows of a session after one pass over its steps: the pure core of rtrec view.

`build_index(steps)` folds the steps (recorder.conversation) and keeps, beside the fold, where
every frame sits (its tick: seq, time, direction, type, kind) and where every audio chunk plays
on the session's timeline (recorder.timeline's placement: the user's input stream as it was
captured, each assistant utterance from its first delta, cut where it was heard). No audio is
kept: a chunk is its seq and length, read again from the log when it is played or drawn.

Everything here is plain data built from steps: the tests drive it from frames in memory.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec
import numpy as np

from recorder.audio import AudioFormat, pcm16_samples
from recorder.conversation import ConversationFold
from recorder.conversation_model import Conversation
from recorder.events import UnknownEvent
from recorder.protocol.audio_fields import INPUT_AUDIO
from recorder.stream import Step
from recorder.timeline import plan_timeline, turns
from recorder.wire import Direction, Opcode

USER, ASSISTANT = "user", "assistant"
PEAK_BUCKET_MS = 10  # the finest waveform bucket (level 0 of recorder.view.sound's peaks): a
# hundredth of a second, so a bucket is sample_rate // 100 samples

# The tick kinds of the events lane, in the order the legend shows them.
KINDS = ("session", "input", "response", "item", "error", "other", "unknown")


def kind_of(event_type: str | None, unknown: bool = False) -> str:
    """The lane colour of an event type: session, input (buffer), response, item, error, other;
    unknown for a frame that does not decode (shown as such, never hidden)."""
    if unknown or not event_type:
        return "unknown"
    if event_type == "error" or event_type.endswith(".failed"):
        return "error"
    if event_type.startswith(("session.", "transcription_session.")):
        return "session"
    if event_type.startswith("input_audio_buffer."):
        return "input"
    if event_type.startswith("response."):
        return "response"
    if event_type.startswith("conversation."):
        return "item"
    return "other"


class Segment(msgspec.Struct, frozen=True, gc=False):  # a Struct: an hour makes 200k of them
    """One audio chunk placed on the timeline: the frame at `seq` holds it; `offset` bytes of it
    are skipped and `length` bytes played from `start_ms` (the heard part only, assistant)."""

    seq: int
    start_ms: float
    offset: int
    length: int
    format: AudioFormat
    peak_at: int = 0  # where the chunk's own min/max buckets start in SessionIndex.chunk_peaks

    @property
    def duration_ms(self) -> float:
        return self.format.duration_ms(self.length)

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms


class Tick(NamedTuple):
    """One frame on the events lane. The index keeps plain tuples of these fields (cheaper to
    make, and they sort by time then seq); events() hands out Ticks."""

    t_ms: float
    seq: int
    direction: str
    type: str | None
    kind: str
    size: int  # the frame's bytes on the wire (an audio event's audio as base64)


@dataclass
class SessionIndex:
    conversation: Conversation
    ticks: list[tuple[float, int, str, str | None, str, int]]  # Tick's fields
    segments: dict[str, list[Segment]]  # USER, ASSISTANT -> segments by start
    lanes: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    # min and max of every audio chunk per PEAK_BUCKET_MS of its own, chunk after chunk
    chunk_mins: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    chunk_maxs: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int16))
    _tick_times: list[float] = field(default_factory=list)
    _starts: dict[str, list[float]] = field(default_factory=dict)
    _longest: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.ticks.sort()  # by time, then seq (seqs are unique)
        self._tick_times = [tick[0] for tick in self.ticks]
        for side, segments in self.segments.items():
            segments.sort(key=lambda s: s.start_ms)
            self._starts[side] = [s.start_ms for s in segments]
            self._longest[side] = max((s.duration_ms for s in segments), default=0.0)

    @property
    def end_ms(self) -> float:
        last_tick = self._tick_times[-1] if self._tick_times else 0.0
        last_audio = max((s.end_ms for side in self.segments.values() for s in side),
                         default=0.0)
        return max(last_tick, last_audio)

    @property
    def has_audio(self) -> bool:
        return any(self.segments.values())

    def events(self, from_ms: float, to_ms: float, kinds: set[str] | None = None,
               limit: int = 2000, bucket_ms: float = 0.0) -> tuple[list[Tick], bool]:
        """The ticks from_ms <= t < to_ms (of `kinds`, all when None), at most `limit`; True
        when more were left off (page on from the last one's time). bucket_ms > 0 keeps the
        first tick of each kind and direction per bucket_ms (a pixel of a zoomed-out page: an
        hour at full width is a few thousand ticks, not 200,000)."""
        lo = bisect.bisect_left(self._tick_times, from_ms)
        hi = bisect.bisect_left(self._tick_times, to_ms)
        out: list[Tick] = []
        seen: set[tuple[int, str, str]] = set()
        for tick in self.ticks[lo:hi]:
            if kinds is not None and tick[4] not in kinds:
                continue
            if bucket_ms > 0:
                key = (int(tick[0] // bucket_ms), tick[4], tick[2])
                if key in seen:
                    continue
                seen.add(key)
            if len(out) == limit:
                return out, True
            out.append(Tick._make(tick))
        return out, False

    def sample_rate(self) -> int:
        """The rate the viewer's WAVs use: the higher of the session's input and output rates
        (as conversation.wav does)."""
        rates = [s.format.sample_rate for side in self.segments.values() for s in side[:1]]
        return max(rates, default=24000)

    def segments_between(self, side: str, from_ms: float, to_ms: float) -> list[Segment]:
        """The side's segments that sound somewhere in [from_ms, to_ms)."""
        segments = self.segments.get(side, [])
        starts = self._starts.get(side, [])
        lo = bisect.bisect_left(starts, from_ms - self._longest.get(side, 0.0) - 1)
        hi = bisect.bisect_left(starts, to_ms)
        return [s for s in segments[lo:hi] if s.end_ms > from_ms]


def _bucket_count(length: int, fmt: AudioFormat) -> int:
    """How many PEAK_BUCKET_MS buckets a chunk of `length` wire bytes of fmt covers (the input
    fast path of _Builder.apply says the same inline)."""
    return -(-(length // fmt.sample_width) // (fmt.sample_rate // 100))


def chunk_peaks(chunks: list[tuple[bytes, AudioFormat]]) -> tuple[np.ndarray, np.ndarray]:
    """min and max per PEAK_BUCKET_MS of each chunk, chunk after chunk (_bucket_count each):
    a few numpy calls for a whole batch of chunks, however many."""
    formats = {fmt for _, fmt in chunks}
    if len(formats) == 1 and not next(iter(formats)).is_g711:  # pcm16 throughout: no copy each
        fmt = next(iter(formats))
        joined = pcm16_samples(b"".join(audio[:len(audio) & ~1] for audio, _ in chunks))
        sizes = np.fromiter((len(audio) >> 1 for audio, _ in chunks), np.int64, len(chunks))
        per_bucket: int | np.ndarray = fmt.sample_rate // 100
    else:
        samples = [pcm16_samples(fmt.to_pcm16(audio)) for audio, fmt in chunks]
        joined = np.concatenate(samples) if samples else np.zeros(0, np.int16)
        sizes = np.array([a.size for a in samples], dtype=np.int64)
        per_bucket = np.array([fmt.sample_rate // 100 for _, fmt in chunks], dtype=np.int64)
    counts = -(-sizes // per_bucket)
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, np.int16)
        return empty, empty
    offsets = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    first_bucket = np.concatenate(([0], np.cumsum(counts)[:-1]))
    local = np.arange(total) - np.repeat(first_bucket, counts)
    step = per_bucket if isinstance(per_bucket, int) else np.repeat(per_bucket, counts)
    starts = np.repeat(offsets, counts) + local * step
    return np.minimum.reduceat(joined, starts), np.maximum.reduceat(joined, starts)


class _Builder:
    def __init__(self) -> None:
        self.fold = ConversationFold()
        self.ticks: list[tuple[float, int, str, str | None, str, int]] = []
        self.user: list[Segment] = []
        # seq, item, part, bytes, where its peaks start
        self.output: list[tuple[int, str | None, int, int, int]] = []
        self.buckets = 0  # chunk peak buckets so far
        self.pending: list[tuple[bytes, AudioFormat]] = []  # chunks whose peaks are not made
        self.mins: list[np.ndarray] = []
        self.maxs: list[np.ndarray] = []

    def _chunk(self, audio: bytes, fmt: AudioFormat) -> int:
        at = self.buckets
        self.buckets += _bucket_count(len(audio), fmt)
        self.pending.append((audio, fmt))
        return at

    def flush_peaks(self) -> None:
        if self.pending:
            mins, maxs = chunk_peaks(self.pending)
            self.mins.append(mins)
            self.maxs.append(maxs)
            self.pending = []

    def apply(self, step: Step) -> None:
        fold = self.fold
        audio = step.audio
        if audio is not None and step.type == INPUT_AUDIO:  # the bulk of a session: fast path
            start = fold.apply_input_audio(step, audio)
            length = len(audio)
            if length:
                fmt = fold.conversation.input_format
                at = self.buckets
                self.buckets += -(-(length // fmt.sample_width) // (fmt.sample_rate // 100))
                self.pending.append((audio, fmt))
                self.user.append(Segment(step.seq, start, 0, length, fmt, at))
            self.ticks.append((step.t_ns / 1e6, step.seq, step.direction, INPUT_AUDIO, "input",
                               len(step._data) + 4 * -(-length // 3)))
            return
        direction = step.direction
        try:
            event = fold.apply(step)
        except Exception:  # a frame the fold cannot take is shown, never hides the rest
            event = None
        if step.opcode is not Opcode.TEXT:
            unknown = True
        else:
            unknown = event is None or type(event) is UnknownEvent
        if audio is not None and direction is Direction.SERVER and not unknown:
            item_id = getattr(event, "item_id", None)
            item = fold.conversation.items.get(item_id or "")
            if item is not None:
                at = self._chunk(audio, item.format)
                self.output.append((step.seq, item_id, getattr(event, "content_index", None)
                                    or 0, len(audio), at))
        # the frame's size on the wire: its audio went as base64 (4 characters per 3 bytes)
        size = len(step._data) + (4 * -(-len(audio) // 3) if audio is not None else 0)
        self.ticks.append((step.t_ns / 1e6, step.seq, direction, step.type,
                           kind_of(step.type, unknown), size))

    def finish(self) -> SessionIndex:
        self.flush_peaks()
        conversation = self.fold.conversation
        plan = plan_timeline(conversation)
        assistant: list[Segment] = []
        played: dict[tuple[str, int], int] = {}
        for seq, item_id, index, length, peak_at in self.output:
            key = (item_id or "", index)
            part = plan.parts.get(key)
            if part is None:
                continue
            before = played.get(key, 0)
            played[key] = before + length
            heard = max(0, min(length, part.heard_bytes - before))
            if heard <= 0:
                continue
            at = part.start_ms + part.audio_format.duration_ms(before)
            assistant.append(Segment(seq, at, 0, heard, part.audio_format, peak_at))
        segments = {USER: self.user, ASSISTANT: assistant}
        empty = np.zeros(0, np.int16)
        return SessionIndex(conversation, self.ticks, segments, lanes(conversation),
                            list(self.fold.warnings),
                            np.concatenate(self.mins) if self.mins else empty,
                            np.concatenate(self.maxs) if self.maxs else empty)


def build_index(steps: Iterable[Step]) -> SessionIndex:
    """The index of a session from its steps (seq order)."""
    builder = _Builder()
    for step in steps:
        builder.apply(step)
        if len(builder.pending) >= 5000:
            builder.flush_peaks()
    return builder.finish()


class IndexBuilder:
    """build_index for steps that come in batches (the log's): feed(batch), then finish()."""

    def __init__(self) -> None:
        self._builder = _Builder()

    def feed(self, steps: Iterable[Step]) -> None:
        apply = self._builder.apply
        for step in steps:
            apply(step)
        self._builder.flush_peaks()

    def finish(self) -> SessionIndex:
        return self._builder.finish()


def lanes(conversation: Conversation) -> dict[str, Any]:
    """The turns, responses and tool calls of the session page, times in ms on the timeline."""
    user: list[dict[str, Any]] = []
    assistant: list[dict[str, Any]] = []
    tools: list[dict[str, Any]] = []
    outputs: dict[str, float] = {}
    results: dict[str, str | None] = {}
    entries = turns(conversation)
    for entry in entries:
        if entry.kind == "function_call_output" and entry.call_id:
            outputs.setdefault(entry.call_id, entry.start_ms)
            results.setdefault(entry.call_id, entry.output)
    for entry in entries:
        item = entry.item
        if entry.kind == "function_call":
            done = outputs.get(entry.call_id or "")
            tools.append({
                "item_id": entry.item_id, "call_id": entry.call_id, "name": entry.name,
                "arguments": entry.arguments,
                "output": results.get(entry.call_id or "", entry.output),
                "start_ms": entry.start_ms, "end_ms": done if done is not None else None,
                "tool_ms": (done - entry.start_ms) if done is not None else None,
            })
        elif entry.kind == "message" and entry.speaker == "user":
            user.append({
                "item_id": entry.item_id, "start_ms": entry.start_ms, "end_ms": entry.end_ms,
                "text": entry.text, "note": entry.note, "section": entry.section,
            })
        elif entry.kind == "message" and entry.speaker == "assistant":
            response_id = getattr(item, "response_id", None)
            response = conversation.responses.get(response_id) if response_id else None
            generated = entry.audio_ms or 0.0
            heard = entry.heard_ms if entry.heard_ms is not None else generated
            assistant.append({
                "item_id": entry.item_id, "response_id": response_id,
                "status": response.status if response is not None else None,
                "status_reason": _reason(response.status_details) if response else None,
                "start_ms": entry.start_ms, "end_ms": entry.end_ms,
                "heard_end_ms": entry.start_ms + heard if generated else entry.end_ms,
                "generated_end_ms": entry.start_ms + generated if generated else entry.end_ms,
                "truncated": bool(entry.truncated), "audio_ms": entry.audio_ms,
                "heard_ms": entry.heard_ms, "text": entry.text, "note": entry.note,
                "section": entry.section,
            })
    return {"user": user, "assistant": assistant, "tools": tools,
            "errors": list(conversation.errors)}


def _reason(details: Any) -> str | None:
    if isinstance(details, dict):
        reason = details.get("reason") or details.get("type")
        return reason if isinstance(reason, str) else None
    return None
