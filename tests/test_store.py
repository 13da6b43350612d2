"""The EventLog contract, run on a SQLite file and on the real PostgreSQL server."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from recorder.errors import RtrecError
from recorder.store import EventLog, StoredFrame, open_log
from recorder.store.migrate import head_revision
from recorder.wire import Direction, Frame, Opcode

AUDIO = bytes(range(256)) * 7 + b"\x00\x01\x02\x03\x04\x05\x06\x07"  # 1800 bytes, every value
B64 = base64.b64encode(AUDIO).decode()


def _text(direction: Direction, t_ns: int, payload: str | bytes) -> Frame:
    data = payload.encode() if isinstance(payload, str) else payload
    return Frame(direction, t_ns, Opcode.TEXT, data)


# Every shape a frame can take; all must read back byte for byte.
ODD_FRAMES: list[Frame] = [
    _text(Direction.SERVER, 1, '{"type":"session.created","event_id":"ev_1","session":{"id":"s"}}'),
    _text(Direction.CLIENT, 2, f'{{"type":"input_audio_buffer.append","audio":"{B64}"}}'),
    _text(Direction.SERVER, 3, '{"type":"response.output_audio.delta","event_id":"ev_2",'
          f'"response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,'
          f'"delta":"{B64}"}}'),
    _text(Direction.SERVER, 4, '{"type":"response.audio.delta","event_id":"ev_3",'
          f'"response_id":"resp_1","item_id":"item_1","delta":"{B64}"}}'),
    # escaped slashes inside the base64: legal JSON, not canonical base64 text
    _text(Direction.SERVER, 5, '{"type":"response.audio.delta","delta":"'
          + base64.b64encode(b"\xff\xff\xff" * 10).decode().replace("/", "\\/") + '"}'),
    # whitespace around the colon, and pretty-printing
    _text(Direction.CLIENT, 6,
          f'{{\n  "type" : "input_audio_buffer.append",\n  "audio" :  "{B64}"\n}}'),
    # non-canonical padding bits: decodes, but does not re-encode to the same text
    _text(Direction.SERVER, 7, '{"type":"response.output_audio.delta","delta":"AB=="}'),
    # not base64 at all, and empty
    _text(Direction.SERVER, 8, '{"type":"response.output_audio.delta","delta":"not base64!"}'),
    _text(Direction.SERVER, 9, '{"type":"response.output_audio.delta","delta":""}'),
    # the audio key appearing twice (kept whole; read-back exact)
    _text(Direction.SERVER, 10,
          f'{{"type":"response.output_audio.delta","delta":"{B64}","delta":"QQ=="}}'),
    _text(Direction.SERVER, 11, b"not json at all \xff\xfe"),
    _text(Direction.SERVER, 12, "[1, 2, 3]"),
    _text(Direction.SERVER, 13, '{"type": 5, "event_id": ["x"], "item": "nope"}'),
    _text(Direction.SERVER, 14, '{"type":"conversation.item.added","event_id":"ev_4",'
          '"item":{"id":"item_9","content":[{"transcript":"h\\u00e9llo \\ud83d\\ude00"}]}}'),
    _text(Direction.SERVER, 15,
          '{"type":"response.done","response":{"id":"resp_7","status":"completed"}}'),
    Frame(Direction.CLIENT, 16, Opcode.BINARY, b"\x00\x01\xff binary"),
    _text(Direction.SERVER, 17, ""),
    _text(Direction.SERVER, 18, '{"type":"future.event.nobody.knows","x":1}'),
]


async def _read_all(log: EventLog, sid: str, **kwargs: int) -> list[StoredFrame]:
    out: list[StoredFrame] = []
    async for batch in log.read(sid, **kwargs):  # type: ignore[arg-type]
        assert batch, "read yields no empty batches"
        out.extend(batch)
    return out


async def test_every_frame_shape_reads_back_byte_identical(db: str) -> None:
    async with await open_log(db) as log:
        sid = await log.begin_session("ga", "gpt-realtime", "wss://example.test/v1/realtime")
        for frame in ODD_FRAMES:
            log.append(sid, frame)
        await log.end_session(sid)
        stored = await _read_all(log, sid, batch_size=4)
    assert [s.to_frame() for s in stored] == ODD_FRAMES
    assert [s.seq for s in stored] == list(range(1, len(ODD_FRAMES) + 1))


async def test_index_columns_come_from_the_frame(db: str) -> None:
    async with await open_log(db) as log:
        sid = await log.begin_session("ga", None, None)
        for frame in ODD_FRAMES:
            log.append(sid, frame)
        await log.flush()
        by_t = {s.t_ns: s for s in await _read_all(log, sid)}
    columns = {t: (s.type, s.event_id, s.item_id, s.response_id) for t, s in by_t.items()}
    assert columns[1] == ("session.created", "ev_1", None, None)
    assert columns[2] == ("input_audio_buffer.append", None, None, None)
    assert columns[3] == ("response.output_audio.delta", "ev_2", "item_1", "resp_1")
    assert columns[4] == ("response.audio.delta", "ev_3", "item_1", "resp_1")
    assert columns[11] == (None, None, None, None)
    assert columns[12] == (None, None, None, None)
    assert columns[13] == (None, None, None, None)
    assert columns[14] == ("conversation.item.added", "ev_4", "item_9", None)
    assert columns[15] == ("response.done", None, None, "resp_7")
    assert columns[16] == (None, None, None, None)
    assert columns[18] == ("future.event.nobody.knows", None, None, None)


async def test_read_streams_in_order_in_bounded_batches_and_stops_at_until_seq(db: str) -> None:
    frames = [_text(Direction.SERVER, i * 1000, f'{{"type":"t.{i % 3}","n":{i}}}')
              for i in range(25)]
    async with await open_log(db, batch_size=7) as log:
        sid = await log.begin_session("ga", None, None)
        for frame in frames:
            log.append(sid, frame)
        await log.flush()
        sizes = [len(batch) async for batch in log.read(sid, batch_size=10)]
        until = await _read_all(log, sid, until_seq=12, batch_size=5)
    assert sizes == [10, 10, 5]
    assert [s.seq for s in until] == list(range(1, 13))
    assert [s.data for s in until] == [f.data for f in frames[:12]]


async def test_sessions_are_listed_and_the_newest_is_the_default(db: str) -> None:
    async with await open_log(db) as log:
        first = await log.begin_session("beta", "gpt-4o-realtime-preview", None)
        log.append(first, _text(Direction.CLIENT, 5, '{"type":"session.update"}'))
        log.append(first, _text(Direction.SERVER, 9, '{"type":"session.updated"}'))
        log.append(first, _text(Direction.SERVER, 12, '{"type":"error"}'))
        await log.end_session(first, close_code=1000, close_reason="bye", closed_by="client")
        await asyncio.sleep(0.002)  # ids and start times are millisecond-ordered
        second = await log.begin_session("ga", "gpt-realtime", None)
        listed = await log.list_sessions()
        newest = await log.get_session()
        by_id = await log.get_session(first)
        by_prefix = await log.get_session(first[:16])
    assert [s.id for s in listed] == [first, second]
    assert newest.id == second and newest.status == "recording"
    assert by_prefix == by_id
    assert (by_id.protocol, by_id.model) == ("beta", "gpt-4o-realtime-preview")
    assert by_id.status == "complete"
    assert (by_id.close_code, by_id.close_reason, by_id.closed_by) == (1000, "bye", "client")
    assert (by_id.frames, by_id.client_frames, by_id.server_frames) == (3, 1, 2)
    assert by_id.ended_at is not None and by_id.ended_at >= by_id.started_at
    assert by_id.started_at.tzinfo is not None


async def test_unknown_session_id_is_one_clear_line(db: str) -> None:
    async with await open_log(db) as log:
        with pytest.raises(RtrecError) as empty:
            await log.get_session()
        with pytest.raises(RtrecError) as unknown:
            await log.get_session("nosuchsession")
        with pytest.raises(RtrecError):
            await log.delete_session("nosuchsession")
        with pytest.raises(RtrecError):
            [b async for b in log.read("nosuchsession")]
    assert str(empty.value) == f"no sessions in {log.display} yet: record or import one first"
    assert str(unknown.value) == (
        f"no session nosuchsession in {log.display}: "
        f"run `rtrec sessions {log.display}` to list them"
    )


async def test_update_session_is_applied_in_order(db: str) -> None:
    async with await open_log(db) as log:
        sid = await log.begin_session(None, None, None)
        log.update_session(sid, protocol="ga", model="gpt-realtime")
        log.update_session(sid, model="gpt-realtime-mini")
        await log.flush()
        info = await log.get_session(sid)
    assert (info.protocol, info.model) == ("ga", "gpt-realtime-mini")


async def test_delete_session_removes_it_and_keeps_the_others(db: str) -> None:
    async with await open_log(db) as log:
        keep = await log.begin_session("ga", None, None)
        drop = await log.begin_session("ga", None, None)
        for sid in (keep, drop):
            log.append(sid, _text(Direction.SERVER, 1, '{"type":"session.created"}'))
            await log.end_session(sid)
        await log.delete_session(drop)
        remaining = [s.id for s in await log.list_sessions()]
        kept = await _read_all(log, keep)
    assert remaining == [keep]
    assert len(kept) == 1


async def test_close_flushes_everything_and_ends_open_sessions_as_interrupted(db: str) -> None:
    log = await open_log(db, flush_interval=30.0, batch_size=100_000)
    sid = await log.begin_session("ga", None, None)
    for i in range(50):
        log.append(sid, ODD_FRAMES[i % len(ODD_FRAMES)])
    await log.close()
    async with await open_log(db) as reopened:
        info = await reopened.get_session(sid)
        stored = await _read_all(reopened, sid)
    assert len(stored) == 50 and info.frames == 50
    assert (info.status, info.closed_by) == ("interrupted", "proxy")


async def test_a_full_batch_is_written_without_waiting_for_the_interval(db: str) -> None:
    async with await open_log(db, flush_interval=60.0, batch_size=5) as log:
        sid = await log.begin_session("ga", None, None)
        for i in range(5):
            log.append(sid, _text(Direction.SERVER, i, '{"type":"x"}'))
        for _ in range(500):  # the writer wakes on the full batch; poll, no timing assertion
            if (await log.get_session(sid)).frames == 5:
                break
            await asyncio.sleep(0.01)
        assert (await log.get_session(sid)).frames == 5


async def test_append_after_end_is_refused_and_bad_status_too(db: str) -> None:
    async with await open_log(db) as log:
        sid = await log.begin_session("ga", None, None)
        with pytest.raises(RtrecError, match="unknown session status 'done'"):
            await log.end_session(sid, status="done")
        await log.end_session(sid, status="interrupted", closed_by="server")
        with pytest.raises(RtrecError, match=f"session {sid} is not being recorded"):
            log.append(sid, ODD_FRAMES[0])
        assert (await log.get_session(sid)).status == "interrupted"


async def test_endpoint_is_stored_without_secrets(db: str) -> None:
    async with await open_log(db) as log:
        sid = await log.begin_session(
            "ga", None, "wss://user:pw@api.example.test/v1/realtime?model=m&api_key=sk-123&token=t"
        )
        info = await log.get_session(sid)
    assert info.endpoint == "wss://api.example.test/v1/realtime?model=m"


async def test_reopening_is_idempotent_and_at_head(db: str) -> None:
    for _ in range(2):
        async with await open_log(db) as log:
            await log.begin_session("ga", None, None)
    async with await open_log(db) as log:
        assert len(await log.list_sessions()) == 2
        async with log._db.reading() as connection:
            rows = await log._db.fetch(connection, "SELECT version_num FROM alembic_version")
    assert rows == [(head_revision(),)]


async def test_two_sessions_interleaved_keep_their_own_seq(db: str) -> None:
    async with await open_log(db, batch_size=3) as log:
        a = await log.begin_session("ga", None, None)
        b = await log.begin_session("ga", None, None)
        for i in range(10):
            log.append(a if i % 2 else b, _text(Direction.SERVER, i, f'{{"type":"n","i":{i}}}'))
        await log.flush()
        seqs_a = [(s.seq, s.t_ns) for s in await _read_all(log, a)]
        seqs_b = [(s.seq, s.t_ns) for s in await _read_all(log, b)]
    assert seqs_a == [(1, 1), (2, 3), (3, 5), (4, 7), (5, 9)]
    assert seqs_b == [(1, 0), (2, 2), (3, 4), (4, 6), (5, 8)]


async def test_a_recording_session_without_a_live_recorder_reads_as_interrupted(db: str) -> None:
    async with await open_log(db) as log:
        sid = await log.begin_session("ga", None, None)
        log.append(sid, ODD_FRAMES[0])
        await log.flush()
        alive = await log.get_session(sid)

    async def set_recorder(recorder: str, seconds_ago: float) -> None:
        async with log._db.writing() as connection:
            await connection.exec_driver_sql(
                log._db.sql("UPDATE sessions SET status = 'recording', recorder = ?, "
                            "last_seen = ? WHERE id = ?"),
                (recorder, time.time() - seconds_ago, sid),
            )

    async with await open_log(db) as log:
        await set_recorder("some-other-host:4242", 0.0)  # fresh heartbeat: still recording
        fresh = await log.get_session(sid)
        await set_recorder("some-other-host:4242", 3600.0)  # heartbeat an hour old
        stale = await log.get_session(sid)
    assert alive.status == "recording"
    assert fresh.status == "recording"
    assert stale.status == "interrupted"


async def test_recorders_opening_a_fresh_log_at_once_all_succeed(db: str) -> None:
    logs = await asyncio.gather(*(open_log(db) for _ in range(4)))
    sids = [await log.begin_session("ga", None, None) for log in logs]
    for log in logs:
        await log.close()
    async with await open_log(db) as log:
        assert sorted(s.id for s in await log.list_sessions()) == sorted(sids)


async def test_big_mixed_batches_read_back_whole_with_their_counts(db: str) -> None:
    # Batches of many rows from two sessions, in both directions, that are not a multiple of
    # the rows per INSERT statement: every frame back in order, byte for byte, counted right.
    frames = [
        Frame(Direction.SERVER if i % 3 else Direction.CLIENT, i, f.opcode, f.data)
        for i, f in enumerate(ODD_FRAMES * 23)
    ]
    async with await open_log(db, flush_interval=60.0, batch_size=len(frames)) as log:
        a = await log.begin_session("ga", None, None)
        b = await log.begin_session("ga", None, None)
        for frame in frames:
            log.append(a, frame)
            if frame.direction is Direction.SERVER:
                log.append(b, frame)
        await log.flush()
        read_a, read_b = await _read_all(log, a), await _read_all(log, b)
        info_a, info_b = await log.get_session(a), await log.get_session(b)
    assert [s.to_frame() for s in read_a] == frames
    assert [s.seq for s in read_a] == list(range(1, len(frames) + 1))
    server = [f for f in frames if f.direction is Direction.SERVER]
    assert [s.to_frame() for s in read_b] == server
    clients = len(frames) - len(server)
    assert (info_a.frames, info_a.client_frames, info_a.server_frames) == (
        len(frames), clients, len(server))
    assert (info_b.frames, info_b.client_frames, info_b.server_frames) == (
        len(server), 0, len(server))


async def test_session_ops_queued_between_frames_keep_every_frame_in_order(db: str) -> None:
    # One writer wake-up finds frames, then an op, then frames: the batch stops at the op,
    # the op applies after the frames before it, and nothing is lost or reordered.
    log = await open_log(db, flush_interval=30.0, batch_size=100_000)
    a = await log.begin_session("ga", None, None)
    b = await log.begin_session("ga", None, None)
    ending = None
    for i in range(30):
        log.append(a, _text(Direction.SERVER, i, f'{{"type":"n","i":{i}}}'))
        if i == 10:
            log.update_session(a, model="gpt-realtime-mini")
        if ending is None:
            log.append(b, _text(Direction.CLIENT, i, f'{{"type":"m","i":{i}}}'))
            if i == 15:
                ending = asyncio.ensure_future(log.end_session(b, closed_by="client"))
    assert ending is not None
    await ending
    await log.close()
    async with await open_log(db) as reopened:
        info_a, info_b = await reopened.get_session(a), await reopened.get_session(b)
        read_a, read_b = await _read_all(reopened, a), await _read_all(reopened, b)
    assert [s.t_ns for s in read_a] == list(range(30))
    assert [s.t_ns for s in read_b] == list(range(16))
    assert (info_a.model, info_a.frames, info_a.status) == ("gpt-realtime-mini", 30, "interrupted")
    assert (info_b.frames, info_b.client_frames, info_b.status) == (16, 16, "complete")


async def test_a_session_another_recorder_is_still_writing_cannot_be_deleted(db: str) -> None:
    # A second EventLog on the same database stands in for the other process.
    async with await open_log(db) as recorder, await open_log(db) as other:
        sid = await recorder.begin_session("ga", None, None)
        recorder.append(sid, ODD_FRAMES[0])
        await recorder.flush()
        with pytest.raises(RtrecError) as refused:
            await other.delete_session(sid)
        recorder.append(sid, ODD_FRAMES[1])  # the recorder goes on, unharmed
        await recorder.end_session(sid)
        assert recorder.failure is None
        assert len(await _read_all(other, sid)) == 2
        await other.delete_session(sid)  # ended: now it may go
        assert await other.list_sessions() == []
    assert str(refused.value) == (
        f"session {sid} is still being recorded by {socket.gethostname()}:{os.getpid()}: "
        "wait for it to end (or for it to read as interrupted)"
    )


_RECORDER_PROCESS = """
import asyncio, sys
from recorder.store import open_log
from recorder.wire import Direction, Frame, Opcode

