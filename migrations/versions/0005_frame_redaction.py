"""Frame redaction: how the recorder redacted a frame (recorder.redact.Redaction), on the frame.

NULL: nothing redacted (every row written before this revision: none needs a rewrite); 1: its
JSON was read and secret strings replaced (parsed); 2: it could not be parsed and a byte scan
masked it (scan). A partial index on the redacted rows finds them without reading a session.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_REDACTED = sa.text("redaction IS NOT NULL")


def upgrade() -> None:
    op.add_column("frames", sa.Column("redaction", sa.SmallInteger, nullable=True))
    op.create_index(
        "frames_redacted", "frames", ["session", "seq"],
        sqlite_where=_REDACTED, postgresql_where=_REDACTED,
    )


def downgrade() -> None:
    op.drop_index("frames_redacted", table_name="frames")
    op.drop_column("frames", "redaction")
