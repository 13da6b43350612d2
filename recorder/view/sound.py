"""The viewer's audio, made from the log on request: WAV bytes for any byte range, and peaks.

A WAV of a session (user, assistant, or stereo: user left, assistant right) is the session's
timeline at one rate (SessionIndex.sample_rate): silence where nobody spoke, each chunk where
recorder.timeline places it. Its bytes are computed for the range asked (HTTP range requests):
only the chunks that sound in that range are read from the log, by seq. Nothing is written to
disk.

Peaks are min/max of the samples per bucket: BASE_BUCKET_MS at level 0, twice as wide at each
next level, placed from each chunk's own peaks (made in the index's one pass over the log) and
reduced from there: drawing a waveform reads no audio.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable

import numpy as np

from recorder.audio import _wav_header, pcm16_samples, resample
from recorder.view.index import (
    ASSISTANT,
    PEAK_BUCKET_MS,
    USER,
    Segment,
    SessionIndex,
)

HEADER_BYTES = 44
BASE_BUCKET_MS = PEAK_BUCKET_MS
MAX_LEVEL = 16
SIDES = (USER, ASSISTANT, "stereo")

# seqs (ascending) -> the audio bytes of those frames
ReadAudio = Callable[[list[int]], Awaitable[dict[int, bytes]]]


def channels_of(side: str) -> int:
    return 2 if side == "stereo" else 1


def total_frames(index: SessionIndex) -> int:
    return math.ceil(index.end_ms * index.sample_rate() / 1000)


def wav_size(index: SessionIndex, side: str) -> int:
    return HEADER_BYTES + total_frames(index) * 2 * channels_of(side)


def wav_header(index: SessionIndex, side: str) -> bytes:
    return _wav_header(index.sample_rate(), channels_of(side), total_frames(index))


def segment_samples(segment: Segment, audio: bytes, rate: int) -> np.ndarray:
    """A segment's part of its chunk as int16 samples at `rate`."""
    fmt = segment.format
    data = audio[segment.offset:segment.offset + segment.length]
    return resample(pcm16_samples(fmt.to_pcm16(data)), fmt.sample_rate, rate)


async def render(index: SessionIndex, side: str, first: int, count: int,
                 read_audio: ReadAudio) -> np.ndarray:
    """Frames first..first+count of the side's WAV: int16, shape (count, channels)."""
    rate = index.sample_rate()
    sides = (USER, ASSISTANT) if side == "stereo" else (side,)
    out = np.zeros((count, len(sides)), dtype=np.int16)
    from_ms, to_ms = first * 1000 / rate, (first + count) * 1000 / rate
    wanted = {name: index.segments_between(name, from_ms - 1, to_ms + 1) for name in sides}
    seqs = sorted({s.seq for segs in wanted.values() for s in segs})
    if not seqs:
        return out
    audio = await read_audio(seqs)
    for channel, name in enumerate(sides):
        for segment in wanted[name]:
            chunk = audio.get(segment.seq)
            if chunk is None:
                continue
            samples = segment_samples(segment, chunk, rate)
            at = round(segment.start_ms * rate / 1000) - first
            lo, hi = max(at, 0), min(at + samples.size, count)
            if hi > lo:
                out[lo:hi, channel] = samples[lo - at:hi - at]
    return out


async def wav_bytes(index: SessionIndex, side: str, start: int, end: int,
                    read_audio: ReadAudio, block_frames: int = 1 << 17
                    ) -> Iterable[bytes] | list[bytes]:
    """Bytes start..end (exclusive) of the side's WAV, in pieces (a list: one block each)."""
    pieces: list[bytes] = []
    header = wav_header(index, side)
    if start < HEADER_BYTES:
        pieces.append(header[start:min(end, HEADER_BYTES)])
    if end <= HEADER_BYTES:
        return pieces
    width = 2 * channels_of(side)
    data_start, data_end = max(start - HEADER_BYTES, 0), end - HEADER_BYTES
    first, last = data_start // width, -(-data_end // width)
    frame = first
    while frame < last:
        count = min(block_frames, last - frame)
        block = (await render(index, side, frame, count, read_audio)).tobytes()
        lo = data_start - frame * width if frame == first else 0
        hi = min(len(block), data_end - frame * width)
        pieces.append(block[lo:hi])
        frame += count
    return pieces


class Peaks:
    """min/max per bucket of one side, at level 0 (BASE_BUCKET_MS buckets)."""

    def __init__(self, buckets: int) -> None:
        self.mins = np.zeros(buckets, dtype=np.int16)
        self.maxs = np.zeros(buckets, dtype=np.int16)

    @classmethod
    def of(cls, mins: np.ndarray, maxs: np.ndarray) -> Peaks:
        """Peaks from their level-0 buckets (as kept in view_peaks)."""
        peaks = cls(0)
        peaks.mins, peaks.maxs = mins, maxs
        return peaks

    def level(self, level: int, first: int = 0, count: int | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """Buckets first..first+count of `level` (each 2**level base buckets wide)."""
        width = 1 << level
        total = -(-self.mins.size // width)
        count = total - first if count is None else count
        lo, hi = first * width, min((first + count) * width, self.mins.size)
        if hi <= lo:
            empty = np.zeros(0, dtype=np.int16)
            return empty, empty
        mins, maxs = self.mins[lo:hi], self.maxs[lo:hi]
        pad = -(mins.size) % width
        if pad:
            mins = np.concatenate((mins, np.zeros(pad, dtype=np.int16)))
            maxs = np.concatenate((maxs, np.zeros(pad, dtype=np.int16)))
        return mins.reshape(-1, width).min(axis=1), maxs.reshape(-1, width).max(axis=1)


def peak_buckets(index: SessionIndex) -> int:
    return max(1, math.ceil(index.end_ms / BASE_BUCKET_MS))


def side_peaks(index: SessionIndex, side: str) -> Peaks:
    """The side's peaks on the timeline, from the chunks' own (SessionIndex.chunk_mins/maxs,
    made in the index's one pass): each chunk's buckets placed from the bucket its start falls
    in (to within a bucket), the assistant's cut where it was heard. No audio is read."""
    peaks = Peaks(peak_buckets(index))
    audio = index.audio.get(side)
    if audio is None or not len(audio) or index.chunk_mins.size == 0:
        return peaks
    rates = np.array([f.sample_rate for f in audio.formats], dtype=np.int64)
    widths = np.array([f.sample_width for f in audio.formats], dtype=np.int64)
    fmt = audio.format_id
    counts = -(-(audio.length // widths[fmt]) // (rates[fmt] // 100))  # _bucket_count
    total = int(counts.sum())
    if total == 0:
        return peaks
    first = np.concatenate(([0], np.cumsum(counts)[:-1]))
    local = np.arange(total) - np.repeat(first, counts)
    starts = (audio.start_ms // BASE_BUCKET_MS).astype(np.int64)
    where = np.minimum(np.repeat(starts, counts) + local, peaks.mins.size - 1)
    source = np.repeat(audio.peak_at, counts) + local
    np.minimum.at(peaks.mins, where, index.chunk_mins[source])
    np.maximum.at(peaks.maxs, where, index.chunk_maxs[source])
    return peaks
