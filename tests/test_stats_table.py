"""The derived stats tables (recorder.stats.table), on a SQLite file and the real PostgreSQL.

Figures are made by hand here (the fold has tests of its own): a fake compute hands each
session the SessionFigures the test chose, and counts the sessions it was asked for.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from datetime import UTC, date, datetime

import numpy as np
import pytest
from alembic import command
from sqlalchemy.ext.asyncio import create_async_engine

from recorder.errors import RtrecError
from recorder.stats import ranks, table
from recorder.stats.figures import (
    FIGURES_VERSION,
    ErrorFigure,
    ResponseFigures,
    SessionFigures,
    TurnFigures,
    Unavailable,
    Usage,
)
from recorder.store import EventLog, open_log
from recorder.store.urls import parse_db
from recorder.wire import Direction, Frame, Opcode
from tests.test_store_load import _migrate

DAY1 = datetime(2026, 11, 2, 9, 30, tzinfo=UTC).timestamp()
DAY2 = datetime(2026, 11, 3, 23, 59, tzinfo=UTC).timestamp()
DAY3 = datetime(2026, 11, 4, 0, 0, 1, tzinfo=UTC).timestamp()


def figures(
    v2v: Iterable[float | None] = (),
    *,
    model: str | None = None,
    interrupted: int = 0,
    responses: int | None = None,
    errors: int = 0,
    failed_transcriptions: int = 0,
    tokens: Usage | None = None,
    version: int = FIGURES_VERSION,
) -> SessionFigures:
    turns = [TurnFigures(index=n, item_id=f"item_{n}", voice_to_voice_ms=value)
             for n, value in enumerate(v2v, start=1)]
    count = len(turns) if responses is None else responses
    return SessionFigures(
        version=version,
        protocol="ga",
        model=model,
        duration_ms=1000.0,
        turns=turns,
        responses=[
            ResponseFigures(response_id=f"resp_{n}", created_ms=1.0, done_ms=2.0,
                            status="cancelled" if n < interrupted else "completed",
                            interrupted=n < interrupted, audio_generated_ms=100.0,
                            audio_heard_ms=50.0 if n < interrupted else 100.0)
            for n in range(count)
        ],
        errors=[ErrorFigure(at_ms=5.0, kind="error", code="x") for _ in range(errors)]
        + [ErrorFigure(at_ms=6.0, kind="transcription_failed")
           for _ in range(failed_transcriptions)],
        unavailable=[Unavailable(what="turn 9 voice_to_voice_ms", why="no audio")],
        interruptions=interrupted,
        tokens=tokens,
    )


class FakeCompute:
    def __init__(self, by_session: dict[str, SessionFigures]) -> None:
        self.by_session = by_session
        self.asked: list[str] = []

    async def __call__(self, log: EventLog, session_id: str) -> SessionFigures:
        self.asked.append(session_id)
        return self.by_session[session_id]


async def recorded(
    log: EventLog, model: str | None = "gpt-realtime", *, started_at: float | None = DAY1,
    frames: int = 2, status: str = "complete",
) -> str:
    sid = await log.begin_session("ga", model, None, started_at=started_at)
    for n in range(frames):
        log.append(sid, Frame(Direction.SERVER, n, Opcode.TEXT, b'{"type":"x.y"}'))
    await log.end_session(sid, status=status)
    return sid


async def test_figures_round_trip_and_replace(db: str) -> None:
    async with await open_log(db) as log:
        sid = await recorded(log)
        assert await table.load(log, sid) is None
        first = figures([120.5, None, 300.0], model="gpt-realtime",
                        tokens=Usage(input_tokens=10, output_tokens=20, total_tokens=30,
                                     input_cached_tokens=4))
        assert await table.store(log, sid, first)
        assert await table.load(log, sid) == first
        second = figures([99.0])
        assert await table.store(log, sid, second)
        assert await table.load(log, sid) == second
        [row] = await table.summarise(log)
        assert (row.sessions, row.turns, row.voice_to_voice_count) == (1, 1, 1)


async def test_storing_for_a_session_deleted_meanwhile_keeps_nothing(db: str) -> None:
    async with await open_log(db) as log:
        sid = await recorded(log)
        await log.delete_session(sid)
        assert not await table.store(log, sid, figures([1.0]), status="complete")
        assert await table.summarise(log) == []


async def test_stale_means_missing_older_version_or_changed_and_ensure_computes_only_those(
    db: str,
) -> None:
    async with await open_log(db) as log:
        fresh, old, missing = [await recorded(log) for _ in range(3)]
        live = await log.begin_session("ga", None, None)
        await table.store(log, fresh, figures([1.0]))
        await table.store(log, old, figures([2.0], version=FIGURES_VERSION - 1))
        assert [info.id for info in await table.stale(log)] == [old, missing]

        compute = FakeCompute({sid: figures([3.0]) for sid in (old, missing)})
        assert await table.ensure(log, compute) == 2
        assert compute.asked == [old, missing]  # not fresh, not the one still recording
        assert await table.stale(log) == []
        assert await table.ensure(log, compute) == 0
        assert (await table.load(log, old)) == figures([3.0])
        assert live not in compute.asked


async def test_a_session_that_went_on_after_its_figures_were_kept_is_stale(db: str) -> None:
    """A session read as interrupted (its recorder's heartbeat lapsed) whose recording then
    went on and ended: more frames, another status, so its figures are computed again."""
    async with await open_log(db) as log:
        sid = await recorded(log, frames=2)
        await table.store(log, sid, figures([1.0]), status="interrupted")
        assert [info.id for info in await table.stale(log)] == [sid]  # status differs
        await table.store(log, sid, figures([1.0]))
        assert await table.stale(log) == []
        db_ = log.database
        async with db_.writing() as connection:
            await connection.exec_driver_sql(
                db_.sql("UPDATE sessions SET frames = frames + 1 WHERE id = ?"), (sid,)
            )
        assert [info.id for info in await table.stale(log)] == [sid]


async def test_rebuild_computes_every_ended_session_again(db: str) -> None:
    async with await open_log(db) as log:
        a, b = await recorded(log), await recorded(log, status="interrupted")
        await table.store(log, a, figures([1.0]))
        compute = FakeCompute({a: figures([5.0]), b: figures([6.0])})
        heard: list[tuple[int, int]] = []
        assert await table.rebuild(log, compute, progress=lambda *p: heard.append(p)) == 2
        assert heard == [(1, 2), (2, 2)]
        assert sorted(compute.asked) == sorted([a, b])
        assert await table.load(log, a) == figures([5.0])
        rows = {row.group: row for row in await table.summarise(log, by="status")}
        assert set(rows) == {"complete", "interrupted"}
        assert rows["interrupted"].voice_to_voice_p50_ms == 6.0


async def test_summary_values_match_numpy_on_the_same_data(db: str) -> None:
    rng = random.Random(7)
    async with await open_log(db) as log:
        kept: dict[str, list[SessionFigures]] = {"gpt-realtime": [], "gpt-4o-realtime": []}
        for n in range(40):
            model = "gpt-realtime" if n % 3 else "gpt-4o-realtime"
            values = [rng.lognormvariate(6.5, 0.5) if rng.random() > 0.1 else None
                      for _ in range(rng.randrange(0, 8))]
            made = figures(values, model=model, interrupted=rng.randrange(0, 3),
                           responses=len(values) + 2, errors=rng.choice([0, 0, 0, 2]),
                           failed_transcriptions=rng.choice([0, 1]),
                           tokens=Usage(input_tokens=n, output_tokens=2 * n,
                                        total_tokens=3 * n) if n % 5 else None)
            sid = await recorded(log, None)  # the model is the figures'
            await table.store(log, sid, made)
            kept[model].append(made)

        every = [f for group in kept.values() for f in group]
        [whole] = await table.summarise(log)
        _check(whole, every)
        rows = await table.summarise(log, by="model")
        assert [row.group for row in rows] == ["gpt-4o-realtime", "gpt-realtime"]
        for row in rows:
            assert row.group is not None
            _check(row, kept[row.group])


def _check(row: table.FleetRow, group: list[SessionFigures]) -> None:
    measured = [t.voice_to_voice_ms for f in group for t in f.turns
                if t.voice_to_voice_ms is not None]
    assert row.sessions == len(group)
    assert row.turns == sum(len(f.turns) for f in group)
    assert row.voice_to_voice_count == len(measured)
    assert row.voice_to_voice_p50_ms == pytest.approx(np.percentile(measured, 50), rel=1e-9)
    assert row.voice_to_voice_p95_ms == pytest.approx(np.percentile(measured, 95), rel=1e-9)
    responses = sum(len(f.responses) for f in group)
    interruptions = sum(f.interruptions for f in group)
    assert row.interruption_rate == pytest.approx(interruptions / responses)
    def erred(f: SessionFigures) -> int:  # error events only, not failed transcriptions
        return sum(1 for e in f.errors if e.kind == "error")

    assert row.error_rate == pytest.approx(sum(1 for f in group if erred(f)) / len(group))
    assert row.errors == sum(erred(f) for f in group)
    assert row.as_dict()["voice_to_voice_count"] == row.voice_to_voice_count
    assert row.input_tokens == sum(f.tokens.input_tokens or 0 for f in group if f.tokens)
    assert row.total_tokens == sum(f.tokens.total_tokens or 0 for f in group if f.tokens)
    assert row.cached_tokens is None  # no response reported it: not a made-up 0


async def test_percentiles_of_few_turns_and_of_none(db: str) -> None:
    async with await open_log(db) as log:
        one = await recorded(log, "one")
        none = await recorded(log, "none")
        two = await recorded(log, "two")
        await table.store(log, one, figures([250.0]))
        await table.store(log, none, figures([None, None], responses=0))
        await table.store(log, two, figures([100.0, 200.0]))
        rows = {row.group: row for row in await table.summarise(log, by="model")}
        assert (rows["one"].voice_to_voice_p50_ms, rows["one"].voice_to_voice_p95_ms) == (
            250.0, 250.0)
        assert rows["two"].voice_to_voice_p50_ms == pytest.approx(150.0)
        assert rows["two"].voice_to_voice_p95_ms == pytest.approx(195.0)
        assert rows["none"].voice_to_voice_p50_ms is None
        assert rows["none"].voice_to_voice_count == 0
        assert rows["none"].turns == 2
        assert rows["none"].interruption_rate is None  # no responses: no rate, not 0


async def test_grouping_by_day_and_status_and_date_filters(db: str) -> None:
    async with await open_log(db) as log:
        plan = [(DAY1, "complete", 100.0), (DAY2, "complete", 200.0),
                (DAY2, "interrupted", 300.0), (DAY3, "complete", 400.0)]
        for started, status, value in plan:
            sid = await recorded(log, started_at=started, status=status)
            await table.store(log, sid, figures([value]))
        # start unknown (an import): in no day and no date range, never a made-up one; no model
        unknown = await recorded(log, None, started_at=None)
        await table.store(log, unknown, figures([500.0]))

        days = {row.group: row.sessions for row in await table.summarise(log, by="day")}
        assert days == {"2026-11-02": 1, "2026-11-03": 2, "2026-11-04": 1, None: 1}
        assert list(days)[-1] is None  # unknown last
        statuses = {row.group: row.sessions for row in await table.summarise(log, by="status")}
        assert statuses == {"complete": 4, "interrupted": 1}
        models = [row.group for row in await table.summarise(log, by="model")]
        assert models == ["gpt-realtime", None]  # unknown last

        [row] = await table.summarise(log, from_=date(2026, 11, 3), to=date(2026, 11, 3))
        assert row.sessions == 2 and row.voice_to_voice_p50_ms == pytest.approx(250.0)
        [row] = await table.summarise(log, from_=datetime(2026, 11, 3, 23, 59, 30))
        assert row.sessions == 1  # DAY3 (the unknown start is in no range)
        [row] = await table.summarise(log, to=date(2026, 11, 2))
        assert row.sessions == 1 and row.voice_to_voice_p50_ms == 100.0
        assert await table.summarise(log, from_=date(2030, 1, 1)) == []


async def test_two_stores_of_one_session_at_once_both_succeed_and_one_is_kept(db: str) -> None:
    """A recorder's worker and `rtrec stats` elsewhere may keep the same session at once."""
    async with await open_log(db) as log, await open_log(db) as other:
        sid = await recorded(log)
        results = await asyncio.gather(
            *(table.store(each, sid, figures([float(n)]))
              for n, each in enumerate([log, other] * 3))
        )
        assert results == [True] * 6
        kept = await table.load(log, sid)
        assert kept is not None and kept in [figures([float(n)]) for n in range(6)]
        [row] = await table.summarise(log)
        assert (row.sessions, row.voice_to_voice_count) == (1, 1)


async def test_many_groups_are_ranked_in_several_statements(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table, "_LOOKUPS_PER_STATEMENT", 3)  # SQLite: 2 lookups per group
    async with await open_log(db) as log:
        expected = {}
        for n in range(7):
            started = DAY1 + n * 86_400
            sid = await recorded(log, started_at=started)
            values = [10.0 * n + k for k in range(n + 1)]
            await table.store(log, sid, figures(values))
            expected[datetime.fromtimestamp(started, UTC).date().isoformat()] = values
        rows = await table.summarise(log, by="day")
        assert [row.group for row in rows] == sorted(expected)
        for row in rows:
            assert row.group is not None
            values = expected[row.group]
            assert row.voice_to_voice_p50_ms == pytest.approx(np.percentile(values, 50))
            assert row.voice_to_voice_p95_ms == pytest.approx(np.percentile(values, 95))


async def test_bad_grouping_and_reversed_dates_are_one_line_each(db: str) -> None:
    async with await open_log(db) as log:
        with pytest.raises(RtrecError) as error:
            await table.summarise(log, by="colour")  # type: ignore[arg-type]
        assert str(error.value) == "cannot group by 'colour': use one of model, day, status"
        with pytest.raises(RtrecError) as error:
            await table.summarise(log, from_=date(2026, 11, 5), to=date(2026, 11, 4))
        assert str(error.value) == (
            "--from 2026-11-05 is not before --to 2026-11-04: give a --from earlier than --to"
        )


async def test_deleting_a_session_removes_its_derived_rows(db: str) -> None:
    async with await open_log(db) as log:
        gone, kept = await recorded(log), await recorded(log)
        for sid in (gone, kept):
            await table.store(log, sid, figures([10.0, 20.0]))
        await log.delete_session(gone)
        for derived in ("stats_sessions", "stats_turns", "stats_figures"):
            rows = await table._query(log, f"SELECT DISTINCT session FROM {derived}", ())
            assert len(rows) == 1, derived
        assert await table.load(log, kept) is not None
        [row] = await table.summarise(log)
        assert (row.sessions, row.voice_to_voice_count) == (1, 2)


async def test_percentiles_of_thousands_of_turns_are_exact_on_both_engines(db: str) -> None:
    """Enough turns that a lookup starts inside a bucket, walks across an edge, or reads from
    above: values clustered on the bucket edges, ties, outside the bucketed range, and a group
    of sessions whose model is not known (its lookups read `model IS NULL`)."""
    rng = random.Random(16)
    kept: dict[str | None, list[float]] = {"a": [], "b": [], None: []}
    async with await open_log(db) as log:
        for n in range(60):
            model = ("a", "b", None)[n % 3]
            values = [rng.lognormvariate(6.55, 0.35) for _ in range(rng.randrange(20, 60))]
            values += [rng.choice(ranks.EDGES[5:11]) for _ in range(rng.randrange(0, 10))]
            values += [rng.choice([1.0, 9_000.0]) for _ in range(rng.randrange(0, 3))]
            sid = await recorded(log, model, started_at=DAY1 + n * 3600)
            await table.store(log, sid, figures(values, model=model))
            kept[model].extend(values)
        rows = await table.summarise(log, by="model")
        assert [row.group for row in rows] == ["a", "b", None]
        for row in rows:
            assert row.voice_to_voice_count == len(kept[row.group])
            assert row.voice_to_voice_p50_ms == pytest.approx(
                np.percentile(kept[row.group], 50), rel=1e-12)
            assert row.voice_to_voice_p95_ms == pytest.approx(
                np.percentile(kept[row.group], 95), rel=1e-12)
        # a date filter: the histogram and the lookups count the same sessions
        cut = datetime.fromtimestamp(DAY1 + 30 * 3600, UTC)
        [row] = await table.summarise(log, from_=cut)
        later = [v for n in range(30, 60) for v in await _values(log, n)]
        assert row.voice_to_voice_p50_ms == pytest.approx(np.percentile(later, 50), rel=1e-12)
        assert row.voice_to_voice_p95_ms == pytest.approx(np.percentile(later, 95), rel=1e-12)


async def _values(log: EventLog, n: int) -> list[float]:
    """The measured latencies kept for the n-th session recorded (0-based)."""
    info = sorted(await log.list_sessions(), key=lambda i: i.started_at or 0)[n]
    kept = await table.load(log, info.id)
    assert kept is not None
    return [t.voice_to_voice_ms for t in kept.turns if t.voice_to_voice_ms is not None]


async def test_kept_rows_that_disagree_say_to_rebuild_in_one_line(db: str) -> None:
    """Rows edited by hand under rtrec: turns gone that the sessions' rows still count, or
    (PostgreSQL, which reads the histogram) a histogram that does not add up to the measured
    turns: an error that says what to do, never a made-up percentile."""
    message = ("the kept figures disagree with themselves (a group's histogram does not count "
               "its measured turns): run `rtrec stats --rebuild`")
    async with await open_log(db) as log:
        sid = await recorded(log)
        await table.store(log, sid, figures([100.0, 200.0, 300.0]))
        async with log.database.writing() as connection:
            await connection.exec_driver_sql("UPDATE stats_sessions SET v2v_b05 = v2v_b05 + 1")
        if log.database.is_sqlite:  # the histogram is not read there: the figures stand
            [row] = await table.summarise(log)
            assert row.voice_to_voice_p95_ms == pytest.approx(290.0)
        else:
            with pytest.raises(RtrecError) as error:
                await table.summarise(log)
            assert str(error.value) == message
        await table.store(log, sid, figures([100.0, 200.0, 300.0]))
        async with log.database.writing() as connection:
            await connection.exec_driver_sql("DELETE FROM stats_turns")
        with pytest.raises(RtrecError) as error:
            await table.summarise(log)
        assert str(error.value) == message


async def test_a_log_at_0007_keeps_its_figures_and_gets_their_histograms(db: str) -> None:
    """0008 counts the turns kept before it into the new bucket columns: no figures are
    recomputed, and the summary after the upgrade is exact."""
    values = [50.0, 64.0, 90.99, 91.0, 700.0, 701.5, 8192.0, 30_000.0]
    async with await open_log(db) as log:
        sid = await recorded(log)
        await table.store(log, sid, figures(values))
        other = await recorded(log)
        await table.store(log, other, figures([None]))  # no measured turn
    engine = create_async_engine(parse_db(db).url)
    async with engine.begin() as connection:
        await connection.run_sync(_migrate(command.downgrade, "0007"))
        await connection.run_sync(_migrate(command.upgrade, "0008"))
        names = ", ".join(ranks.COLUMNS)
        kept = (await connection.exec_driver_sql(
            f"SELECT {names} FROM stats_sessions ORDER BY session")).all()
    await engine.dispose()
    assert [list(row) for row in kept] == [ranks.histogram(values), [0] * ranks.BUCKETS]
    async with await open_log(db) as log:
        assert await table.stale(log) == []
        [row] = await table.summarise(log)
        assert row.voice_to_voice_p50_ms == pytest.approx(np.percentile(values, 50))
        assert row.voice_to_voice_p95_ms == pytest.approx(np.percentile(values, 95))
