"""Traces over OTLP/HTTP to a real receiver on loopback: `rtrec trace`, the OTEL_EXPORTER_OTLP_*
settings, a collector that is down or refuses. The figures come from a hand-built fold (the
`figures_of` seam): these tests pin the trace path, not the figures' definitions."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from otlp_receiver import Receiver, closed_port

import recorder.cli.trace as trace_cli
from recorder.cli import cli
from recorder.conversation import fold_log
from recorder.stats.figures import ResponseFigures, SessionFigures, TurnFigures
from recorder.stats.otlp import MISSING_EXTRA, NO_ENDPOINT, OtlpError, otlp_target
from recorder.stats.trace import trace_id_of
from recorder.store import open_log
from recorder.wire import Direction, Frame, Opcode

ROOT = Path(__file__).resolve().parents[1]
OTEL_VARS = [
    "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
]


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in OTEL_VARS:
        monkeypatch.delenv(name, raising=False)


def figures_for(session_id: str) -> SessionFigures:
    """A fold stand-in: one turn answered by one response, times that name the session."""
    return SessionFigures(
        model="gpt-realtime", duration_ms=3000.0,
        turns=[TurnFigures(index=1, item_id=f"item_{session_id}", speech_started_ms=100.0,
                           speech_stopped_ms=600.0, response_id=f"resp_{session_id}",
                           voice_to_voice_ms=450.0)],
        responses=[ResponseFigures(response_id=f"resp_{session_id}", created_ms=700.0,
                                   done_ms=2000.0, status="completed", first_audio_ms=1000.0)],
    )


async def hand_fold(_log: Any, info: Any) -> SessionFigures:
    return figures_for(info.id)


@pytest.fixture
def hand_built_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(trace_cli, "fold_figures", hand_fold)


def make_db(path: Path | str, sessions: int) -> list[tuple[str, float]]:
    """A store with `sessions` ended sessions (a frame each); their (id, started_at)."""

    async def work() -> list[tuple[str, float]]:
        made = []
        async with await open_log(str(path)) as log:
            for _ in range(sessions):
                sid = await log.begin_session("ga", "gpt-realtime", None)
                log.append(sid, Frame(Direction.SERVER, 1_000_000, Opcode.TEXT,
                                      b'{"type":"session.created"}'))
                await log.end_session(sid, close_code=1000, closed_by="client")
            for info in await log.list_sessions():
                assert info.started_at is not None
                made.append((info.id, info.started_at.timestamp()))
        return made

    return asyncio.run(work())


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="rtrec")


def error_lines(result: Result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Error:")]


# -- where traces go ----------------------------------------------------------------------------


def test_the_endpoint_comes_from_otlp_first_then_the_environment() -> None:
    assert otlp_target("http://127.0.0.1:4318").url == "http://127.0.0.1:4318/v1/traces"
    assert otlp_target("http://127.0.0.1:4318/").url == "http://127.0.0.1:4318/v1/traces"
    assert otlp_target("https://otel.example/ingest/traces").url == \
        "https://otel.example/ingest/traces"  # a path of its own: as given
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/base/"}
    assert otlp_target(None, env).url == "http://collector:4318/base/v1/traces"
    env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://traces:9999/exact"
    assert otlp_target(None, env).url == "http://traces:9999/exact"
    assert otlp_target("http://flag:1", env).url == "http://flag:1/v1/traces"


def test_headers_and_timeout_follow_the_specification() -> None:
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "api-key=s%3Dcret, x-team = voice",
           "OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}
    target = otlp_target("http://c:4318", env)
    assert target.headers == {"api-key": "s=cret", "x-team": "voice"}
    assert target.timeout_s == 2.5
    assert "s=cret" not in repr(target)
    env |= {"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "only=this",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "100"}
    target = otlp_target("http://c:4318", env)
    assert (target.headers, target.timeout_s) == ({"only": "this"}, 0.1)
    assert otlp_target("http://c:4318", {}).timeout_s == 10.0


@pytest.mark.parametrize(("url", "env", "message"), [
    (None, {}, NO_ENDPOINT),
    ("ftp://c:21", {}, "--otlp 'ftp://c:21' is not an http:// or https:// URL: "
                       "give e.g. http://127.0.0.1:4318"),
    ("http://c:99999", {}, "--otlp is not a valid URL: give e.g. http://127.0.0.1:4318"),
    ("http://c:1", {"OTEL_EXPORTER_OTLP_HEADERS": "Authorization Bearer-sekrit"},
     "OTEL_EXPORTER_OTLP_HEADERS has an entry that is not key=value: give key=value,key2=value2"),
    ("http://c:1", {"OTEL_EXPORTER_OTLP_TIMEOUT": "10s"},
     "OTEL_EXPORTER_OTLP_TIMEOUT='10s' is not a number of milliseconds: give e.g. 10000"),
    ("http://c:1", {"OTEL_EXPORTER_OTLP_TIMEOUT": "0"},
     "OTEL_EXPORTER_OTLP_TIMEOUT='0' must be more than 0 milliseconds: give e.g. 10000"),
])
def test_a_bad_setting_is_one_line_that_says_what_to_give(
    url: str | None, env: dict[str, str], message: str
) -> None:
    with pytest.raises(OtlpError) as raised:
        otlp_target(url, env)
    assert str(raised.value) == message
    assert "sekrit" not in str(raised.value)


def test_without_the_fold_the_command_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "rec.db"
    make_db(db, 1)
    monkeypatch.setitem(sys.modules, "recorder.stats.fold", None)  # a broken install
    result = invoke("trace", str(db), "--otlp", "http://127.0.0.1:4318")
    assert result.exit_code == 1
    assert error_lines(result) == [
        "Error: this rtrec has no turn figures (recorder.stats.fold is missing): reinstall rtrec"
    ]


def test_without_the_extra_the_command_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.proto.trace.v1", None)
    db = tmp_path / "rec.db"
    make_db(db, 1)
    result = invoke("trace", str(db), "--otlp", "http://127.0.0.1:4318")
    assert result.exit_code == 1
    assert error_lines(result) == [f"Error: {MISSING_EXTRA}"]


# -- rtrec trace --------------------------------------------------------------------------------


@pytest.mark.usefixtures("hand_built_fold")
def test_trace_sends_every_session_with_parents_and_wall_clock_times(db: str) -> None:
    made = make_db(db, 2)  # SQLite, then PostgreSQL
    with Receiver() as receiver:
        result = invoke("trace", str(db), "--otlp", receiver.url)
        assert result.exit_code == 0, result.output
        assert result.output.splitlines()[0] == f"sent 2 traces to {receiver.url}/v1/traces"
        assert len(receiver.requests) == 2  # one request per session
        headers = receiver.requests[0][0]
        assert headers["Content-Type"] == "application/x-protobuf"
        spans = receiver.spans
    for sid, started_at in made:
        mine = [s for s in spans if s.trace_id == trace_id_of(sid).hex()]
        assert [s.name for s in mine] == ["rtrec.session", "turn 1", "chat gpt-realtime"]
        root, turn, response = mine
        assert root.parent is None and turn.parent == root.span_id
        assert response.parent == turn.span_id
        # the sessions table's started_at (unix seconds, a float) plus the figures' offsets
        start_ns = round(started_at * 1e9)
        assert abs(root.start_ns - start_ns) < 1000
        assert response.start_ns - root.start_ns == 700_000_000
        assert response.end_ns - root.start_ns == 2_000_000_000
        assert root.end_ns - root.start_ns == 3_000_000_000
        assert response.attributes["gen_ai.response.id"] == f"resp_{sid}"
        assert root.attributes["gen_ai.conversation.id"] == sid


@pytest.mark.usefixtures("hand_built_fold")
def test_sending_twice_gives_the_same_trace(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    [(sid, _)] = make_db(db, 1)
    with Receiver() as receiver:
        assert invoke("trace", str(db), "--otlp", receiver.url).exit_code == 0
        assert invoke("trace", str(db), "--session", sid[:8], "--otlp", receiver.url
                      ).exit_code == 0
        (_, first), (_, second) = receiver.requests
    assert first == second  # byte for byte: a backend keeps the spans once


@pytest.mark.usefixtures("hand_built_fold")
def test_the_environment_names_the_endpoint_and_its_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "rec.db"
    make_db(db, 1)
    with Receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.url}/custom/path")
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=k%2C1,x-team=voice")
        result = invoke("trace", str(db))
        assert result.exit_code == 0, result.output
        [(headers, _)] = receiver.requests
    assert headers["x-api-key"] == "k,1" and headers["x-team"] == "voice"
    assert "k,1" not in result.output


@pytest.mark.usefixtures("hand_built_fold")
def test_a_collector_that_is_down_is_one_line_and_exit_1(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    make_db(db, 1)
    port = closed_port()
    result = invoke("trace", str(db), "--otlp", f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert error_lines(result) == [
        f"Error: cannot reach the OTLP collector at http://127.0.0.1:{port}/v1/traces "
        "(connection refused): start it, or point --otlp / OTEL_EXPORTER_OTLP_ENDPOINT at it"
    ]
    assert len(result.output.splitlines()) == 1


@pytest.mark.usefixtures("hand_built_fold")
def test_a_collector_that_refuses_or_is_slow_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "rec.db"
    make_db(db, 1)
    with Receiver(status=401) as receiver:
        result = invoke("trace", str(db), "--otlp", receiver.url)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: the OTLP collector at {receiver.url}/v1/traces refused the traces (HTTP 401): "
        "check the endpoint's path (…/v1/traces) and OTEL_EXPORTER_OTLP_HEADERS"
    ]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "200")
    with Receiver(delay_s=2.0) as receiver:
        result = invoke("trace", str(db), "--otlp", receiver.url)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: the OTLP collector at {receiver.url}/v1/traces did not answer within 0.2s: "
        "check it, or raise OTEL_EXPORTER_OTLP_TIMEOUT (milliseconds)"
    ]


@pytest.mark.usefixtures("hand_built_fold")
def test_a_busy_collector_is_tried_again(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    make_db(db, 1)
    with Receiver(answers=[503, 429]) as receiver:  # busy twice (Retry-After: 0), then takes it
        result = invoke("trace", str(db), "--otlp", receiver.url)
        assert result.exit_code == 0, result.output
        assert len(receiver.requests) == 3
        assert len({body for _, body in receiver.requests}) == 1  # the same request each time
    with Receiver(status=503) as receiver:
        result = invoke("trace", str(db), "--otlp", receiver.url)
        assert len(receiver.requests) == 4
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: the OTLP collector at {receiver.url}/v1/traces refused the traces (HTTP 503) "
        "after 4 tries: check the endpoint's path (…/v1/traces) and OTEL_EXPORTER_OTLP_HEADERS"
    ]


@pytest.mark.usefixtures("hand_built_fold")
def test_spans_the_collector_rejects_are_one_line(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    [(sid, _)] = make_db(db, 1)
    with Receiver(reject=2) as receiver:  # HTTP 200 with a partial success
        result = invoke("trace", str(db), "--otlp", receiver.url)
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"Error: the collector at {receiver.url}/v1/traces rejected 2 of the 3 spans of "
        f"session {sid}: too many attributes"
    ]


@pytest.mark.usefixtures("hand_built_fold")
def test_a_session_without_a_start_time_is_skipped_with_the_reason(tmp_path: Path) -> None:
    db = tmp_path / "rec.db"
    imported = invoke("import", str(db), str(ROOT / "fixtures" / "voice_turns.jsonl"))
    assert imported.exit_code == 0, imported.output
    sid = imported.output.split()[0]
    with Receiver() as receiver:
        every = invoke("trace", str(db), "--otlp", receiver.url)
        one = invoke("trace", str(db), "--session", sid, "--otlp", receiver.url)
        assert receiver.requests == []
    reason = (f"rtrec: session {sid} has no start time (imported from a file that does not "
              "say): its spans cannot be placed in time")
    assert reason in every.output.splitlines() and every.exit_code == 0
    assert one.output.splitlines() == [reason] and one.exit_code == 1


def test_with_text_puts_the_transcripts_on_the_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "voice_turns.db"
    shutil.copy(ROOT / "fixtures" / "voice_turns.db", db)

    async def conversation() -> Any:
        async with await open_log(str(db), create=False) as log:
            return (await fold_log(log, await log.get_session())).conversation

    talk = asyncio.run(conversation())
    user = [item for item in talk.items.values() if item.role == "user" and item.transcript]
    answers = [r for r in talk.responses.values() if r.output_item_ids]
    assert user and answers

    async def real_ids(_log: Any, _info: Any) -> SessionFigures:
        return SessionFigures(
            turns=[TurnFigures(index=1, item_id=user[0].id, speech_started_ms=10.0)],
            responses=[ResponseFigures(response_id=answers[0].id, created_ms=20.0,
                                       done_ms=30.0, status="completed")],
        )

    monkeypatch.setattr(trace_cli, "fold_figures", real_ids)
    with Receiver() as receiver:
        assert invoke("trace", str(db), "--otlp", receiver.url).exit_code == 0
        assert invoke("trace", str(db), "--otlp", receiver.url, "--with-text").exit_code == 0
        plain, told = receiver.requests
    from otlp_receiver import decode

    assert all("rtrec.transcript" not in s.attributes for s in decode(plain[1])[1])
    spans = decode(told[1])[1]
    turn = next(s for s in spans if s.name == "turn 1")
    assert turn.attributes["rtrec.transcript"] == user[0].transcript
    response = next(s for s in spans if s.name.startswith("chat"))
    spoken = talk.items[answers[0].output_item_ids[0]].transcript
    assert spoken and spoken in response.attributes["rtrec.transcript"]
