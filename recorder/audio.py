"""Audio formats of the Realtime API, G.711 codecs and WAV writing.

The session says what the audio is (beta: 'pcm16' | 'g711_ulaw' | 'g711_alaw'; GA: {"type":
"audio/pcm", "rate": 24000} | {"type": "audio/pcmu"} | {"type": "audio/pcma"}); AudioFormat is
that setting as a value, and everything that turns bytes into time or into PCM goes through it,
so nothing assumes 24 kHz.

The G.711 codecs follow ITU-T G.711 as implemented in the public-domain Sun reference (g711.c,
the same algorithm as the stdlib's deprecated audioop): decode tables of 256 entries and encode
tables over all 65,536 16-bit samples, applied with numpy so a whole chunk is one lookup.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import mmap
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from recorder.errors import RtrecError

PCM16 = "pcm16"
G711_ULAW = "g711_ulaw"
G711_ALAW = "g711_alaw"

# Wire names of both protocol versions -> our (beta-style) name. GA's audio/pcm carries a rate.
_BETA_NAMES = {PCM16: PCM16, G711_ULAW: G711_ULAW, G711_ALAW: G711_ALAW}
_GA_TYPES = {"audio/pcm": PCM16, "audio/pcmu": G711_ULAW, "audio/pcma": G711_ALAW}
_G711_RATE = 8000
_DEFAULT_PCM_RATE = 24000
# The API speaks 24 kHz PCM (GA documents no other rate); any common rate between telephony and
# studio is taken as said, anything else (negative, zero, a million) is not a recording's rate.
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 8000, 48000


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """One audio encoding: 'pcm16' (16-bit little-endian mono) or G.711 mu-law / A-law."""

    name: str
    sample_rate: int

    @property
    def sample_width(self) -> int:
        """Bytes per sample as the audio crosses the wire (2 for pcm16, 1 for G.711)."""
        return 2 if self.name == PCM16 else 1

    @property
    def bytes_per_ms(self) -> int:
        """Wire bytes per millisecond: 48 for pcm16 at 24 kHz, 8 for G.711."""
        return self.sample_rate * self.sample_width // 1000

    @property
    def is_g711(self) -> bool:
        return self.name != PCM16

    def duration_ms(self, byte_count: int) -> float:
        """How long byte_count wire bytes of this format play, in milliseconds."""
        return byte_count * 1000 / (self.sample_rate * self.sample_width)

    def bytes_for_ms(self, ms: float) -> int:
        """Wire bytes that play for ms milliseconds, rounded down to a whole sample."""
        samples = int(ms * self.sample_rate // 1000)
        return max(samples, 0) * self.sample_width

    def to_pcm16(self, data: bytes) -> bytes:
        """Wire bytes of this format as 16-bit little-endian PCM at self.sample_rate."""
        if self.name == G711_ULAW:
            return ulaw_decode(data)
        if self.name == G711_ALAW:
            return alaw_decode(data)
        if len(data) % 2:
            return data[:-1]  # a stray odd byte is half a sample
        return data

    @classmethod
    def from_wire(cls, value: Any) -> AudioFormat:
        """The format named by a session setting, beta or GA.

        Accepts a beta string, a GA dict, or any object with GA attributes `type` (and `rate`),
        such as a decoded msgspec Struct. None means the API default, pcm16 at 24 kHz.
        """
        if value is None:
            return PCM16_24K
        if isinstance(value, AudioFormat):
            return value
        if isinstance(value, str):
            if value in _BETA_NAMES:
                return _by_name(_BETA_NAMES[value], None)
            if value in _GA_TYPES:
                return _by_name(_GA_TYPES[value], None)
            raise RtrecError(_unknown(value))
        if isinstance(value, Mapping):
            type_name, rate = value.get("type"), value.get("rate")
        else:
            type_name, rate = getattr(value, "type", None), getattr(value, "rate", None)
        if isinstance(type_name, str) and type_name in _GA_TYPES:
            if rate is not None and not _sane_rate(rate):
                raise RtrecError(
                    f"unsupported sample rate {rate!r} in audio format {_shown(value)}: expected "
                    f"a whole number of Hz from {MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE}"
                )
            return _by_name(_GA_TYPES[type_name], rate)
        raise RtrecError(_unknown(value))


def _by_name(name: str, rate: int | None) -> AudioFormat:
    if name == PCM16:
        return AudioFormat(PCM16, rate or _DEFAULT_PCM_RATE)
    return AudioFormat(name, _G711_RATE)  # G.711 is 8 kHz by definition


def _sane_rate(rate: object) -> bool:
    # bool is an int to Python, but `"rate": true` is no rate
    return (
        isinstance(rate, int) and not isinstance(rate, bool)
        and MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE
    )


def _shown(value: Any) -> str:
    """The setting as it was on the wire (JSON), not as a Python repr of a decoded Struct."""
    try:
        return msgspec.json.encode(msgspec.to_builtins(value)).decode()
    except (TypeError, ValueError, msgspec.EncodeError):
        return repr(value)


def _unknown(value: Any) -> str:
    return (
        f"unknown audio format {_shown(value)}: expected 'pcm16', 'g711_ulaw', 'g711_alaw' or "
        "{'type': 'audio/pcm' | 'audio/pcmu' | 'audio/pcma'}"
    )


PCM16_24K = AudioFormat(PCM16, 24000)
G711_ULAW_8K = AudioFormat(G711_ULAW, _G711_RATE)
G711_ALAW_8K = AudioFormat(G711_ALAW, _G711_RATE)


# --- G.711 tables (ITU-T G.711, Sun g711.c) -------------------------------------------------

_ULAW_BIAS = 0x84
_ULAW_CLIP = 8159  # in 14-bit magnitude, after dropping the 2 low bits of a 16-bit sample
_ULAW_SEG_END = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEG_END = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])


def _ulaw_decode_table() -> np.ndarray:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _ULAW_BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _ULAW_BIAS - magnitude, magnitude - _ULAW_BIAS).astype("<i2")


def _alaw_decode_table() -> np.ndarray:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(
        segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0)
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype("<i2")


def _all_samples() -> np.ndarray:
    """Every 16-bit sample, indexed by its unsigned bit pattern (so table[u16 view] works)."""
    return np.arange(65536, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _ULAW_CLIP) + (_ULAW_BIAS >> 2)
    segment = np.searchsorted(_ULAW_SEG_END, magnitude)  # first end >= magnitude
    code = (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = _all_samples() >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_ALAW_SEG_END, magnitude)
    shift = np.where(segment < 2, 1, segment)
    code = (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F)
    code = np.where(segment >= 8, 0x7F, code)
    return (code ^ mask).astype(np.uint8)


_ULAW_TO_PCM = _ulaw_decode_table()
_ALAW_TO_PCM = _alaw_decode_table()
_PCM_TO_ULAW = _ulaw_encode_table()
_PCM_TO_ALAW = _alaw_encode_table()


def _pcm_samples(data: bytes) -> np.ndarray:
    """PCM16 little-endian bytes as unsigned sample patterns; a stray odd byte is dropped."""
    usable = len(data) - len(data) % 2
    return np.frombuffer(data, dtype="<u2", count=usable // 2)


def ulaw_decode(data: bytes) -> bytes:
    """G.711 mu-law bytes -> PCM16 little-endian (two bytes per input byte)."""
    return bytes(_ULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)].tobytes())


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law bytes -> PCM16 little-endian (two bytes per input byte)."""
    return bytes(_ALAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)].tobytes())


