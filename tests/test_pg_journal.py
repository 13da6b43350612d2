"""A PostgreSQL store down past the memory buffer: frames go to the local journal and are
written into the store when it is back, in order, once; only past the journal's size is a gap.

A private PostgreSQL cluster (tests.test_pg_restart) is stopped and started for real; the tests
wait for the writer's notices, never for time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import signal
import sqlite3
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from recorder.redact import FrameRedactor
from recorder.store import open_log
from recorder.store.codec import split_frame
from recorder.store.journal import ROW_OVERHEAD, Journal
from recorder.wire import Direction, Frame, Opcode
from tests import test_pg_restart
from tests.test_pg_restart import Cluster
from tests.test_store_recovery import Notices, _frame, _one_frame_session, _stored_or_gap

pytestmark = pytest.mark.postgres
ROOT = Path(__file__).resolve().parents[1]
cluster = test_pg_restart.cluster  # the private PostgreSQL cluster fixture
BUFFER = 20_000  # bytes: 1 KB frames fill half of it in ten frames


async def _write_order(cluster: Cluster, sid: str) -> list[int]:
    """The session's seqs in the order the store received them (frames.id)."""
    connection = await asyncpg.connect(cluster.url.replace("+asyncpg", ""), timeout=10)
    try:
        rows = await connection.fetch(
            "SELECT f.seq FROM frames f JOIN sessions s ON s.pk = f.session WHERE s.id = $1 "
            "ORDER BY f.id", sid)
    finally:
        await connection.close()
    return [row[0] for row in rows]


def _journaled(path: Path) -> int:
    """Frames left in the journal file (read as a plain SQLite file)."""
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("SELECT count(*) FROM frames").fetchone()[0])


async def test_an_outage_past_the_buffer_goes_to_the_journal_and_every_frame_is_stored_once(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    journal = tmp_path / "journal.db"
    threads = _journal_threads(monkeypatch)
    notices = Notices()
    log = await open_log(cluster.url, on_notice=notices, max_queue_bytes=BUFFER,
                         journal=journal)
    sid = await log.begin_session("ga", None, None)
    for i in range(10):
        log.append(sid, _frame(i))
    await log.flush()
    assert log.health()["journal_frames"] == 0  # the normal path does not touch it
    await asyncio.to_thread(cluster.stop)
    log.append(sid, _frame(10))
    await notices.wait("paused")
    for i in range(11, 300):  # ~300 KB: fifteen times the memory buffer
        log.append(sid, _frame(i, 1000))
        await log.spill_done()  # paced as a live call is: the spill runs
    journaling = await notices.wait("journaling")
    health = log.health()
    assert health["journal_frames"] > 200 and health["journal_bytes"] > 200_000
    assert health["sessions_shed"] == 0 and health["gaps"] == 0
    await asyncio.to_thread(cluster.start)
    resumed = await notices.wait("resumed")
    later = await _one_frame_session(log)
    assert await log.end_session(sid) == "complete"
    after = log.health()
    await log.close()
    assert str(journaling.error) == (
        f"recording to {log.display}: the store is down and the recording buffer (19 KiB) is "
        f"full: frames go to the journal {journal} (up to 1024 MiB) and are written to the "
        "store when it answers")
    assert (notices.kinds, resumed.lost, log.frames_lost) == (
        ["paused", "journaling", "resumed"], 0, 0)
    assert (after["journal_frames"], after["journal_bytes"]) == (0, 0)
    assert await _write_order(cluster, sid) == list(range(1, 301))  # in order, once each
    async with await open_log(cluster.url) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 300)
        assert (stored, lost) == (list(range(1, 301)), [])
        info = await reopened.get_session(sid)
        assert (info.status, info.frames, info.server_frames, info.gaps) == (
            "complete", 300, 300, 0)
        assert (await reopened.get_session(later)).frames == 1
    assert _journaled(journal) == 0
    # the journal is written and read in a worker thread, never on the loop that forwards
    assert set(threads) == {"append", "head", "delete_through"}
    assert threading.get_ident() not in {ident for idents in threads.values() for ident in idents}


