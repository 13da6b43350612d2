"""Issue 17: rtrec view's session page data for a long session, against reading it from the log.

A session of RTREC_BENCH_VIEW_MINUTES (default 60) minutes is generated with
recorder.fake.scenarios.long_session and recorded into a SQLite log (as bench/export.py does).
Then, in the same run, alternating for ROUNDS rounds (best of each kept):

- baseline: `EventLog.read` of the whole session (audio as bytes), doing nothing else;
- first build: what the page's first screen needs from a server that has computed nothing yet:
  the session index (one pass over the steps, recorder.view.index), the peaks of both sides at
  the widest zoom and the first window of events (the issue's goal: at most 1.5x the read);
- first screen, built: the same asked again of that server (the issue's goal: at most 0.1x the
  read). The index and peaks are kept in the server's memory, not in derived tables yet: a
  restarted server builds them again (the first build figure).

And in a fresh subprocess, a server (`ViewServer`, over HTTP) while a client pages through the
session (events window by window, peaks at every level, 10 s of stereo WAV every 5 minutes): its
peak resident memory (goal: under 200 MB).
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
import asyncio, json, resource, sys
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
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


async def _first_screen(db: str) -> tuple[float, float]:
    """(seconds of the first screen from a fresh server state, seconds of asking it again)."""
    from recorder.store import open_log
    from recorder.view.server import ViewState

    log = await open_log(db)
    try:
        info = await log.get_session()
        state = ViewState(log, db, None)

        async def screen() -> None:
            entry = await state.cached(info)
            for side in ("user", "assistant"):
                peaks = await state.peaks(info, side)
                level = 16
                while level > 0 and (peaks.mins.size >> level) < 1000:
                    level -= 1
                peaks.level(level)
            entry.index.events(0.0, WINDOW_MS, None, 5000)

        start = time.perf_counter()
        await screen()
        cold = time.perf_counter() - start
        start = time.perf_counter()
        await screen()
        return cold, time.perf_counter() - start
    finally:
        await log.close()


def _serve_and_page(db: str) -> dict[str, float]:
    result = subprocess.run([sys.executable, "-c", _CHILD, db], check=True, capture_output=True,
                            text=True, cwd=Path(__file__).resolve().parent.parent)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def figures() -> list[Figure]:
    with tempfile.TemporaryDirectory() as folder:
        db = str(Path(folder) / "view.db")
        asyncio.run(_record(db, MINUTES))
        reads, builds, builts = [], [], []
        for _ in range(ROUNDS):
            reads.append(asyncio.run(_read(db)))
            cold, warm = asyncio.run(_first_screen(db))
            builds.append(cold)
            builts.append(warm)
        served = _serve_and_page(db)
    read, build, built = min(reads), min(builds), min(builts)
    label = f"{MINUTES:g}-minute session"
    return [
        Figure(17, f"view first screen, built ({label})", f"<= {BUILT_GOAL}x EventLog.read",
               f"EventLog.read {read:.2f} s", f"{built * 1000:.1f} ms", built / read,
               built / read <= BUILT_GOAL),
        Figure(17, f"view first build ({label})", f"<= {BUILD_GOAL}x EventLog.read",
               f"EventLog.read {read:.2f} s", f"index + peaks + events {build:.2f} s",
               build / read, build / read <= BUILD_GOAL),
        Figure(17, f"view server peak memory paging ({label})", f"< {RSS_GOAL_MB} MB",
               f"{RSS_GOAL_MB} MB", f"{served['peak_mb']:.0f} MB "
               f"({int(served['events'])} events paged)", served["peak_mb"] / RSS_GOAL_MB,
               served["peak_mb"] < RSS_GOAL_MB),
    ]


if __name__ == "__main__":
    from common import print_figures

    print_figures(figures())
