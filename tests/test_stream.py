"""The stream: a recording's steps in seq order, from the log, a file or frames in memory."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn

import pytest

import recorder.store.db
from recorder.errors import RtrecError
from recorder.events import UnknownEvent
from recorder.store import open_log
from recorder.store.transfer import import_file
from recorder.stream import (
    AudioChunk,
    LiveAudioChunk,
    Step,
    file_steps,
    frame_steps,
    log_steps,
    steps_of,
)
from recorder.wire import Direction, Frame, Opcode

FIXTURES = Path(__file__).parent.parent / "fixtures"


def _text(direction: Direction, t_ns: int, data: bytes) -> Frame:
    return Frame(direction, t_ns, Opcode.TEXT, data)


def test_an_audio_frame_is_a_chunk_of_bytes_and_its_event_comes_back_whole() -> None:
    frame = _text(Direction.CLIENT, 5, b'{"type":"input_audio_buffer.append","audio":"AAEC"}')
    (step,) = frame_steps([frame])
    assert (step.seq, step.t_ns, step.direction) == (1, 5, Direction.CLIENT)
    assert isinstance(step.event, AudioChunk)
    assert step.event.audio == b"\x00\x01\x02"
    assert step.event.to_event().audio == "AAEC"
    assert step.frame_data() == frame.data


def test_a_frame_that_is_not_an_event_is_an_unknown_event_with_its_bytes() -> None:
    (step,) = frame_steps([_text(Direction.SERVER, 0, b"{not json")])
    assert isinstance(step.event, UnknownEvent)
    assert step.event.raw == b"{not json"
    assert step.type is None


def test_the_event_is_decoded_once() -> None:
    (step,) = frame_steps([_text(Direction.SERVER, 0, b'{"type":"response.created"}')])
    assert step.event is step.event


async def test_the_log_and_the_frames_it_holds_give_the_same_steps(tmp_path: Path) -> None:
    db = tmp_path / "barge_in.db"
    shutil.copy(FIXTURES / "barge_in.db", db)
    log = await open_log(str(db), create=False)
    try:
        info = await log.get_session(None)
        logged = [step async for batch in log_steps(log, info) for step in batch]
        frames = [frame.to_frame() async for batch in log.read(info.id) for frame in batch]
    finally:
        await log.close()
    in_memory = list(frame_steps(frames))
    assert [s.frame_data() for s in logged] == [f.data for f in frames]
    assert [s.frame_data() for s in in_memory] == [f.data for f in frames]
    assert [type(s.event) for s in logged] == [type(s.event) for s in in_memory]
    assert any(isinstance(s.event, AudioChunk) for s in logged)


@pytest.mark.parametrize("name", ["barge_in", "g711", "voice_turns_beta"])
async def test_whole_steps_keep_the_wire_bytes_with_the_audio_left_in(
    tmp_path: Path, name: str
) -> None:
    db = tmp_path / f"{name}.db"
    shutil.copy(FIXTURES / f"{name}.db", db)
    log = await open_log(str(db), create=False)
    try:
        info = await log.get_session(None)
        split = [step async for batch in log_steps(log, info, batch_size=5) for step in batch]
        whole = [step async for batch in log_steps(log, info, whole=True) for step in batch]
        frames = [frame.to_frame() async for batch in log.read(info.id) for frame in batch]
    finally:
        await log.close()
    assert any(step.is_audio for step in split)
    assert not any(step.is_audio for step in whole)
    assert [s.frame_data() for s in whole] == [f.data for f in frames]
    assert [(s.seq, s.t_ns, s.direction, s.type, s.opcode) for s in whole] == [
        (s.seq, s.t_ns, s.direction, s.type, s.opcode) for s in split
    ]
    chunk = next(s for s in whole if s.type == "input_audio_buffer.append")
    assert not isinstance(chunk.event, AudioChunk) and chunk.event.audio  # typed, base64 in


async def test_a_step_keeps_the_opcode_its_frame_crossed_the_wire_with(tmp_path: Path) -> None:
    frames = [_text(Direction.SERVER, 1, b'{"type":"session.created"}'),
              Frame(Direction.CLIENT, 2, Opcode.BINARY, b"\x00\xffraw")]
    log = await open_log(str(tmp_path / "o.db"))
    try:
        sid = await log.begin_session("ga", "gpt-realtime", "wss://example.invalid/v1")
        for frame in frames:
            log.append(sid, frame)
        await log.end_session(sid, closed_by="client", close_code=1000)
        info = await log.get_session(sid)
        logged = [step async for batch in log_steps(log, info) for step in batch]
    finally:
        await log.close()
    in_memory = list(frame_steps(frames))
    assert [s.opcode for s in logged] == [Opcode.TEXT, Opcode.BINARY]
    assert [s.opcode for s in in_memory] == [Opcode.TEXT, Opcode.BINARY]
    assert [s.frame_data() for s in logged] == [f.data for f in frames]


# -- the file source and steps_of -------------------------------------------------------------

FIXTURE_MANIFEST = json.loads((FIXTURES / "manifest.json").read_text())
FIXTURE_NAMES = sorted(FIXTURE_MANIFEST)


Key = tuple[int, int, Direction, str | None, bytes, tuple[bytes, bytes] | None]


def _key(step: Step) -> Key:
    """All a step says: position, type, the frame's bytes, and its audio (and outline)."""
    event = step.event if step.is_audio else None
    audio = (event.audio, event.outline) if isinstance(event, AudioChunk | LiveAudioChunk) else None
    return (step.seq, step.t_ns, step.direction, step.type, step.frame_data(), audio)