def ulaw_encode(data: bytes) -> bytes:
    """PCM16 little-endian -> G.711 mu-law (one byte per sample)."""
    return bytes(_PCM_TO_ULAW[_pcm_samples(data)].tobytes())


def alaw_encode(data: bytes) -> bytes:
    """PCM16 little-endian -> G.711 A-law (one byte per sample)."""
    return bytes(_PCM_TO_ALAW[_pcm_samples(data)].tobytes())


# --- Resampling -------------------------------------------------------------------------------


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono int16 samples at from_rate as int16 samples at to_rate.

    A whole upward ratio (8 kHz G.711 -> 24 kHz) repeats each sample: exact, stateless across
    chunks, and adds nothing that was not in the source. Any other ratio interpolates linearly
    (numpy.interp) within the chunk.
    """
    if from_rate == to_rate or samples.size == 0:
        return samples
    if to_rate % from_rate == 0:
        return np.repeat(samples, to_rate // from_rate)
    count = samples.size * to_rate // from_rate
    positions = np.arange(count) * (from_rate / to_rate)
    source = np.arange(samples.size)
    return np.round(np.interp(positions, source, samples)).astype(np.int16)


def pcm16_samples(pcm: bytes) -> np.ndarray:
    """PCM16 little-endian bytes as an int16 array (a stray odd byte is dropped)."""
    return np.frombuffer(pcm, dtype="<i2", count=len(pcm) // 2)


# --- Streaming WAV writing --------------------------------------------------------------------

_HEADER_SIZE = 44
_MAX_DATA_BYTES = 0xFFFFFFFF - _HEADER_SIZE  # RIFF sizes are 32-bit


class WavWriter:
    """A 16-bit PCM WAV file written as it streams, mono or stereo.

    `append` adds samples at the end (mono files). `place` writes one channel of a stereo file
    at a given frame: silence elsewhere comes from the file itself (a seek past the end reads
    back as zeros), and where the other channel already has sound it is read, merged and
    written back, so the whole timeline never sits in memory. The header's sizes are written
    on close.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int = 1) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self._frame_bytes = 2 * channels
        # large buffer: audio arrives in many small chunks, the disk wants few big writes
        self._file = open(self.path, "w+b", buffering=1 << 20)  # noqa: SIM115  (see close())
        self._file.write(_wav_header(sample_rate, channels, 0))
        self.frames = 0  # frames in the file: the end of the furthest write
        self._at = _HEADER_SIZE  # where the file position is (tell() costs a call per chunk)
        self._map: mmap.mmap | None = None  # the file mapped for view(), once asked for
        self._viewed = (0, 0)  # the bytes of the mapping the last view covers (page-aligned)
        self._unflushed = True  # writes since the last flush (view() reads the file itself)

    def append(self, samples: np.ndarray) -> None:
        """Add interleaved int16 samples at the end of the file."""
        self._write_at(self.frames, samples.astype("<i2", copy=False))

    def append_pcm(self, pcm: bytes) -> None:
        """Add PCM16 little-endian bytes (interleaved) at the end: the fast path for streams."""
        usable = len(pcm) - len(pcm) % self._frame_bytes
        end = self.frames + usable // self._frame_bytes
        self._check_size(end)
        try:
            if self._at != _HEADER_SIZE + self.frames * self._frame_bytes:
                self._file.seek(_HEADER_SIZE + self.frames * self._frame_bytes)
            self._file.write(pcm if usable == len(pcm) else pcm[:usable])
        except OSError as error:
            raise self._named(error) from error
        self._unflushed = True
        self.frames = end
        self._at = _HEADER_SIZE + end * self._frame_bytes

    def place(self, frame: int, channel: int, samples: np.ndarray) -> None:
        """Write mono int16 samples into one channel, starting at frame (0 = the start)."""
        if self.channels == 1:
            self._write_at(frame, samples.astype("<i2", copy=False))
            return
        count = samples.size
        block = np.zeros((count, self.channels), dtype="<i2")
        overlap = min(self.frames, frame + count) - frame  # frames already holding sound
        if overlap > 0:
            block[:overlap] = self.read(frame, overlap)
        block[:, channel] = samples
        self._write_at(frame, block)

    def read(self, frame: int, count: int) -> np.ndarray:
        """Up to count frames from frame on, as int16 of shape (frames, channels)."""
        count = max(min(count, self.frames - frame), 0)
        if count == 0:
            return np.zeros((0, self.channels), dtype="<i2")
        try:  # the seek flushes pending writes: a full disk can surface here
            self._file.seek(_HEADER_SIZE + frame * self._frame_bytes)
            data = self._file.read(count * self._frame_bytes)
        except OSError as error:
            raise self._named(error) from error
        self._at = _HEADER_SIZE + (frame + count) * self._frame_bytes
        return np.frombuffer(data, dtype="<i2").reshape(-1, self.channels)

    def view(self, frame: int, count: int) -> np.ndarray:
        """read(), without copying: the frames as the file holds them (mapped), valid until the
        next write to this file. For copying between files, block by block: the pages of the
        view before are let go (they stay in the page cache, not in this process's memory), so
        copying a whole file never holds more than a block of it resident."""
        if _RELEASE is None:  # no way to let mapped pages go: a copy, as read() makes
            return self.read(frame, count)
        count = max(min(count, self.frames - frame), 0)
        if count == 0:
            return np.zeros((0, self.channels), dtype="<i2")
        end = _HEADER_SIZE + (frame + count) * self._frame_bytes
        mapped = self._map
        if self._unflushed or mapped is None or len(mapped) < end:
            try:  # the buffer's pending writes go to the file first (a full disk: here)
                self._file.flush()
                if mapped is None or len(mapped) < end:  # the file grew: map it again
                    self._unmap()
                    mapped = self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            except OSError as error:
                raise self._named(error) from error
            self._unflushed = False
        start = _HEADER_SIZE + frame * self._frame_bytes
        low, high = self._viewed
        if high > low:  # a mapping of the file itself: its pages read again from the file
            mapped.madvise(_RELEASE, low, high - low)
        # the pages a view's reads may map: its own and those the kernel maps around a fault
        low = max(start - start % mmap.PAGESIZE - _FAULT_AROUND, 0)
        self._viewed = (low, min(end + _FAULT_AROUND, len(mapped)))
        return np.frombuffer(mapped, dtype="<i2", count=count * self.channels,
                             offset=start).reshape(-1, self.channels)

    def _check_size(self, end_frame: int) -> None:
        if end_frame * self._frame_bytes > _MAX_DATA_BYTES:
            raise RtrecError(
                f"{self.path}: the audio is longer than a WAV file can hold (4 GiB); "
                "export a shorter session"
            )

    def _write_at(self, frame: int, data: np.ndarray) -> None:
        end = frame + data.size // self.channels
        self._check_size(end)
        start = _HEADER_SIZE + frame * self._frame_bytes
        try:
            if self._at != start:
                self._file.seek(start)
            self._file.write(np.ascontiguousarray(data).data)  # its buffer, no copy
        except OSError as error:
            raise self._named(error) from error
        self._unflushed = True
        self.frames = max(self.frames, end)
        self._at = _HEADER_SIZE + end * self._frame_bytes

    def extend_to(self, frames: int) -> None:
        """Make the file at least `frames` long, with silence at the end."""
        if frames > self.frames:
            self._check_size(frames)
            try:
                self._file.truncate(_HEADER_SIZE + frames * self._frame_bytes)
            except OSError as error:
                raise self._named(error) from error
            self._unflushed = True
            self.frames = frames

    @property
    def duration_ms(self) -> float:
        return self.frames * 1000 / self.sample_rate

    def _named(self, error: OSError) -> OSError:
        """The same error, naming this file (a failed write does not say where on its own)."""
        return OSError(error.errno, error.strerror, str(self.path))

    def close(self) -> None:
        """Write the header's sizes and close; the file is closed even when that fails."""
        if self._file.closed:
            return
        self._unmap()
        try:
            self._file.truncate(_HEADER_SIZE + self.frames * self._frame_bytes)
            self._file.seek(0)
            self._file.write(_wav_header(self.sample_rate, self.channels, self.frames))
            self._file.close()
        except OSError as error:
            raise self._named(error) from error
        finally:
            if not self._file.closed:
                with contextlib.suppress(OSError):
                    self._file.close()

    def _unmap(self) -> None:
        """Let the mapping go (it closes when no view of it is left)."""
        mapped, self._map = self._map, None
        self._viewed = (0, 0)
        if mapped is not None:
            with contextlib.suppress(BufferError):  # views still use it: they keep it open
                mapped.close()

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wav_header(sample_rate: int, channels: int, frames: int) -> bytes:
    data_bytes = frames * 2 * channels
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + data_bytes, b"WAVE",
        b"fmt ", 16, 1, channels, sample_rate, sample_rate * 2 * channels, 2 * channels, 16,
        b"data", data_bytes,
    )  # fmt fields: PCM (1), channels, rate, byte rate, block align, bits per sample


