"""Issue 16 figures: summarising 10,000 stored sessions from the derived stats tables.

Data: 10,000 sessions' figures (about 10 turns each, voice-to-voice lognormal around 700 ms,
three models, 30 days, three statuses; made by hand, the shapes of recorder.stats.figures)
written into the derived tables of a fresh log, on a SQLite file and on PostgreSQL
(RTREC_BENCH_PG_URL, default postgresql+asyncpg://postgres@127.0.0.1:5432/test; skipped when
no server answers).

- summary (recorder.stats.table.summarise, by model: count, p50/p95 voice-to-voice, rates,
  tokens: the sums and the ranked lookups of recorder.stats.ranks in one snapshot) against
  computing the same sessions' figures from their frames: the compute of one representative
  session (a 2-minute audio-heavy GA session, ~10 turns, from
  recorder.fake.scenarios.long_session, stored in a SQLite log) is timed (fastest of 3) and
  multiplied by 10,000. The compute is recorder.stats.fold.figures_of_session (the fold the
  tables are filled by). Goal: at most 1/100 (ratio <= 0.01).
- the same summary against a bare `SELECT model, count(*) FROM stats_sessions GROUP BY model`
  on the same log, through the same connection path; the two alternate, fastest of ROUNDS
  each. Goal: at most 5x. For information, the same by day (30 groups) and ungrouped, each
  against the bare count(*) grouped the same way.

- for information: the recorder's CPU (all threads, time.process_time) to record
  CPU_SESSIONS sessions of the representative kind into a SQLite log (EventLog.append, no
  sockets: the writer's share of recording) and, with figures= the same compute as above (in
  recorder.stats.worker's process, share 1.0 so that it runs flat out), to compute their
  figures as they end: with / without, alternating, best of 2 each; the worker process's own
  CPU (RUSAGE_CHILDREN) is printed beside it. The worker caps that at figures_share of one
  core (0.25 by default; what does not fit is left to first use).

Run: python bench/run.py fleet   (or python bench/fleet.py)
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures

from recorder.stats import table
from recorder.stats.figures import ResponseFigures, SessionFigures, TurnFigures, Usage
from recorder.store import EventLog, open_log

ISSUE = 16
SESSIONS = 10_000
TURNS = 10
ROUNDS = 15
SUMMARY_GOAL = 0.01
COUNT_GOAL = 5.0
REPRESENTATIVE_MINUTES = 2
MODELS = ("gpt-realtime", "gpt-realtime-mini", "gpt-4o-realtime-preview")
STATUSES = ("complete", "complete", "complete", "interrupted", "incomplete")
START = 1_790_000_000.0  # 2026-09-21
PG_SERVER = os.environ.get(
    "RTREC_BENCH_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BARE = "SELECT model, count(*) FROM stats_sessions GROUP BY model"
BARE_TURNS = "SELECT model, count(*) FROM stats_turns GROUP BY model"
BARE_DAY = "SELECT day, count(*) FROM stats_sessions GROUP BY day"
BARE_ALL = "SELECT count(*) FROM stats_sessions"


def _figures(rng: random.Random, model: str) -> SessionFigures:
    turns = rng.randint(TURNS - 4, TURNS + 4)
    interrupted = rng.random() < 0.3
    return SessionFigures(
        protocol="ga", model=model, duration_ms=rng.uniform(60_000, 180_000),
        turns=[TurnFigures(index=n, item_id=f"item_{n}", response_id=f"resp_{n}",
                           speech_stopped_ms=n * 12_000.0,
                           voice_to_voice_ms=rng.lognormvariate(6.55, 0.35)
                           if rng.random() > 0.05 else None)
               for n in range(1, turns + 1)],
        responses=[ResponseFigures(response_id=f"resp_{n}", created_ms=n * 12_000.0 + 300,
                                   done_ms=n * 12_000.0 + 8000, status="completed",
                                   audio_generated_ms=7000.0, audio_heard_ms=7000.0)
                   for n in range(1, turns + 1)],
        interruptions=int(interrupted),
        tokens=Usage(input_tokens=rng.randint(500, 5000), output_tokens=rng.randint(500, 5000),
                     total_tokens=rng.randint(1000, 10000)),
    )


async def _fill(log: EventLog) -> None:
    """SESSIONS sessions (rows of sessions) and their derived rows, in a few transactions."""
    rng = random.Random(16)
    db = log.database
    chunk = 1000
    for first in range(1, SESSIONS + 1, chunk):
        sessions, stats, turns, blobs = [], [], [], []
        for pk in range(first, min(first + chunk, SESSIONS + 1)):
            model = rng.choice(MODELS)
            status = rng.choice(STATUSES)
            started = START + rng.uniform(0, 30 * 86_400)
            sessions.append((pk, f"bench{pk:08d}", started, started + 120, started + 120, 1.0,
                             "ga", model, status, 3000))
            derived = table.derived_rows(pk, _figures(rng, model), frames=3000,
                                         started_at=started, model=model, status=status)
            stats.append(derived.session)
            turns.extend(derived.turns)
            blobs.append((pk, derived.figures))
        async with db.writing() as connection:
            await db.executemany(
                connection,
                "INSERT INTO sessions (pk, id, started_at, ended_at, last_seen, heartbeat, "
                "protocol, model, status, frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                sessions,
            )
            await db.executemany(connection, table.INSERT_SESSION, stats)
            await db.executemany(connection, table.INSERT_TURN, turns)
            await db.executemany(connection, table.INSERT_FIGURES, blobs)
    if not db.is_sqlite:  # what autovacuum does to a table after a fill like this
        async with db.engine.connect() as connection:
            auto = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for name in ("sessions", "stats_sessions", "stats_turns", "stats_figures"):
                await auto.exec_driver_sql(f"VACUUM ANALYZE {name}")


async def _alternate(log: EventLog) -> tuple[dict[str, float], list[table.FleetRow]]:
    """Fastest of ROUNDS summaries and of ROUNDS bare counts (of sessions, of turns),
    alternating; the summary."""
    db = log.database

    def bare(statement: str) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            async with db.reading() as connection:
                return await db.fetch(connection, statement)

        return run

    work: dict[str, Callable[[], Awaitable[Any]]] = {
        "summary": lambda: table.summarise(log, by="model"), "count": bare(BARE),
        "turns": bare(BARE_TURNS),
        "summary_day": lambda: table.summarise(log, by="day"), "count_day": bare(BARE_DAY),
        "summary_all": lambda: table.summarise(log), "count_all": bare(BARE_ALL),
    }
    rows = await table.summarise(log, by="model")
    for run in work.values():  # all warm
        await run()
    best = dict.fromkeys(work, float("inf"))
    for _ in range(ROUNDS):
        for name, run in work.items():
            start = time.perf_counter()
            await run()
            best[name] = min(best[name], time.perf_counter() - start)
    return best, rows


async def _compute_one() -> tuple[float, str]:
    """Seconds to compute one representative session's figures from its frames (best of 3),
    and what was timed."""
    from recorder.fake.scenarios import long_session
    from recorder.testing import arecord_frames

    with tempfile.TemporaryDirectory(prefix="rtrec-bench-fleet-") as tmp:
        db = os.path.join(tmp, "one.db")
        sid = await arecord_frames(db, long_session(REPRESENTATIVE_MINUTES), protocol="ga",
                                   model="bench")
        from recorder.stats.fold import figures_of_session

        best = float("inf")
        async with await open_log(db) as log:
            info = await log.get_session(sid)
            for _ in range(3):
                start = time.perf_counter()
                await figures_of_session(log, sid)
                best = min(best, time.perf_counter() - start)
        what = "fold"
        return best, f"{what} of a {REPRESENTATIVE_MINUTES}-min session, {info.frames:,} frames"


CPU_SESSIONS = 8


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _record_cpu(db: str, frames: list[Any], compute: str | None) -> tuple[float, float]:
    """(CPU seconds of the recording process, of its figures worker process) to record
    CPU_SESSIONS sessions of `frames` (and, with compute, to compute their figures as each
    ends, in the recorder's worker process: recorder.stats.worker)."""
    start, children = time.process_time(), _children_cpu()
    async with await open_log(db, figures=compute, figures_share=1.0) as log:
        for _ in range(CPU_SESSIONS):
            sid = await log.begin_session("ga", "bench", None)
            for frame in frames:
                log.append(sid, frame)
            await log.keep_up()
            await log.end_session(sid)
        await log.flush()
        if log.figures is not None:
            assert await log.figures.wait_idle(600)
            assert log.figures.computed == CPU_SESSIONS, log.health()
    # closed: the worker process has ended and been waited for, so its CPU is counted
    return time.process_time() - start, _children_cpu() - children


async def _figures_cpu() -> tuple[float, float, float]:
    """(recorder CPU without figures, recorder CPU with, its worker's CPU), best of 2 each,
    alternating."""
    from recorder.fake.scenarios import long_session

    frames = list(long_session(REPRESENTATIVE_MINUTES))
    compute = "recorder.stats.fold:figures_of_session"

    best = {False: float("inf"), True: float("inf")}
    worker = float("inf")
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-fleet-") as tmp:
        for round_ in range(2):
            for with_figures in (False, True):
                db = os.path.join(tmp, f"cpu{round_}{int(with_figures)}.db")
                took, child = await _record_cpu(db, frames, compute if with_figures else None)
                best[with_figures] = min(best[with_figures], took)
                if with_figures:
                    worker = min(worker, child)
    return best[False], best[True], worker


async def _measure(url: str) -> tuple[dict[str, float], list[table.FleetRow]]:
    async with await open_log(url) as log:
        await _fill(log)
        return await _alternate(log)


async def _postgres() -> tuple[dict[str, float], list[table.FleetRow]] | None:
    import asyncpg
    from sqlalchemy.engine import make_url

    server = make_url(PG_SERVER)
    dsn = server.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = await asyncpg.connect(dsn, timeout=5)
    except (OSError, TimeoutError):
        return None
    name = f"rtrec_bench_{uuid.uuid4().hex[:12]}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        return await _measure(server.set(database=name).render_as_string(hide_password=False))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def _engine_figures(
    engine: str, best: dict[str, float], rows: list[table.FleetRow], compute: float,
    computed: str,
) -> list[Figure]:
    summary, count, turns = best["summary"], best["count"], best["turns"]
    sessions = sum(row.sessions for row in rows)
    assert sessions == SESSIONS, sessions
    p50 = ", ".join(f"{row.voice_to_voice_p50_ms:.0f}" for row in rows
                    if row.voice_to_voice_p50_ms is not None)
    measured = f"summarise by model {summary * 1e3:.1f} ms (p50 {p50} ms)"
    fleet = compute * SESSIONS
    share = f"{summary * 1e3:.1f} ms = 1/{fleet / summary:,.0f} of it"
    return [
        Figure(ISSUE, f"{engine}: summarise {SESSIONS:,} sessions vs computing their figures",
               f"<= {SUMMARY_GOAL}x", f"{computed}: {compute * 1e3:.0f} ms x {SESSIONS:,} = "
               f"{fleet:,.0f} s", share, summary / fleet, summary / fleet <= SUMMARY_GOAL),
        Figure(ISSUE, f"{engine}: summarise {SESSIONS:,} sessions vs bare count(*) by model",
               f"<= {COUNT_GOAL}x", f"count(*) group by model {count * 1e3:.2f} ms", measured,
               summary / count, summary / count <= COUNT_GOAL),
        Figure(ISSUE, f"{engine}: the same summary vs bare count(*) of the turns it ranks",
               f"<= {COUNT_GOAL}x", f"count(*) of stats_turns group by model "
               f"{turns * 1e3:.2f} ms", measured, summary / turns, summary / turns <= COUNT_GOAL),
        *(Figure(ISSUE, f"{engine}: summarise {SESSIONS:,} sessions {what} vs bare count(*) "
                 f"{what}", "info", f"count(*) {what} {best['count_' + name] * 1e3:.2f} ms",
                 f"summarise {what} {best['summary_' + name] * 1e3:.1f} ms",
                 best["summary_" + name] / best["count_" + name], True)
          for name, what in (("day", "by day"), ("all", "ungrouped"))),
    ]


def figures() -> list[Figure]:
    compute, computed = asyncio.run(_compute_one())
    out = []
    with tempfile.TemporaryDirectory(prefix="rtrec-bench-fleet-") as tmp:
        best, rows = asyncio.run(_measure(os.path.join(tmp, "fleet.db")))
        out += _engine_figures("SQLite", best, rows, compute, computed)
    pg = asyncio.run(_postgres())
    if pg is not None:
        out += _engine_figures("PostgreSQL", *pg, compute, computed)
    without, with_, worker = asyncio.run(_figures_cpu())
    out.append(Figure(
        ISSUE, f"recording {CPU_SESSIONS} sessions with their figures computed as they end: "
        "the recording process's CPU", "info (the fold runs in the worker process)",
        f"recording alone {without:.2f} s CPU",
        f"with figures {with_:.2f} s CPU in the recorder, {worker:.2f} s in its worker "
        f"process ({computed.split(' of ')[0]})", with_ / without, True,
    ))
    return out


if __name__ == "__main__":
    print_figures(figures())
