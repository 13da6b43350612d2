"""Each session's measured turns counted by voice-to-voice latency, in stats_sessions.

v2v_b00 ... v2v_b15: how many of the session's stats_turns rows fall in each bucket of
recorder.stats.ranks (bucket 0 below 64 ms, bucket n [64 * 2 ** ((n - 1) / 2),
64 * 2 ** (n / 2)) rounded to whole ms, the last one from 8,192 ms up), so a fleet summary finds
the bucket of each percentile's rank from the group's sums and reads only the turns near it.
The rows already kept are counted here from their stats_turns rows (no figures recomputed);
the edges are written out again below, as they were when this revision was made.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BUCKETS = 16
EDGES = [float(round(64 * 2 ** (n / 2))) for n in range(BUCKETS - 1)]
COLUMNS = [f"v2v_b{n:02d}" for n in range(BUCKETS)]


def _bucket_count(n: int) -> str:
    bounds = []
    if n > 0:
        bounds.append(f"t.voice_to_voice_ms >= {EDGES[n - 1]!r}")
    if n < BUCKETS - 1:
        bounds.append(f"t.voice_to_voice_ms < {EDGES[n]!r}")
    return f"coalesce(sum(CASE WHEN {' AND '.join(bounds)} THEN 1 ELSE 0 END), 0)"


def upgrade() -> None:
    with op.batch_alter_table("stats_sessions") as batch:
        for name in COLUMNS:
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
    counts = ", ".join(_bucket_count(n) for n in range(BUCKETS))
    op.execute(
        f"UPDATE stats_sessions SET ({', '.join(COLUMNS)}) = (SELECT {counts} FROM stats_turns t "
        "WHERE t.session = stats_sessions.session) WHERE measured_turns > 0"
    )


def downgrade() -> None:
    with op.batch_alter_table("stats_sessions") as batch:
        for name in reversed(COLUMNS):
            batch.drop_column(name)