# How WavWriter.view lets the pages of a view go once it is done with (None: it copies instead)
_RELEASE: int | None = getattr(mmap, "MADV_DONTNEED", None)
# ... and how far around a view it lets go too: a page fault maps the pages around it that are
# in the page cache as well (Linux's fault_around_bytes, 64 KiB by default)
_FAULT_AROUND = 1 << 20


# --- Timeline placement -----------------------------------------------------------------------

COPY_BLOCK_FRAMES = 1 << 18  # frames per block when copying between files (~11 s)
PCM_BLOCK_BYTES = 1 << 20  # audio a stream gathers before it is written (PcmBlocks)


class PcmBlocks:
    """PCM bound for the end of one WAV file: a stream's many small chunks gathered, written in
    blocks of `limit` bytes (a few large writes instead of one per chunk)."""

    __slots__ = ("chunks", "limit", "on_write", "size")

    def __init__(self, limit: int = PCM_BLOCK_BYTES,
                 on_write: Callable[[bytes], None] | None = None) -> None:
        self.chunks: list[bytes] = []
        self.size = 0  # bytes gathered
        self.limit = limit
        self.on_write = on_write  # told each block written, after the writer has it

    def add(self, pcm: bytes, writer: WavWriter | None) -> None:
        self.chunks.append(pcm)
        self.size += len(pcm)
        if self.size >= self.limit:
            self.write(writer)

    def extend(self, chunks: list[bytes], size: int, writer: WavWriter | None) -> None:
        """add() each of chunks (size: their bytes)."""
        self.chunks += chunks
        self.size += size
        if self.size >= self.limit:
            self.write(writer)

    def write(self, writer: WavWriter | None) -> None:
        """Write what is gathered to the end of writer (its file is complete after this)."""
        chunks, self.chunks, self.size = self.chunks, [], 0
        if chunks and writer is not None:
            block = b"".join(chunks)
            writer.append_pcm(block)
            if self.on_write is not None:
                self.on_write(block)