async def main(db, tag, count):
    failures = []
    log = await open_log(db, on_failure=failures.append)
    sid = await log.begin_session("ga", tag, "wss://example.invalid/v1/realtime")
    for n in range(count):
        audio = (b"%s%06d" % (tag.encode(), n)).ljust(1024, b"A")
        data = b'{"type":"input_audio_buffer.append","audio":"' + audio + b'"}'
        log.append(sid, Frame(Direction.CLIENT, n, Opcode.TEXT, data))
        if n % 200 == 0:
            await asyncio.sleep(0)  # as a proxy does: the writer runs between frames
    await log.end_session(sid)
    await log.close()
    sys.exit(1 if failures else 0)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


async def test_three_processes_recording_into_one_file_each_keep_every_frame(
    tmp_path: Path,
) -> None:
    """Three `rtrec record`s started in one folder share its rtrec.db: none may lose a frame."""
    db, count = str(tmp_path / "rtrec.db"), 3000
    root = Path(__file__).resolve().parents[1]
    writers = [
        subprocess.Popen([sys.executable, "-c", _RECORDER_PROCESS, db, tag, str(count)], cwd=root)
        for tag in ("a", "b", "c")
    ]
    assert [writer.wait(120) for writer in writers] == [0, 0, 0], "a writer reported a failure"
    log = await open_log(db)
    try:
        sessions = await log.list_sessions()
        assert sorted(info.model or "" for info in sessions) == ["a", "b", "c"]
        for info in sessions:
            assert (info.status, info.client_frames) == ("complete", count)
            seen = [frame async for batch in log.read(info.id) for frame in batch]
            expected = [
                b'{"type":"input_audio_buffer.append","audio":"'
                + (b"%s%06d" % ((info.model or "").encode(), n)).ljust(1024, b"A") + b'"}'
                for n in range(count)
            ]
            assert [frame.data for frame in seen] == expected
            assert [frame.t_ns for frame in seen] == list(range(count))
    finally:
        await log.close()
