"""recorder.protocol.b64: strict base64 (binascii's strict mode) and canonical base64."""

from __future__ import annotations

import base64
import binascii
import random

import pytest

from recorder.protocol import b64

_SYMBOLS = b64.ALPHABET + b"=\n \\-_."


def _strict(text: bytes) -> bytes | None:
    """The definition decode must agree with: binascii's strict mode, which also takes padding
    after a complete group ('AAAA='), which RFC 4648 has no place for."""
    if len(text) % 4:
        return None
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None


def _texts(count: int) -> list[bytes]:
    """Base64 with a few symbols changed, and random strings of base64-ish symbols."""
    rng = random.Random(11)
    texts = []
    for _ in range(count):
        if rng.random() < 0.5:
            text = bytearray(base64.b64encode(rng.randbytes(rng.randrange(0, 10))))
            for _ in range(rng.randrange(0, 3)):
                if text:
                    text[rng.randrange(len(text))] = rng.choice(_SYMBOLS)
        else:
            text = bytearray(rng.choice(_SYMBOLS) for _ in range(rng.randrange(0, 14)))
        texts.append(bytes(text))
    return texts


def test_decode_agrees_with_binascii_strict_mode() -> None:
    texts = _texts(20_000)
    assert any(_strict(text) is None for text in texts)  # both kinds are tried
    for text in texts:
        assert b64.decode(text) == _strict(text), text
        assert b64.decode(text.decode("latin-1")) == _strict(text), text  # str, as events hold it


@pytest.mark.parametrize(
    ("text", "expected"),
    [("AAAA", b"\x00\x00\x00"), ("AB==", b"\x00"), ("", b""), ("AA", None), ("AA==\n", None),
     ("A-_A", None), ("AA==AA==", None), ("=AAA", None), ("AAAé", None), ("AAAA=", None)],
)
def test_decode_cases(text: str, expected: bytes | None) -> None:
    assert b64.decode(text) == expected


def test_canonical_is_decode_that_reencodes_to_the_same_text() -> None:
    for text in _texts(20_000):
        strict = _strict(text)
        expected = strict if strict is not None and base64.b64encode(strict) == text else None
        assert b64.canonical(text) == expected, text
        assert b64.canonical(memoryview(text)) == expected, text


def test_canonical_refuses_what_decode_accepts_with_stray_low_bits() -> None:
    assert b64.decode("AB==") == b"\x00"
    assert b64.canonical(b"AB==") is None
    assert b64.canonical(b"AAF=") is None
    assert b64.canonical(b"AAE=") == b"\x00\x01"


def test_the_stores_audio_split_cuts_exactly_the_canonical_base64() -> None:
    """recorder.store.codec inlines canonical in its hot path: the two must give one answer."""
    from recorder.store.codec import split_audio_event

    for text in _texts(20_000):
        if not text:  # an empty audio field is nothing to cut
            continue
        for frame in (b'{"type":"input_audio_buffer.append","audio":"' + text + b'"}',
                      b'{"type":"response.output_audio.delta","response_id":"r","delta":"'
                      + text + b'","item_id":"i"}'):
            split = split_audio_event(frame)
            assert (None if split is None else split[3]) == b64.canonical(text), frame
