"""rtrec view's derived tables: transcripts' full text, each session's index and its peaks.

view_text: the text of a session's transcripts (what was said, both sides), searched by the
sessions page: SQLite keeps it in an FTS5 table (view_text_fts, external content: view_text,
kept in step by triggers), PostgreSQL in a GIN index over to_tsvector('simple', body).
view_index: a session's viewer index (recorder.view.index.SessionIndex) as one blob; view_peaks:
its waveform peaks per side at the finest level (min and max per 10 ms). All three are derived
from the frames and rebuilt when stale (recorder.view.derived): `version` is the version they
were computed under, `frames` and `status` the session's then. Empty after this revision.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

def _session_key(**kwargs: object) -> sa.Column:
    return sa.Column(
        "session", sa.Integer, sa.ForeignKey("sessions.pk", ondelete="CASCADE"), **kwargs
    )


def _staleness() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("frames", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("computed_at", sa.Float, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "view_text",
        _session_key(primary_key=True, autoincrement=False),
        *_staleness(),
        sa.Column("body", sa.Text, nullable=False),
    )
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE view_text_fts USING fts5(body, content='view_text', "
                   "content_rowid='session', tokenize='unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER view_text_insert AFTER INSERT ON view_text BEGIN "
                   "INSERT INTO view_text_fts(rowid, body) VALUES (new.session, new.body); END")
        op.execute("CREATE TRIGGER view_text_delete AFTER DELETE ON view_text BEGIN "
                   "INSERT INTO view_text_fts(view_text_fts, rowid, body) "
                   "VALUES ('delete', old.session, old.body); END")
        op.execute("CREATE TRIGGER view_text_update AFTER UPDATE ON view_text BEGIN "
                   "INSERT INTO view_text_fts(view_text_fts, rowid, body) "
                   "VALUES ('delete', old.session, old.body); "
                   "INSERT INTO view_text_fts(rowid, body) VALUES (new.session, new.body); END")
    else:
        op.execute("CREATE INDEX view_text_search ON view_text "
                   "USING gin (to_tsvector('simple', body))")
    op.create_table(
        "view_index",
        _session_key(primary_key=True, autoincrement=False),
        *_staleness(),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "view_peaks",
        _session_key(nullable=False),
        sa.Column("side", sa.String(16), nullable=False),
        *_staleness(),
        sa.Column("mins", sa.LargeBinary, nullable=False),
        sa.Column("maxs", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("session", "side", name="view_peaks_pkey"),
    )
    # the sessions page sorts and filters in SQL (recorder.view.listing): an index per sort
    # (a NULL sorts first: PostgreSQL's indexes say so, SQLite's do by themselves), so its
    # first page reads a page of rows whatever the store holds
    nulls = " NULLS FIRST" if op.get_bind().dialect.name == "postgresql" else ""
    for name, expression in SESSION_SORTS:
        op.execute(f"CREATE INDEX {name} ON sessions ({expression}{nulls}, pk)")


SESSION_SORTS = (
    ("sessions_by_started", "started_at"),
    ("sessions_by_model", "model"),
    ("sessions_by_status", "status"),
    ("sessions_by_frames", "frames"),
    ("sessions_by_protocol", "protocol"),
    ("sessions_by_duration", "(ended_at - started_at)"),
)


def downgrade() -> None:
    for name, _expression in SESSION_SORTS:
        op.execute(f"DROP INDEX {name}")
    op.drop_table("view_peaks")
    op.drop_table("view_index")
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("view_text_insert", "view_text_delete", "view_text_update"):
            op.execute(f"DROP TRIGGER {trigger}")
        op.execute("DROP TABLE view_text_fts")
    op.drop_table("view_text")
