"""What the viewer knows of a session after one pass over its steps: the pure core of rtrec view.

`build_index(steps)` folds the steps (recorder.conversation) and keeps, beside the fold, where
every frame sits (its tick: seq, time, direction, type, kind) and where every audio chunk plays
on the session's timeline (recorder.timeline's placement: the user's input stream as it was
captured, each assistant utterance from its first delta, cut where it was heard). No audio is
kept: a chunk is its seq and length, read again from the log when it is played or drawn.

Everything here is plain data built from steps: the tests drive it from frames in memory.
"""

from __future__ import annotations

import array
from collections.abc import Iterable
from itertools import compress, repeat
from operator import attrgetter, eq, is_, is_not
from typing import Any, NamedTuple

import msgspec
import numpy as np

from recorder.audio import PCM16_24K, AudioFormat, pcm16_samples
from recorder.conversation import ConversationFold, InputRun
from recorder.conversation_model import Conversation
from recorder.events import UnknownEvent
from recorder.protocol.audio_fields import INPUT_AUDIO
from recorder.stream import Step
from recorder.timeline import plan_timeline, turns
from recorder.wire import Direction, Opcode

USER, ASSISTANT = "user", "assistant"
PEAK_BUCKET_MS = 10  # the finest waveform bucket (level 0 of recorder.view.sound's peaks): a
# hundredth of a second, so a bucket is sample_rate // 100 samples

# The tick kinds of a Realtime session's events lane, in the order the legend shows them.
REALTIME_KINDS = ("session", "input", "response", "item", "error", "other", "unknown")
# Every kind a tick can have (its number in tick_kind, kept in view_index): Realtime's, then
# those only Live sessions have (recorder.view.live_index.LIVE_KINDS)
KINDS = (*REALTIME_KINDS, "output", "delegation", "context")


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


class Segment(msgspec.Struct, frozen=True, gc=False):
    """One audio chunk placed on the timeline: the frame at `seq` holds it; `offset` bytes of it
    are skipped and `length` bytes played from `start_ms` (the heard part only, assistant)."""

    seq: int
    start_ms: float
    offset: int
    length: int
    format: AudioFormat
    peak_at: int = 0  # where the chunk's own min/max buckets start in SessionIndex.chunk_mins

    @property
    def duration_ms(self) -> float:
        return self.format.duration_ms(self.length)

    @property
    def end_ms(self) -> float:
        return self.start_ms + self.duration_ms


class Tick(NamedTuple):
    t_ms: float
    seq: int
    direction: str
    type: str | None
    kind: str
    size: int  # the frame's bytes on the wire (an audio event's audio as base64)


class _Columns:
    """Growing columns of numbers (array.array: 8 bytes a float, not a Python object)."""

    def __init__(self, **codes: str) -> None:
        self.columns: dict[str, array.array[Any]] = {
            name: array.array(code) for name, code in codes.items()}

    def numpy(self) -> dict[str, np.ndarray]:
        return {name: np.frombuffer(column, dtype=column.typecode) if len(column)
                else np.zeros(0, dtype=column.typecode)
                for name, column in self.columns.items()}


class SideAudio:
    """The chunks of one side as columns, in seq order; Segments made when asked for."""

    def __init__(self, columns: dict[str, np.ndarray], formats: list[AudioFormat]) -> None:
        self.seq = columns["seq"]
        self.start_ms = columns["start_ms"]
        self.length = columns["length"]
        self.format_id = columns["format"]
        self.peak_at = columns["peak_at"]
        self.formats = formats
        per_ms = np.array([f.sample_rate * f.sample_width / 1000 for f in formats] or [1.0])
        self.duration_ms = self.length / per_ms[self.format_id] if len(self.seq) else \
            np.zeros(0)
        self.end_ms = self.start_ms + self.duration_ms
        self._order = np.argsort(self.start_ms, kind="stable")
        self._starts = self.start_ms[self._order]
        self.longest_ms = float(self.duration_ms.max()) if len(self.seq) else 0.0
        self.last_ms = float(self.end_ms.max()) if len(self.seq) else 0.0

    def __len__(self) -> int:
        return len(self.seq)

    def segment(self, i: int) -> Segment:
        return Segment(int(self.seq[i]), float(self.start_ms[i]), 0, int(self.length[i]),
                       self.formats[int(self.format_id[i])], int(self.peak_at[i]))

    def segments(self) -> list[Segment]:
        """Every chunk, by start (for tests and small sessions; the server asks between())."""
        return [self.segment(int(i)) for i in self._order]

    def between(self, from_ms: float, to_ms: float) -> list[Segment]:
        """The chunks that sound somewhere in [from_ms, to_ms), by start."""
        lo = int(np.searchsorted(self._starts, from_ms - self.longest_ms - 1))
        hi = int(np.searchsorted(self._starts, to_ms))
        found = self._order[lo:hi]
        found = found[self.end_ms[found] > from_ms]
        return [self.segment(int(i)) for i in found]

    def find(self, seq: int) -> Segment | None:
        i = int(np.searchsorted(self.seq, seq))
        return self.segment(i) if i < len(self.seq) and self.seq[i] == seq else None


