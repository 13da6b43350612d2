"""The viewer's index of a Live session: what recorder.view.index is for Realtime, built by the
Live fold (recorder.live.fold) and the Live export's track placement (recorder.live.export).

A Live session has no conversation items: its lanes are the fold's speaker segments (the
transcript lanes), its delegations and the backend's tool calls (spans), its ticks the frames
coloured by Live event family. Each audio chunk plays where the export's continuous tracks put
it (a PlacingTrack places chunks as the export's Track does, writing nothing), shifted by the
first frame's time so the tracks and the ticks share one axis. No truncation: Live says nothing
about what the listener heard (the lanes' notes say so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import compress, repeat
from operator import attrgetter, is_
from pathlib import Path
from typing import Any

import numpy as np

from recorder.audio import AudioFormat
from recorder.events import UnknownEvent
from recorder.live.export import LiveExport, Track, entries
from recorder.live.fold import LiveFold
from recorder.protocol import names
from recorder.stream import Step
from recorder.view.index import (
    ASSISTANT,
    KINDS,
    USER,
    IndexBuilder,
    SessionIndex,
    SideAudio,
    _side_columns,
    _tick_table,
    peaks_of,
    tick_columns,
)
from recorder.wire import Opcode

# The tick kinds of a Live session's events lane, in the order the legend shows them.
LIVE_KINDS = ("session", "input", "output", "delegation", "response", "context", "error",
              "other", "unknown")
NO_HEARD_NOTE = ("no truncation shading: a Live session says nothing about what the listener "
                 "heard, so the assistant's audio is shown as generated")
_CONTEXT = ("session.instructions.", "session.thinking.", "session.commentary.", "decision.")


def live_kind_of(event_type: str | None, unknown: bool = False) -> str:
    """The lane colour of a Live event type, by family: session, input (the client's audio and
    its transcript), output (the assistant's), delegation, response (the Responses backend's
    events and the client's answers), context (instructions, thinking, commentary,
    decisions), error, other; unknown for a frame that does not decode."""
    if unknown or not event_type:
        return "unknown"
    if event_type == "error" or event_type.endswith((".failed", ".error")):
        return "error"
    if event_type.startswith(("session.input_audio.", "session.input_transcript.")):
        return "input"
    if event_type.startswith(("session.output_audio.", "session.output_transcript.")):
        return "output"
    if event_type.startswith("session.delegation."):
        return "delegation"
    if event_type.startswith("response."):
        return "response"
    if event_type.startswith(_CONTEXT):
        return "context"
    if event_type.startswith("session."):
        return "session"
    return "other"


class PlacingTrack(Track):
    """The export's Track placing chunks on its timeline with no file: frames are counted,
    what would be written is dropped (Track.flush with no writer)."""

    def __init__(self, path: Path, on_write: Callable[[int, bytes], None] | None = None) -> None:
        super().__init__(path, on_write)
        self._pending = _Nowhere()  # type: ignore[assignment]  # PcmBlocks' add and write

    def _open(self, rate: int) -> None:
        self.rate = rate


class _Nowhere:
    """Where a PlacingTrack's audio goes: PcmBlocks' add and write, keeping nothing."""

    __slots__ = ()

    def add(self, pcm: bytes, writer: object) -> None:
        pass

    def write(self, writer: object) -> None:
        pass


class _Placer(LiveExport):
    """LiveExport's pass with PlacingTracks, keeping where each chunk went: (seq, the track's
    frames once it is added, the track's rate, wire bytes, format, the audio) per side (its
    start on the track is its end less its duration: LiveIndexBuilder works it out by
    batch)."""

    track = PlacingTrack

    def __init__(self) -> None:
        super().__init__(Path())
        self.placed: dict[str, list[tuple[int, int, int, int, AudioFormat, bytes]]] = {
            USER: [], ASSISTANT: []}
        self._seq = 0

    def _audio(self, step: Step) -> None:
        self._seq = step.seq
        super()._audio(step)

    def _add(self, track: Track, fmt: AudioFormat, at_ms: float, audio: bytes) -> None:
        before = track.frames
        super()._add(track, fmt, at_ms, audio)
        frames = track.frames
        if frames == before:  # skipped (not in the session's format) or empty
            return
        self.placed[USER if track is self.user else ASSISTANT].append(
            (self._seq, frames, track.rate or 1, len(audio), fmt, audio))


class LiveIndexBuilder:
    """IndexBuilder for a Live session's steps: feed(batch) in seq order, then finish()."""

    def __init__(self) -> None:
        self.placer = _Placer()
        self.ticks = _tick_table()
        self.types: dict[str | None, int] = {}
        self._kinds: list[int] = []  # the known kind of each type, by its number
        self.first_ms: float | None = None
        self.sides = {USER: _side_columns(), ASSISTANT: _side_columns()}
        self.formats: dict[AudioFormat, int] = {}
        self.buckets = 0
        self.mins: list[np.ndarray] = []
        self.maxs: list[np.ndarray] = []

    @property
    def fold(self) -> LiveFold:
        return self.placer.fold

    def feed(self, steps: Iterable[Step]) -> None:
        """Fold a batch (the fold's apply_batch, the export's tracks placing its audio) and
        add its ticks column by column, as the Realtime builder does."""
        batch = list(steps)
        if not batch:
            return
        if self.first_ms is None:
            self.first_ms = batch[0].t_ns / 1e6
        self.placer.apply_batch(batch)
        count = len(batch)
        _seqs, has_audio, _sizes = tick_columns(self.ticks, batch)
        step_types = list(map(_TYPE, batch))
        types = self.types
        for name in dict.fromkeys(step_types):  # new types numbered as first met
            if name not in types:
                types[name] = len(types)
                self._kinds.append(KINDS.index(live_kind_of(name)))
        type_ids = np.fromiter(map(types.__getitem__, step_types), np.int16, count)
        kinds = np.array(self._kinds, np.int8)[type_ids]
        # unknown: a frame that is not text, or text with no audio that does not decode
        unknown = ~np.fromiter(map(is_, map(_OPCODE, batch), repeat(Opcode.TEXT)), np.bool_,
                               count)
        check = ~(unknown | has_audio)
        unknown[check] = np.fromiter(map(_undecoded, compress(batch, check.tolist())),
                                     np.bool_, int(check.sum()))
        kinds[unknown] = KINDS.index("unknown")
        columns = self.ticks.columns
        columns["type"].frombytes(type_ids.tobytes())
        columns["kind"].frombytes(kinds.tobytes())
        self._place()

    def _place(self) -> None:
        """The chunks the tracks placed in this batch: the sides' columns and their peaks."""
        audios: list[bytes] = []
        formats: list[AudioFormat] = []
        shift = self.first_ms or 0.0
        known = self.formats
        for side, placed in self.placer.placed.items():
            if not placed:
                continue
            seqs, ends, rates, lengths, fmts, chunks = zip(*placed, strict=True)
            placed.clear()
            count = len(seqs)
            if len(set(map(id, fmts))) == 1:  # one format object (as a rule): hashed once
                ids = np.full(count, known.setdefault(fmts[0], len(known)), np.int8)
            else:
                for fmt in dict.fromkeys(fmts):  # numbered as first met
                    known.setdefault(fmt, len(known))
                ids = np.fromiter(map(known.__getitem__, fmts), np.int8, count)
            listed = list(known)
            width = np.array([fmt.sample_width for fmt in listed], np.int64)[ids]
            rate = np.array([fmt.sample_rate for fmt in listed], np.int64)[ids]
            size = np.array(lengths, np.int64)
            buckets = -(-(size // width) // (rate // 100))  # _bucket_count
            last = np.cumsum(buckets) + self.buckets
            self.buckets = int(last[-1])
            # where the chunk starts on its track: its end less its duration (duration_ms)
            starts = np.array(ends, np.int64) * 1000 / np.array(rates, np.int64) - \
                size * 1000 / (rate * width)
            columns = self.sides[side].columns
            columns["seq"].frombytes(np.array(seqs, np.int64).tobytes())
            columns["start_ms"].frombytes((starts + shift).tobytes())
            columns["length"].frombytes(size.tobytes())
            columns["format"].frombytes(ids.tobytes())
            columns["peak_at"].frombytes((last - buckets).tobytes())
            audios.extend(chunks)
            formats.extend(fmts)
        if audios:
            mins, maxs = peaks_of(audios, formats)
            self.mins.append(mins)
            self.maxs.append(maxs)

    def finish(self) -> SessionIndex:
        fold = self.fold
        fold.finish()
        for track in (self.placer.user, self.placer.assistant):
            track.flush()
        formats = list(self.formats)
        ticks = self.ticks.numpy()
        audio = {side: SideAudio(_by_seq(columns.numpy()), formats)
                 for side, columns in self.sides.items()}
        types: list[str | None] = [None] * len(self.types)
        for name, number in self.types.items():
            types[number] = name
        times = dict(zip(ticks["seq"].tolist(), ticks["t_ms"].tolist(), strict=True))
        empty = np.zeros(0, np.int16)
        return SessionIndex(None, ticks, types, audio,
                            live_lanes(fold, times, self.first_ms or 0.0), list(fold.notes),
                            np.concatenate(self.mins) if self.mins else empty,
                            np.concatenate(self.maxs) if self.maxs else empty)


_TYPE, _OPCODE = attrgetter("type"), attrgetter("opcode")


def _undecoded(step: Step) -> bool:
    """Whether a text step with no audio is shown as unknown: it does not decode."""
    try:
        return isinstance(step.event, UnknownEvent)
    except Exception:  # shown as unknown, never hiding the rest
        return True


def _by_seq(columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A side's columns in seq order (SideAudio.find searches them by seq)."""
    order = np.argsort(columns["seq"], kind="stable")
    return {name: column[order] for name, column in columns.items()}


def live_lanes(fold: LiveFold, times: dict[int, float], first_ms: float) -> dict[str, Any]:
    """The session page's lanes of a Live session, times in ms on the timeline (the fold's
    segment times are from the first frame: first_ms later on the page's axis). times: the
    time of each frame, by seq (where a tool call and its output sit)."""
    user: list[dict[str, Any]] = []
    assistant: list[dict[str, Any]] = []
    for entry in entries(fold):
        start, end = first_ms + entry.start_ms, first_ms + (entry.end_ms or entry.start_ms)
        row: dict[str, Any] = {"item_id": entry.item_id, "start_ms": start, "end_ms": end,
                               "text": entry.text, "note": None, "section": None}
        if entry.speaker == "user":
            user.append(row)
        else:
            row.update(response_id=None, status=None, status_reason=None, heard_end_ms=end,
                       generated_end_ms=end, truncated=False, audio_ms=None, heard_ms=None)
            assistant.append(row)
    tools: list[dict[str, Any]] = []
    for delegation in fold.delegations:
        start = times.get(delegation.seq, first_ms + delegation.offset_ms)
        calls: list[dict[str, Any]] = []
        ends: list[float] = []
        for call in delegation.tool_calls:
            at = times.get(call.seq, start)
            done = times.get(call.output_seq) if call.output_seq is not None else None
            calls.append({"kind": "tool_call", "item_id": call.item_id, "call_id": call.call_id,
                          "name": call.name, "arguments": call.arguments, "output": call.output,
                          "start_ms": at, "end_ms": done,
                          "tool_ms": done - at if done is not None else None})
            ends.append(done if done is not None else at)
        last = max(ends) if ends else None
        tools.append({"kind": "delegation", "item_id": delegation.id, "call_id": None,
                      "name": f"delegation to {delegation.target or 'the backend'}",
                      "arguments": None, "output": delegation.answer or None,
                      "start_ms": start, "end_ms": last,
                      "tool_ms": last - start if last is not None else None})
        tools.extend(calls)
    notes = {"assistant": NO_HEARD_NOTE}
    if not user:
        notes["user"] = "no user speech segments: the session has no input transcript"
    if not assistant:
        notes["assistant"] = ("no assistant speech segments: the session has no output "
                              "transcript; " + NO_HEARD_NOTE)
    if not tools:
        notes["tools"] = "no delegations or tool calls in this session"
    return {"user": user, "assistant": assistant, "tools": tools,
            "errors": [error.to_dict() for error in fold.errors],
            "interruptions": len(fold.interruptions), "notes": notes}


def index_builder(protocol: str | None) -> IndexBuilder | LiveIndexBuilder:
    """The builder of a session's index for its protocol (a session row's): Live's or
    Realtime's, both feed(batch) then finish()."""
    return LiveIndexBuilder() if protocol == names.LIVE_PROTOCOL else IndexBuilder()
