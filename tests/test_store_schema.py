"""The schema is written twice (store/schema.py, the Alembic revisions): they must agree."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, MetaData, Text

from recorder.store import open_log, schema
from recorder.store.db import Database
from recorder.store.urls import parse_db


async def _differences(db: str, metadata: MetaData) -> list[Any]:
    """What autogenerate finds between the database at head and `metadata`."""
    log = await open_log(db)  # migrates an empty database to head
    await log.close()
    database = Database(parse_db(db))

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True,
                        "include_name": schema.include_name}
        )
        return list(compare_metadata(context, metadata))

    try:
        async with database.reading() as connection:
            return await connection.run_sync(compare)
    finally:
        await database.dispose()


# the sessions page's duration sort is an index on an expression (0009): made by the migration
# alone (schema.include_name), which SQLAlchemy says it cannot reflect
_EXPRESSION_INDEX = pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index")


@_EXPRESSION_INDEX
async def test_the_migrations_at_head_build_exactly_the_schema_module(db: str) -> None:
    assert await _differences(db, schema.metadata) == []


@_EXPRESSION_INDEX
async def test_the_comparison_sees_nullability_types_indexes_and_tables(db: str) -> None:
    """The check above could fail: a schema.py that drifted from the migrations is caught."""
    drifted = MetaData()
    for table in schema.metadata.tables.values():
        table.to_metadata(drifted)
    sessions, frames = drifted.tables["sessions"], drifted.tables["frames"]
    sessions.c.started_at.nullable = False  # as 0001 had it, before 0002
    frames.c.audio_at.type = Text()
    frames.indexes.clear()  # frames_session_seq (0003) gone
    drifted.remove(drifted.tables["gaps"])

    kinds = set()
    for difference in await _differences(db, drifted):
        # a list of column changes, or one (kind, table or index, ...) tuple
        for change in difference if isinstance(difference, list) else [difference]:
            kinds.add(change[0])
    assert {"modify_nullable", "modify_type", "remove_index", "remove_table"} <= kinds
