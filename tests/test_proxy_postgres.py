"""The database disappears mid-call: the call goes on, the failure is said once, loudly.

Uses its own PostgreSQL database (it is dropped during the test, so it cannot be shared).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import uuid

import pytest
from openai import AsyncOpenAI
from sqlalchemy.engine import make_url
from test_proxy import API_KEY, Recorder, ScriptedUpstream, scripted_response, start_proxy
from test_proxy_cli import start_record

from recorder.store import open_log
from recorder.wire import Direction, Frame, Opcode

pytestmark = pytest.mark.postgres

SERVER = os.environ.get("RTREC_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def admin(sql: str) -> None:
    import asyncpg

    dsn = make_url(SERVER).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def test_database_dropped_mid_call_keeps_the_call_going(tmp_path: object) -> None:
    name = f"rtrec_proxy_{uuid.uuid4().hex[:12]}"
    try:
        await admin(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as error:
        pytest.skip(f"PostgreSQL not reachable: {error}")
    url = make_url(SERVER).set(database=name).render_as_string(hide_password=False)
    upstream = await ScriptedUpstream().start()
    rec: Recorder | None = None
    try:
        rec = await start_proxy(None, upstream.url)
        log = await open_log(url, flush_interval=0.01, on_notice=rec.proxy.report_log_notice,
                             close_timeout=0.5)
        rec.proxy.log = log
        client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=rec.url + "/v1")
        seen: list[bytes] = []
        async with client.realtime.connect(model="gpt-realtime") as connection:
            seen.append(await connection.recv_bytes())
            for turn in range(3):
                if turn == 1:  # the database goes away between two responses
                    await log.flush()
                    await admin(f'DROP DATABASE "{name}" WITH (FORCE)')
                await connection.response.create()
                while b'"response.done"' not in (raw := await connection.recv_bytes()):
                    seen.append(raw)
                seen.append(raw)
                await asyncio.sleep(0.05)  # let the writer try (and fail) while the call runs
        while rec.proxy.open_sessions:  # (settled() would flush: wait for the database)
            await asyncio.sleep(0.02)
        await log.close()  # closing a log whose database is gone does not raise either
        assert log.failure is not None
        assert log.frames_lost == 2 * len(scripted_response(0)) + 2  # two turns
    finally:
        if rec is not None:
            await rec.proxy.close()
        await upstream.stop()
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    assert seen == [data for _, data in upstream.sent[0]], "the app got every frame"
    assert len(seen) == 1 + 3 * len(scripted_response(0))
    errors = [line for line in rec.err.getvalue().splitlines() if "ERROR" in line]
    assert len(errors) == 2, rec.err.getvalue()  # the outage once, and what was lost at close
    assert errors[0].startswith("rtrec: ERROR: recording paused: ")
    assert errors[1].startswith("rtrec: ERROR: the store was still down 0.5s after stopping began")
    assert errors[1].endswith(" frames waiting in memory were not stored")
    assert (
        "closed by client (code 1000, complete (not stored yet: the store is down))"
        in rec.out.getvalue()
    )


async def test_the_database_password_is_in_no_banner_of_record_or_serve() -> None:
    name = f"rtrec_banner_{uuid.uuid4().hex[:12]}"
    try:
        await admin(f'CREATE DATABASE "{name}"')
    except (TimeoutError, OSError) as error:
        pytest.skip(f"PostgreSQL not reachable: {error}")
    password = "Pa55word-never-printed"
    # trust auth: the server does not ask for the password, so any value connects
    url = make_url(SERVER).set(database=name, password=password).render_as_string(
        hide_password=False
    )
    try:
        rtrec = await start_record("--db", url, "--listen", "127.0.0.1:0")
        await rtrec.wait_listening()
        code, out, err = await rtrec.stop(signal.SIGINT)
        assert code == 0, err
        assert "recording to postgresql+asyncpg://postgres:***@" in out
        assert password not in out + err

        log = await open_log(url)
        try:
            sid = await log.begin_session("ga", "m", None)
            log.append(sid, Frame(Direction.SERVER, 0, Opcode.TEXT, b'{"type":"session.created"}'))
            await log.end_session(sid, closed_by="client", close_code=1000)
        finally:
            await log.close()
        serve = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from recorder.cli import main; main()", "serve", url,
            "--listen", "127.0.0.1:0",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert serve.stdout is not None
        banner = (await asyncio.wait_for(serve.stdout.readline(), 30)).decode()
        serve.send_signal(signal.SIGINT)
        rest, serve_err = await asyncio.wait_for(serve.communicate(), 30)
        assert serve.returncode == 0, serve_err
        assert banner.startswith(f"rtrec: serving session {sid} from postgresql+asyncpg://")
        assert password not in banner + rest.decode() + serve_err.decode()
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
