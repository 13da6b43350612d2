"""The event log: sessions, event types, frames.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("pk", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("last_seen", sa.Float, nullable=False),
        sa.Column("heartbeat", sa.Float, nullable=False),
        sa.Column("recorder", sa.Text),
        sa.Column("protocol", sa.String(16)),
        sa.Column("model", sa.Text),
        sa.Column("endpoint", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("close_code", sa.Integer),
        sa.Column("close_reason", sa.Text),
        sa.Column("closed_by", sa.String(16)),
        sa.Column("frames", sa.Integer, nullable=False, server_default="0"),
        sa.Column("client_frames", sa.Integer, nullable=False, server_default="0"),
        sa.Column("server_frames", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "event_types",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
    )
    op.create_table(
        "frames",
        # id = session << 32 | seq (see recorder.store.schema)
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column(
            "session",
            sa.Integer,
            sa.ForeignKey("sessions.pk", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("t_ns", sa.BigInteger, nullable=False),
        sa.Column("direction", sa.SmallInteger, nullable=False),
        sa.Column("opcode", sa.SmallInteger, nullable=False),
        sa.Column("type", sa.Integer),
        sa.Column("event_id", sa.Text),
        sa.Column("item_id", sa.Text),
        sa.Column("response_id", sa.Text),
        sa.Column("stripped", sa.SmallInteger),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("audio_at", sa.Integer),
        sa.Column("audio", sa.LargeBinary),
    )


def downgrade() -> None:
    op.drop_table("frames")
    op.drop_table("event_types")
    op.drop_table("sessions")
