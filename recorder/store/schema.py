"""The tables of the event log (SQLAlchemy Core); migrations/ creates them, this module names them.

Size matters here (an audio-heavy session must take at most 0.8x its wire bytes), so a frame
row is small: integer session key, event type as an integer into event_types, audio as binary
beside the frame with the base64 cut out, the leading '{"type":"<type>",' left out (the type
column has it), the id columns left NULL for audio frames (they are read back from the frame
itself, which still holds them), and no index beside the primary key.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("started_at", Float, nullable=False),  # unix seconds, UTC
    Column("ended_at", Float),
    Column("last_seen", Float, nullable=False),  # writer heartbeat, to tell a crash
    Column("heartbeat", Float, nullable=False),  # seconds between heartbeats
    Column("recorder", Text),  # host:pid of the writing process
    Column("protocol", String(16)),
    Column("model", Text),
    Column("endpoint", Text),
    Column("status", String(16), nullable=False),  # recording|complete|interrupted|incomplete
    Column("close_code", Integer),
    Column("close_reason", Text),
    Column("closed_by", String(16)),
    Column("frames", Integer, nullable=False, server_default="0"),
    Column("client_frames", Integer, nullable=False, server_default="0"),
    Column("server_frames", Integer, nullable=False, server_default="0"),
)

event_types = Table(
    "event_types",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
)

frames = Table(
    "frames",
    metadata,
    # id = session << 32 | seq: one clustered key gives seq order and uniqueness per session,
    # with no separate index (SQLite keeps rows in rowid order).
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=False),
    Column("session", Integer, ForeignKey("sessions.pk", ondelete="CASCADE"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("t_ns", BigInteger, nullable=False),
    Column("direction", SmallInteger, nullable=False),  # 0 client, 1 server
    Column("opcode", SmallInteger, nullable=False),
    Column("type", Integer),  # event_types.id
    Column("event_id", Text),
    Column("item_id", Text),
    Column("response_id", Text),
    Column("stripped", SmallInteger),  # 1: data lacks the '{"type":"<type>",' prefix
    Column("data", LargeBinary, nullable=False),  # the frame, audio base64 cut out if any
    Column("audio_at", Integer),  # byte offset of the cut in data, NULL if not cut
    Column("audio", LargeBinary),  # the decoded audio of the cut
)

# What a recorder could not keep: frames seq first_seq..last_seq of a session (its store was
# down past the memory buffer, the frame was larger than the buffer, or the session was shed).
# One row per run of lost frames; the writer extends the row while the run goes on.
gaps = Table(
    "gaps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session", Integer, ForeignKey("sessions.pk", ondelete="CASCADE"), nullable=False),
    Column("first_seq", Integer, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("first_t_ns", BigInteger, nullable=False),  # session time of the first lost frame
    Column("last_t_ns", BigInteger, nullable=False),
    Column("frames", Integer, nullable=False),  # last_seq - first_seq + 1
    Column("reason", Text, nullable=False),
    UniqueConstraint("session", "first_seq", name="gaps_session_first_seq"),
)

# Direction is stored as a small integer; 0/1 cost no payload bytes in SQLite.
DIRECTION_CODES = {"client": 0, "server": 1}


def frame_key(session_pk: int, seq: int) -> int:
    return (session_pk << 32) | seq
