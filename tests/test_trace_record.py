"""`rtrec record --otlp`: each session's trace leaves as the session ends, from a bounded queue
off the forwarding path; a collector that is slow or down never holds recording up, and every
trace not sent is counted (console once, GET /rtrec/status). Real sessions (the fake upstream,
the fake client, the proxy, a SQLite log), a real OTLP/HTTP receiver; the figures come from a
hand-built fold (the TraceSender's `figures` seam)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner
from otlp_receiver import Receiver, closed_port
from test_proxy import Recorder, start_proxy

from recorder.cli import cli
from recorder.console import Console
from recorder.fake.client import play_client
from recorder.fake.server import FakeUpstream
from recorder.proxy import ProxyConfig, record
from recorder.stats import table
from recorder.stats.fold import session_figures
from recorder.stats.otlp import OtlpTarget, otlp_target
from recorder.stats.sender import TraceSender
from recorder.stats.trace import trace_id_of
from recorder.store import EventLog, open_log

KEY = "sk-trace-record-key-0123456789"
ROOT = Path(__file__).resolve().parents[1]
HAND_FOLD = "test_otlp:hand_fold"  # run in the sender's worker process
BY_SID = "test_trace_record:hand_fold_by_sid"  # run in the recorder's figures worker process
NOT_USED = "test_trace_record:no_such_fold"  # the sender never folds when the worker does


async def hand_fold_by_sid(_log: EventLog, sid: str) -> Any:
    """The figures worker's seam (log, session id); notes the pid it ran in."""
    import msgspec
    from test_otlp import figures_for

    return msgspec.structs.replace(figures_for(sid), model=f"gpt-realtime pid {os.getpid()}")


class Log:
    def __init__(self, log: EventLog, path: str) -> None:
        self.log, self.path = log, path


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Log]:
    path = str(tmp_path / "rec.db")
    event_log = await open_log(path, flush_interval=0.01)
    yield Log(event_log, path)
    await event_log.close()


@pytest.fixture
async def fake() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream("voice_turns", pace=0) as upstream:
        yield upstream


