"""WebSocket close codes and reasons (RFC 6455 §5.5, §7.4) as rtrec's sockets use them.

A recorded close is passed on or replayed only if an endpoint may send its code; the codes that
only describe what happened (1005 no status, 1006 dropped, 1015 TLS) and the reserved 1004 are
never sent, nor anything outside 1000-4999. A reason is at most 123 bytes of UTF-8 (a control
frame's 125 minus the code), cut on a character boundary so it stays valid UTF-8.
"""

from __future__ import annotations

NORMAL = 1000
GOING_AWAY = 1001
POLICY_VIOLATION = 1008
NO_STATUS = 1005  # a close frame without a status code (RFC 6455 §7.1.5), as clean as a 1000
ABNORMAL = 1006  # what the proxy records when a socket dropped without a close frame
# The API closes a beta handshake with this after its beta_api_shape_disabled error (CATALOG §3).
BETA_SHAPE_DISABLED = 4000

# A session that ended with one of these (either side) is complete.
CLEAN = frozenset({NORMAL, GOING_AWAY, NO_STATUS})
_DESCRIBE_ONLY = frozenset({1004, NO_STATUS, ABNORMAL, 1015})
MAX_REASON_BYTES = 123


def sendable(code: int | None) -> bool:
    """Whether an endpoint may put `code` in a close frame it sends."""
    return code is not None and 1000 <= code < 5000 and code not in _DESCRIBE_ONLY


def sendable_or_normal(code: int | None) -> int:
    """`code` if it may be sent, else 1000: the nearest thing to a clean close."""
    return code if code is not None and sendable(code) else NORMAL


def close_reason(reason: str) -> bytes:
    """`reason` as a close frame may carry it: UTF-8, at most 123 bytes, whole characters."""
    data = reason.encode("utf-8", "replace")
    if len(data) <= MAX_REASON_BYTES:
        return data
    return data[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")
