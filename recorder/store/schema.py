"""The tables of the event log (SQLAlchemy Core); migrations/ creates them, this module names them.

Size matters here (an audio-heavy session must take at most 0.8x its wire bytes), so a frame
row is small: integer session key, event type as an integer into event_types, audio as binary
beside the frame with the base64 cut out, the leading '{"type":"<type>",' left out (the type
column has it), the id columns left NULL for audio frames (they are read back from the frame
itself, which still holds them).

Frames are kept in the order they were written (id: the rowid, assigned on insert), with one
small index by (session, seq) to read a session back. Many sessions record at once, so keying
rows by session would make every commit rewrite a partly filled page per open session (sqlite3
alone, 50 interleaved sessions, 64 KiB pages, a commit every 50 ms: 38x the wire bytes written,
124 us of SQLite CPU per frame); appending at the end of the table writes each data page once
(3.3x at a 50 ms commit, 2.1x at 200 ms; 12 us per frame; `rtrec record` at 200 ms: 2.5x in
bench/proxy.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from recorder.stats import ranks

metadata = MetaData()

sessions = Table(
    "sessions",
    metadata,
    Column("pk", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("started_at", Float),  # unix seconds, UTC; NULL: unknown (an imported file)
    Column("ended_at", Float),  # NULL: not ended, or unknown (then started_at is NULL too)
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
    # Links (0006): the API's own id of the session (Live: session.started's session.id), how
    # it was reached (Live: primary | attach | fork) and, for a sideband or a fork, the API id
    # of the session it belongs to (the handshake's path names it). NULL: not known.
    Column("upstream_id", Text),
    Column("connection", String(16)),
    Column("parent_id", Text),
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
    # id: write order (SQLite's rowid: the end of the table), never chosen by rtrec
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
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
    # how the recorder redacted the frame (recorder.redact.Redaction): NULL nothing, 1 its
    # parsed JSON (secret strings replaced), 2 a byte scan (it could not be parsed)
    Column("redaction", SmallInteger),
)
Index("frames_session_seq", frames.c.session, frames.c.seq, unique=True)
# The few redacted frames of a session, found without reading the session (partial index).
_REDACTED = text("redaction IS NOT NULL")
Index("frames_redacted", frames.c.session, frames.c.seq,
      sqlite_where=_REDACTED, postgresql_where=_REDACTED)

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

# Derived tables (recorder.stats.table): each session's turn figures, computed once from its
# frames (when the recording ends, or on first use) so a fleet summary is one query, never a
# replay. They can always be rebuilt from the frames; `version` is the FIGURES_VERSION they were
# computed under (older: stale), `frames` the session's frame count then (more now: stale).
# stats_sessions is narrow (a fleet summary scans it); the figures themselves are in
# stats_figures, and the voice-to-voice latency of each measured turn in stats_turns, which
# repeats the session's group columns so the percentiles of a group read one table.
stats_sessions = Table(
    "stats_sessions",
    metadata,
    Column("session", Integer, ForeignKey("sessions.pk", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("version", Integer, nullable=False),
    Column("frames", Integer, nullable=False),
    Column("computed_at", Float, nullable=False),  # unix seconds
    Column("started_at", Float),  # unix seconds, UTC; NULL: unknown (in no date range)
    Column("day", String(10)),  # started_at's UTC date, YYYY-MM-DD; NULL: unknown
    Column("model", Text),
    Column("status", String(16), nullable=False),
    Column("duration_ms", Float),
    Column("turns", Integer, nullable=False),
    Column("measured_turns", Integer, nullable=False),  # with a voice-to-voice latency
    Column("responses", Integer, nullable=False),
    Column("interruptions", Integer, nullable=False),
    Column("errors", Integer, nullable=False),  # error events (not failed transcriptions)
    Column("tool_calls", Integer, nullable=False),
    Column("input_tokens", BigInteger),
    Column("output_tokens", BigInteger),
    Column("total_tokens", BigInteger),
    Column("cached_tokens", BigInteger),
    Column("audio_generated_ms", Float),
    Column("audio_heard_ms", Float),
    # the measured turns counted by voice-to-voice latency into recorder.stats.ranks' buckets
    # (0008): a group's percentiles are exact lookups from where its histogram points
    *(Column(name, Integer, nullable=False, server_default="0") for name in ranks.COLUMNS),
)
Index("stats_sessions_started", stats_sessions.c.started_at)

stats_turns = Table(
    "stats_turns",
    metadata,
    Column("session", Integer, ForeignKey("sessions.pk", ondelete="CASCADE"), nullable=False),
    Column("turn", Integer, nullable=False),  # TurnFigures.index
    Column("started_at", Float),  # the session's, as in stats_sessions
    Column("day", String(10)),
    Column("model", Text),
    Column("status", String(16), nullable=False),
    Column("voice_to_voice_ms", Float, nullable=False),  # only turns that have one
    PrimaryKeyConstraint("session", "turn", name="stats_turns_pkey"),
)
Index("stats_turns_started", stats_turns.c.started_at)
# The percentiles of a group read a few of its turns in voice-to-voice order straight from an
# index (from the bucket edge its histogram points to, recorder.stats.ranks), started_at in it
# for the date filters: one per grouping, and one for all sessions.
for _key in ("model", "day", "status"):
    Index(f"stats_turns_{_key}_v2v", stats_turns.c[_key], stats_turns.c.voice_to_voice_ms,
          stats_turns.c.started_at)
Index("stats_turns_v2v", stats_turns.c.voice_to_voice_ms, stats_turns.c.started_at)

stats_figures = Table(
    "stats_figures",
    metadata,
    Column("session", Integer, ForeignKey("sessions.pk", ondelete="CASCADE"),
           primary_key=True, autoincrement=False),
    Column("data", LargeBinary, nullable=False),  # SessionFigures, msgspec JSON
)

# The derived tables: a session's rows in each go with it (rtrec delete).
DERIVED = (stats_turns, stats_figures, stats_sessions)


def _view_session(**kwargs: Any) -> Column[Any]:
    """A view table's session key (its rows go with the session)."""
    return Column("session", Integer, ForeignKey("sessions.pk", ondelete="CASCADE"), **kwargs)


