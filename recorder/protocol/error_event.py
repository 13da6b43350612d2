"""The Realtime `error` server event (CATALOG.md §2.11), for the ones rtrec sends itself.

Shaped like the API's: {"type": "error", "event_id", "error": {"type", "code", "message",
"param", "event_id"}}, where error.event_id names the client event that failed (or null).
"""

from __future__ import annotations

import contextlib

import msgspec

from recorder import jsontext

INVALID_REQUEST = "invalid_request_error"

# The API's answer to a beta handshake since 2026-05-12, before it closes with 4000 (CATALOG §3).
BETA_SHAPE_DISABLED_CODE = "beta_api_shape_disabled"
BETA_SHAPE_DISABLED_MESSAGE = (
    "The Realtime Beta API is no longer supported. Please use /v1/realtime for the GA API."
)


def error_event(
    code: str,
    message: str,
    *,
    event_id: str,
    client_event_id: str | None = None,
    error_type: str = INVALID_REQUEST,
    live: bool = False,
) -> dict[str, object]:
    """An `error` event; `client_event_id` is the event_id of the client event it answers.

    live: shaped as Live's (LIVE.md §2d): the failed command's event_id as client_event_id,
    inside `error` and beside it."""
    event: dict[str, object] = {
        "type": "error",
        "event_id": event_id,
        "error": {
            "type": error_type,
            "code": code,
            "message": message,
            "param": None,
            ("client_event_id" if live else "event_id"): client_event_id,
        },
    }
    if live:
        event["client_event_id"] = client_event_id
    return event


class _EventId(msgspec.Struct):
    event_id: str | None = None


def client_event_id(received: bytes) -> str | None:
    """The event_id of a client frame, if it is a JSON object with a string event_id."""
    with contextlib.suppress(*jsontext.FAILURES):
        return msgspec.json.decode(received, type=_EventId).event_id
    return None


def encode(event: dict[str, object]) -> bytes:
    """The event as a text frame's payload (compact JSON, keys in the API's order)."""
    return msgspec.json.encode(event)
