"""Issue 13 figures (reported by bench/proxy.py): rtrec record under load, on SQLite on disk.

Variants, each in its own process, all measured in the same run, in alternating rounds:
  direct      the client talks to the upstream itself (the latency floor)
  bare        a bare aiohttp forwarder (bench/proxy.py --bare)
  forwarding  rtrec's own proxy with recording off (bench/proxy.py --unrecorded)
  floor       the bare forwarder plus one stdlib sqlite3 row per frame, written by a thread
              (bench/proxy.py --minimal: the least any one-row-per-frame recorder does)
  rtrec       `rtrec record --db FILE` on a fresh file in the temporary directory (ext4 here)

The clients and the scripted upstream are bench/loadgen.py's: asyncio Protocols with pre-built
frames and one timer wheel per process, the clients in CLIENT_PROCS processes and the upstream
in UPSTREAM_PROCS (RTREC_BENCH_CLIENT_PROCS, RTREC_BENCH_UPSTREAM_PROCS), so the generator, the
upstream and the hop under test do not share a GIL and the generator costs far less per frame
than the hop; every frame carries its send time (perf_counter_ns, CLOCK_MONOTONIC: one clock for
all processes of the machine). Each figure prints how late the generator itself sent its frames
(p99 of sent minus due, all variants) and the direct path's p99 (no hop: the generator's own
floor), so a goal below the floor shows as such. Frames are 4 KB (2,940 bytes of audio, base64)
both ways.

Figures (the issue's setup: --seconds 30; shorter runs for development):
  1. 200 sessions x 50 frames/s each way: p99 added latency <= 2x forwarding-only; the share
     of frames stored and how the rest was shed
  2. 100 sessions x 50 frames/s each way: every frame stored, p99 added <= 1.5x forwarding-only
  3. write_bytes (/proc/PID/io) per wire byte recorded, 50 sessions, 2,000 frames/s in all:
     <= 3x, database <= 0.8x the wire bytes
  4. CPU time of the process (all threads) per recorded frame at 10 and 50 sessions x 50
     frames/s each way: <= 1.5x the bare forwarder's
  5. SIGKILL halfway through 50 sessions x 50 frames/s each way: frames lost (seen by the
     client and the upstream, not in the log) <= two flush intervals' worth
Every figure prints the median over rounds and the range [min-max].
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sqlite3
import statistics
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure
from loadgen import Generator, Seen
from proxy import (
    CLIENT_PREFIX,
    SERVER_PREFIX,
    Hop,
    cpu_seconds,
    make_frame,
    percentile,
    until_idle,
)

from recorder.store.log import FLUSH_INTERVAL

ISSUE = 13
AUDIO_4KB = base64.b64encode(os.urandom(2940))  # 3,920 characters: a frame of ~4 KB
CLIENT_TAIL = b'","audio":"' + AUDIO_4KB + b'"}'
SERVER_TAIL = (b'","response_id":"resp_1","item_id":"item_1","output_index":0,'
               b'"content_index":0,"delta":"' + AUDIO_4KB + b'"}')
CLIENT_SIZE = len(make_frame(CLIENT_PREFIX, 0, CLIENT_TAIL))
SERVER_SIZE = len(make_frame(SERVER_PREFIX, 0, SERVER_TAIL))
RATE = 50.0  # frames/s each way per session
STAGGER = 0.005  # s between session starts (200 sessions start over one second)
# Past this p99 added by the bare forwarder (ms), it cannot keep up with the load at all: any
# ratio against forwarding-only then compares two backlogs, not what recording adds.
SATURATED_MS = 1000.0
CLIENT_PROCS, UPSTREAM_PROCS = 2, 2  # the generator's processes (the upstream serves every session)


FIGURES = ("latency200", "latency100", "writes", "cpu10", "cpu50", "kill")


def seconds() -> float:
    return float(os.environ.get("RTREC_BENCH_SECONDS", "30"))


def rounds() -> int:
    return int(os.environ.get("RTREC_BENCH_ROUNDS", "2"))


# -- what the console said -------------------------------------------------------------------


def shed_reasons(db: Path) -> str:
    """How rtrec's console said it shed sessions (bench/proxy.py Hop keeps its stderr)."""
    path = Path(f"{db}.stderr")
    lines = path.read_text().splitlines() if path.exists() else []
    kinds = {"it began while recording was shed": "began during an overload",
             "the event loop ran": "loop late", "the writer fell behind": "writer behind",
             "the queue was full": "queue full"}
    counts = dict.fromkeys(kinds.values(), 0)
    for line in lines:  # the first kind named (one that began names its overload's cause too)
        name = next((name for key, name in kinds.items() if key in line), None)
        if name is not None:
            counts[name] += 1
    return ", ".join(f"{n} {name}" for name, n in counts.items() if n) or "none shed"