def _journal_threads(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The threads that call each of the journal's reads and writes, from now on."""
    threads: dict[str, list[int]] = {}

    def watched(name: str) -> Any:
        real = getattr(Journal, name)

        def calling(*args: Any, **kwargs: Any) -> Any:
            threads.setdefault(name, []).append(threading.get_ident())
            return real(*args, **kwargs)
        return calling

    for name in ("append", "head", "delete_through"):
        monkeypatch.setattr(Journal, name, watched(name))
    return threads


async def test_past_the_journal_size_the_session_is_shed_into_a_gap_and_records_again_after(
    cluster: Cluster, tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.db"
    notices = Notices()
    log = await open_log(cluster.url, on_notice=notices, max_queue_bytes=BUFFER,
                         journal=journal, journal_bytes=30 * (1050 + ROW_OVERHEAD))
    sid = await log.begin_session("ga", None, None)
    log.append(sid, _frame(0))
    await log.flush()
    await asyncio.to_thread(cluster.stop)
    log.append(sid, _frame(1))
    await notices.wait("paused")
    for i in range(2, 200):
        log.append(sid, _frame(i, 1000))
        await log.spill_done()  # paced as a live call is: the spill runs
    await notices.wait("dropping")  # the journal is full: shed, as without one
    assert log.health()["journal_frames"] <= 30
    await asyncio.to_thread(cluster.start)
    resumed = await notices.wait("resumed")
    log.append(sid, _frame(200))  # after the outage: recorded again
    assert await log.end_session(sid) == "incomplete"
    await log.close()
    [record] = log.shed
    assert record.reason.startswith("shed: the store is down (")
    assert notices.kinds == ["paused", "journaling", "dropping", "resumed"]
    assert resumed.lost == log.frames_lost == record.frames > 0
    async with await open_log(cluster.url) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 201)
        [gap] = await reopened.gaps(sid)
        assert (gap.first_seq, gap.last_seq, gap.reason) == (
            record.first_seq, 200, record.reason)
        assert lost == list(range(gap.first_seq, 201))
        assert stored == [*range(1, gap.first_seq), 201]
        assert (await reopened.get_session(sid)).status == "incomplete"
    assert await _write_order(cluster, sid) == stored


_CRASHING = textwrap.dedent(
    """
    import asyncio, os, sys
    from recorder.store import open_log
    from recorder.store.journal import Journal
    from tests.test_store_recovery import Notices, _frame

    def crash(self, last_id):  # the first journal batch is committed; its deletion never is
        print("crash", flush=True)
        os._exit(9)

    Journal.delete_through = crash

    async def main():
        notices = Notices()
        log = await open_log(sys.argv[1], on_notice=notices, max_queue_bytes=20_000,
                             journal=sys.argv[2], batch_size=50)
        sid = await log.begin_session("ga", None, None)
        for i in range(10):
            log.append(sid, _frame(i))
        await log.flush()
        print(sid, flush=True)
        await asyncio.to_thread(sys.stdin.readline)  # the store is stopped
        log.append(sid, _frame(10))
        await notices.wait("paused")
        for i in range(11, 300):
            log.append(sid, _frame(i, 1000))
            await log.spill_done()  # paced as a live call is: the spill runs
        await notices.wait("journaling")
        writer = log._writer  # the last frame journaled (later ones die in memory)
        print(writer._journal.head(10**6)[-1].seq, flush=True)
        await asyncio.sleep(60)  # the store is started: the writer drains the journal

    asyncio.run(main())
    """
)


async def test_a_journal_left_by_a_crash_is_drained_at_the_next_start_without_duplicates(
    cluster: Cluster, tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.db"
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _CRASHING, cluster.url, str(journal), cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert child.stdin is not None and child.stdout is not None
    sid = (await asyncio.wait_for(child.stdout.readline(), 60)).decode().strip()
    await asyncio.to_thread(cluster.stop)
    child.stdin.write(b"\n")
    await child.stdin.drain()
    last_journaled = int(await asyncio.wait_for(child.stdout.readline(), 60))
    await asyncio.to_thread(cluster.start)
    assert await asyncio.wait_for(child.stdout.readline(), 60) == b"crash\n"
    assert await asyncio.wait_for(child.wait(), 60) == 9
    before = await _write_order(cluster, sid)
    with contextlib.closing(sqlite3.connect(journal)) as connection:
        left = [row[0] for row in connection.execute("SELECT seq FROM frames ORDER BY id")]
    assert left[-1] == last_journaled and left[0] in before  # stored, and still journaled

    log = await open_log(cluster.url, journal=journal)  # the next start drains it first
    await log.flush()
    health = log.health()
    await log.close()
    assert (health["journal_frames"], health["frames_lost"]) == (0, 0)
    order = await _write_order(cluster, sid)
    assert order == list(range(1, last_journaled + 1))  # in order, each once
    async with await open_log(cluster.url) as reopened:
        info = await reopened.get_session(sid)
        assert info.frames == info.server_frames == last_journaled  # counted once too
        assert await reopened.gaps(sid) == []


def _audio_event(t_ns: int) -> Frame:
    """A ~1 KB audio event (its audio differs frame by frame)."""
    audio = base64.b64encode(t_ns.to_bytes(4, "big") * 186).decode()
    return Frame(Direction.CLIENT, t_ns, Opcode.TEXT,
                 f'{{"type":"input_audio_buffer.append","audio":"{audio}"}}'.encode())


@pytest.mark.parametrize("early", [False, True], ids=["frames", "split-early"])
async def test_a_store_still_down_at_close_leaves_the_frames_in_the_journal_for_the_next_start(
    cluster: Cluster, tmp_path: Path, early: bool,
) -> None:
    """early: audio events split as the proxy splits them (codec.split_frame) reach the journal
    (moved there while the store is down, or given up at close) and the store byte for byte."""
    journal = tmp_path / "journal.db"
    notices = Notices()
    log = await open_log(cluster.url, on_notice=notices, max_queue_bytes=BUFFER,
                         journal=journal, close_timeout=0.5)
    sid = await log.begin_session("ga", None, None)
    log.append(sid, _frame(0))
    await log.flush()
    await asyncio.to_thread(cluster.stop)
    log.append(sid, _frame(1))
    await notices.wait("paused")
    sent = [_audio_event(i) if early else _frame(i, 1000) for i in range(2, 100)]
    for frame in sent:
        split = split_frame(FrameRedactor(), frame.direction, frame.t_ns, frame.data)
        assert (split is not None) is early
        log.append(sid, split or frame)
        await log.spill_done()  # paced as a live call is: the spill runs
    await log.close()  # gives up on the store: what waited in memory goes to the journal too
    gave_up = await notices.wait("gave_up")
    assert (gave_up.lost, log.frames_lost) == (0, 0)
    assert _journaled(journal) == 99  # every frame of the outage, the batch in flight too

    await asyncio.to_thread(cluster.start)
    async with await open_log(cluster.url, journal=journal) as restarted:
        await restarted.flush()
        info = await restarted.get_session(sid)
        stored = [f.data async for batch in restarted.read(sid) for f in batch]
    assert _journaled(journal) == 0
    assert await _write_order(cluster, sid) == list(range(1, 101))
    assert (info.frames, info.gaps) == (100, 0)
    assert stored[2:] == [frame.data for frame in sent]


async def test_rtrec_record_with_a_journal_shows_it_on_the_status_endpoint(
    cluster: Cluster, tmp_path: Path,
) -> None:
    import aiohttp

    from tests.test_proxy_cli import start_record

    journal = tmp_path / "journal.db"
    rtrec = await start_record("--db", cluster.url, "--listen", "127.0.0.1:0", "--journal",
                               str(journal), "--journal-size", "2")
    try:
        url = await rtrec.wait_listening()
        async with aiohttp.ClientSession() as http, http.get(
            url.replace("ws", "http", 1) + "/rtrec/status"
        ) as got:
            health = await got.json()
    finally:
        code, _out, err = await rtrec.stop(signal.SIGINT)
    assert (code, err) == (0, "")
    assert {key: value for key, value in health.items() if key.startswith("journal")} == {
        "journal": str(journal), "journal_frames": 0, "journal_bytes": 0,
        "journal_limit_bytes": 2 * 2**20}
    assert _journaled(journal) == 0  # kept, empty, for the next run