async def _log_keys(db: str, session: str | None = None) -> list[Key]:
    log = await open_log(db, create=False)
    try:
        info = await log.get_session(session)
        return [_key(s) async for batch in log_steps(log, info, batch_size=7) for s in batch]
    finally:
        await log.close()


@pytest.mark.parametrize("name", FIXTURE_NAMES)
async def test_a_fixture_file_gives_the_steps_of_its_database_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    db_dir, file_dir = tmp_path / "db", tmp_path / "file"
    db_dir.mkdir()
    file_dir.mkdir()
    shutil.copy(FIXTURES / f"{name}.db", db_dir)
    shutil.copy(FIXTURES / f"{name}.jsonl", file_dir)
    logged = await _log_keys(str(db_dir / f"{name}.db"))
    monkeypatch.chdir(file_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(recorder.store.db.Database, "__init__", _refuse)
        patch.setattr(sqlite3, "connect", _refuse)
        from_file = [_key(s) for s in file_steps(file_dir / f"{name}.jsonl")]
        through_steps_of = [_key(s) async for s in steps_of(f"{name}.jsonl")]
    assert from_file == logged
    assert through_steps_of == logged
    assert any(key[5] is not None for key in logged)  # audio came as bytes (Live's too)
    assert [p.name for p in file_dir.iterdir()] == [f"{name}.jsonl"]  # no database made


def _refuse(*_args: object, **_kwargs: object) -> NoReturn:
    raise AssertionError("a database was opened")


async def test_frames_in_memory_give_the_steps_the_log_gives_for_odd_frames(
    tmp_path: Path,
) -> None:
    from tests.test_store import ODD_FRAMES

    db = str(tmp_path / "log.db")
    await _record(db, ODD_FRAMES)
    assert [_key(s) for s in frame_steps(ODD_FRAMES)] == await _log_keys(db)


async def _record(db: str, frames: list[Frame]) -> str:
    async with await open_log(db) as log:
        sid = await log.begin_session("ga", None, None)
        for frame in frames:
            log.append(sid, frame)
        await log.end_session(sid)
        return sid


SECRET = (
    '{"type":"session.created","session":{"id":"s",'
    '"client_secret":{"value":"ek_68a1b2c3d4e5f6","expires_at":1756000000}}}'
)
AUDIO = '{"type":"input_audio_buffer.append","audio":"AAECAwQF"}'
PRETTY_AUDIO = '{\n  "type" : "response.output_audio.delta",\n  "delta" :  "AAECAwQF"\n}'


def _dump_of(frames: list[Frame]) -> str:
    return "".join(
        json.dumps({"seq": seq, "t": f.t_ns / 1e9, "t_ns": f.t_ns, "direction": str(f.direction),
                    "opcode": int(f.opcode), "frame_base64": base64.b64encode(f.data).decode()})
        + "\n"
        for seq, f in enumerate(frames, 40)  # a dump's own seq is not kept: import renumbers
    )


@pytest.mark.parametrize(
    "content",
    [
        "\n".join([SECRET, AUDIO, '{ "type" : "session.update" }', "", AUDIO]) + "\n",
        "[" + ",".join([SECRET, AUDIO, json.dumps(json.loads(PRETTY_AUDIO))]) + "]",
        "dump",
    ],
    ids=["jsonl", "array", "dump"],
)
async def test_a_file_gives_the_steps_importing_it_and_reading_it_back_gives(
    tmp_path: Path, db: str, content: str
) -> None:
    from tests.test_store import ODD_FRAMES

    source = tmp_path / "events.jsonl"
    if content == "dump":
        frames = [*ODD_FRAMES, _text(Direction.SERVER, 99, SECRET.encode())]
        content = _dump_of(frames)
    source.write_text(content)
    async with await open_log(db) as log:
        info = await import_file(log, source)
        imported = [_key(s) async for batch in log_steps(log, info) for s in batch]
    from_file = [_key(s) for s in file_steps(source)]
    assert from_file == imported
    assert [key[0] for key in from_file] == list(range(1, len(from_file) + 1))
    assert not any(b"ek_68a1b2c3d4e5f6" in key[4] for key in from_file)
    assert any(b"[REDACTED]" in key[4] for key in from_file)


async def test_steps_of_a_database_with_several_sessions_gives_the_newest_or_the_one_chosen(
    db: str,
) -> None:
    first = await _record(db, [_text(Direction.SERVER, 1, b'{"type":"session.created"}')])
    second = await _record(db, [_text(Direction.CLIENT, 2, AUDIO.encode()),
                          _text(Direction.SERVER, 3, b'{"type":"response.done"}')])
    newest = [s.type async for s in steps_of(db)]
    assert newest == ["input_audio_buffer.append", "response.done"]
    assert [s.type async for s in steps_of(db, second[:14])] == newest
    assert [s.type async for s in steps_of(db, first)] == ["session.created"]
    assert [s.seq async for s in steps_of(db, until=1)] == [1]
    with pytest.raises(RtrecError) as error:
        _ = [s async for s in steps_of(db, "nope")]
    assert str(error.value) == f"no session nope in {db}: run `rtrec sessions {db}` to list them"


async def test_steps_of_an_open_log_and_of_frames_in_memory(tmp_path: Path) -> None:
    frames = [_text(Direction.SERVER, 1, b'{"type":"session.created"}'),
              _text(Direction.CLIENT, 2, AUDIO.encode())]
    db = str(tmp_path / "log.db")
    await _record(db, frames)
    async with await open_log(db) as log:
        from_log = [_key(s) async for s in steps_of(log)]
    assert [_key(s) async for s in steps_of(frames)] == from_log
    assert [s.seq async for s in steps_of(frames, until=1)] == [1]
    assert from_log[1][5] == (b"\x00\x01\x02\x03\x04\x05",
                              b'{"type":"input_audio_buffer.append","audio":""}')
    with pytest.raises(RtrecError) as error:
        _ = [s async for s in steps_of(frames, "abc")]
    assert str(error.value) == "frames in memory are one session: there is no session abc"


def test_file_steps_stops_after_until(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join([SECRET, AUDIO, AUDIO]) + "\n")
    assert [s.seq for s in file_steps(source, until=2)] == [1, 2]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # import's lines, word for word (tests/test_store_cli.py pins them for import)
        ('{"type":"session.update"}\nnot json\n',
         "{path}:2 is not a JSON object: give JSONL (one event per line), a JSON array of "
         "events, or an `rtrec dump` file"),
        ('{"type":"session.update"}\n{"type":"made.up.event"}\n',
         "{path}:2: unknown event type 'made.up.event', so its direction is unknown: import it "
         "as an `rtrec dump` file, which says the direction"),
        ("[1, 2]", "{path}[0] is not a JSON object: every element must be an event"),
        ('{"seq":1,"t":0,"t_ns":-1,"direction":"server","frame":"{}"}\n',
         "{path}:1 has t_ns -1, out of range: it must be 0..2**63-1 nanoseconds since the "
         "session started; fix it"),
        # what differs from import: there is nothing to read, not nothing to import
        ("\n\n", "{path} holds no events: nothing to read"),
    ],
)
def test_a_bad_file_is_one_line_before_any_step(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text(content)
    for read in (lambda: list(file_steps(source)),
                 lambda: asyncio.run(_collect(steps_of(str(source))))):
        with pytest.raises(RtrecError) as error:
            read()
        assert str(error.value) == message.format(path=source)


async def _collect(steps: AsyncIterator[Step]) -> list[Step]:
    return [step async for step in steps]


def test_a_file_holds_one_session_and_no_id(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text(SECRET + "\n")
    with pytest.raises(RtrecError) as error:
        list(file_steps(source, "abc"))
    assert str(error.value) == (
        f"{source} holds one session and no session id, so there is no session abc to "
        "choose: leave the session out"
    )


async def test_a_path_that_is_not_there_is_the_logs_error(tmp_path: Path) -> None:
    missing = tmp_path / "typo.jsonl"
    with pytest.raises(RtrecError) as error:
        await _collect(steps_of(missing))
    assert str(error.value) == (
        f"{missing} does not exist: check the path (recording or importing creates it)"
    )
    assert not missing.exists()


async def test_steps_name_types_first_written_after_the_log_read_its_first_session(
    tmp_path: Path,
) -> None:
    log = await open_log(str(tmp_path / "two.db"))
    try:
        first = await log.begin_session("ga", "gpt-realtime", None)
        log.append(first, _text(Direction.SERVER, 1, b'{"type":"session.created"}'))
        await log.end_session(first)
        await log.flush()
        info = await log.get_session(first)
        assert [s.type async for batch in log_steps(log, info) for s in batch] == [
            "session.created"
        ]
        second = await log.begin_session("ga", "gpt-realtime", None)
        log.append(second, _text(Direction.SERVER, 2, b'{"type":"response.created"}'))
        log.append(second, _text(Direction.CLIENT, 3, b'{"type":"a.type.never.seen"}'))
        await log.end_session(second)
        await log.flush()
        info = await log.get_session(second)
        steps = [s async for batch in log_steps(log, info) for s in batch]
    finally:
        await log.close()
    assert [s.type for s in steps] == ["response.created", "a.type.never.seen"]
    assert steps[1].frame_data() == b'{"type":"a.type.never.seen"}'
