"""Base64 as the Realtime API carries audio in it (CATALOG.md §2: `audio`, `delta`), and the
two questions rtrec asks of such text.

decode     what the text says, strictly: the standard alphabet only (no whitespace, no
           url-safe `-_`), padded to a multiple of 4, padding only at the end; None otherwise.
           The same answer as binascii.a2b_base64(text, strict_mode=True), faster (pybase64),
           except that padding after a complete group ('AAAA=') is refused, as RFC 4648 has it.
canonical  decode, and only if base64-encoding the bytes gives back exactly `text` (the unused
           low bits of the last symbol before padding are zero): audio the store may keep as
           bytes and splice back byte for byte.

Everything that reads base64 audio (store codec, export, ...) asks here.
"""

from __future__ import annotations

import binascii

import pybase64

# pybase64.b64decode(text, altchars, validate), called positionally: on a 1.3 KB audio chunk,
# parsing the validate keyword costs as much as the SIMD decode itself.
DECODE_VALIDATING = _b64decode = pybase64.b64decode
ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# Each symbol's 6-bit value. DECODE_VALIDATING, VALUE and PAD are public for the one inlined
# copy of `canonical` (recorder.store.codec's audio split: the hot path of recording).
VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
PAD = ord("=")


def decode(text: str | bytes | memoryview) -> bytes | None:
    """The bytes strict base64 `text` encodes, or None if it is not strict base64."""
    try:
        return _b64decode(text, None, True)  # validate=True
    except ValueError:  # binascii.Error, or a str that is not ASCII
        return None


def canonical(text: bytes | memoryview) -> bytes | None:
    """The bytes `text` encodes, if base64-encoding them gives back exactly `text`; else None.

    Same answer as comparing b2a_base64(a2b_base64(text)) with text, without the re-encode:
    validating decoding rules out foreign characters and misplaced or excess padding, and the
    unused low bits of the last symbol before padding must be zero.
    """
    size = len(text)
    if size % 4:
        return None
    try:
        decoded = _b64decode(text, None, True)  # validate=True
    except binascii.Error:
        return None
    if size and text[-1] == PAD:
        if text[-2] == PAD:
            if VALUE[text[-3]] & 0x0F:
                return None
        elif VALUE[text[-2]] & 0x03:
            return None
    return decoded
