"""Gaps: the runs of frames a recorder could not keep (store down past its buffer, shed).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gaps",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "session",
            sa.Integer,
            sa.ForeignKey("sessions.pk", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("first_seq", sa.Integer, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("first_t_ns", sa.BigInteger, nullable=False),
        sa.Column("last_t_ns", sa.BigInteger, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.UniqueConstraint("session", "first_seq", name="gaps_session_first_seq"),
    )


def downgrade() -> None:
    op.drop_table("gaps")
