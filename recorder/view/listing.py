"""The sessions page's rows, chosen in SQL: sorted, filtered, searched and paged by the database.

One page reads one page of rows (each sort has an index, 0009_view_tables.SESSION_SORTS), its
gaps, a count, and the statuses and models to filter by (a loose index scan: one lookup per
value, not a scan of every session): the first page of a store of 10,000 sessions costs about
what one of ten does (bench/view.py). A NULL (an unknown start, model or duration) sorts first
on both dialects, as SQLite does by itself.

The status a session reads as is the stored one, except a recording whose recorder is gone
(EventLog.dead_recordings: few rows), which reads as interrupted: the SQL says so for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from recorder.store import EventLog, SessionInfo

# sort name -> its SQL expression over the sessions table (each has an index)
SORTS = {
    "started": "started_at", "model": "model", "status": "status",
    "duration": "(ended_at - started_at)", "frames": "frames", "protocol": "protocol",
}


@dataclass(frozen=True)
class Listing:
    sessions: list[SessionInfo]
    total: int  # the sessions that match, over every page
    statuses: list[str]  # every status of the store (as sessions read), to filter by
    models: list[str]


def status_sql(dead: list[int], table: str = "") -> str:
    """The status a session reads as, in SQL (dead: EventLog.dead_recordings; table: the
    sessions table's name in the statement, if it needs one)."""
    at = f"{table}." if table else ""
    if not dead:
        return f"{at}status"
    keys = ", ".join(str(int(pk)) for pk in dead)
    return f"(CASE WHEN {at}pk IN ({keys}) THEN 'interrupted' ELSE {at}status END)"


def _distinct(column: str, where: str = "") -> str:
    """Every value of an indexed column, one index lookup each (a loose index scan)."""
    more = f" AND {where}" if where else ""
    return (
        f"WITH RECURSIVE v(x) AS (SELECT min({column}) FROM sessions WHERE {column} IS NOT NULL"
        f"{more} UNION ALL SELECT (SELECT min({column}) FROM sessions WHERE {column} > v.x{more})"
        " FROM v WHERE v.x IS NOT NULL) SELECT x FROM v WHERE x IS NOT NULL"
    )


async def _values(log: EventLog, statement: str) -> list[str]:
    return [str(row[0]) for row in await log.query(statement)]


async def list_sessions(
    log: EventLog, *, sort: str = "started", order: str = "desc", status: str | None = None,
    model: str | None = None, matching: tuple[str, tuple[object, ...]] | None = None,
    page: int = 1, per_page: int = 50,
) -> Listing:
    """A page of the store's sessions. matching: a condition on sessions.pk and its parameters
    (recorder.view.search.match_sql), or None for every session."""
    if sort not in SORTS:
        raise ValueError(f"sort={sort!r} is not one of {', '.join(SORTS)}")
    descending = order == "desc"
    dead = await log.dead_recordings()
    reads_as = status_sql(dead)
    conditions: list[str] = []
    params: list[object] = []
    if status:
        conditions.append(f"{reads_as} = ?")
        params.append(status)
    if model:
        conditions.append("model = ?")
        params.append(model)
    if matching is not None:
        conditions.append(matching[0])
        params.extend(matching[1])
    where = " AND ".join(conditions)
    direction = "DESC" if descending else "ASC"
    nulls = "" if log.database.is_sqlite else (" NULLS LAST" if descending else " NULLS FIRST")
    expression = reads_as if sort == "status" else SORTS[sort]
    rows = await log.select_sessions(
        where, tuple(params), f"{expression} {direction}{nulls}, pk {direction}",
        limit=per_page, offset=(page - 1) * per_page)
    [(total,)] = await log.query(
        f"SELECT count(*) FROM sessions{f' WHERE {where}' if where else ''}", tuple(params))
    statuses = set(await _values(log, _distinct("status")))
    if dead:
        statuses.add("interrupted")
        live = await _values(log, _distinct("status", f"status = 'recording' AND NOT "
                                                      f"{reads_as} = 'interrupted'"))
        if not live:
            statuses.discard("recording")
    return Listing(rows, int(total), sorted(statuses), await _values(log, _distinct("model")))
