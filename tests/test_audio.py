"""recorder.audio: formats from the wire, durations, G.711 codecs."""

from __future__ import annotations

import struct
import warnings

import msgspec
import numpy as np
import pytest

from recorder.audio import (
    G711_ALAW_8K,
    G711_ULAW_8K,
    PCM16_24K,
    AudioFormat,
    alaw_decode,
    alaw_encode,
    ulaw_decode,
    ulaw_encode,
)
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
