"""Shared fixtures. PostgreSQL: one uniquely named database per test run, dropped afterwards.

The server URL defaults to postgresql+asyncpg://postgres@127.0.0.1:5432/test and can be
overridden with RTREC_TEST_PG_URL (its database is only used to create and drop ours).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

PG_SERVER_URL = os.environ.get(
    "RTREC_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(PG_SERVER_URL), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (SQLAlchemy URL), dropped at the end."""
    name = f"rtrec_test_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    except (TimeoutError, OSError) as error:
        pytest.skip(f"PostgreSQL not reachable at {make_url(PG_SERVER_URL).host}: {error}")
    try:
        yield make_url(PG_SERVER_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_url(pg_database_url: str) -> str:
    """The run's PostgreSQL database, emptied for this test (tests run one at a time in it)."""
    dsn_url = pg_database_url
    asyncio.run(_reset_schema(dsn_url))
    return dsn_url


async def _reset_schema(url: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(_asyncpg_dsn(url), timeout=5)
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty event log location: a SQLite file path, then the PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "log.db")
    return str(request.getfixturevalue("pg_url"))
