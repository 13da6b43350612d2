"""recorder.protocol.close: which close codes may be sent, which are clean, the reason limit."""

from __future__ import annotations

import pytest

from recorder.protocol.close import (
    MAX_REASON_BYTES,
    close_reason,
    sendable,
    sendable_or_normal,
)


@pytest.mark.parametrize("code", [1000, 1001, 1008, 1011, 3000, 4000, 4999])
def test_codes_an_endpoint_may_send(code: int) -> None:
    assert sendable(code)
    assert sendable_or_normal(code) == code


@pytest.mark.parametrize("code", [None, 0, 999, 1004, 1005, 1006, 1015, 5000])
def test_codes_that_only_describe_a_close_become_a_normal_close(code: int | None) -> None:
    assert not sendable(code)
    assert sendable_or_normal(code) == 1000


def test_a_short_reason_is_kept() -> None:
    assert close_reason("rtrec is stopping") == b"rtrec is stopping"
    assert close_reason("") == b""


def test_a_long_reason_is_cut_to_123_bytes_on_a_character_boundary() -> None:
    assert close_reason("x" * 200) == b"x" * MAX_REASON_BYTES
    # 122 ASCII bytes then a 2-byte character: cutting at 123 would split it
    cut = close_reason("x" * 122 + "é" + "y")
    assert cut == b"x" * 122
    cut.decode("utf-8")  # valid UTF-8, as RFC 6455 requires of a close reason
    assert close_reason("é" * 100) == "é".encode() * 61