async def wait_for(condition: Any, seconds: float = 15.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the condition never held")


async def play(recorder_url: str) -> None:
    await play_client(f"{recorder_url}/v1/realtime", "voice_turns", pace=0, api_key=KEY,
                      model="gpt-realtime")


async def status(recorder: Recorder) -> dict[str, Any]:
    url = recorder.url.replace("ws", "http", 1) + "/rtrec/status"
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        answer: dict[str, Any] = await response.json()
        return answer


def warnings(err: str) -> list[str]:
    return [line for line in err.splitlines() if "trace of session" in line]


async def test_rtrec_record_sends_each_session_as_it_ends(db: str, fake: FakeUpstream) -> None:
    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()  # db: SQLite, then PostgreSQL
    with Receiver() as receiver:
        traces = TraceSender(otlp_target(receiver.url), HAND_FOLD)
        config = ProxyConfig(upstream=fake.url, host="127.0.0.1", port=0)
        running = asyncio.ensure_future(
            record(db, config, Console(out, err), stop=stop, traces=traces)
        )
        await wait_for(lambda: "listening on" in out.getvalue())
        url = re.search(r"listening on (ws://\S+)/v1/realtime", out.getvalue())
        assert url is not None
        await play(url.group(1))
        await play(url.group(1))
        await wait_for(lambda: len(receiver.requests) == 2)
        stop.set()
        assert await running == 0  # every frame recorded
        spans = receiver.spans
    assert f"  traces: each session's trace goes to {receiver.url}/v1/traces as it ends" \
        in out.getvalue().splitlines()
    async with await open_log(db, create=False) as reading:
        sessions = await reading.list_sessions()
    assert [s.status for s in sessions] == ["complete", "complete"]
    for info in sessions:
        mine = [s for s in spans if s.trace_id == trace_id_of(info.id).hex()]
        assert [s.name for s in mine] == ["rtrec.session", "turn 1", "chat gpt-realtime"]
        assert mine[1].parent == mine[0].span_id and mine[2].parent == mine[1].span_id
        assert info.started_at is not None
        assert abs(mine[0].start_ns - round(info.started_at.timestamp() * 1e9)) < 1000
    assert (traces.sent, traces.dropped) == (2, 0)
    assert warnings(err.getvalue()) == []


async def test_one_worker_process_folds_each_session_once_for_its_figures_and_its_trace(
    db: str, fake: FakeUpstream
) -> None:
    """rtrec record's wiring (figures and --otlp): the figures worker process computes each
    session's figures once, keeps them, and encodes the trace the sender only sends."""
    out, err = io.StringIO(), io.StringIO()
    stop = asyncio.Event()
    with Receiver() as receiver:
        traces = TraceSender(otlp_target(receiver.url), NOT_USED)
        config = ProxyConfig(upstream=fake.url, host="127.0.0.1", port=0)
        running = asyncio.ensure_future(
            record(db, config, Console(out, err), stop=stop, figures=BY_SID, traces=traces)
        )
        await wait_for(lambda: "listening on" in out.getvalue())
        url = re.search(r"listening on (ws://\S+)/v1/realtime", out.getvalue())
        assert url is not None
        base = url.group(1)
        await play(base)
        await play(base)
        await wait_for(lambda: len(receiver.requests) == 2, 60)
        async with aiohttp.ClientSession() as http:
            for _ in range(600):  # the sender counts a trace once the collector's answer is read
                async with http.get(base.replace("ws", "http", 1) + "/rtrec/status") as response:
                    health = await response.json()
                if health["traces_sent"] + health["traces_dropped"] >= 2:
                    break
                await asyncio.sleep(0.05)
        stop.set()
        assert await running == 0
        spans = receiver.spans
    assert (health["figures_computed"], health["figures_failed"], health["traces_sent"],
            health["traces_dropped"]) == (2, 0, 2, 0)
    assert traces._pool is None  # the sender started no process of its own: one fold
    async with await open_log(db, create=False) as reading:
        sessions = await reading.list_sessions()
        kept = {info.id: await table.load(reading, info.id) for info in sessions}
        assert await table.stale(reading) == []
    pids = set()
    for info in sessions:
        figures = kept[info.id]
        assert figures is not None and figures.model is not None
        pid = int(figures.model.rsplit(" ", 1)[1])
        pids.add(pid)
        mine = [s for s in spans if s.trace_id == trace_id_of(info.id).hex()]
        assert [s.name for s in mine] == ["rtrec.session", "turn 1", "chat gpt-realtime"]
        assert mine[1].attributes.get("rtrec.voice_to_voice_ms") == 450.0
    assert len(pids) == 1 and os.getpid() not in pids  # one worker, not the recorder's process
    assert warnings(err.getvalue()) == []


async def test_a_slow_collector_never_holds_recording_up(
    store: Log, fake: FakeUpstream
) -> None:
    log = store.log
    recorder = await start_proxy(log, fake.url.removesuffix("/v1/realtime"))
    with Receiver(delay_s=3.0) as receiver:
        traces = TraceSender(OtlpTarget(f"{receiver.url}/v1/traces", timeout_s=10.0), HAND_FOLD,
                             console=recorder.proxy.console, queue_size=2)
        traces.start(store.path)
        recorder.proxy.listener = traces
        try:
            for _ in range(3):
                await play(recorder.url)
            await recorder.settled()
            # three sessions recorded and ended; the first trace is at the collector, waiting
            await wait_for(lambda: receiver.arrived == 1)
            assert receiver.requests == []
            assert all(played.completed for played in fake.sessions)
            assert [s.status for s in await log.list_sessions()] == ["complete"] * 3
            health = await status(recorder)
            # the first in flight, the second waiting, the third dropped: 2 at most
            assert (health["traces_sent"], health["traces_queued"], health["traces_dropped"]) \
                == (0, 1, 1)
            assert health["traces_endpoint"] == f"{receiver.url}/v1/traces"
            [warning] = warnings(recorder.err.getvalue())
            sid = (await log.list_sessions())[2].id
            assert warning == (
                f"rtrec: WARNING: the trace of session {sid} was not sent: the queue of 2 "
                "traces waiting is full (the collector is slow or down); recording goes on, "
                "traces not sent are counted in GET /rtrec/status (traces_dropped)"
            )
        finally:
            await traces.close(drain_s=0.2)  # the one in flight and the one queued: dropped
            await recorder.proxy.close()
    assert (traces.sent, traces.dropped) == (0, 3)
    assert recorder.err.getvalue().splitlines()[-1] == (
        f"rtrec: 3 traces not sent to {receiver.url}/v1/traces (0 sent): send them again "
        "with rtrec trace DB --otlp URL"
    )


async def test_a_collector_that_is_down_costs_recording_nothing(
    store: Log, fake: FakeUpstream
) -> None:
    log = store.log
    recorder = await start_proxy(log, fake.url.removesuffix("/v1/realtime"))
    port = closed_port()
    traces = TraceSender(otlp_target(f"http://127.0.0.1:{port}"), HAND_FOLD,
                         console=recorder.proxy.console)
    traces.start(store.path)
    recorder.proxy.listener = traces
    try:
        await play(recorder.url)
        await play(recorder.url)
        await recorder.settled()
        await wait_for(lambda: traces.dropped == 2)
        assert [s.status for s in await log.list_sessions()] == ["complete"] * 2
        health = await status(recorder)
        assert (health["traces_sent"], health["traces_dropped"]) == (0, 2)
        [warning] = warnings(recorder.err.getvalue())  # said once, counted after
        assert f"cannot reach the OTLP collector at http://127.0.0.1:{port}/v1/traces " \
            "(connection refused)" in warning
    finally:
        await traces.close()
        await recorder.proxy.close()


def test_a_bad_otlp_url_is_one_line_before_anything_is_opened(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["record", "--db", str(tmp_path / "r.db"),
                                      "--otlp", "ftp://collector:4318"])
    assert result.exit_code == 1
    assert result.output == (
        "Error: --otlp 'ftp://collector:4318' is not an http:// or https:// URL: "
        "give e.g. http://127.0.0.1:4318\n"
    )
    assert not (tmp_path / "r.db").exists()


async def test_rtrec_record_otlp_from_the_command_line(
    tmp_path: Path, fake: FakeUpstream
) -> None:
    """rtrec record as a user runs it, with the real fold: the trace carries its figures."""
    db = tmp_path / "rec.db"
    with Receiver() as receiver:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from recorder.cli import main; main()", "record",
            "--db", str(db), "--listen", "127.0.0.1:0", "--upstream", fake.url,
            "--otlp", receiver.url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            start_new_session=True,  # a process group of its own, as a terminal gives it
        )
        try:
            assert process.stdout is not None
            banner = ""
            while "listening on" not in banner:
                line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
                assert line, "rtrec record exited before listening"
                banner += line
            url = re.search(r"listening on (ws://\S+)/v1/realtime", banner)
            assert url is not None
            await play(url.group(1))
            await wait_for(lambda: len(receiver.requests) == 1)
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C: rtrec and its trace worker
            out, err = await asyncio.wait_for(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        spans = receiver.spans
    assert process.returncode == 0, err.decode()
    assert f"  traces: each session's trace goes to {receiver.url}/v1/traces as it ends" \
        in (banner + out.decode()).splitlines()
    async with await open_log(str(db), create=False) as reading:
        [info] = await reading.list_sessions()
    figures = await session_figures(str(db), info.id)
    assert figures.turns and figures.responses  # the fake session has both
    async with await open_log(str(db), create=False) as reading:
        assert await table.load(reading, info.id) == figures  # kept by the same fold
    assert {s.trace_id for s in spans} == {trace_id_of(info.id).hex()}
    turns = [s for s in spans if s.name.startswith("turn ")]
    chats = [s for s in spans if s.name == "chat gpt-realtime"]
    assert len(turns) == len(figures.turns) and len(chats) == len(figures.responses)
    for turn, figure in zip(turns, figures.turns, strict=True):
        assert turn.attributes.get("rtrec.voice_to_voice_ms") == figure.voice_to_voice_ms
    by_id = {s.attributes["gen_ai.response.id"]: s for s in chats}
    for response in figures.responses:
        assert by_id[response.response_id].attributes.get("rtrec.first_audio_ms") == \
            response.first_audio_ms
    assert err.decode() == ""
