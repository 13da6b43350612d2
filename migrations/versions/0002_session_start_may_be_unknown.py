"""sessions.started_at may be NULL: the start of an imported session is unknown.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:  # SQLite: the table is copied
        batch.alter_column("started_at", existing_type=sa.Float, nullable=True)


def downgrade() -> None:
    op.execute("UPDATE sessions SET started_at = last_seen WHERE started_at IS NULL")
    with op.batch_alter_table("sessions") as batch:
        batch.alter_column("started_at", existing_type=sa.Float, nullable=False)
