"""Alembic revisions in migrations/, applied whenever a database is opened.

The revisions live in migrations/ at the top of the checkout; pyproject.toml maps that folder
to the package recorder.store._migrations, so the wheel (and an editable install) carries them.
Code running from a checkout uses the migrations/ of that checkout.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncConnection

from recorder.errors import NewerSchema, NotAnEventLog, RtrecError


@cache
def migrations_dir() -> Path:
    # Code run from a checkout (PYTHONPATH, a git worktree) takes that checkout's revisions,
    # not those of another checkout an editable install maps the package to.
    root = Path(__file__).resolve().parents[2]
    checkout = root / "migrations"
    if (root / "pyproject.toml").is_file() and (checkout / "env.py").is_file():
        return checkout
    spec = importlib.util.find_spec("recorder.store._migrations")
    if spec is not None and spec.submodule_search_locations:
        location = Path(next(iter(spec.submodule_search_locations)))
        if (location / "env.py").is_file():
            return location
    if (checkout / "env.py").is_file():
        return checkout
    raise RtrecError(  # a broken install, not a user's database
        "rtrec's migrations are missing from this installation: reinstall rtrec"
    )


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory(str(migrations_dir()))


def head_revision() -> str:
    head = _script().get_current_head()
    assert head is not None
    return head


async def upgrade(connection: AsyncConnection, display: str) -> None:
    """Bring the database to this rtrec's schema; refuse one made by a newer rtrec."""
    await connection.run_sync(_upgrade, display)


# Recorders of a fleet may open the same fresh PostgreSQL database at once: one migrates.
_PG_MIGRATION_LOCK = 0x72747265  # "rtre"


def _upgrade(connection: Connection, display: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
    current = MigrationContext.configure(connection).get_current_revision()
    if current == head_revision():
        return
    if current is None:
        foreign = set(inspect(connection).get_table_names()) - {"alembic_version"}
        if foreign:
            raise NotAnEventLog(
                f"{display} is a {connection.dialect.name} database but not an rtrec event log "
                "(it has other tables): give another path"
            )
    elif current not in {script.revision for script in _script().walk_revisions()}:
        raise NewerSchema(
            f"{display} was written by a newer rtrec (schema revision {current}): "
            "upgrade rtrec to open it"
        )
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
