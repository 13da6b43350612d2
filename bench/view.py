"""Issue 17: rtrec view's session page data for a long session, against reading it from the log.

A session of RTREC_BENCH_VIEW_MINUTES (default 60) minutes is generated with
recorder.fake.scenarios.long_session and recorded into a SQLite log (as bench/export.py does).
Then, in the same run, alternating for ROUNDS rounds (best of each kept):

- baseline: `EventLog.read` of the whole session (audio as bytes), doing nothing else;
- first build: what the page's first screen needs from a server that has computed nothing yet,
  its derived tables emptied: the session index (one pass over the steps, recorder.view.index),
  the peaks of both sides at the widest zoom and the first window of events, index and peaks
  written to the derived tables (the issue's goal: at most 1.5x the read);
- first screen, built: the same asked again of that server (the issue's goal: at most 0.1x the
  read), and asked of a server started again: from the derived tables (view_index, view_peaks)
  the first build kept (recorder.view.stored), no frame read;
- the slowest zoom step (peaks and the events window, over HTTP) from the whole session down to
  10 s, from a server started on the kept tables.

And in a fresh subprocess, a server (`ViewServer`, over HTTP) while a client pages through the
session (events window by window, peaks at every level, 10 s of stereo WAV every 5 minutes): its
peak resident memory (VmHWM; goal: under 200 MB), once with the derived tables kept, once with
them emptied (the server builds the index first).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import Figure
from export import _record

MINUTES = float(os.environ.get("RTREC_BENCH_VIEW_MINUTES", "60"))
BUILD_GOAL = 1.5
BUILT_GOAL = 0.1
RSS_GOAL_MB = 200
ROUNDS = 3
WINDOW_MS = 60_000.0

_CHILD = r"""
import asyncio, contextlib, json, resource, sys
import aiohttp
from recorder.view.server import ViewServer

