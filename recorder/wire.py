"""What crossed the socket: one frame, its direction and when it crossed.

The raw frame is the record; typed events are a view decoded from it (see recorder.decode).
Everything that moves frames (proxy, store, replay, serve) speaks this type.
"""

from __future__ import annotations

import enum

import msgspec

from recorder.redact import Redaction


class Direction(enum.StrEnum):
    """Who sent the frame: the client app (outbound) or the Realtime server (inbound)."""

    CLIENT = "client"
    SERVER = "server"


class Opcode(enum.IntEnum):
    """WebSocket data opcodes (RFC 6455); the Realtime API uses TEXT, BINARY is kept as is."""

    TEXT = 1
    BINARY = 2


class Frame(msgspec.Struct, frozen=True, gc=False):
    """One WebSocket data frame as it crossed the wire.

    t_ns is monotonic time since the session started, in nanoseconds. data is the exact payload:
    UTF-8 bytes for text frames, raw bytes for binary frames; or, on its way to the log, that
    payload redacted, and `redaction` says how (recorder.redact; the log keeps it).

    A msgspec Struct rather than a frozen dataclass: the proxy builds one per frame on its hot
    path, and a Struct is about five times cheaper to construct. gc=False: it holds no
    containers (so can be in no cycle), and thousands wait in the writer's queue, which every
    collection of the garbage collector would otherwise walk.
    """

    direction: Direction
    t_ns: int
    opcode: Opcode
    data: bytes
    redaction: Redaction = Redaction.UNTOUCHED
