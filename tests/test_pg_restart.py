"""A PostgreSQL server that restarts while rtrec records: writing pauses and resumes, nothing lost.

The shared server on :5432 must not be restarted, so this test runs a private PostgreSQL
cluster of its own (initdb into a temporary folder, on a free port) and stops and starts it
for real. It waits for the writer's notices, not for time.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from recorder.store import open_log
from tests.test_store_recovery import Notices, _frame, _one_frame_session, _stored_or_gap

pytestmark = pytest.mark.postgres


def _bindir() -> Path | None:
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        candidate = Path(out.stdout.strip())
        if (candidate / "initdb").exists():
            return candidate
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return Path(dirs[-1]) if dirs and Path(dirs[-1], "initdb").exists() else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Cluster:
    """A private PostgreSQL cluster: its data folder, its port, start and stop."""

    def __init__(self, bindir: Path, root: Path) -> None:
        self.bindir, self.data, self.port = bindir, root / "data", _free_port()
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self._as, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust",
                  "-U", "postgres", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.data / "log"), "-w", "start")

    def stop(self) -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    if bindir is None:
        pytest.skip("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="rtrec-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    server = Cluster(bindir, root)
    server.init()
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


async def test_a_restarted_postgresql_server_pauses_recording_and_it_resumes(
    cluster: Cluster,
) -> None:
    notices = Notices()
    log = await open_log(cluster.url, on_notice=notices)
    sid = await log.begin_session("ga", None, None)
    for i in range(10):
        log.append(sid, _frame(i))
    await log.flush()
    await asyncio.to_thread(cluster.stop)
    for i in range(10, 60):
        log.append(sid, _frame(i))
    paused = await notices.wait("paused")
    for i in range(60, 100):  # the call goes on while the store is down
        log.append(sid, _frame(i))
    await asyncio.to_thread(cluster.start)
    resumed = await notices.wait("resumed")
    later = await _one_frame_session(log)  # a new session is recorded once the store answers
    await log.end_session(sid)
    await log.close()
    assert str(paused.error).startswith(f"lost the connection to {log.display} (")
    assert (notices.kinds[:2], resumed.lost, log.frames_lost) == (["paused", "resumed"], 0, 0)
    async with await open_log(cluster.url) as reopened:
        stored, lost = await _stored_or_gap(reopened, sid, 100)
        assert (stored, lost) == (list(range(1, 101)), [])  # every frame, once
        assert (await reopened.get_session(sid)).status == "complete"
        assert (await reopened.get_session(later)).frames == 1
