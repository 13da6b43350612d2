"""The stream: a recording's steps in seq order, from the log or from frames in memory."""

from __future__ import annotations

import shutil
from pathlib import Path

from recorder.events import UnknownEvent
from recorder.store import open_log
from recorder.stream import AudioChunk, frame_steps, log_steps
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
