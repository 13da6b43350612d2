"""`rtrec record --journal` through a real PostgreSQL outage longer than its memory buffer: the
call goes on, the status endpoint shows the journal filling and emptying, the console says so
once, and every frame of the call is stored once, in order, with no gap (exit 0)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import test_pg_restart
from test_pg_restart import Cluster
from test_proxy import ScriptedUpstream
from test_proxy_cli import start_record, upstream  # noqa: F401  (fixtures)

from recorder.store import open_log
from recorder.wire import Direction

pytestmark = pytest.mark.postgres
cluster = test_pg_restart.cluster  # the private PostgreSQL cluster fixture


async def _until(
    http: aiohttp.ClientSession, url: str, holds: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Poll the status endpoint until `holds` (the recorder's state, not a time, decides)."""
    for _ in range(600):
        async with http.get(url) as got:
            health: dict[str, Any] = await got.json()
        if holds(health):
            return health
        await asyncio.sleep(0.05)
    raise AssertionError(f"the recorder never got there: {health}")


async def test_an_outage_past_the_buffer_is_kept_in_the_journal_and_nothing_is_lost(
    cluster: Cluster, upstream: ScriptedUpstream, tmp_path: Path  # noqa: F811
) -> None:
    journal = tmp_path / "journal.db"
    rtrec = await start_record("--db", cluster.url, "--listen", "127.0.0.1:0", "--buffer", "1",
                               "--journal", str(journal), "--upstream",
                               upstream.url + "/v1/realtime")
    url = await rtrec.wait_listening()
    status = url.replace("ws", "http", 1) + "/rtrec/status"
    big = '{"type":"conversation.item.create","item":{"text":"' + "x" * 50_000 + '"}}'
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url + "/v1/realtime?model=m"
    ) as ws:
        await ws.receive()  # session.created: the session has its row
        await _until(http, status, lambda h: h["sessions_recording"] == 1)
        await asyncio.to_thread(cluster.stop)
        await ws.send_str(big)
        down = await _until(http, status, lambda h: h["store"] == "down")
        for _ in range(60):  # ~3 MiB: three times the 1 MiB buffer
            await ws.send_str(big)
            # at a pace the journal keeps up with (it is written in a thread, so a burst
            # faster than the disk sheds instead of stalling the call)
            await _until(http, status, lambda h: h["queue_bytes"] < 600_000)
        journaling = await _until(http, status, lambda h: h["journal_frames"] >= 40)
        await asyncio.to_thread(cluster.start)
        after = await _until(http, status, lambda h: h["store"] == "ok"
                             and h["journal_frames"] == 0 and h["queue_frames"] == 0)
    code, _out, err = await rtrec.stop(signal.SIGINT)
    assert down["journal_frames"] == 0
    assert (journaling["frames_lost"], journaling["sessions_shed"]) == (0, 0)
    assert (after["frames_lost"], after["gaps"], after["journal_bytes"]) == (0, 0, 0)
    assert code == 0, err
    # a session that ended as rtrec stopped may not have had its figures computed yet (the
    # worker process gets a second): said on a line of its own, computed on first use
    lines = [line for line in err.splitlines()
             if not line.startswith("rtrec: figures of 1 session(s) not computed as they ended")]
    assert [line.split(":")[0] for line in lines] == ["rtrec", "rtrec", "rtrec"]
    assert lines[0].startswith("rtrec: ERROR: recording paused: lost the connection to ")
    assert lines[1] == (
        f"rtrec: recording to {cluster.url}: the store is down and the recording buffer (1 MiB) "
        f"is full: frames go to the journal {journal} (up to 1024 MiB) and are written to the "
        "store when it answers")
    assert lines[2].startswith("rtrec: recording resumed after ")
    assert lines[2].endswith("s: every frame waited in memory and is stored")
    async with await open_log(cluster.url) as reopened:
        [info] = await reopened.list_sessions()
        client = [f.seq async for batch in reopened.read(info.id) for f in batch
                  if f.direction is Direction.CLIENT]
        assert (info.status, info.gaps, len(client)) == ("complete", 0, 61)
        assert await reopened.gaps(info.id) == []