@dataclass(frozen=True, slots=True)
class Stretch:
    """A stretch of a source file placed on the conversation timeline."""

    at: int  # first frame on the timeline (at the conversation rate)
    source: WavWriter
    first: int  # first frame in the source file
    count: int  # frames in the source file

    def length(self, target: int) -> int:
        """Frames it covers on the timeline."""
        return self.count * target // self.source.sample_rate

    def samples(self, start: int, end: int, target: int) -> np.ndarray:
        """Its samples for timeline frames [at + start, at + end), at the target rate.

        A whole ratio repeats each source sample (as audio.resample does); any other ratio
        interpolates linearly.
        """
        rate = self.source.sample_rate
        if rate == target:
            return self.source.view(self.first + start, end - start)[:, 0]
        low = start * rate // target
        high = min(-(-end * rate // target) + 1, self.count)
        source = self.source.view(self.first + low, high - low)[:, 0]
        if target % rate == 0:
            ratio = target // rate
            skip = start - low * ratio
            return np.repeat(source, ratio)[skip : skip + end - start]
        positions = np.arange(start, end) * (rate / target) - low
        return np.round(np.interp(positions, np.arange(source.size), source)).astype(np.int16)


def resampled_note(sides: Iterable[tuple[str, int]], target: int) -> str | None:
    """Which side of conversation.wav (name, own rate) Stretch.samples resamples to target, and
    how, for the export report (None: neither)."""
    for name, rate in sides:
        if rate != target:
            how = "by repeating samples" if target % rate == 0 else "by linear interpolation"
            return f"{name} audio {rate} Hz -> {target} Hz {how} in conversation.wav"
    return None


def copy_frames(source: WavWriter, spans: list[tuple[int, int]], limit: int,
                 deliver: Callable[[int, np.ndarray], None]) -> None:
    """Read up to limit frames of spans from source, block by block; deliver(offset, block)."""
    done = 0
    for first, count in spans:
        count = min(count, limit - done)
        position = 0
        while position < count:
            block = source.view(first + position, min(COPY_BLOCK_FRAMES, count - position))
            if block.size == 0:
                return
            deliver(done, block[:, 0])
            position += len(block)
            done += len(block)
        if done >= limit:
            return


def write_timeline(
    path: str | os.PathLike[str],
    sample_rate: int,
    channels: Sequence[list[Stretch]],
    total_frames: int = 0,
) -> WavWriter:
    """A WAV file with one channel per list of stretches, written in one sequential sweep.

    Block by block, each channel's stretches are read from their sources (resampled to
    sample_rate) into the block, silence elsewhere, and the block is appended: no seeking, no
    read-modify-write, memory bounded by the block. Stretches of a channel come sorted by
    `at`; where two overlap, the later one wins. The file is at least total_frames long and
    covers every stretch; it is returned open (close it to write the header).
    """
    count = len(channels)
    total = max([total_frames] + [s.at + s.length(sample_rate) for c in channels for s in c])
    writer = WavWriter(path, sample_rate, channels=count)
    next_stretch = [0] * count
    buffer = np.empty((min(COPY_BLOCK_FRAMES, total), count), dtype="<i2")  # reused per block
    for block_start in range(0, total, COPY_BLOCK_FRAMES):
        block_end = min(block_start + COPY_BLOCK_FRAMES, total)
        block = buffer[: block_end - block_start]
        block.fill(0)
        for channel, stretches in enumerate(channels):
            index = next_stretch[channel]
            while index < len(stretches) and (
                stretches[index].at + stretches[index].length(sample_rate) <= block_start
            ):
                index += 1
            next_stretch[channel] = index
            for stretch in stretches[index:]:
                if stretch.at >= block_end:
                    break
                start = max(block_start, stretch.at)
                end = min(block_end, stretch.at + stretch.length(sample_rate))
                if end <= start:
                    continue  # an earlier, shorter stretch behind a longer one
                samples = stretch.samples(start - stretch.at, end - stretch.at, sample_rate)
                block[start - block_start : start - block_start + samples.size, channel] = samples
        writer.append(block)
    return writer


def interleave(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Two int16 channels of one length as one interleaved int16 array (left first): a
    little-endian uint32 per frame, the right sample in its high half."""
    frames = np.left_shift(right.view("<u2"), 16, dtype="<u4")
    np.bitwise_or(frames, left.view("<u2"), out=frames)
    return frames.view("<i2")



# A gap shorter than this between two chunks of a live stream is network jitter, not silence.
STREAM_JITTER_MS = 100.0
# place_sized computes a run of at least this many chunks with numpy (fewer: the loop is faster)
_BULK_CHUNKS = 48
_BULK_WINDOW = 4096  # ... and at most this many at once


class StreamPlacement:
    """Places a live input stream (the user's microphone) on the conversation timeline.

    Each chunk was captured before it was sent, so it starts at (received - duration), but
    never before the previous chunk ends (a client that uploads faster than real time is laid
    end to end), and a gap shorter than STREAM_JITTER_MS is closed so jitter does not chop the
    audio. `runs` remembers where each stretch of the stream landed, to map stream offsets
    (audio_start_ms / audio_end_ms of a turn) onto the timeline.
    """

    def __init__(self, jitter_ms: float = STREAM_JITTER_MS) -> None:
        self.jitter_ms = jitter_ms
        self.stream_ms = 0.0  # how much of the stream has been placed
        self.end_ms = 0.0  # where on the timeline the last chunk ends
        self.runs: list[tuple[float, float]] = []  # (stream offset, timeline start) per stretch

    def place(self, received_ms: float, duration_ms: float) -> float:
        """Timeline start of the next chunk, received at received_ms and lasting duration_ms."""
        return self.place_all([(received_ms, duration_ms)])[0]

    def place_all(self, chunks: Iterable[tuple[float, float]]) -> list[float]:
        """place(received_ms, duration_ms) for each chunk in order: their timeline starts (one
        call for a run of chunks, the bulk of a session)."""
        end, stream, jitter, runs = self.end_ms, self.stream_ms, self.jitter_ms, self.runs
        starts = []
        for received_ms, duration_ms in chunks:
            start = received_ms - duration_ms
            if start < end:  # max(received - duration, end)
                start = end
            if start - end <= jitter and runs:
                start = end
            if not runs or start != end:
                runs.append((stream, start))
            stream += duration_ms
            end = start + duration_ms
            starts.append(start)
        self.end_ms, self.stream_ms = end, stream
        return starts

    def place_sized(self, t_ns: list[int], sizes: list[int], bytes_per_s: int) -> list[float]:
        """place_all for chunks given as recorded times (ns) and sizes in bytes of a stream of
        bytes_per_s: the same starts, without building a tuple per chunk (the input stream's
        runs, ~200k chunks an hour). Stretches of chunks that each start where the one before
        ends (a client streaming in real time) are placed with numpy, the rest one by one."""
        count = len(sizes)
        if count < _BULK_CHUNKS or len(t_ns) != count:  # (a length mismatch: zip says so)
            return self._place_each(t_ns, sizes, bytes_per_s)
        starts: list[float] = []
        done = 0
        while done < count:
            if self.runs and count - done >= _BULK_CHUNKS:
                placed = self._place_contiguous(t_ns, sizes, bytes_per_s, done, starts)
                done += placed
                if placed >= _BULK_CHUNKS or done == count:
                    continue
            # the first chunk of the stream, or one that starts a new stretch: one by one, and
            # the few after it (a stream of short stretches costs no numpy call per chunk)
            upto = min(done + _BULK_CHUNKS, count)
            starts += self._place_each(t_ns[done:upto], sizes[done:upto], bytes_per_s)
            done = upto
        return starts

    def _place_each(self, t_ns: list[int], sizes: list[int], bytes_per_s: int) -> list[float]:
        """place_sized, chunk by chunk."""
        end, stream, jitter, runs = self.end_ms, self.stream_ms, self.jitter_ms, self.runs
        starts: list[float] = []
        append = starts.append
        for ns, size in zip(t_ns, sizes, strict=True):
            duration_ms = size * 1000 / bytes_per_s
            start = ns / 1e6 - duration_ms
            if start < end:  # max(received - duration, end)
                start = end
            if start - end <= jitter and runs:
                start = end
            if not runs or start != end:
                runs.append((stream, start))
            stream += duration_ms
            end = start + duration_ms
            append(start)
        self.end_ms, self.stream_ms = end, stream
        return starts

    def _place_contiguous(self, t_ns: list[int], sizes: list[int], bytes_per_s: int,
                          first: int, starts: list[float]) -> int:
        """Place the chunks from index first on that each start where the one before ends (at
        most _BULK_WINDOW), as _place_each would, with numpy: the same float operations in the
        same order. Appends their starts; returns how many (0: the first one does not)."""
        window = slice(first, first + _BULK_WINDOW)
        try:
            durations = np.array(sizes[window], dtype=np.int64) * 1000 / bytes_per_s
            received = np.array(t_ns[window], dtype=np.int64) / 1e6
        except OverflowError:  # beyond 64 bits: the loop's Python ints take it
            return 0
        # each chunk placed at the end before it: that end plus its duration, added in order
        ends = np.empty(durations.size + 1)
        ends[0] = self.end_ms
        ends[1:] = durations
        np.cumsum(ends, out=ends)
        previous = ends[:-1]
        wanted = received - durations  # captured before it was sent
        # the loop keeps a chunk at the end when it wants to start before it or within jitter
        kept = (wanted < previous) | (wanted - previous <= self.jitter_ms)
        placed = int(kept.argmin()) if not kept.all() else durations.size
        if placed == 0:
            return 0
        streamed = np.empty(placed + 1)
        streamed[0] = self.stream_ms
        streamed[1:] = durations[:placed]
        self.stream_ms = float(np.cumsum(streamed)[-1])
        self.end_ms = float(ends[placed])
        starts += previous[:placed].tolist()
        return placed

    def to_timeline(self, stream_ms: float) -> float:
        """Where stream offset stream_ms landed on the timeline."""
        if not self.runs:
            return stream_ms
        index = bisect.bisect_right(self.runs, (stream_ms, math.inf)) - 1
        offset, start = self.runs[max(index, 0)]
        return start + (stream_ms - offset)


def place_utterances(spans: list[tuple[float, float]]) -> list[float]:
    """Timeline starts for utterances on one channel, each given as (earliest start, duration).

    An utterance starts at its earliest start unless the one before it on the channel is still
    playing: then it is shifted to start when that one ends, so each utterance stays whole.
    """
    starts: list[float] = []
    channel_free_at = 0.0
    for earliest, duration in spans:
        start = max(earliest, channel_free_at)
        starts.append(start)
        channel_free_at = start + duration
    return starts
