"""Stats: each session's turn figures, computed once, so a fleet summary is one query.

stats_sessions (one narrow row per session: the columns a summary groups, filters and sums),
stats_turns (each measured turn's voice-to-voice latency, with its session's group columns:
the percentiles of a group read this table alone) and stats_figures (the SessionFigures as
msgspec JSON). Derived from the frames: empty after this revision, filled on first use
(recorder.stats.table.ensure) or when a recording ends; `rtrec stats --rebuild` refills them.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _session_key(**kwargs: object) -> sa.Column:
    return sa.Column(
        "session", sa.Integer, sa.ForeignKey("sessions.pk", ondelete="CASCADE"), **kwargs
    )


def upgrade() -> None:
    op.create_table(
        "stats_sessions",
        _session_key(primary_key=True, autoincrement=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("computed_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("day", sa.String(10)),
        sa.Column("model", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("duration_ms", sa.Float),
        sa.Column("turns", sa.Integer, nullable=False),
        sa.Column("measured_turns", sa.Integer, nullable=False),
        sa.Column("responses", sa.Integer, nullable=False),
        sa.Column("interruptions", sa.Integer, nullable=False),
        sa.Column("errors", sa.Integer, nullable=False),
        sa.Column("tool_calls", sa.Integer, nullable=False),
        sa.Column("input_tokens", sa.BigInteger),
        sa.Column("output_tokens", sa.BigInteger),
        sa.Column("total_tokens", sa.BigInteger),
        sa.Column("cached_tokens", sa.BigInteger),
        sa.Column("audio_generated_ms", sa.Float),
        sa.Column("audio_heard_ms", sa.Float),
    )
    op.create_index("stats_sessions_started", "stats_sessions", ["started_at"])
    op.create_table(
        "stats_turns",
        _session_key(nullable=False),
        sa.Column("turn", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float),
        sa.Column("day", sa.String(10)),
        sa.Column("model", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("voice_to_voice_ms", sa.Float, nullable=False),
        sa.PrimaryKeyConstraint("session", "turn", name="stats_turns_pkey"),
    )
    op.create_index("stats_turns_started", "stats_turns", ["started_at"])
    for key in ("model", "day", "status"):
        op.create_index(f"stats_turns_{key}_v2v", "stats_turns",
                        [key, "voice_to_voice_ms", "started_at"])
    op.create_index("stats_turns_v2v", "stats_turns", ["voice_to_voice_ms", "started_at"])
    op.create_table(
        "stats_figures",
        _session_key(primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("stats_figures")
    for name in ("stats_turns_v2v", "stats_turns_status_v2v", "stats_turns_day_v2v",
                 "stats_turns_model_v2v", "stats_turns_started"):
        op.drop_index(name, table_name="stats_turns")
    op.drop_table("stats_turns")
    op.drop_index("stats_sessions_started", table_name="stats_sessions")
    op.drop_table("stats_sessions")
