"""The proxy through a store outage: calls go on, a session opened meanwhile gets its row when
the store answers, the health endpoint tells the state, and `rtrec record` exits 3 when a frame
was lost."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
from test_proxy import ScriptedUpstream, scripted_response, start_proxy
from test_proxy_cli import start_record, upstream  # noqa: F401  (fixtures)
from test_store_recovery import Notices, _lock_held_by_another_process, _release

from recorder.redact import redact_frame
from recorder.store import open_log
from recorder.wire import Direction


async def test_a_session_opened_while_the_store_is_locked_is_recorded_when_it_answers(
    upstream: ScriptedUpstream, tmp_path: Path  # noqa: F811
) -> None:
    path = tmp_path / "rec.db"
    notices = Notices()
    forward: list[object] = []

    def on_notice(notice: object) -> None:
        notices(notice)  # type: ignore[arg-type]
        for proxy in forward:
            proxy.report_log_notice(notice)  # type: ignore[attr-defined]

    log = await open_log(str(path), flush_interval=0.01, busy_timeout=0.2, on_notice=on_notice)
    await log.flush()
    rec = await start_proxy(log, upstream.url)
    forward.append(rec.proxy)
    try:
        async with aiohttp.ClientSession() as http:
            async with _lock_held_by_another_process(path) as holder, http.ws_connect(
                rec.url + "/v1/realtime?model=m"
            ) as ws:
                seen = [(await ws.receive()).data]
                await ws.send_str('{"type":"session.update","session":{"type":"realtime"}}')
                await notices.wait("paused")  # the session's row could not be made
                async with http.get(rec.url.replace("ws", "http", 1) + "/rtrec/status") as got:
                    during = await got.json()
                _release(holder)
                await notices.wait("resumed")
                await ws.send_str('{"type":"response.create"}')
                for _ in scripted_response(0):
                    seen.append((await ws.receive()).data)
            await rec.settled()
            async with http.get(rec.url.replace("ws", "http", 1) + "/rtrec/status") as got:
                after = await got.json()
    finally:
        await rec.proxy.close()
        await log.close()
    assert during["store"] == "down" and during["sessions_open"] == 1
    assert (after["store"], after["frames_lost"], after["outages"]) == ("ok", 0, 1)
    errors = rec.err.getvalue().splitlines()
    assert len(errors) == 2, errors
    assert errors[0].startswith(f"rtrec: ERROR: recording paused: {path} is locked by another")
    assert errors[1].startswith("rtrec: recording resumed after ")
    assert errors[1].endswith("s: every frame waited in memory and is stored")
    async with await open_log(str(path)) as reopened:
        [info] = await reopened.list_sessions()
        frames = [f async for batch in reopened.read(info.id) for f in batch]
    assert (info.status, info.gaps) == ("complete", 0)
    assert [f.data for f in frames if f.direction is Direction.SERVER] == [
        redact_frame(data if isinstance(data, bytes) else data.encode()) for data in seen]
    assert len([f for f in frames if f.direction is Direction.CLIENT]) == 2


async def test_record_exits_3_when_a_frame_was_lost_and_its_status_endpoint_says_so(
    upstream: ScriptedUpstream, tmp_path: Path  # noqa: F811
) -> None:
    db = tmp_path / "rec.db"
    rtrec = await start_record("--db", str(db), "--listen", "127.0.0.1:0", "--buffer", "1",
                               "--upstream", upstream.url + "/v1/realtime")
    url = await rtrec.wait_listening()
    big = '{"type":"conversation.item.create","item":{"text":"' + "x" * 2**21 + '"}}'
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(url + "/v1/realtime?model=m") as ws:
            await ws.receive()
            await ws.send_str(big)  # larger than the 1 MiB buffer
            await ws.send_str('{"type":"response.create"}')
            for _ in scripted_response(0):
                await ws.receive()
        status_url = url.replace("ws", "http", 1) + "/rtrec/status"
        for _ in range(600):  # on a busy box the session's row (and so its gap) may come later
            async with http.get(status_url) as got:
                health = await got.json()
            # the ended session's figures too: stopped mid-compute, they would add a line
            if health["frames_lost"] and health["figures_computed"] and not health[
                    "figures_pending"]:
                break
            await asyncio.sleep(0.05)
        async with http.get(status_url, headers={"Origin": "https://evil.example"}) as got:
            refused = got.status
    code, out, err = await rtrec.stop(signal.SIGINT)
    assert upstream.received[0][0][1] == big.encode(), "the big frame was forwarded"
    assert (health["frames_lost"], health["gaps"], health["store"]) == (1, 1, "ok")
    assert health["queue_limit_bytes"] == 2**20
    assert refused == 403
    assert code == 3, err
    lines = err.splitlines()
    assert lines == [
        "rtrec: ERROR: a 2 MiB frame is larger than the whole recording buffer (1 MiB): "
        "it is not recorded (a gap of one frame, the session is marked incomplete); to keep "
        "frames this big, give rtrec record a larger --buffer",
        "rtrec: 1 frame passed but was not recorded (1 gap recorded): exit code 3",
    ]
    assert f"recorder health: GET {status_url}" in out
    sessions = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from recorder.cli import main; main()", "sessions", str(db),
        "--json", stdout=asyncio.subprocess.PIPE)
    listed, _ = await sessions.communicate()
    [info] = json.loads(listed)
    assert (info["status"], info["gaps"], info["frames_lost"]) == ("incomplete", 1, 1)
    assert info["gap_list"][0]["first_seq"] == 2
    assert info["gap_list"][0]["reason"] == "frame larger than the recording buffer"
