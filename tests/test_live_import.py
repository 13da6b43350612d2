"""`rtrec import` of a bare Live JSONL log (issue 18 item 3): one Live event a line, both
directions, no rtrec envelope, as a Live mock server or the SDK's debug log writes it. The file
is Live from its first event (session.start; a sideband's session.started), each event's
direction comes from its type (recorder.live.events.direction_of, by connection), audio is
stored as binary, and a bad line is one line naming it with nothing stored. The logs are made
by tests/vectors/make_live_bare.py from the fake Live scenarios."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parent / "vectors"))

from make_live_bare import write_bare

from recorder.cli import cli
from recorder.live.events import direction_of
from recorder.protocol import names
from recorder.store import open_log
from recorder.stream import log_steps
from recorder.wire import Direction


def rtrec(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


async def _stored(db: Path) -> list[tuple[str, list[object]]]:
    """Per session: its protocol, and (direction, type, audio is binary, frame bytes) a frame."""
    log = await open_log(str(db), create=False)
    try:
        found = []
        for info in await log.list_sessions():
            steps = [step async for batch in log_steps(log, info) for step in batch]
            found.append((info.protocol, [(s.direction, s.type, s.audio is not None,
                                           s.frame_data()) for s in steps]))
        return found
    finally:
        await log.close()


@pytest.mark.parametrize("scenario", ["tool_call", "sideband"])
def test_a_bare_live_log_imports_as_a_live_session_with_each_direction(
    tmp_path: Path, scenario: str
) -> None:
    path = tmp_path / f"{scenario}.jsonl"
    frames = write_bare(path, scenario)
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(path))
    assert result.exit_code == 0, result.output
    client = sum(f.direction is Direction.CLIENT for f in frames)
    assert result.stderr == (f"imported {len(frames)} frames from {path} ({client} client, "
                             f"{len(frames) - client} server), protocol live\n")
    [(protocol, stored)] = asyncio.run(_stored(db))
    assert protocol == names.LIVE_PROTOCOL
    # every frame as the scenario sent it, from the side that sent it
    assert [(d, data) for d, _, _, data in stored] == [(f.direction, f.data) for f in frames]
    audio = [(d, t) for d, t, binary, _ in stored if binary]
    assert audio and all(t in (names.LIVE_INPUT_AUDIO_APPEND, names.LIVE_OUTPUT_AUDIO_DELTA)
                         for _, t in audio)
    reflected = [d for d, t in audio if t == names.LIVE_INPUT_AUDIO_APPEND]
    # the same type from the other side: the client's microphone, or a sideband's reflection
    assert set(reflected) == {Direction.SERVER if scenario == "sideband" else Direction.CLIENT}


def test_an_imported_bare_live_log_replays_as_its_live_fold(tmp_path: Path) -> None:
    path = tmp_path / "tool_call.jsonl"
    write_bare(path, "tool_call")
    db = tmp_path / "log.db"
    assert rtrec("import", str(db), str(path)).exit_code == 0
    for source in (str(db), str(path)):  # the database, and the file read as it is
        result = rtrec("replay", source, "--json")
        assert result.exit_code == 0, result.output
        fold = json.loads(result.stdout)
        assert fold["protocol"] == "live" and fold["close"]["reason"] == "close_requested"
        [delegation] = fold["delegations"]
        [call] = delegation["tool_calls"]
        assert (call["name"], call["output"]) == ("get_weather", '{"temp_c":21,"sky":"clear"}')


def test_the_direction_of_a_live_type_follows_the_connection() -> None:
    append, dtmf = names.LIVE_INPUT_AUDIO_APPEND, names.LIVE_TRANSPORT_DTMF_SEND
    assert direction_of(append) is Direction.CLIENT
    assert direction_of(append, sideband=True) is Direction.SERVER
    assert direction_of(dtmf) is Direction.SERVER  # a primary socket's legacy notice
    assert direction_of(dtmf, sideband=True) is Direction.CLIENT
    assert direction_of("session.paused") is Direction.SERVER  # a sideband's, on any socket
    assert direction_of("session.start") is Direction.CLIENT
    assert direction_of("session.created") is None  # Realtime's, not Live's


START = '{"type":"session.start","session":{"model":"gpt-live-1"}}\n'


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (START + '{"type":"session.started","session":{"id":"live_1"}}\nnot json\n',
         "{path}:3 is not a JSON object: give JSONL (one event per line), a JSON array of "
         "events, or an `rtrec dump` file"),
        (START + '\n{"type":"session.output_audio.delta","delta":""}\n'
         '{"type":"session.brand_new"}\n',
         "{path}:4: unknown Live event type 'session.brand_new', so its direction is unknown: "
         "import it as an `rtrec dump` file, which says the direction"),
        (START + '{"type":"session.created","session":{}}\n',  # Realtime's, in a Live log
         "{path}:2: unknown Live event type 'session.created', so its direction is unknown: "
         "import it as an `rtrec dump` file, which says the direction"),
        (START + '{"delta":"hi"}\n', '{path}:2 has no event type: every event needs a string '
         '"type"'),
    ],
)
def test_a_bad_line_in_a_bare_live_log_is_one_line_and_stores_nothing(
    tmp_path: Path, lines: str, message: str
) -> None:
    good = tmp_path / "good.jsonl"
    write_bare(good, "close")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(lines)
    db = tmp_path / "log.db"
    assert rtrec("import", str(db), str(good)).exit_code == 0
    before = asyncio.run(_stored(db))
    result = rtrec("import", str(db), str(good), str(bad))
    assert (result.exit_code, result.stderr) == (1, f"Error: {message.format(path=bad)}\n")
    assert asyncio.run(_stored(db)) == before  # neither file went in


def test_a_json_array_of_live_events_imports_as_live(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text(json.dumps([
        {"type": "session.start", "session": {"model": "gpt-live-1"}},
        {"type": "session.started", "session": {"id": "live_u0_a", "model": "gpt-live-1"}},
        {"type": "session.input_audio.append", "audio": "AAAA"},
        {"type": "session.close"},
    ]))
    db = tmp_path / "log.db"
    result = rtrec("import", str(db), str(path))
    assert result.exit_code == 0, result.output
    [(protocol, stored)] = asyncio.run(_stored(db))
    assert protocol == "live"
    assert [d for d, *_ in stored] == [Direction.CLIENT, Direction.SERVER, Direction.CLIENT,
                                       Direction.CLIENT]
