"""Session links: the API's own id of a session, and which session a fork or sideband is of.

upstream_id: the id the API gave the session (Live: session.started's session.id, live_...);
connection: how it was reached (Live: primary, attach for a sideband, fork); parent_id: the API
id of the session a fork was made from or a sideband attached to (from the handshake's path),
so `rtrec sessions` lists them together. All NULL for the rows written before this revision
(and for Realtime sessions): none needs a rewrite.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("upstream_id", sa.Text, nullable=True))
        batch.add_column(sa.Column("connection", sa.String(16), nullable=True))
        batch.add_column(sa.Column("parent_id", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("parent_id")
        batch.drop_column("connection")
        batch.drop_column("upstream_id")
