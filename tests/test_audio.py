"""recorder.audio: formats from the wire, durations, G.711 codecs."""

from __future__ import annotations

import itertools
import struct
import warnings
import wave
from pathlib import Path

import msgspec
import numpy as np
import pytest

from recorder.audio import (
    COPY_BLOCK_FRAMES,
    G711_ALAW_8K,
    G711_ULAW_8K,
    PCM16_24K,
    AudioFormat,
    PcmBlocks,
    StreamPlacement,
    Stretch,
    WavWriter,
    alaw_decode,
    alaw_encode,
    copy_frames,
    interleave,
    pcm16_samples,
    place_utterances,
    resample,
    ulaw_decode,
    ulaw_encode,
    write_timeline,
)
from recorder.decode import decode
from recorder.errors import RtrecError


def pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def samples(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


class GaFormat(msgspec.Struct):
    type: str
    rate: int | None = None


@pytest.mark.parametrize(
    ("wire", "name", "rate"),
    [
        ("pcm16", "pcm16", 24000),
        ("g711_ulaw", "g711_ulaw", 8000),
        ("g711_alaw", "g711_alaw", 8000),
        ({"type": "audio/pcm", "rate": 24000}, "pcm16", 24000),
        ({"type": "audio/pcm"}, "pcm16", 24000),
        ({"type": "audio/pcmu"}, "g711_ulaw", 8000),
        ({"type": "audio/pcma"}, "g711_alaw", 8000),
        (GaFormat("audio/pcm", 24000), "pcm16", 24000),
        (GaFormat("audio/pcmu"), "g711_ulaw", 8000),
        (GaFormat("audio/pcma"), "g711_alaw", 8000),
        (None, "pcm16", 24000),
    ],
)
def test_from_wire_reads_beta_and_ga_settings(wire: object, name: str, rate: int) -> None:
    fmt = AudioFormat.from_wire(wire)
    assert (fmt.name, fmt.sample_rate) == (name, rate)


def test_from_wire_takes_the_rate_from_the_session() -> None:
    fmt = AudioFormat.from_wire({"type": "audio/pcm", "rate": 16000})
    assert fmt.sample_rate == 16000
    assert fmt.bytes_per_ms == 32


@pytest.mark.parametrize("wire", ["mp3", {"type": "audio/opus"}, {}, 42, GaFormat("x")])
def test_from_wire_rejects_unknown_formats_with_one_line(wire: object) -> None:
    with pytest.raises(RtrecError) as caught:
        AudioFormat.from_wire(wire)
    message = str(caught.value)
    assert message.startswith("unknown audio format ")
    assert "\n" not in message


@pytest.mark.parametrize("rate", [-24000, 0, 7999, 48001, 10**9, True, 24000.0, "24000"])
def test_from_wire_rejects_a_rate_no_recording_has(rate: object) -> None:
    with pytest.raises(RtrecError) as caught:
        AudioFormat.from_wire({"type": "audio/pcm", "rate": rate})
    message = str(caught.value)
    assert message.startswith(f"unsupported sample rate {rate!r} in audio format ")
    assert message.endswith("expected a whole number of Hz from 8000 to 48000")
    assert "\n" not in message


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_from_wire_takes_any_common_rate(rate: int) -> None:
    assert AudioFormat.from_wire({"type": "audio/pcm", "rate": rate}).sample_rate == rate


def test_from_wire_shows_a_decoded_setting_as_its_json() -> None:
    event = decode(b'{"type":"session.created","event_id":"e","session":{"type":"realtime",'
                   b'"audio":{"input":{"format":{"type":"audio/opus"}}}}}')
    with pytest.raises(RtrecError) as caught:
        AudioFormat.from_wire(event.session.audio.input.format)
    assert str(caught.value).startswith('unknown audio format {"type":"audio/opus"}: expected')


def test_formats_are_frozen_values() -> None:
    assert AudioFormat.from_wire("pcm16") == PCM16_24K
    assert AudioFormat.from_wire({"type": "audio/pcmu"}) == G711_ULAW_8K
    with pytest.raises(AttributeError):
        PCM16_24K.sample_rate = 8000  # type: ignore[misc]


def test_durations_follow_bytes_per_ms() -> None:
    assert PCM16_24K.bytes_per_ms == 48
    assert G711_ULAW_8K.bytes_per_ms == 8
    assert G711_ALAW_8K.bytes_per_ms == 8
    assert PCM16_24K.duration_ms(48_000) == 1000
    assert PCM16_24K.duration_ms(4_800) == 100
    assert G711_ULAW_8K.duration_ms(8_000) == 1000
    assert G711_ALAW_8K.duration_ms(1_000) == 125
    assert PCM16_24K.bytes_for_ms(250) == 12_000
    assert G711_ULAW_8K.bytes_for_ms(250) == 2_000
    assert PCM16_24K.bytes_for_ms(0.03) == 0  # less than one sample


# Reference points of ITU-T G.711 (the tables every implementation shares).
ULAW_KNOWN = {0xFF: 0, 0x7F: 0, 0x80: 32124, 0x00: -32124, 0xF0: 120, 0x70: -120, 0xCF: 924}
ALAW_KNOWN = {0xD5: 8, 0x55: -8, 0xAA: 32256, 0x2A: -32256, 0xD4: 24, 0x80: 5504}


def test_ulaw_decode_known_values() -> None:
    codes = bytes(ULAW_KNOWN)
    assert samples(ulaw_decode(codes)) == list(ULAW_KNOWN.values())


def test_alaw_decode_known_values() -> None:
    codes = bytes(ALAW_KNOWN)
    assert samples(alaw_decode(codes)) == list(ALAW_KNOWN.values())


def test_encode_known_values() -> None:
    assert ulaw_encode(pcm(0, 32767, -32768, 120, -120)) == bytes([0xFF, 0x80, 0x00, 0xF0, 0x70])
    assert alaw_encode(pcm(0, -1, 32767, -32768)) == bytes([0xD5, 0x55, 0xAA, 0x2A])


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_every_code_survives_decode_then_encode(encode, decode) -> None:  # type: ignore[no-untyped-def]
    codes = bytes(range(256))
    round_trip = encode(decode(codes))
    if encode is ulaw_encode:
        # mu-law has two zeros (0xFF and 0x7F); both decode to 0, which encodes as 0xFF
        assert round_trip == codes.replace(b"\x7f", b"\xff")
    else:
        assert round_trip == codes


@pytest.mark.parametrize(
    ("encode", "decode"), [(ulaw_encode, ulaw_decode), (alaw_encode, alaw_decode)]
)
def test_pcm_round_trip_error_is_bounded_by_the_segment(encode, decode) -> None:  # type: ignore[no-untyped-def]
    ramp = np.arange(-32768, 32768, 7, dtype=np.int32)
    back = np.frombuffer(decode(encode(ramp.astype("<i2").tobytes())), dtype="<i2")
    error = np.abs(back.astype(np.int32) - ramp)
    assert error.max() <= 1024  # the largest segment's step
    small = np.abs(ramp) < 64
    assert error[small].max() <= 8  # small signals are kept finely


def test_codecs_match_the_stdlib_reference_on_every_input() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        audioop = pytest.importorskip("audioop")  # stdlib up to Python 3.12
    every_sample = np.arange(65536, dtype=np.uint16).tobytes()
    every_code = bytes(range(256))
    assert ulaw_encode(every_sample) == audioop.lin2ulaw(every_sample, 2)
    assert alaw_encode(every_sample) == audioop.lin2alaw(every_sample, 2)
    assert ulaw_decode(every_code) == audioop.ulaw2lin(every_code, 2)
    assert alaw_decode(every_code) == audioop.alaw2lin(every_code, 2)


def test_to_pcm16_decodes_g711_and_keeps_pcm() -> None:
    assert G711_ULAW_8K.to_pcm16(b"\xff\x80") == pcm(0, 32124)
    assert G711_ALAW_8K.to_pcm16(b"\xd5\xaa") == pcm(8, 32256)
    assert PCM16_24K.to_pcm16(pcm(1, -2, 3)) == pcm(1, -2, 3)
    assert PCM16_24K.to_pcm16(pcm(1, 2) + b"\x05") == pcm(1, 2)  # half a sample is dropped
    assert ulaw_encode(pcm(5) + b"\x01") == ulaw_encode(pcm(5))


# --- resampling, WAV writing, placement -------------------------------------------------------

def read_wav(path: Path) -> tuple[int, int, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert wav.getsampwidth() == 2
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return wav.getframerate(), wav.getnchannels(), data.reshape(-1, wav.getnchannels())


def test_resample_repeats_samples_for_a_whole_ratio() -> None:
    source = np.array([1, -2, 3], dtype=np.int16)
    assert resample(source, 8000, 24000).tolist() == [1, 1, 1, -2, -2, -2, 3, 3, 3]
    assert resample(source, 24000, 24000) is source


def test_resample_interpolates_any_other_ratio() -> None:
    source = np.array([0, 100, 200, 300], dtype=np.int16)
    out = resample(source, 16000, 24000)
    assert out.size == 6
    assert out.dtype == np.int16
    assert out.tolist() == [0, 67, 133, 200, 267, 300]


def test_mono_writer_streams_and_the_header_matches(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    with WavWriter(path, 8000) as writer:
        writer.append(pcm16_samples(pcm(1, 2, 3)))
        writer.append(pcm16_samples(pcm(4)))
        assert writer.duration_ms == 0.5
    rate, channels, data = read_wav(path)
    assert (rate, channels) == (8000, 1)
    assert data[:, 0].tolist() == [1, 2, 3, 4]


def test_interleave_puts_left_first_and_keeps_every_bit() -> None:
    left = np.array([1, -1, 32767, -32768, 0], dtype="<i2")
    right = np.array([-2, 3, -32768, 0, -1], dtype="<i2")
    assert interleave(left, right).tolist() == np.column_stack((left, right)).ravel().tolist()
    column = np.array([[5, 6], [7, 8]], dtype="<i2")[:, 1]  # a strided view, as Stretch gives
    assert interleave(column, column[::-1]).tolist() == [6, 8, 8, 6]


def test_pcm_blocks_write_once_past_the_limit_and_in_order(tmp_path: Path) -> None:
    path = tmp_path / "b.wav"
    with WavWriter(path, 8000) as writer:
        blocks = PcmBlocks(limit=6)
        blocks.add(pcm(1), writer)
        blocks.add(pcm(2), writer)
        assert (writer.frames, blocks.size) == (0, 4)  # gathered, not written
        blocks.extend([pcm(3), pcm(4, 5)], 6, writer)
        assert (writer.frames, blocks.size) == (5, 0)  # past the limit: one block written
        blocks.add(pcm(6), writer)
        blocks.write(writer)
        blocks.write(writer)  # nothing gathered: nothing written
        assert writer.frames == 6
    assert read_wav(path)[2][:, 0].tolist() == [1, 2, 3, 4, 5, 6]


def test_pcm_blocks_without_a_writer_drop_what_they_gathered() -> None:
    blocks = PcmBlocks(limit=4)
    blocks.add(pcm(1, 2, 3), None)
    assert (blocks.chunks, blocks.size) == ([], 0)


def test_stereo_place_keeps_each_channel_and_silence_between(tmp_path: Path) -> None:
    path = tmp_path / "s.wav"
    with WavWriter(path, 1000, channels=2) as writer:
        writer.place(5, 1, np.array([7, 8, 9], dtype=np.int16))  # right, past the end
        writer.place(2, 0, np.array([1, 2, 3, 4], dtype=np.int16))  # left, overlaps the right
        writer.place(0, 0, np.array([5], dtype=np.int16))
        writer.extend_to(10)
    _, channels, data = read_wav(path)
    assert channels == 2
    assert data[:, 0].tolist() == [5, 0, 1, 2, 3, 4, 0, 0, 0, 0]
    assert data[:, 1].tolist() == [0, 0, 0, 0, 0, 7, 8, 9, 0, 0]


def test_writer_refuses_a_file_wav_cannot_hold(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "big.wav", 24000) as writer, pytest.raises(RtrecError) as caught:
        writer.place(2**31, 0, np.array([1], dtype=np.int16))
    assert "longer than a WAV file can hold" in str(caught.value)


def test_stream_placement_real_time_chunks_stay_end_to_end() -> None:
    placement = StreamPlacement()
    # 100 ms chunks, each sent when captured, with up to 30 ms of jitter
    starts = [placement.place(received, 100) for received in (100, 230, 310, 400)]
    assert starts == [0, 100, 200, 300]
    assert placement.runs == [(0, 0)]


def test_stream_placement_a_pause_in_sending_is_silence() -> None:
    placement = StreamPlacement()
    placement.place(100, 100)
    assert placement.place(2100, 100) == 2000  # the client stopped sending for ~2 s
    assert placement.runs == [(0, 0), (100, 2000)]
    assert placement.to_timeline(50) == 50
    assert placement.to_timeline(150) == 2050


def test_stream_placement_an_upload_faster_than_real_time_is_laid_end_to_end() -> None:
    placement = StreamPlacement()
    starts = [placement.place(5, 1000) for _ in range(3)]
    assert starts == [0, 1000, 2000]
    assert placement.to_timeline(2500) == 2500


def test_place_utterances_shifts_an_overlapping_one_after_the_previous() -> None:
    assert place_utterances([(0, 1000), (500, 1000), (5000, 10)]) == [0, 1000, 5000]


# --- stretches on a timeline ------------------------------------------------------------------


@pytest.mark.parametrize(("source_rate", "target"), [(24000, 24000), (8000, 24000), (16000, 24000)])
def test_block_boundaries_do_not_change_a_stretch(
    tmp_path: Path, source_rate: int, target: int
) -> None:
    ramp = (np.arange(3000) * 7 % 20000 - 10000).astype("<i2")
    with WavWriter(tmp_path / "s.wav", source_rate) as source:
        source.append(ramp)
        stretch = Stretch(at=100, source=source, first=500, count=2000)
        length = stretch.length(target)
        whole = stretch.samples(0, length, target)
        assert whole.size == length == 2000 * target // source_rate
        cuts = [0, 1, 7, length // 3, length // 2 + 1, length - 1, length]
        pieces = [stretch.samples(a, b, target) for a, b in itertools.pairwise(cuts)]
        assert np.concatenate(pieces).tolist() == whole.tolist()
        if target % source_rate == 0:  # a whole ratio repeats samples, as resample does
            assert whole.tolist() == resample(ramp[500:2500], source_rate, target).tolist()


def test_write_timeline_places_each_channel_with_silence_between(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "a.wav", 1000) as a, WavWriter(tmp_path / "b.wav", 500) as b:
        a.append(np.array([1, 2, 3, 4, 5], dtype=np.int16))
        b.append(np.array([7, 8], dtype=np.int16))
        left = [Stretch(1, a, 0, 2), Stretch(6, a, 3, 2)]
        right = [Stretch(2, b, 0, 2)]  # 500 Hz -> 1000 Hz: each sample twice
        with write_timeline(tmp_path / "t.wav", 1000, [left, right], total_frames=10):
            pass
    rate, channels, data = read_wav(tmp_path / "t.wav")
    assert (rate, channels) == (1000, 2)
    assert data[:, 0].tolist() == [0, 1, 2, 0, 0, 0, 4, 5, 0, 0]
    assert data[:, 1].tolist() == [0, 0, 7, 7, 8, 8, 0, 0, 0, 0]


def test_copy_frames_stops_at_the_limit(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "a.wav", 1000) as a:
        a.append(np.arange(10, dtype=np.int16))
        got: list[tuple[int, list[int]]] = []
        copy_frames(a, [(2, 3), (7, 3)], 4, lambda at, block: got.append((at, block.tolist())))
    assert got == [(0, [2, 3, 4]), (3, [7])]


def test_place_all_places_each_chunk_as_place_does() -> None:
    from recorder.audio import StreamPlacement

    chunks = [(20.0, 20.0), (40.0, 20.0), (55.0, 20.0), (400.0, 20.0), (410.0, 20.0),
              (430.0, 10.0), (900.0, 40.0), (0.0, 20.0), (-0.0, 0.0)]
    one, bulk = StreamPlacement(), StreamPlacement()
    starts = [one.place(at, duration) for at, duration in chunks]
    assert bulk.place_all(chunks[:4]) + bulk.place_all(chunks[4:]) == starts
    assert (bulk.runs, bulk.end_ms, bulk.stream_ms) == (one.runs, one.end_ms, one.stream_ms)
    assert len(one.runs) == 3  # a jump past the jitter starts a stretch; a small gap does not


def test_place_sized_places_as_place_all_does():
    # late, early (faster than real time), jittered and gapped chunks, an odd size, a chunk
    # after a silence longer than the jitter: the same starts and the same runs either way
    t_ns = [100_000_000, 150_000_000, 260_000_000, 300_000_000, 900_000_000, 1_000_000_000]
    sizes = [4800, 4800, 4801, 2400, 4800, 96]
    per_s = 48000
    by_tuples, by_sizes = StreamPlacement(), StreamPlacement()
    chunks = [(ns / 1e6, s * 1000 / per_s) for ns, s in zip(t_ns, sizes, strict=True)]
    expected = by_tuples.place_all(chunks)
    assert by_sizes.place_sized(t_ns, sizes, per_s) == expected
    assert by_sizes.runs == by_tuples.runs and len(by_sizes.runs) == 2
    assert (by_sizes.end_ms, by_sizes.stream_ms) == (by_tuples.end_ms, by_tuples.stream_ms)


def _placed_one_by_one(chunks: list[tuple[int, int]], per_s: int
                       ) -> tuple[StreamPlacement, list[float]]:
    """(ns, size) chunks placed with place(), one call each: the placement and the starts."""
    one = StreamPlacement()
    return one, [one.place(ns / 1e6, size * 1000 / per_s) for ns, size in chunks]


@pytest.mark.parametrize("seed", range(6))
def test_place_sized_places_long_runs_as_place_does(seed: int) -> None:
    """Runs long enough for numpy: a real-time stream (each chunk within the jitter of the end
    before it), one sent faster than real time, pauses past the jitter mid-run, odd sizes and
    empty chunks, times near 2**60 ns; given whole or cut anywhere, the same floats as place()."""
    import random

    rng = random.Random(seed)
    per_s = 48000
    t_ns, chunks = rng.choice([10**9, 2**60]), []
    for _ in range(rng.choice([60, 500, 5000])):
        size = rng.choice([960, 960, 961, 4800, 0, 2])
        t_ns += size * 10**9 // per_s + rng.choice([0, 0, -4000, 37, 99_000_000])
        if rng.random() < 0.01:
            # a pause just past the jitter, or longer; a clock step back
            t_ns += rng.choice([100_000_001, 101_000_000, 130_000_000, 2 * 10**9, -10**9])
        chunks.append((t_ns, size))
    one, expected = _placed_one_by_one(chunks, per_s)
    bulk = StreamPlacement()
    cuts = sorted(rng.sample(range(len(chunks) + 1), 3))
    starts: list[float] = []
    for low, high in zip([0, *cuts], [*cuts, len(chunks)], strict=True):
        part = chunks[low:high]
        starts += bulk.place_sized([ns for ns, _ in part], [size for _, size in part], per_s)
    assert starts == expected
    assert (bulk.runs, bulk.end_ms, bulk.stream_ms) == (one.runs, one.end_ms, one.stream_ms)


def test_place_sized_places_a_stream_of_short_stretches_as_place_does() -> None:
    # every chunk after a pause past the jitter: each starts a stretch of its own
    chunks = [(k * 500_000_000, 960) for k in range(1, 200)]
    one, expected = _placed_one_by_one(chunks, 48000)
    bulk = StreamPlacement()
    assert bulk.place_sized([ns for ns, _ in chunks], [s for _, s in chunks], 48000) == expected
    assert bulk.runs == one.runs and len(one.runs) == len(chunks)


def test_a_view_reads_what_read_reads_as_the_file_grows(tmp_path: Path) -> None:
    with WavWriter(tmp_path / "a.wav", 1000, channels=2) as a:
        a.append(np.arange(20, dtype=np.int16))  # 10 stereo frames, still in the buffer
        assert a.view(2, 3).tolist() == a.read(2, 3).tolist() == [[4, 5], [6, 7], [8, 9]]
        a.append(np.arange(20, 40, dtype=np.int16))  # the file grows past the mapping
        assert a.view(8, 5).tolist() == a.read(8, 5).tolist()
        assert a.view(19, 5).tolist() == [[38, 39]]  # up to the end, as read
        assert a.view(25, 5).shape == (0, 2)
        a.place(0, 1, np.full(2, -1, dtype=np.int16))  # a write where a view was taken
        assert a.view(0, 2).tolist() == [[0, -1], [2, -1]]
    _, _, data = read_wav(tmp_path / "a.wav")
    assert data[:2].tolist() == [[0, -1], [2, -1]] and data.shape == (20, 2)


def _rss_file_kb() -> int:
    status = Path("/proc/self/status").read_text()
    return int(status.split("RssFile:")[1].split()[0])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_copying_a_file_through_views_keeps_only_a_block_of_it_resident(tmp_path: Path) -> None:
    """The export's memory bound: composing conversation.wav maps user.wav and assistant.wav,
    and the pages of each view are let go at the next one (a whole hour would be ~275 MB)."""
    frames = 24 << 20  # 48 MiB of mono audio
    with WavWriter(tmp_path / "a.wav", 24000) as source:
        source.append_pcm(np.arange(frames, dtype=np.int16).tobytes())
        before = _rss_file_kb()
        total, peak = 0, 0
        for first in range(0, frames, COPY_BLOCK_FRAMES):
            view = source.view(first, COPY_BLOCK_FRAMES)
            total += int(view[:, 0].sum(dtype=np.int64))  # every page of the view read
            peak = max(peak, _rss_file_kb() - before)
        assert total == int(np.arange(frames, dtype=np.int16).sum(dtype=np.int64))
    assert peak < 16 << 10  # KiB: a few blocks (0.5 MiB each) and the pages around them