def _staleness() -> list[Column[Any]]:
    """What a view table's row was computed from (recorder.view.derived): stale when any differ."""
    return [
        Column("version", Integer, nullable=False),
        Column("frames", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        Column("computed_at", Float, nullable=False),  # unix seconds
    ]


# rtrec view's derived tables (0009): the transcripts' text of each session, searched by the
# sessions page (SQLite: the FTS5 table view_text_fts over it, kept by triggers; PostgreSQL: a
# GIN index over to_tsvector('simple', body): both made by the migration alone), each
# session's viewer index as one blob and its waveform peaks (the finest level, per side).
view_text = Table(
    "view_text",
    metadata,
    _view_session(primary_key=True, autoincrement=False),
    *_staleness(),
    Column("body", Text, nullable=False),
)

view_index = Table(
    "view_index",
    metadata,
    _view_session(primary_key=True, autoincrement=False),
    *_staleness(),
    Column("data", LargeBinary, nullable=False),  # recorder.view.derived's encoding
)

view_peaks = Table(
    "view_peaks",
    metadata,
    _view_session(nullable=False),
    Column("side", String(16), nullable=False),
    *_staleness(),
    Column("mins", LargeBinary, nullable=False),  # int16 per 10 ms bucket, little-endian
    Column("maxs", LargeBinary, nullable=False),
    PrimaryKeyConstraint("session", "side", name="view_peaks_pkey"),
)

VIEW_DERIVED = (view_text, view_index, view_peaks)

# Made by the migrations in SQL of their dialect, not declared above: the FTS5 table (and its
# shadow tables), its triggers, the GIN index, and the sessions page's sort indexes
# (0009_view_tables.SESSION_SORTS; PostgreSQL's sort NULLs first).
_MIGRATION_ONLY_INDEXES = frozenset((
    "view_text_search", "sessions_by_started", "sessions_by_model", "sessions_by_status",
    "sessions_by_frames", "sessions_by_protocol", "sessions_by_duration",
))


def include_name(name: str | None, type_: str, _parents: Any) -> bool:
    """Alembic's include_name: what the schema comparison leaves to the migrations alone."""
    if type_ == "table" and name is not None and name.startswith("view_text_fts"):
        return False
    return not (type_ == "index" and name in _MIGRATION_ONLY_INDEXES)

# Direction is stored as a small integer; 0/1 cost no payload bytes in SQLite.
DIRECTION_CODES = {"client": 0, "server": 1}


def column_list(table: Table, names: Iterable[str]) -> str:
    """'a, b, c' for a statement: each name looked up in `table` (KeyError: not its column)."""
    return ", ".join(table.c[name].name for name in names)


def pg_types(table: Table, names: Iterable[str]) -> list[str]:
    """Each named column's PostgreSQL type, as a statement casts to it ('integer', 'bytea')."""
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    return [table.c[name].type.compile(dialect=dialect).lower() for name in names]
