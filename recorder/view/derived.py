"""rtrec view's derived tables (view_text, view_index, view_peaks: 0009): rows computed from a
session's frames once, kept, and computed again when stale.

The staleness rule is recorder.stats.table's: a row is stale when it is missing, was computed
under an older version of its table's code, or the session changed since (more frames, another
status: an interrupted session that went on recording). Sessions still being recorded get no
rows (they change with every frame). Every table can be emptied and rebuilt from the frames
(rebuild()).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from recorder.store import EventLog, SessionInfo, schema
from recorder.view.listing import status_sql

_TABLES = {table.name: table for table in schema.VIEW_DERIVED}


def _table(name: str) -> str:
    if name not in _TABLES:
        raise ValueError(f"{name!r} is not one of rtrec view's tables")
    return name


async def stale(log: EventLog, table: str, version: int) -> list[SessionInfo]:
    """The sessions (not being recorded) whose rows of `table` are stale, by start; one query
    over the sessions and the table, then those sessions' rows."""
    name = _table(table)
    reads_as = status_sql(await log.dead_recordings(), "s")
    rows = await log.query(
        f"SELECT s.pk FROM sessions s LEFT JOIN (SELECT DISTINCT session, version, frames, "
        f"status FROM {name}) v ON v.session = s.pk WHERE {reads_as} <> 'recording' AND "
        f"(v.session IS NULL OR v.version <> ? OR v.frames <> s.frames OR v.status <> {reads_as})",
        (version,),
    )
    if not rows:
        return []
    keys = ", ".join(str(int(row[0])) for row in rows)
    return await log.select_sessions(f"pk IN ({keys})", (), "started_at, pk")


async def fresh(log: EventLog, table: str, version: int, info: SessionInfo,
                columns: Sequence[str]) -> list[tuple[Any, ...]] | None:
    """The session's rows of `table` (those columns) if they are fresh, else None."""
    name = _table(table)
    wanted = ", ".join(f"v.{column}" for column in ("version", "frames", "status", *columns))
    rows = await log.query(
        f"SELECT {wanted} FROM {name} v JOIN sessions s ON s.pk = v.session WHERE s.id = ?",
        (info.id,))
    if not rows or any(tuple(row[:3]) != (version, info.frames, info.status) for row in rows):
        return None
    return [tuple(row[3:]) for row in rows]


async def store(log: EventLog, table: str, version: int, info: SessionInfo,
                rows: Sequence[dict[str, Any]]) -> bool:
    """Keep `rows` as the session's rows of `table` (replacing its old ones): store_all."""
    return await store_all(log, version, info, {table: rows})


async def store_all(log: EventLog, version: int, info: SessionInfo,
                    tables: dict[str, Sequence[dict[str, Any]]]) -> bool:
    """Keep the rows of each table as the session's (replacing its old ones), in one
    transaction, computed from the session as `info` read it; False (nothing kept) when the
    session is being recorded, was deleted, or gained frames meanwhile."""
    names = [_table(name) for name in tables]
    if info.status == "recording":
        return False
    db = log.database
    try:
        async with db.writing() as connection:
            lock = "" if db.is_sqlite else " FOR UPDATE"  # PostgreSQL: one store at a time
            found = await db.fetch(
                connection, f"SELECT pk, frames FROM sessions WHERE id = ?{lock}", (info.id,))
            if not found or found[0][1] != info.frames:
                return False
            pk = found[0][0]
            now = time.time()
            for name, rows in zip(names, tables.values(), strict=True):
                await connection.exec_driver_sql(
                    db.sql(f"DELETE FROM {name} WHERE session = ?"), (pk,))
                for row in rows:
                    values = {"session": pk, "version": version, "frames": info.frames,
                              "status": info.status, "computed_at": now, **row}
                    marks = ", ".join("?" * len(values))
                    await connection.exec_driver_sql(
                        db.sql(f"INSERT INTO {name} ({', '.join(values)}) VALUES ({marks})"),
                        tuple(values.values()))
    except Exception as error:
        raise db.error(error) from error
    return True


async def clear(log: EventLog) -> None:
    """Empty every view table (rebuild: they fill again as sessions are viewed or searched)."""
    db = log.database
    try:
        async with db.writing() as connection:
            for name in _TABLES:
                await connection.exec_driver_sql(f"DELETE FROM {name}")
    except Exception as error:
        raise db.error(error) from error
