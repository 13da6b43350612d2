"""rtrec sessions, events, dump and import with Live sessions: the protocol shows, and a
session's sideband and fork list right after it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from recorder.cli import cli
from recorder.fake.live import build_live
from recorder.fake.scenarios import build
from recorder.protocol.live import together
from recorder.store import SessionInfo, open_log
from recorder.wire import Frame

PRIMARY = "live_u0_ThePrimarySessionOfTheCall"


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _record(db: Path, frames: list[Frame], protocol: str, model: str | None,
            **links: str) -> str:
    async def work() -> str:
        async with await open_log(str(db)) as log:
            sid = await log.begin_session(protocol, model, None)
            if links:
                log.update_session(sid, **links)
            for frame in frames:
                log.append(sid, frame)
            await log.end_session(sid, close_code=1000, closed_by="server")
            return sid

    return asyncio.run(work())


def _calls(db: Path) -> dict[str, str]:
    """A Live call, a Realtime session, then the call's sideband and a fork of it."""
    call = build_live("close")
    fork = build_live("close", seed=3, connection="fork", parent_id=PRIMARY)
    fork_id = json.loads(fork[1].data)["session"]["id"]
    return {
        "primary": _record(db, call, "live", "gpt-live-1", upstream_id=PRIMARY,
                           connection="primary"),
        "realtime": _record(db, build("voice_turns"), "ga", "gpt-realtime"),
        "sideband": _record(db, build_live("sideband", parent_id=PRIMARY), "live",
                            "gpt-live-1", upstream_id=PRIMARY, connection="attach",
                            parent_id=PRIMARY),
        "fork": _record(db, fork, "live", "gpt-live-1", upstream_id=fork_id,
                        connection="fork", parent_id=PRIMARY),
        "fork_id": fork_id,
    }


def test_sessions_lists_a_call_with_its_sideband_and_fork_and_shows_the_protocol(
    tmp_path: Path,
) -> None:
    db = tmp_path / "live.db"
    ids = _calls(db)
    lines = invoke("sessions", str(db)).stdout.splitlines()
    header = lines[0].split()
    assert header[:6] == ["id", "started", "(UTC)", "ended", "(UTC)", "protocol"]
    assert "session" in header
    rows = lines[1:]
    assert [row.split()[0] for row in rows] == [
        ids["primary"], ids["sideband"], ids["fork"], ids["realtime"]]
    assert f" live      {PRIMARY}  " in rows[0]
    assert f" live      sideband of {PRIMARY}  " in rows[1]
    assert f" live      fork of {PRIMARY}, now {ids['fork_id']}  " in rows[2]
    assert " ga        " in rows[3] and "gpt-realtime" in rows[3]
    listed = json.loads(invoke("sessions", str(db), "--json").stdout)
    assert [(s["id"], s["protocol"], s["upstream_id"], s["connection"], s["parent_id"])
            for s in listed] == [
        (ids["primary"], "live", PRIMARY, "primary", None),
        (ids["sideband"], "live", PRIMARY, "attach", PRIMARY),
        (ids["fork"], "live", ids["fork_id"], "fork", PRIMARY),
        (ids["realtime"], "ga", None, None, None),
    ]


def test_a_log_without_live_sessions_lists_as_before(tmp_path: Path) -> None:
    db = tmp_path / "rt.db"
    _record(db, build("voice_turns"), "ga", "gpt-realtime")
    header = invoke("sessions", str(db)).stdout.splitlines()[0]
    assert header.split() == ["id", "started", "(UTC)", "ended", "(UTC)", "protocol", "model",
                              "frames", "status", "not", "recorded"]


def _info(sid: str, upstream: str | None = None, connection: str | None = None,
          parent: str | None = None) -> SessionInfo:
    return SessionInfo(sid, None, None, "live", None, None, "complete", None, None, None, 0, 0,
                       0, upstream_id=upstream, connection=connection, parent_id=parent)


def test_together_keeps_start_order_and_puts_each_fork_after_its_parent() -> None:
    a = _info("a", "live_A", "primary")
    b = _info("b", "live_B", "primary")
    fork_of_a = _info("c", "live_C", "fork", "live_A")
    fork_of_fork = _info("d", "live_D", "fork", "live_C")
    side_of_b = _info("e", "live_B", "attach", "live_B")
    orphan = _info("f", "live_F", "fork", "live_gone")
    given = [a, b, fork_of_a, orphan, fork_of_fork, side_of_b]
    assert [s.id for s in together(given)] == ["a", "c", "d", "b", "e", "f"]
    loop = [_info("x", "live_X", "fork", "live_Y"), _info("y", "live_Y", "fork", "live_X")]
    assert [s.id for s in together(loop)] == ["x", "y"]  # a cycle loses nothing


def test_events_dump_and_import_of_a_live_session(tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    ids = _calls(db)
    events = invoke("events", str(db), "--session", ids["primary"]).stdout.splitlines()
    assert events[0].startswith(f"Session {ids['primary']} · live · ")
    assert " client  session.start " in events[2]
    assert " server  session.started " in events[3]
    started = json.loads(invoke("events", str(db), "--session", ids["primary"], "--type",
                                "session.started", "--json").stdout)
    assert [e["type"] for e in started] == ["session.started"]
    for name in ("primary", "sideband"):
        dump = tmp_path / f"{name}.jsonl"
        dump.write_text(invoke("dump", str(db), "--session", ids[name]).stdout)
        again = tmp_path / f"again_{name}.db"
        result = CliRunner().invoke(cli, ["import", str(again), str(dump)])
        assert result.exit_code == 0, result.output
        [new_id] = result.stdout.split()
        assert result.stderr.endswith("), protocol live\n")
        [info] = json.loads(invoke("sessions", str(again), "--json").stdout)
        assert (info["id"], info["protocol"], info["model"]) == (new_id, "live", "gpt-live-1")
        redumped = invoke("dump", str(again)).stdout
        assert [json.loads(line)["frame"] for line in redumped.splitlines()] == [
            json.loads(line)["frame"] for line in dump.read_text().splitlines()]
