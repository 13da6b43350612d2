"""Frames in write order: id becomes the rowid (assigned on insert), read by an index on
(session, seq). 0001 keyed frames by session << 32 | seq, so with many sessions recording at
once every commit rewrote a partly filled page per open session (see recorder.store.schema).

The table is rebuilt (SQLite cannot change a primary key in place); rows keep their bytes and
their (session, seq), copied in the old key order.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = (
    "session, seq, t_ns, direction, opcode, type, event_id, item_id, response_id, stripped, "
    "data, audio_at, audio"
)


def _frames_table(name: str, *, write_order: bool) -> None:
    op.create_table(
        name,
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=write_order,
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


def _replace_frames(key: str, *, write_order: bool) -> None:
    """Copy frames into a new table (id = key, an SQL expression; None: assigned on insert)."""
    _frames_table("frames_new", write_order=write_order)
    if key:
        op.execute(f"INSERT INTO frames_new (id, {_COLUMNS}) SELECT {key}, {_COLUMNS} FROM frames")
    else:
        op.execute(f"INSERT INTO frames_new ({_COLUMNS}) SELECT {_COLUMNS} FROM frames ORDER BY id")
    op.drop_table("frames")
    op.rename_table("frames_new", "frames")
    if op.get_bind().dialect.name == "postgresql":  # names PostgreSQL derived from frames_new
        op.execute("ALTER INDEX frames_new_pkey RENAME TO frames_pkey")
        op.execute(
            "ALTER TABLE frames RENAME CONSTRAINT frames_new_session_fkey TO frames_session_fkey"
        )
        if write_order:
            op.execute("ALTER SEQUENCE frames_new_id_seq RENAME TO frames_id_seq")


def upgrade() -> None:
    _replace_frames("", write_order=True)
    op.create_index("frames_session_seq", "frames", ["session", "seq"], unique=True)


def downgrade() -> None:
    _replace_frames("(CAST(session AS BIGINT) * 4294967296) + seq", write_order=False)
