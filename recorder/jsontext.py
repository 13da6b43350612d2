"""Reading JSON off the wire, failing one way whatever msgspec release is installed.

msgspec's failures change shape between releases and inputs: invalid UTF-8 inside a string is a
`UnicodeDecodeError` up to 0.22 and a `DecodeError` from 0.23 on; a value nested about 1000
deep raises `RecursionError`; a schema mismatch is a `ValidationError` (a `DecodeError`). Every
reader of frames catches `FAILURES` and names the failure with `failure_reason`, so a frame can
only fail itself and the reason reads the same on every release.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

# Everything msgspec's JSON decoders raise for bad input (ValidationError is a DecodeError).
FAILURES: tuple[type[Exception], ...] = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)

NOT_UTF8 = "not valid UTF-8 text"
TOO_DEEP = "nested too deep to read"


class NotJson(ValueError):
    """The bytes are not a JSON value rtrec can read; `reason` says why, in one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_utf8_failure(error: BaseException) -> bool:
    """Whether a decode failure was invalid UTF-8 inside a string (either msgspec shape)."""
    if isinstance(error, UnicodeDecodeError):
        return True
    return isinstance(error, msgspec.DecodeError) and "utf-8" in str(error).lower()


def failure_reason(error: BaseException) -> str:
    """One line for a failure of a generic (schema-less) decode."""
    if is_utf8_failure(error):
        return NOT_UTF8
    if isinstance(error, RecursionError):
        return f"not JSON: {TOO_DEEP}"
    return f"not JSON: {one_line(error)}"


def one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


_generic: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def parse(data: bytes | str) -> Any:
    """The JSON value of `data`; NotJson (with its reason) for anything else."""
    try:
        return _generic.decode(data)
    except FAILURES as error:
        raise NotJson(failure_reason(error)) from error


class _Typed(msgspec.Struct):
    type: Any = None


_typed: msgspec.json.Decoder[_Typed] = msgspec.json.Decoder(_Typed)


def frame_type(data: bytes | str) -> str | None:
    """The `type` of a JSON event object; None for anything else. Reads only that field (and
    for an object nested too deep for msgspec, finds its top-level "type" key by a scan)."""
    try:
        kind = _typed.decode(data).type
    except RecursionError:
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        return readable_type(raw)
    except FAILURES:
        return None
    return kind if isinstance(kind, str) else None


# A frame that is not JSON (cut short, a bad byte) often still says what it was meant to be: its
# "type" key, first as SDKs send it or after event_id as the docs show it. A "type" inside a JSON
# string has escaped quotes and does not match.
_TYPE_KEY = re.compile(rb'[{,]\s*"type"\s*:\s*"([^"\\]{1,200})"')


def readable_type(raw: bytes) -> str | None:
    """The first "type" member's string value found by a scan, for bytes msgspec cannot read."""
    match = _TYPE_KEY.search(raw)
    return match.group(1).decode("utf-8", "replace") if match else None