async def main(db):
    server = ViewServer(db, port=0, figures=None)
    url = await server.start()
    base = url.rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            async def get(path, **kw):
                async with http.get(base + path, **kw) as response:
                    assert response.status in (200, 206), (path, response.status)
                    return await response.read()
            sid = json.loads(await get("/api/sessions"))["sessions"][0]["id"]
            page = json.loads(await get(f"/api/sessions/{sid}"))
            end = page["end_ms"]
            for level in range(16, -1, -1):
                for side in ("user", "assistant"):
                    await get(f"/api/sessions/{sid}/peaks?side={side}&level={level}"
                              f"&from_ms=0&to_ms={min(end, 10 * 2 ** level * 15000)}")
            at, events = 0.0, 0
            while at < end:
                body = json.loads(await get(f"/api/sessions/{sid}/events?from_ms={at}"
                                            f"&to_ms={at + 60000}&limit=20000"))
                events += len(body["events"])
                at += 60000
            size = 24000 * 4 * 10
            for minute in range(0, int(end // 60000), 5):
                start = 44 + minute * 60 * 24000 * 4
                await get(f"/api/sessions/{sid}/audio/stereo.wav",
                          headers={"Range": f"bytes={start}-{start + size - 1}"})
    finally:
        await server.close()
    # VmHWM: this process's own peak (ru_maxrss also keeps the peak of the process it was
    # forked from, before exec: the bench's, with a whole index built in it)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with contextlib.suppress(OSError):
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    print(json.dumps({"peak_mb": peak, "events": events}))

asyncio.run(main(sys.argv[1]))
"""


async def _read(db: str) -> float:
    from recorder.store import open_log

    log = await open_log(db)
    try:
        info = await log.get_session()
        start = time.perf_counter()
        async for _batch in log.read(info.id, batch_size=5000, audio="bytes"):
            pass
        return time.perf_counter() - start
    finally:
        await log.close()


async def _first_screen(db: str) -> tuple[float, float, float, float]:
    """(seconds of the first screen from a fresh server and empty derived tables: the first
    build; until its index and peaks are written to them (after the screen is answered); of
    asking the screen again; of a fresh server (restarted) reading them from the tables)."""
    from recorder.store import open_log
    from recorder.view import derived
    from recorder.view.server import ViewState

    log = await open_log(db)
    try:
        info = await log.get_session()
        await derived.clear(log)

        async def screen(state: ViewState) -> None:
            entry = await state.cached(info)
            for side in ("user", "assistant"):
                peaks = await state.peaks(info, side)
                level = 16
                while level > 0 and (peaks.mins.size >> level) < 1000:
                    level -= 1
                peaks.level(level)
            entry.index.events(0.0, WINDOW_MS, None, 5000)

        state = ViewState(log, db, None)
        start = time.perf_counter()
        await screen(state)
        cold = time.perf_counter() - start
        await state.kept()  # the index and peaks written to the tables, after the screen
        written = time.perf_counter() - start
        start = time.perf_counter()
        await screen(state)
        warm = time.perf_counter() - start
        start = time.perf_counter()
        await screen(ViewState(log, db, None))
        return cold, written, warm, time.perf_counter() - start
    finally:
        await log.close()


async def _zoom_steps(db: str) -> float:
    """Seconds of the slowest zoom step over HTTP from a server started on kept tables: what
    the session page asks for at each step from the whole hour down to 10 s (both sides'
    peaks at the step's level over three widths of the view, the events of the window)."""
    import math

    from aiohttp.test_utils import TestClient, TestServer

    from recorder.store import open_log
    from recorder.view.server import make_app

    log = await open_log(db)
    client = TestClient(TestServer(make_app(log, db, figures=None)))
    await client.start_server()
    try:
        sid = (await log.get_session()).id
        async with client.get(f"/api/sessions/{sid}") as response:
            end = (await response.json())["end_ms"]
        slowest, span, pixels = 0.0, end, 1200
        while span >= 10_000:
            level = max(0, min(16, int(math.log2(max(span / pixels / 10, 1)))))
            start_ms = max(0.0, end / 2 - span / 2)
            begun = time.perf_counter()
            lo = max(0.0, start_ms - span)
            hi = min(start_ms + 2 * span, lo + 10 * 2 ** level * 19000)  # as session.js asks
            for side in ("user", "assistant"):
                query = f"side={side}&level={level}&from_ms={lo}&to_ms={hi}"
                async with client.get(f"/api/sessions/{sid}/peaks?{query}") as response:
                    assert response.status == 200
                    await response.read()
            query = (f"from_ms={start_ms - span / 4}&to_ms={start_ms + span * 1.25}&limit=5000"
                     f"&bucket_ms={span / pixels}")
            async with client.get(f"/api/sessions/{sid}/events?{query}") as response:
                assert response.status == 200
                await response.read()
            slowest = max(slowest, time.perf_counter() - begun)
            span /= 2
        return slowest
    finally:
        await client.close()
        await log.close()


async def _clear(db: str) -> None:
    from recorder.store import open_log
    from recorder.view import derived

    log = await open_log(db)
    try:
        await derived.clear(log)
    finally:
        await log.close()


def _serve_and_page(db: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", _CHILD, db], check=True, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


PAGE_GOAL = 1.5  # the first page of 10,000 sessions against the first page of ten
PAGE_SIZES = (10, 10_000)
PAGE_REPEATS = 40
# RTREC_BENCH_VIEW_PG=postgresql+asyncpg://postgres@127.0.0.1:5432: the paging figure on
# PostgreSQL too (databases bench_view_page_<n> are made and dropped there)
PAGE_PG = os.environ.get("RTREC_BENCH_VIEW_PG")


async def _fill(db: str, sessions: int) -> None:
    """`sessions` ended sessions of a few models and statuses (rows only: the page lists rows)."""
    from recorder.store import open_log

    log = await open_log(db)
    try:
        rows = [(f"{n:024x}", 1_800_000_000.0 + n, 1_800_000_000.0 + n + 30 + n % 97,
                 1_800_000_000.0 + n + 30, 1.0, ("complete", "incomplete")[n % 7 == 0],
                 f"gpt-realtime-{n % 3}", "ga", 200 + n % 1000) for n in range(sessions)]
        database = log.database
        async with database.writing() as connection:
            await database.executemany(
                connection, "INSERT INTO sessions (id, started_at, ended_at, last_seen, "
                "heartbeat, status, model, protocol, frames) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows)
    finally:
        await log.close()


async def _first_pages(dbs: list[str]) -> list[list[float]]:
    """Seconds of GET /api/sessions (the first page: newest 50) of each store, alternated."""
    from aiohttp.test_utils import TestClient, TestServer

    from recorder.store import open_log
    from recorder.view.server import make_app

    clients = []
    for db in dbs:
        log = await open_log(db)
        client = TestClient(TestServer(make_app(log, db, figures=None)))
        await client.start_server()
        clients.append((client, log))
    times: list[list[float]] = [[] for _ in dbs]
    try:
        for _ in range(PAGE_REPEATS):
            for n, (client, _log) in enumerate(clients):
                start = time.perf_counter()
                async with client.get("/api/sessions") as response:
                    assert response.status == 200
                    await response.read()
                times[n].append(time.perf_counter() - start)
    finally:
        for client, log in clients:
            await client.close()
            await log.close()
    return times


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _pg_databases(names: list[str], create: bool) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    async def run() -> None:
        url = make_url(PAGE_PG or "")
        connection = await asyncpg.connect(host=url.host, port=url.port or 5432,
                                           user=url.username, database="postgres")
        try:
            for name in names:
                await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                if create:
                    await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
    asyncio.run(run())


def paging_figures() -> list[Figure]:
    """The sessions page's first page of 10,000 sessions against one of ten, in one run."""
    out = []
    with tempfile.TemporaryDirectory() as folder:
        stores = [("SQLite", [str(Path(folder) / f"page{n}.db") for n in PAGE_SIZES])]
        if PAGE_PG:
            from sqlalchemy.engine import make_url

            names = [f"bench_view_page_{n}" for n in PAGE_SIZES]
            _pg_databases(names, create=True)
            stores.append(("PostgreSQL", [make_url(PAGE_PG).set(database=name)
                                          .render_as_string(hide_password=False)
                                          for name in names]))
        try:
            for label, dbs in stores:
                for db, sessions in zip(dbs, PAGE_SIZES, strict=True):
                    asyncio.run(_fill(db, sessions))
                small, large = (_median(t) for t in asyncio.run(_first_pages(dbs)))
                out.append(Figure(
                    17, f"view sessions, first page of {PAGE_SIZES[1]:,} sessions ({label})",
                    f"<= {PAGE_GOAL}x the first page of {PAGE_SIZES[0]}",
                    f"{PAGE_SIZES[0]} sessions {small * 1000:.2f} ms",
                    f"{PAGE_SIZES[1]:,} sessions {large * 1000:.2f} ms", large / small,
                    large / small <= PAGE_GOAL))
        finally:
            if PAGE_PG:
                _pg_databases(names, create=False)
    return out


def figures() -> list[Figure]:
    out = paging_figures()
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "view.db")
        asyncio.run(_record(db, MINUTES))
        reads, builds, writes, builts, kepts, zooms = [], [], [], [], [], []
        for _ in range(ROUNDS):
            reads.append(asyncio.run(_read(db)))
            cold, written, warm, kept = asyncio.run(_first_screen(db))
            builds.append(cold)
            writes.append(written)
            builts.append(warm)
            kepts.append(kept)
            zooms.append(asyncio.run(_zoom_steps(db)))
        served = _serve_and_page(db)  # the index and peaks from the derived tables
        asyncio.run(_clear(db))
        building = _serve_and_page(db)  # built from the frames (and kept) first
    read, build, built, kept = min(reads), min(builds), min(builts), min(kepts)
    write = min(writes)
    zoom = min(zooms)
    label = f"{MINUTES:g}-minute session"
    return [
        *out,
        Figure(17, f"view first screen, built ({label})", f"<= {BUILT_GOAL}x EventLog.read",
               f"EventLog.read {read:.2f} s", f"{built * 1000:.1f} ms", built / read,
               built / read <= BUILT_GOAL),
        Figure(17, f"view first screen, restarted server ({label})",
               f"<= {BUILT_GOAL}x EventLog.read", f"EventLog.read {read:.2f} s",
               f"from view_index + view_peaks {kept * 1000:.1f} ms", kept / read,
               kept / read <= BUILT_GOAL),
        Figure(17, f"view first build ({label})", f"<= {BUILD_GOAL}x EventLog.read",
               f"EventLog.read {read:.2f} s", f"index + peaks + events {build:.2f} s "
               f"(written to the tables by {write:.2f} s)", build / read,
               build / read <= BUILD_GOAL),
        Figure(17, f"view slowest zoom step, whole session to 10 s ({label})",
               f"<= {BUILT_GOAL}x EventLog.read", f"EventLog.read {read:.2f} s",
               f"peaks + events over HTTP {zoom * 1000:.1f} ms", zoom / read,
               zoom / read <= BUILT_GOAL),
        Figure(17, f"view server peak memory paging ({label})", f"< {RSS_GOAL_MB} MB",
               f"{RSS_GOAL_MB} MB", f"building {building['peak_mb']:.0f} MB, from the tables "
               f"{served['peak_mb']:.0f} MB ({int(served['events'])} events paged)",
               max(building["peak_mb"], served["peak_mb"]) / RSS_GOAL_MB,
               max(building["peak_mb"], served["peak_mb"]) < RSS_GOAL_MB),
    ]


if __name__ == "__main__":
    from common import print_figures

    print_figures(paging_figures() if sys.argv[1:] == ["--paging"] else figures())