_DIRECTIONS = ("client", "server")


def _by_time(t_ms: np.ndarray, seq: np.ndarray) -> np.ndarray | slice:
    """The order of the ticks by time, then seq: as they are when they are so already (a
    session's frames almost always: their times grow with their seqs), else a sort."""
    step = np.diff(t_ms)
    if not (step < 0).any() and not (np.diff(seq)[step == 0] <= 0).any():
        return slice(None)
    return np.lexsort((seq, t_ms))


class SessionIndex:
    """A session's ticks and audio chunks (as columns), its lanes, and its chunks' peaks."""

    def __init__(self, conversation: Conversation | None, ticks: dict[str, np.ndarray],
                 types: list[str | None], audio: dict[str, SideAudio], lanes: dict[str, Any],
                 warnings: list[str], chunk_mins: np.ndarray, chunk_maxs: np.ndarray) -> None:
        self.conversation = conversation  # None: loaded from the store (recorder.view.stored)
        order = _by_time(ticks["t_ms"], ticks["seq"])
        self.tick_t = ticks["t_ms"][order]
        self.tick_seq = ticks["seq"][order]
        self.tick_direction = ticks["direction"][order]
        self.tick_type = ticks["type"][order]
        self.tick_kind = ticks["kind"][order]
        self.tick_size = ticks["size"][order]
        self.types = types
        self.audio = audio
        self.lanes = lanes
        self.warnings = warnings
        # min and max of every audio chunk per PEAK_BUCKET_MS of its own, chunk after chunk
        self.chunk_mins = chunk_mins
        self.chunk_maxs = chunk_maxs
        last_tick = float(self.tick_t[-1]) if len(self.tick_t) else 0.0
        self.end_ms = max([last_tick, *(side.last_ms for side in audio.values())])
        self.has_audio = any(len(side) for side in audio.values())
        rates = [side.formats[int(side.format_id[0])].sample_rate
                 for side in audio.values() if len(side)]
        self._rate = max(rates, default=24000)

    @property
    def frames(self) -> int:
        return len(self.tick_seq)

    def drop_chunk_peaks(self) -> None:
        """Forget the chunks' own peaks (once recorder.view.sound.side_peaks placed them)."""
        self.chunk_mins = self.chunk_maxs = np.zeros(0, np.int16)

    @property
    def segments(self) -> dict[str, list[Segment]]:
        """Every chunk of each side as Segments (materialized: for tests and small sessions)."""
        return {side: audio.segments() for side, audio in self.audio.items()}

    def count(self, kind: str) -> int:
        return int((self.tick_kind == KINDS.index(kind)).sum())

    def kinds_of_seq(self) -> list[str]:
        """The kind of every frame, in seq order."""
        return [KINDS[k] for k in self.tick_kind[np.argsort(self.tick_seq)]]

    def events(self, from_ms: float, to_ms: float, kinds: set[str] | None = None,
               limit: int = 2000, bucket_ms: float = 0.0) -> tuple[list[Tick], bool]:
        """The ticks from_ms <= t < to_ms (of `kinds`, all when None), at most `limit`; True
        when more were left off (page on from the last one's time). bucket_ms > 0 keeps the
        first tick of each kind and direction per bucket_ms (a pixel of a zoomed-out page: an
        hour at full width is a few thousand ticks, not 200,000)."""
        lo = int(np.searchsorted(self.tick_t, from_ms, side="left"))
        hi = int(np.searchsorted(self.tick_t, to_ms, side="left"))
        chosen = np.arange(lo, hi)
        if kinds is not None:
            wanted = [KINDS.index(k) for k in kinds if k in KINDS]
            chosen = chosen[np.isin(self.tick_kind[lo:hi], wanted)]
        if bucket_ms > 0 and len(chosen):
            keys = ((self.tick_t[chosen] // bucket_ms).astype(np.int64) * 16
                    + self.tick_kind[chosen].astype(np.int64) * 2
                    + self.tick_direction[chosen])
            _, first = np.unique(keys, return_index=True)
            chosen = chosen[np.sort(first)]
        more = len(chosen) > limit
        out = [Tick(float(self.tick_t[i]), int(self.tick_seq[i]),
                    _DIRECTIONS[self.tick_direction[i]], self.types[self.tick_type[i]],
                    KINDS[self.tick_kind[i]], int(self.tick_size[i])) for i in chosen[:limit]]
        return out, more

    def sample_rate(self) -> int:
        """The rate the viewer's WAVs use: the higher of the session's input and output rates
        (as conversation.wav does)."""
        return self._rate

    def segments_between(self, side: str, from_ms: float, to_ms: float) -> list[Segment]:
        """The side's segments that sound somewhere in [from_ms, to_ms)."""
        audio = self.audio.get(side)
        return audio.between(from_ms, to_ms) if audio is not None else []

    def segment_of(self, seq: int) -> Segment | None:
        """The chunk the frame at seq holds (either side), if it is played."""
        for audio in self.audio.values():
            found = audio.find(seq)
            if found is not None:
                return found
        return None


def _bucket_count(length: int, fmt: AudioFormat) -> int:
    """How many PEAK_BUCKET_MS buckets a chunk of `length` wire bytes of fmt covers (the input
    fast path of _Builder.apply says the same inline)."""
    return -(-(length // fmt.sample_width) // (fmt.sample_rate // 100))


def chunk_peaks(chunks: list[tuple[bytes, AudioFormat]]) -> tuple[np.ndarray, np.ndarray]:
    """min and max per PEAK_BUCKET_MS of each chunk, chunk after chunk (_bucket_count each):
    a few numpy calls for a whole batch of chunks, however many."""
    return peaks_of([audio for audio, _ in chunks], [fmt for _, fmt in chunks])


def peaks_of(audios: list[bytes], formats: list[AudioFormat]) -> tuple[np.ndarray, np.ndarray]:
    """chunk_peaks for the chunks as two lists: their audio, and the format of each."""
    count = len(audios)
    first = formats[0] if formats else None
    # one format object throughout (list.count sees identity first: no comparison each)
    if first is not None and not first.is_g711 and formats.count(first) == count:
        lengths = np.fromiter(map(len, audios), np.int64, count)
        odd = lengths & 1
        whole = b"".join(audios) if not odd.any() else b"".join(
            audio[:len(audio) & ~1] for audio in audios)
        joined = pcm16_samples(whole)
        sizes = lengths >> 1
        per_bucket: int | np.ndarray = first.sample_rate // 100
    else:
        samples = [pcm16_samples(fmt.to_pcm16(audio)) for audio, fmt in zip(audios, formats,
                                                                             strict=True)]
        joined = np.concatenate(samples) if samples else np.zeros(0, np.int16)
        sizes = np.array([a.size for a in samples], dtype=np.int64)
        per_bucket = np.array([fmt.sample_rate // 100 for fmt in formats], dtype=np.int64)
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


def _tick_table() -> _Columns:
    """The ticks' columns (both protocols' builders)."""
    return _Columns(t_ms="d", seq="q", direction="b", type="h", kind="b", size="q")


def tick_columns(ticks: _Columns, steps: list[Step]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add a batch's t_ms, seq, direction and size to the ticks (type and kind are the
    builder's), column by column, each a C loop (map, attrgetter) rather than a Python one.
    Returns the batch's (seqs, whether each step has audio, its audio's length in bytes)."""
    count = len(steps)
    columns = ticks.columns
    seqs = np.fromiter(map(_SEQ, steps), np.int64, count)
    audios = list(map(_AUDIO, steps))
    has_audio = np.fromiter(map(is_not, audios, repeat(None)), np.bool_, count)
    audio_sizes = np.zeros(count, np.int64)
    audio_sizes[has_audio] = np.fromiter(map(len, compress(audios, has_audio.tolist())),
                                         np.int64, int(has_audio.sum()))
    # the frame's size on the wire: its audio went as base64 (4 characters per 3 bytes)
    sizes = np.fromiter(map(len, map(_DATA, steps)), np.int64, count) + -(-audio_sizes // 3) * 4
    columns["t_ms"].frombytes((np.fromiter(map(_T_NS, steps), np.int64, count) / 1e6).tobytes())
    columns["seq"].frombytes(seqs.tobytes())
    columns["direction"].frombytes(np.fromiter(
        map(is_, map(_DIRECTION, steps), repeat(Direction.SERVER)), np.int8, count).tobytes())
    columns["size"].frombytes(sizes.tobytes())
    return seqs, has_audio, audio_sizes


def _side_columns() -> _Columns:
    return _Columns(seq="q", start_ms="d", length="q", format="b", peak_at="q")


class _Builder:
    """The index's one pass, a batch of steps at a time: the fold's apply_batch folds the input
    stream's chunks in runs (decoding nothing) and hands each run over (on_input), every other
    step goes through _apply_other; the ticks of a whole batch are made column by column."""

    def __init__(self) -> None:
        self.fold = ConversationFold()
        self.ticks = _tick_table()
        self.types: dict[str | None, int] = {}
        self.kinds: dict[tuple[str | None, bool], int] = {}
        self.user = _side_columns()
        self.formats: dict[AudioFormat, int] = {}
        # seq, item, part, bytes, where its peaks start
        self.output: list[tuple[int, str | None, int, int, int]] = []
        self.buckets = 0  # chunk peak buckets so far
        # the chunks whose peaks are not made yet: their audio, and the format of each
        self.pending: list[bytes] = []
        self.pending_formats: list[AudioFormat] = []
        self.mins: list[np.ndarray] = []
        self.maxs: list[np.ndarray] = []
        self._input_type = self._type_id(INPUT_AUDIO)
        self._input_kind = KINDS.index("input")
        self._other: list[tuple[int, int]] = []  # (type, kind) of the batch's other steps
        self._pairs: dict[tuple[str | None, bool], tuple[int, int]] = {}
        self._seen_formats: dict[AudioFormat, AudioFormat] = {}
        self._last_format: AudioFormat | None = None
        self._last_canonical = PCM16_24K
        self._inputs: list[int] = []  # seqs of the batch's input chunks with audio, in order

    def _type_id(self, name: str | None) -> int:
        found = self.types.get(name)
        if found is None:
            found = self.types[name] = len(self.types)
        return found

    def _kind_id(self, name: str | None, unknown: bool) -> int:
        found = self.kinds.get((name, unknown))
        if found is None:
            found = self.kinds[(name, unknown)] = KINDS.index(kind_of(name, unknown))
        return found

    def _format_id(self, fmt: AudioFormat) -> int:
        found = self.formats.get(fmt)
        if found is None:
            found = self.formats[fmt] = len(self.formats)
        return found

    def _canonical(self, fmt: AudioFormat) -> AudioFormat:
        """One object for each format (an item's format is often an equal copy of the input's):
        the peaks see one format by identity, with no comparison per chunk."""
        if fmt is not self._last_format:
            self._last_format = fmt
            self._last_canonical = self._seen_formats.setdefault(fmt, fmt)
        return self._last_canonical

    def _chunk(self, audio: bytes, fmt: AudioFormat) -> int:
        fmt = self._canonical(fmt)
        at = self.buckets
        self.buckets += _bucket_count(len(audio), fmt)
        self.pending.append(audio)
        self.pending_formats.append(fmt)
        return at

    def flush_peaks(self) -> None:
        if self.pending:
            mins, maxs = peaks_of(self.pending, self.pending_formats)
            self.mins.append(mins)
            self.maxs.append(maxs)
            self.pending, self.pending_formats = [], []

    def _on_input(self, run: InputRun) -> None:
        """A run of input chunks with audio, as the fold placed them: the user's columns."""
        fmt = self._canonical(self.fold.conversation.input_format)
        count = len(run.sizes)
        sizes = np.array(run.sizes, dtype=np.int64)
        buckets = -(-(sizes // fmt.sample_width) // (fmt.sample_rate // 100))  # _bucket_count
        ends = np.cumsum(buckets) + self.buckets
        self.buckets = int(ends[-1])
        self.pending.extend(run.audio)
        self.pending_formats.extend([fmt] * count)
        user = self.user.columns
        user["start_ms"].extend(run.starts)
        user["length"].frombytes(sizes.tobytes())
        user["format"].frombytes(bytes([self._format_id(fmt)]) * count)
        user["peak_at"].frombytes((ends - buckets).tobytes())

    def _apply_other(self, step: Step) -> None:
        fold = self.fold
        audio = step.audio
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
        key = (step.type, unknown)
        pair = self._pairs.get(key)
        if pair is None:  # (type, kind) of each type met, known or not: one lookup a step
            pair = self._pairs[key] = (self._type_id(step.type), self._kind_id(*key))
        self._other.append(pair)

    def feed(self, steps: list[Step]) -> None:
        """Fold a batch of steps (seq order) and add their ticks."""
        if not steps:
            return
        self._other = []
        self.fold.apply_batch(steps, self._on_input, self._apply_other)
        count = len(steps)
        ticks = self.ticks.columns
        seqs, has_audio, audio_sizes = tick_columns(self.ticks, steps)
        is_input = has_audio & np.fromiter(map(eq, map(_TYPE, steps), repeat(INPUT_AUDIO)),
                                           np.bool_, count)
        types = np.full(count, self._input_type, np.int16)
        kinds = np.full(count, self._input_kind, np.int8)
        if self._other:
            other = np.array(self._other, dtype=np.int64).reshape(-1, 2)
            types[~is_input] = other[:, 0]
            kinds[~is_input] = other[:, 1]
        ticks["type"].frombytes(types.tobytes())
        ticks["kind"].frombytes(kinds.tobytes())
        with_audio = seqs[is_input & (audio_sizes > 0)]
        self.user.columns["seq"].frombytes(with_audio.tobytes())
        self.flush_peaks()

    def finish(self) -> SessionIndex:
        self.flush_peaks()
        conversation = self.fold.conversation
        plan = plan_timeline(conversation)
        assistant = _side_columns()
        columns = assistant.columns
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
            columns["seq"].append(seq)
            columns["start_ms"].append(part.start_ms + part.audio_format.duration_ms(before))
            columns["length"].append(heard)
            columns["format"].append(self._format_id(part.audio_format))
            columns["peak_at"].append(peak_at)
        formats = list(self.formats)
        audio = {USER: SideAudio(self.user.numpy(), formats),
                 ASSISTANT: SideAudio(assistant.numpy(), formats)}
        empty = np.zeros(0, np.int16)
        types: list[str | None] = [None] * len(self.types)
        for name, number in self.types.items():
            types[number] = name
        return SessionIndex(conversation, self.ticks.numpy(), types, audio, lanes(conversation),
                            list(self.fold.warnings),
                            np.concatenate(self.mins) if self.mins else empty,
                            np.concatenate(self.maxs) if self.maxs else empty)


_BATCH = 5000  # steps folded at once by build_index
_SEQ, _T_NS, _DIRECTION = attrgetter("seq"), attrgetter("t_ns"), attrgetter("direction")
_TYPE, _DATA, _AUDIO = attrgetter("type"), attrgetter("_data"), attrgetter("audio")


def build_index(steps: Iterable[Step]) -> SessionIndex:
    """The index of a session from its steps (seq order)."""
    builder = _Builder()
    batch: list[Step] = []
    for step in steps:
        batch.append(step)
        if len(batch) >= _BATCH:
            builder.feed(batch)
            batch = []
    builder.feed(batch)
    return builder.finish()


class IndexBuilder:
    """build_index for steps that come in batches (the log's): feed(batch), then finish()."""

    def __init__(self) -> None:
        self._builder = _Builder()

    def feed(self, steps: Iterable[Step]) -> None:
        self._builder.feed(list(steps))

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
