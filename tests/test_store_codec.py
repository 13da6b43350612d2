"""Frame <-> stored form: index columns, audio cut out as binary, always byte-identical back."""

from __future__ import annotations

import base64
import binascii
import json
import random
from pathlib import Path

import pytest

from recorder.store.codec import (
    IndexColumns,
    canonical_base64,
    index_of,
    join_stored_form,
    stored_form,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "protocol" / "examples"
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _round_trip(data: bytes) -> bytes:
    form = stored_form(data)
    return join_stored_form(form.index.type, form.stripped, form.body, form.audio_at, form.audio)


def _reencodes(text: bytes) -> bytes | None:
    """The slow definition canonical_base64 must agree with."""
    try:
        decoded = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None
    return decoded if binascii.b2a_base64(decoded, newline=False) == text else None


def test_canonical_base64_agrees_with_decode_then_encode() -> None:
    rng = random.Random(7)
    symbols = _ALPHABET + b"=\n \\-_."
    for _ in range(50_000):
        if rng.random() < 0.5:
            text = bytearray(base64.b64encode(rng.randbytes(rng.randrange(0, 10))))
            for _ in range(rng.randrange(0, 3)):
                if text:
                    text[rng.randrange(len(text))] = rng.choice(symbols)
        else:
            text = bytearray(rng.choice(symbols) for _ in range(rng.randrange(0, 14)))
        assert canonical_base64(bytes(text)) == _reencodes(bytes(text)), bytes(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(b"AAAA", b"\x00\x00\x00"), (b"AA==", b"\x00"), (b"AB==", None), (b"AAE=", b"\x00\x01"),
     (b"AAF=", None), (b"AA", None), (b"A\\/A", None), (b"AA AA", None), (b"", b"")],
)
def test_canonical_base64_cases(text: bytes, expected: bytes | None) -> None:
    assert canonical_base64(text) == expected


def test_audio_is_cut_out_and_the_ids_are_still_readable() -> None:
    audio = bytes(range(256)) * 4
    data = (b'{"type":"response.output_audio.delta","event_id":"e","response_id":"r",'
            b'"item_id":"i","output_index":0,"content_index":0,"delta":"'
            + base64.b64encode(audio) + b'"}')
    form = stored_form(data)
    assert form.audio == audio
    assert form.stripped
    assert len(form.body) < 120
    assert form.index == IndexColumns("response.output_audio.delta", "e", "i", "r")
    assert _round_trip(data) == data


def test_frames_that_cannot_be_cut_are_kept_whole() -> None:
    for data in [
        b'{"type":"response.audio.delta","delta":"AB=="}',
        b'{"type":"response.audio.delta","delta":"AA\\/A"}',
        b'{"delta":"AAAA","type":"response.audio.delta"}',  # type not first: still cut, later
        b'{"type":"input_audio_buffer.append"}',
        b'{"type":"input_audio_buffer.append","audio":12}',
        b'{"type":"response.audio.delta"',
        b'{"type":"response.audio.deltaX',
        b'{"type":"response.audio.delta",',
        b'{"type":"response.audio.delta","delta":"AAAA',
        b'{"type":"response.audio.delta","delta":"AAAA"',
    ]:
        form = stored_form(data)
        assert _round_trip(data) == data
        if form.audio is not None:
            assert base64.b64encode(form.audio) in data


def test_random_mutations_of_audio_frames_read_back_byte_identical() -> None:
    rng = random.Random(3)
    templates = [
        b'{"type":"input_audio_buffer.append","audio":"%s"}',
        b'{"type":"input_audio_buffer.append","event_id":"ev","audio":"%s"}',
        b'{"type":"response.output_audio.delta","response_id":"r","delta":"%s","item_id":"i"}',
        b'{ "type" : "response.audio.delta" , "delta" : "%s" }',
    ]
    noise = b'"\\ :,{}=/+Aa0\n\xff\xc3'
    for _ in range(20_000):
        data = bytearray(rng.choice(templates) % base64.b64encode(rng.randbytes(rng.randrange(12))))
        for _ in range(rng.randrange(0, 3)):
            data[rng.randrange(len(data))] = rng.choice(noise)
        assert _round_trip(bytes(data)) == bytes(data)


def test_index_of_reads_nested_ids_and_tolerates_odd_shapes() -> None:
    assert index_of(b'{"type":"conversation.item.done","item":{"id":"it","type":"message"}}') == (
        IndexColumns("conversation.item.done", None, "it", None)
    )
    assert index_of(b'{"type":"response.done","response":{"id":"rs"},"event_id":"e"}') == (
        IndexColumns("response.done", "e", None, "rs")
    )
    assert index_of(b'{"type":"x","item":"not an object","event_id":7}') == IndexColumns("x")
    assert index_of(b"\xff not json") == IndexColumns()
    assert index_of(b'"just a string"') == IndexColumns()


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="the official examples are not here")
def test_every_official_example_round_trips_with_its_type() -> None:
    files = sorted(EXAMPLES.glob("*/*.json"))
    assert files
    for path in files:
        data = path.read_bytes()
        compact = data.strip()
        assert _round_trip(data) == data, path
        assert _round_trip(compact) == compact, path
        assert stored_form(compact).index.type == json.loads(data)["type"], path


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"response.output_audio.delta","x":{"delta":"AAAA"},"delta":"QUJD"}',
        b'{"type":"response.output_audio.delta","delta":"QUJD","x":{"delta":"AAAA"}}',
        b'{"type":"response.audio.delta","delta":"QUJD","delta":"AAAA"}',
        b'{"event_id":"e","type":"response.audio.delta","x":{"delta":"AAAA"},"delta":"QUJD"}',
        b'{"type":"input_audio_buffer.append","audio":"QUJD","x":{"audio":"AAAA"}}',
    ],
)
def test_a_nested_or_repeated_audio_key_is_not_cut(data: bytes) -> None:
    form = stored_form(data)
    assert (form.audio, form.audio_at) == (None, None)
    assert _round_trip(data) == data


@pytest.mark.parametrize("tail", [b'"}', b'" }', b'"}\n', b'","x":1}', b'"} '])
def test_the_bare_append_shortcut_keeps_every_tail(tail: bytes) -> None:
    """'{"type":"input_audio_buffer.append","audio":"..."}' exactly takes a shortcut to its
    body; any other ending goes the long way, and both read back byte for byte."""
    data = b'{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(b"\x01\x02" * 50)
    data += tail
    form = stored_form(data)
    assert form.audio == b"\x01\x02" * 50
    assert form.body == b'"audio":"' + tail
    assert _round_trip(data) == data