# -- one load run -----------------------------------------------------------------------------


class Run:
    """What one variant saw in one load run."""

    def __init__(self, seen: Seen, cpu: float, written: int) -> None:
        self.latencies, self.seen, self.cpu, self.written = seen.latencies, seen.seen, cpu, written
        self.late = seen.lateness  # the generator's own: ns each frame was sent after its time

    @property
    def p99(self) -> float:
        return percentile(list(self.latencies), 0.99) if self.latencies else float("nan")

    @property
    def late_p99(self) -> float:
        return percentile(list(self.late), 0.99) if self.late else float("nan")


def read_io(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


async def load_run(base: str, generator: Generator, pid: int | None, sessions: int,
                   rate: float, duration: float, tag: str,
                   during: Callable[[], Awaitable[None]] | None = None) -> Run:
    """`sessions` paced sessions of `duration` s through base; CPU and write_bytes of pid from
    the start until it is idle again (its writer has caught up)."""
    cpu0 = cpu_seconds(pid) if pid else 0.0
    io0 = read_io(pid) if pid else 0
    work = asyncio.ensure_future(generator.run(base, sessions, rate, duration, tag, STAGGER))
    if during is not None:
        await during()
    seen = await work
    cpu, written = 0.0, 0
    if pid and during is None:
        await until_idle(pid)
        cpu, written = cpu_seconds(pid) - cpu0, read_io(pid) - io0
    return Run(seen, cpu, written)


# -- reading what rtrec stored ----------------------------------------------------------------


class Stored:
    def __init__(self, db: Path, first_pk: int, sessions: int, sent: int) -> None:
        """The sessions first_pk .. first_pk + sessions - 1 of a log (each sent `sent` frames
        in all), read with sqlite3."""
        connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            rows = connection.execute(
                "SELECT session, count(*), max(seq) FROM frames WHERE session >= ? "
                "AND session < ? GROUP BY session",
                (first_pk, first_pk + sessions),
            ).fetchall()
        finally:
            connection.close()
        by_session = {pk: (n, top) for pk, n, top in rows}
        self.frames = sum(n for n, _ in by_session.values())
        self.gapless = all(n == top for n, top in by_session.values())
        self.shed = sorted(pk for pk in range(first_pk, first_pk + sessions)
                           if by_session.get(pk, (0, 0))[0] < sent)
        kept = [pk for pk in range(first_pk, first_pk + sessions) if pk not in self.shed]
        self.newest_first = not self.shed or not kept or min(self.shed) > max(kept)
        # kept sessions newer than the oldest shed one (0: the shed ones are the newest)
        self.kept_newer = sum(1 for pk in kept if self.shed and pk > min(self.shed))


def _generator(runs: Sequence[Run]) -> str:
    """How late the generator itself sent its frames: p99 per run, median [range]."""
    return (f"the generator sent its frames p99 "
            f"{_median_range([run.late_p99 for run in runs], '{:.1f}')} ms late")


def _median_range(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    if not values:
        return "n/a"
    return (f"{fmt.format(statistics.median(values))} "
            f"[{fmt.format(min(values))}-{fmt.format(max(values))}]")


def _added(run: Run, direct: Run) -> float:
    return max(run.p99 - direct.p99, 1e-3)


# -- figures ----------------------------------------------------------------------------------


async def figure_latency(upstream: Generator, tmp: Path, sessions: int,
                         goal: float) -> Figure:
    duration, per_round = seconds(), sessions
    sent = 2 * int(RATE * duration)  # frames per session, both ways
    runs: dict[str, list[Run]] = {}
    stored: list[Stored] = []
    db = tmp / f"latency-{sessions}.db"
    async with Hop("forwarding", upstream.url) as forwarding, \
            Hop("rtrec", upstream.url, db) as rtrec, \
            Hop("bare", upstream.url) as bare, \
            Hop("minimal-thread", upstream.url, tmp / f"floor-{sessions}.db") as floor:
        variants = (("forwarding", forwarding.url), ("rtrec", rtrec.url), ("bare", bare.url),
                    ("floor", floor.url), ("direct", upstream.url))
        for r in range(rounds()):
            for name, base in variants if r % 2 == 0 else variants[::-1]:  # alternate order
                run = await load_run(base, upstream, None, sessions, RATE, duration,
                                     f"lat{sessions}-{name}-{r}")
                runs.setdefault(name, []).append(run)
                if name == "rtrec":
                    assert rtrec.process is not None
                    await until_idle(rtrec.process.pid)
                    stored.append(Stored(db, r * per_round + 1, per_round, sent))
    # A round whose direct path (no hop at all) is later than a forwarder's is one where the
    # load generator itself fell behind: its added latencies are noise, not the hop's.
    valid = [(run, f, d) for run, f, d in zip(runs["rtrec"], runs["forwarding"], runs["direct"],
                                              strict=True) if f.p99 - d.p99 > 1.0]
    ratios = [_added(run, d) / _added(f, d) for run, f, d in valid] or [float("nan")]
    late = statistics.median(r.p99 for r in runs["direct"])
    blocked = (f"BLOCKED here: with no hop at all the load generator's p99 is {late:.0f} ms "
               f"({len(runs['direct']) - len(valid)} of {len(runs['direct'])} rounds with "
               "forwarding-only no later than direct); " if late > 100 or not valid else "")
    bare_behind = statistics.median(_added(run, d) for run, d in zip(
        runs["bare"], runs["direct"], strict=True))
    if bare_behind > SATURATED_MS:  # the floor of any recorder is past the goal's scale
        blocked += (f"BELOW THE FLOOR here: the bare forwarder alone added {bare_behind:.0f} ms "
                    "p99 (it cannot forward this load with the CPU this box gives it now); ")
    expected = sessions * int(RATE * duration) * 2
    shares = [100 * s.frames / expected for s in stored]

    def added(name: str) -> str:
        return _median_range([_added(run, d) for run, d in zip(runs[name], runs["direct"],
                                                                strict=True)], "{:.1f}")

    direct_p99 = _median_range([r.p99 for r in runs["direct"]], "{:.1f}")
    shed = ", ".join(f"{len(s.shed)} sessions shed" + (
        " (the newest)" if s.newest_first else
        f" (NOT the newest: {s.kept_newer} kept sessions began after the first shed one)")
        for s in stored)
    shed += " (per round)"
    whole = all(s.frames == expected for s in stored)
    how = (f"stored {_median_range(shares, '{:.1f}')}% of {expected:,} frames per round; "
           f"{shed}; every session a gapless prefix: {all(s.gapless for s in stored)}; "
           f"console: {shed_reasons(db)}")
    floor_ratio = statistics.median(
        [_added(fl, d) / _added(f, d) for _, f, d, fl in zip(
            runs["rtrec"], runs["forwarding"], runs["direct"], runs["floor"], strict=True)])
    if floor_ratio > goal:  # the least a one-row-per-frame recorder adds is past the goal
        blocked += (f"the goal is below the floor here: the one-row floor alone added "
                    f"{floor_ratio:.2f}x forwarding-only's p99; ")
    passed = statistics.median(ratios) <= goal and (whole or sessions > 100) and not blocked
    return Figure(
        ISSUE, f"{sessions} sessions x 50 frames/s each way, 4 KB, {duration:g} s, SQLite: "
        "p99 added latency (ms)" + ("" if sessions > 100 else ", every frame stored"),
        f"<= {goal}x forwarding-only" + ("" if sessions > 100 else ", all stored"),
        f"forwarding-only +{added('forwarding')}; bare +{added('bare')}; one-row floor "
        f"+{added('floor')} (direct p99 {direct_p99}; "
        f"{_generator([run for variant in runs.values() for run in variant])})",
        f"{blocked}rtrec +{added('rtrec')}; {how}",
        statistics.median(ratios), passed,
    )


async def figure_cpu(upstream: Generator, tmp: Path, sessions: int) -> Figure:
    duration = seconds()
    per_frame: dict[str, list[float]] = {}
    shares: list[float] = []
    all_runs: list[Run] = []
    async with Hop("bare", upstream.url) as bare, \
            Hop("rtrec", upstream.url, tmp / f"cpu-{sessions}.db") as rtrec, \
            Hop("minimal-thread", upstream.url, tmp / f"cpu-floor-{sessions}.db") as floor:
        for r in range(rounds()):
            order = (("bare", bare), ("rtrec", rtrec), ("floor", floor))
            for name, hop in order if r % 2 == 0 else order[::-1]:
                assert hop.process is not None
                run = await load_run(hop.url, upstream, hop.process.pid, sessions, RATE,
                                     duration, f"cpu{sessions}-{name}-{r}")
                all_runs.append(run)
                if name == "rtrec":
                    assert rtrec.db is not None
                    frames = Stored(rtrec.db, r * sessions + 1, sessions, 0).frames
                    shares.append(100 * frames / max(run.seen, 1))
                else:
                    frames = run.seen
                per_frame.setdefault(name, []).append(run.cpu / max(frames, 1) * 1e6)
    ratios = [a / b for a, b in zip(per_frame["rtrec"], per_frame["bare"], strict=True)]
    floor_ratios = [a / b for a, b in zip(per_frame["floor"], per_frame["bare"], strict=True)]
    return Figure(
        ISSUE, f"CPU per recorded frame (all threads), {sessions} sessions x 50 frames/s each way",
        "<= 1.5x bare forwarder, every frame stored",
        f"bare {_median_range(per_frame['bare'], '{:.1f}')} us; one-row floor "
        f"{_median_range(per_frame['floor'], '{:.1f}')} us = {_median_range(floor_ratios)}x "
        f"({_generator(all_runs)})",
        f"rtrec {_median_range(per_frame['rtrec'], '{:.1f}')} us = {_median_range(ratios)}x; "
        f"stored {_median_range(shares, '{:.1f}')}% of the frames (console: "
        f"{shed_reasons(tmp / f'cpu-{sessions}.db')})",
        statistics.median(ratios), statistics.median(ratios) <= 1.5 and min(shares) >= 100.0,
    )


async def figure_writes(upstream: Generator, tmp: Path) -> Figure:
    sessions, rate, duration = 50, 20.0, seconds()  # 50 x 2 x 20 = 2,000 frames/s in all
    written: dict[str, list[float]] = {}
    size: dict[str, list[float]] = {}
    shed: list[str] = []
    all_runs: list[Run] = []
    for r in range(rounds()):
        for name in ("rtrec", "minimal-thread"):
            db = tmp / f"writes-{name}-{r}.db"
            async with Hop(name, upstream.url, db) as hop:
                assert hop.process is not None
                run = await load_run(hop.url, upstream, hop.process.pid, sessions, rate,
                                     duration, f"wr-{name}-{r}")
                all_runs.append(run)
            if hop.lost:
                shed.append(f"round {r + 1}: {shed_reasons(db)}")
            wire = run.seen / 2 * (CLIENT_SIZE + SERVER_SIZE)  # both ways, equal counts
            on_disk = sum(p.stat().st_size for p in tmp.glob(f"writes-{name}-{r}.db*"))
            written.setdefault(name, []).append(run.written / wire)
            size.setdefault(name, []).append(on_disk / wire)
    ratio = statistics.median(written["rtrec"])
    return Figure(
        ISSUE, "bytes written (write_bytes) per wire byte, 50 sessions, 4 KB, 2,000 frames/s",
        "<= 3x, db <= 0.8x wire",
        "one-row floor (no index, no audio split) written "
        f"{_median_range(written['minimal-thread'])}x, db "
        f"{_median_range(size['minimal-thread'])}x (bare forwarder: writes nothing; "
        f"{_generator(all_runs)})",
        f"rtrec written {_median_range(written['rtrec'])}x, db {_median_range(size['rtrec'])}x "
        f"(flush interval {FLUSH_INTERVAL} s; until the writer is idle, before the close)"
        f"{'; it shed sessions (exit 3): ' + ', '.join(shed) if shed else ''}",
        ratio, ratio <= 3.0 and statistics.median(size["rtrec"]) <= 0.8 and not shed,
    )


async def figure_kill(upstream: Generator, tmp: Path) -> Figure:
    sessions, duration = 50, seconds()
    lost: dict[str, list[int]] = {}
    reasons: list[str] = []
    all_runs: list[Run] = []
    for r in range(rounds()):
        for name in ("rtrec", "minimal-thread"):
            db = tmp / f"kill-{name}-{r}.db"
            hop = Hop(name, upstream.url, db)
            await hop.__aenter__()
            assert hop.process is not None
            process = hop.process

            async def kill(process: asyncio.subprocess.Process = process) -> None:
                await asyncio.sleep(duration / 2 + sessions * STAGGER)
                process.send_signal(signal.SIGKILL)

            run = await load_run(hop.url, upstream, process.pid, sessions, RATE, duration,
                                 f"kill-{name}-{r}", during=kill)
            all_runs.append(run)
            await process.wait()
            hop._drain.cancel()
            connection = sqlite3.connect(db)
            try:
                stored = connection.execute("SELECT count(*) FROM frames").fetchone()[0]
            finally:
                connection.close()
            lost.setdefault(name, []).append(run.seen - stored)
            if name == "rtrec":
                reasons.append(shed_reasons(db))
    allowed = int(2 * FLUSH_INTERVAL * sessions * RATE * 2)
    worst = max(lost["rtrec"])
    return Figure(
        ISSUE, "SIGKILL halfway, 50 sessions x 50 frames/s each way: frames lost",
        f"<= two flush intervals' worth (2 x {FLUSH_INTERVAL} s x 5,000 frames/s = {allowed:,})",
        "one-row floor (1,000-frame batches) lost "
        f"{_median_range(lost['minimal-thread'], '{:,.0f}')} ({_generator(all_runs)})",
        f"rtrec lost {_median_range(lost['rtrec'], '{:,.0f}')} "
        f"(= {_median_range([n / (sessions * RATE * 2) for n in lost['rtrec']], '{:.2f}')} s); "
        f"shed per round: {'; '.join(reasons)}",
        worst / allowed, worst <= allowed,
    )


async def load_figures() -> list[Figure]:
    import tempfile

    figures: list[Figure] = []
    procs = {key: int(os.environ.get(f"RTREC_BENCH_{key.upper()}", "0")) or default
             for key, default in (("client_procs", CLIENT_PROCS),
                                  ("upstream_procs", UPSTREAM_PROCS))}
    async with Generator((CLIENT_PREFIX, CLIENT_TAIL), (SERVER_PREFIX, SERVER_TAIL),
                         **procs) as upstream:
        with tempfile.TemporaryDirectory(dir=os.environ.get("RTREC_BENCH_TMP")) as tmp:
            only = os.environ.get("RTREC_BENCH_ONLY", ",".join(FIGURES))
            steps: dict[str, Callable[[], Awaitable[Figure]]] = {
                "latency200": lambda: figure_latency(upstream, Path(tmp), 200, 2.0),
                "latency100": lambda: figure_latency(upstream, Path(tmp), 100, 1.5),
                "writes": lambda: figure_writes(upstream, Path(tmp)),
                "cpu10": lambda: figure_cpu(upstream, Path(tmp), 10),
                "cpu50": lambda: figure_cpu(upstream, Path(tmp), 50),
                "kill": lambda: figure_kill(upstream, Path(tmp)),
            }
            for name in only.split(","):
                print(f"  load figure {name} ...", file=sys.stderr, flush=True)
                figures.append(await steps[name]())
                print(json.dumps(figures[-1].__dict__), file=sys.stderr, flush=True)
    return figures
