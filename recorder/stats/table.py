"""The derived stats tables: each session's figures computed once, and the fleet summary as one
SQL query over them (never a replay of every frame).

store() keeps a session's SessionFigures (msgspec JSON in stats_figures), the columns a summary
groups, filters and sums (stats_sessions) and the voice-to-voice latency of each measured turn
(stats_turns). A stored row is stale when it is missing, was computed under an older
FIGURES_VERSION, or the session has changed since (more frames, another status: a session read
as interrupted while its store was down that went on recording). ensure() computes what is
stale, rebuild() everything; both take the compute function (the fold: a session's figures from
its frames) as a parameter. Sessions still being recorded are left alone: their figures come
when they end (recorder.stats.worker).

The summary of a group (all sessions, or by model, UTC day or status; --from/--to on the
session's start, UTC):
- sessions, turns, responses: counted;
- voice_to_voice_p50_ms / _p95_ms: percentiles over the group's measured turns, interpolated
  linearly between the two nearest ranks (numpy's default, PostgreSQL's percentile_cont),
  exact: the two values are read from the group's index where the histogram of its sessions
  (recorder.stats.ranks) says they are; voice_to_voice_count says how many turns were measured
  (None when none was);
- interruption_rate: interrupted responses / responses (None without responses);
- error_rate: sessions with at least one error event (ErrorFigure kind "error": failed
  transcriptions and rate limits are not errors of the session) / sessions; errors: those
  events;
- tokens: sums over the group's responses (None when no response reported usage).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import msgspec

from recorder.errors import RtrecError
from recorder.stats import ranks
from recorder.stats.figures import FIGURES_VERSION, SessionFigures
from recorder.store import EventLog, SessionInfo, schema

Compute = Callable[[EventLog, str], Awaitable[SessionFigures]]
GroupBy = Literal["model", "day", "status"]
GROUPS: tuple[GroupBy, ...] = ("model", "day", "status")

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(SessionFigures).decode



class FleetRow(msgspec.Struct, frozen=True, kw_only=True):
    """One group of the fleet summary (group: the model, day or status; None: all sessions, or
    sessions whose model is not known). The fields carry the names of the fold's fleet summary
    (recorder.stats.summary's FLEET_KEYS), plus errors and cached_tokens; as_dict() gives
    them as a plain dict."""

    group: str | None
    sessions: int
    turns: int
    responses: int
    voice_to_voice_count: int
    voice_to_voice_p50_ms: float | None
    voice_to_voice_p95_ms: float | None
    interruptions: int
    interruption_rate: float | None
    sessions_with_errors: int
    error_rate: float | None
    errors: int
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    cached_tokens: int | None

    def as_dict(self) -> dict[str, Any]:
        return msgspec.structs.asdict(self)


def _day(started_at: float | None) -> str | None:
    if started_at is None:  # an imported file without times: in no day (never a made-up one)
        return None
    return datetime.fromtimestamp(started_at, UTC).date().isoformat()


def _sum(values: Iterable[float | int | None]) -> Any:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


class DerivedRows(msgspec.Struct, frozen=True):
    """A session's rows in the derived tables, as store() inserts them."""

    session: tuple[Any, ...]  # stats_sessions, in SESSION_COLUMNS order
    turns: list[tuple[Any, ...]]  # stats_turns, in TURN_COLUMNS order (measured turns only)
    figures: bytes  # stats_figures.data


SESSION_COLUMNS = tuple(column.name for column in schema.stats_sessions.columns)
TURN_COLUMNS = tuple(column.name for column in schema.stats_turns.columns)
INSERT_SESSION = (f"INSERT INTO stats_sessions ({', '.join(SESSION_COLUMNS)}) VALUES "
                  f"({', '.join('?' * len(SESSION_COLUMNS))})")
INSERT_TURN = (f"INSERT INTO stats_turns ({', '.join(TURN_COLUMNS)}) VALUES "
               f"({', '.join('?' * len(TURN_COLUMNS))})")
INSERT_FIGURES = "INSERT INTO stats_figures (session, data) VALUES (?, ?)"


def derived_rows(
    pk: int, figures: SessionFigures, *, frames: int, started_at: float | None,
    model: str | None, status: str,
) -> DerivedRows:
    """The rows of session `pk` (sessions.pk) for `figures`; started_at: the session's start
    (unix seconds; None: unknown), model: the figures' or else the session's."""
    tokens = figures.tokens
    day = _day(started_at)
    values = {
        "session": pk,
        "version": figures.version,
        "frames": frames,
        "computed_at": time.time(),
        "started_at": started_at,
        "day": day,
        "model": model,
        "status": status,
        "duration_ms": figures.duration_ms,
        "turns": len(figures.turns),
        "measured_turns": sum(1 for t in figures.turns if t.voice_to_voice_ms is not None),
        "responses": len(figures.responses),
        "interruptions": figures.interruptions,
        "errors": sum(1 for e in figures.errors if e.kind == "error"),
        "tool_calls": len(figures.tool_calls),
        "input_tokens": tokens.input_tokens if tokens else None,
        "output_tokens": tokens.output_tokens if tokens else None,
        "total_tokens": tokens.total_tokens if tokens else None,
        "cached_tokens": tokens.input_cached_tokens if tokens else None,
        "audio_generated_ms": _sum(r.audio_generated_ms for r in figures.responses),
        "audio_heard_ms": _sum(r.audio_heard_ms for r in figures.responses),
        **dict(zip(ranks.COLUMNS, ranks.histogram(
            t.voice_to_voice_ms for t in figures.turns if t.voice_to_voice_ms is not None
        ), strict=True)),
    }
    turn = {"session": pk, "started_at": started_at, "day": day, "model": model,
            "status": status}
    return DerivedRows(
        session=tuple(values[name] for name in SESSION_COLUMNS),
        turns=[
            tuple({**turn, "turn": t.index, "voice_to_voice_ms": t.voice_to_voice_ms}[name]
                  for name in TURN_COLUMNS)
            for t in figures.turns if t.voice_to_voice_ms is not None
        ],
        figures=_encode(figures),
    )


async def store(
    log: EventLog, session_id: str, figures: SessionFigures, *, status: str | None = None
) -> bool:
    """Keep `figures` as the session's (replacing what was kept); False when the session is not
    there any more (deleted while its figures were computed). status: the session's as the
    summary groups it (default: as the log reads it now; a dead recording is interrupted)."""
    if status is None:
        status = (await log.get_session(session_id)).status
    db = log.database
    try:
        async with db.writing() as connection:
            # PostgreSQL: the session's row locked, so two stores of it (a recorder's worker
            # and `rtrec stats` on another machine) take turns (SQLite: one writer anyway)
            rows = await db.fetch(
                connection,
                "SELECT pk, started_at, frames, model FROM sessions "
                f"WHERE id = ?{'' if db.is_sqlite else ' FOR UPDATE'}", (session_id,),
            )
            if not rows:
                return False
            pk, started_at, frames, session_model = rows[0]
            for table in schema.DERIVED:
                await connection.exec_driver_sql(
                    db.sql(f"DELETE FROM {table.name} WHERE session = ?"), (pk,)
                )
            derived = derived_rows(pk, figures, frames=frames, started_at=started_at,
                                   model=figures.model or session_model, status=status)
            await connection.exec_driver_sql(db.sql(INSERT_SESSION), derived.session)
            if derived.turns:
                await db.executemany(connection, INSERT_TURN, derived.turns)
            await connection.exec_driver_sql(db.sql(INSERT_FIGURES), (pk, derived.figures))
    except RtrecError:
        raise
    except Exception as error:
        raise db.error(error) from error
    return True


async def load(log: EventLog, session_id: str) -> SessionFigures | None:
    """The session's kept figures (None: none kept yet). They may be stale: see stale()."""
    rows = await _query(
        log,
        "SELECT f.data FROM stats_figures f JOIN sessions s ON s.pk = f.session WHERE s.id = ?",
        (session_id,),
    )
    if not rows:
        return None
    return _decode(bytes(rows[0][0]))


async def _query(log: EventLog, statement: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    db = log.database
    try:
        async with db.reading() as connection:
            return await db.fetch(connection, statement, params)
    except Exception as error:
        raise db.error(error) from error


async def stale(log: EventLog) -> list[SessionInfo]:
    """Sessions whose kept figures are missing, older than FIGURES_VERSION, or computed before
    the session changed (its frames or status); not the ones still being recorded. In the
    order the log lists them (by start)."""
    kept = {
        sid: (version, frames, status)
        for sid, version, frames, status in await _query(
            log,
            "SELECT s.id, f.version, f.frames, f.status FROM stats_sessions f "
            "JOIN sessions s ON s.pk = f.session", (),
        )
    }
    out = []
    for info in await log.list_sessions():
        if info.status == "recording":
            continue
        row = kept.get(info.id)
        if row is None or row[0] < FIGURES_VERSION or row[1:] != (info.frames, info.status):
            out.append(info)
    return out


Progress = Callable[[int, int], object]  # (sessions done, sessions to do)


async def _compute_all(
    log: EventLog, compute: Compute, infos: list[SessionInfo], progress: Progress | None
) -> int:
    done = 0
    for n, info in enumerate(infos, start=1):
        figures = await compute(log, info.id)
        if await store(log, info.id, figures, status=info.status):
            done += 1
        if progress is not None:
            progress(n, len(infos))
    return done


async def ensure(log: EventLog, compute: Compute, *, progress: Progress | None = None) -> int:
    """Compute and keep the figures of every stale session (first use, a newer rtrec);
    returns how many were computed. progress hears (done, to do) after each session."""
    return await _compute_all(log, compute, await stale(log), progress)


async def rebuild(log: EventLog, compute: Compute, *, progress: Progress | None = None) -> int:
    """Compute and keep the figures of every session not being recorded, from its frames."""
    infos = [info for info in await log.list_sessions() if info.status != "recording"]
    return await _compute_all(log, compute, infos, progress)


def _bounds(
    from_: date | datetime | None, to: date | datetime | None
) -> tuple[float | None, float | None]:
    """Unix seconds [start, end) from --from/--to: a date is a whole UTC day (to: inclusive),
    a datetime an instant (naive: UTC; to: exclusive)."""

    def instant(value: date | datetime, *, end: bool) -> float:
        if isinstance(value, datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        else:
            moment = datetime(value.year, value.month, value.day, tzinfo=UTC)
            if end:
                moment += timedelta(days=1)
        return moment.timestamp()

    start = instant(from_, end=False) if from_ is not None else None
    stop = instant(to, end=True) if to is not None else None
    if start is not None and stop is not None and stop <= start:
        raise RtrecError(
            f"--from {from_} is not before --to {to}: give a --from earlier than --to"
        )
    return start, stop


_SESSION_SUMS = (
    "count(*) AS sessions, sum(turns) AS turns, sum(measured_turns) AS measured, "
    "sum(responses) AS responses, "
    "sum(interruptions) AS interruptions, sum(CASE WHEN errors > 0 THEN 1 ELSE 0 END) AS erred, "
    "sum(errors) AS errors, sum(input_tokens) AS input_tokens, "
    "sum(output_tokens) AS output_tokens, sum(total_tokens) AS total_tokens, "
    "sum(cached_tokens) AS cached_tokens"
)
_GROUP_COLUMNS = ("g.k, g.sessions, g.turns, g.responses, g.interruptions, g.erred, g.errors, "
                  "g.input_tokens, g.output_tokens, g.total_tokens, g.cached_tokens, g.measured")
_SUMS = 12  # the columns of a summary_sql row before its histogram
_HISTOGRAM_SUMS = "".join(f", sum({name}) AS {name}" for name in ranks.COLUMNS)
_HISTOGRAM_COLUMNS = "".join(f", g.{name}" for name in ranks.COLUMNS)
# At most this many ranked lookups per statement (SQLite's compound-select limit is 500)
_LOOKUPS_PER_STATEMENT = 200
_QUANTILES = (0.5, 0.95)
_V2V = "voice_to_voice_ms"


def summary_sql(by: GroupBy | None, where: str, *, histogram: bool) -> str:
    """The first statement of summarise(): per group, the session sums of stats_sessions (the
    measured turns counted there too) and, with histogram (PostgreSQL), the group's
    voice-to-voice histogram: the sums of the bucket columns (recorder.stats.ranks). `where`
    filters on started_at."""
    key = by if by is not None else "NULL"
    sums, columns = (_SESSION_SUMS, _GROUP_COLUMNS)
    if histogram:
        sums, columns = sums + _HISTOGRAM_SUMS, columns + _HISTOGRAM_COLUMNS
    sessions = f"SELECT {key} AS k, {sums} FROM stats_sessions{where} GROUP BY 1"
    return f"SELECT {columns} FROM ({sessions}) AS g ORDER BY g.k IS NULL, g.k"


def lookup_sql(
    by: GroupBy | None, key_is_null: bool, conditions: list[str], one: ranks.Lookup,
    *, sqlite: bool,
) -> str:
    """One ranked lookup of a group's latencies: `one.count` values read from the group's
    voice-to-voice index (its order: no sort), from the edge of the bucket the group's
    histogram points to, skipping `one.offset`. Parameters: the lookup's number, the group's
    key (unless by is None or the key is NULL), the filter's, the edge (unless the bucket is
    open on that side), the count, the offset. SQLite is told the index (INDEXED BY): its
    planner would take stats_turns_started for a date filter and sort."""
    where = [] if by is None else [f"{by} IS NULL" if key_is_null else f"{by} = ?"]
    where += conditions
    if one.edge is not None:
        where.append(f"{_V2V} {'>=' if one.ascending else '<'} ?")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    index = f"stats_turns_{by}_v2v" if by is not None else "stats_turns_v2v"
    indexed = f" INDEXED BY {index}" if sqlite else ""
    order = "" if one.ascending else " DESC"
    return (
        f"SELECT * FROM (SELECT CAST(? AS INTEGER) AS lookup, {_V2V} FROM stats_turns{indexed}"
        f"{clause} ORDER BY {_V2V}{order} LIMIT ? OFFSET ?) AS l"
    )


Fetch = Callable[[str, Sequence[Any]], Awaitable[list[tuple[Any, ...]]]]


@asynccontextmanager
async def _snapshot(log: EventLog) -> AsyncIterator[Fetch]:
    """fetch(statement with '?' placeholders, params): rows as tuples, every statement in one
    read snapshot (SQLite: one read transaction; PostgreSQL: a repeatable-read, read-only
    one, with generic plans), straight through the driver."""
    db = log.database
    async with db.reading() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        if db.is_sqlite:
            async def fetch_sqlite(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                return list(await driver.execute_fetchall(statement, tuple(params)))

            await driver.execute("BEGIN")
            try:
                yield fetch_sqlite
            finally:
                await driver.execute("COMMIT")
            return

        async def fetch_pg(statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
            return [tuple(row) for row in await driver.fetch(db.sql(statement), *params)]

        # generic plans: the lookups' statement is planned once per connection (the driver
        # keeps it prepared), not again for each summary (its custom plans cost more to make
        # than to run: 30 groups, 4-15 ms against 1.1 ms); one round trip with the BEGIN
        await driver.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                             "SET LOCAL plan_cache_mode = force_generic_plan")
        try:
            yield fetch_pg
        except BaseException:
            await driver.execute("ROLLBACK")
            raise
        await driver.execute("COMMIT")


async def summarise(
    log: EventLog,
    by: GroupBy | None = None,
    from_: date | datetime | None = None,
    to: date | datetime | None = None,
) -> list[FleetRow]:
    """The fleet summary from the kept figures (call ensure() first for sessions not computed
    yet): one row per group, in key order (unknown last); no sessions, no rows. Two statements
    in one read snapshot: the sums, counts and histograms of stats_sessions, then the ranked
    lookups of the percentiles (recorder.stats.ranks: exact, reading a few turns per
    percentile, not every turn)."""
    if by is not None and by not in GROUPS:
        raise RtrecError(f"cannot group by {by!r}: use one of {', '.join(GROUPS)}")
    start, stop = _bounds(from_, to)
    conditions: list[str] = []
    params: list[float] = []
    if start is not None:
        conditions.append("started_at >= ?")
        params.append(start)
    if stop is not None:
        conditions.append("started_at < ?")
        params.append(stop)
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    db = log.database
    try:
        async with _snapshot(log) as fetch:
            rows = await fetch(summary_sql(by, where, histogram=not db.is_sqlite), params)
            percentiles = await _percentiles(fetch, by, conditions, params, rows,
                                             sqlite=db.is_sqlite)
    except RtrecError:
        raise
    except Exception as error:
        raise db.error(error) from error
    return [_fleet_row(row[:_SUMS], by, *percentiles.get(n, (None, None)))
            for n, row in enumerate(rows)]


_STALE_HISTOGRAM = ("the kept figures disagree with themselves (a group's histogram does not "
                    "count its measured turns): run `rtrec stats --rebuild`")


async def _percentiles(
    fetch: Fetch, by: GroupBy | None, conditions: list[str], params: list[float],
    rows: list[tuple[Any, ...]], *, sqlite: bool,
) -> dict[int, tuple[float | None, ...]]:
    """(p50, p95) of each row (group) of summary_sql that has measured turns."""
    lookups: list[tuple[int, float, ranks.Lookup]] = []  # (row, h, lookup)
    for n, row in enumerate(rows):
        measured = int(row[_SUMS - 1] or 0)
        counts = [measured] if sqlite else [int(c) for c in row[_SUMS:]]
        if sum(counts) != measured:
            raise RtrecError(_STALE_HISTOGRAM)
        for q in _QUANTILES:
            if measured:
                h = (measured - 1) * q
                lookups.append((n, h, ranks.lookup(counts, h, () if sqlite else ranks.EDGES)))
    values: dict[int, list[float]] = {}
    for first in range(0, len(lookups), _LOOKUPS_PER_STATEMENT):
        chunk = lookups[first:first + _LOOKUPS_PER_STATEMENT]
        statements: list[str] = []
        bound: list[Any] = []
        for number, (n, _h, one) in enumerate(chunk, start=first):
            key = rows[n][0] if by is not None else None
            statements.append(lookup_sql(by, by is not None and key is None, conditions, one,
                                         sqlite=sqlite))
            edge = [one.edge] if one.edge is not None else []
            bound += [number, *([key] if key is not None else []), *params, *edge, one.count,
                      one.offset]
        for number, value in await fetch(" UNION ALL ".join(statements), bound):
            values.setdefault(number, []).append(value)
    out: dict[int, tuple[float | None, ...]] = {}
    for number, (n, h, one) in enumerate(lookups):
        read = values.get(number, [])
        if len(read) != one.count:
            raise RtrecError(_STALE_HISTOGRAM)
        out[n] = (*out.get(n, ()), ranks.interpolate(one.values(read), h))
    return out


def _fleet_row(
    row: tuple[Any, ...], by: GroupBy | None, p50: float | None, p95: float | None
) -> FleetRow:
    (key, sessions, turns, responses, interruptions, erred, errors, input_tokens, output_tokens,
     total_tokens, cached_tokens, measured) = row
    responses = int(responses or 0)
    return FleetRow(
        group=None if by is None or key is None else str(key),
        sessions=int(sessions),
        turns=int(turns or 0),
        responses=responses,
        voice_to_voice_count=int(measured or 0),
        voice_to_voice_p50_ms=None if p50 is None else float(p50),
        voice_to_voice_p95_ms=None if p95 is None else float(p95),
        interruptions=int(interruptions or 0),
        interruption_rate=int(interruptions or 0) / responses if responses else None,
        sessions_with_errors=int(erred or 0),
        error_rate=int(erred or 0) / int(sessions) if sessions else None,
        errors=int(errors or 0),
        input_tokens=_int(input_tokens),
        output_tokens=_int(output_tokens),
        total_tokens=_int(total_tokens),
        cached_tokens=_int(cached_tokens),
    )


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
