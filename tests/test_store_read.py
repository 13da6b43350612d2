"""Reading the log with audio as bytes (log.read(audio="bytes")), and replay's on_audio."""

from __future__ import annotations

import base64
from typing import Any

import msgspec
import pytest

from recorder.receiver import RealtimeEventReceiver
from recorder.replay import replay_session
from recorder.store import EventLog, StoredFrame, open_log
from recorder.wire import Direction, Frame, Opcode

AUDIO = bytes(range(256)) * 3 + b"\x01\x02"  # 770 bytes: base64 ends in one '='
B64 = base64.b64encode(AUDIO).decode()


def _text(direction: Direction, t_ns: int, payload: str) -> Frame:
    return Frame(direction, t_ns, Opcode.TEXT, payload.encode())


CUT = [  # audio events whose audio the log keeps as binary
    _text(Direction.CLIENT, 10, f'{{"type":"input_audio_buffer.append","audio":"{B64}"}}'),
    _text(Direction.SERVER, 20, '{"type":"response.output_audio.delta","event_id":"ev_2",'
          '"response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,'
          f'"delta":"{B64}"}}'),
    _text(Direction.SERVER, 30, '{"type":"response.audio.delta","event_id":"ev_3",'
          '"response_id":"resp_1","item_id":"item_1","output_index":0,"content_index":0,'
          f'"delta":"{B64}"}}'),
    _text(Direction.CLIENT, 40,
          f'{{\n  "type" : "input_audio_buffer.append",\n  "audio" :  "{B64}"\n}}'),
]
WHOLE = [  # kept whole: not audio events, or audio the log cannot cut losslessly
    _text(Direction.SERVER, 1, '{"type":"session.created","event_id":"ev_1","session":{"id":"s"}}'),
    _text(Direction.SERVER, 50, '{"type":"response.output_audio.delta","delta":"AB=="}'),
    _text(Direction.SERVER, 60, '{"type":"response.output_audio.delta","delta":"not base64!"}'),
    _text(Direction.SERVER, 70, '{"type":"response.output_audio.delta","delta":""}'),
    Frame(Direction.CLIENT, 80, Opcode.BINARY, b"\x00\x01\xff binary"),
]
FRAMES = [WHOLE[0], *CUT, *WHOLE[1:]]


async def _recorded(log: EventLog, frames: list[Frame]) -> str:
    sid = await log.begin_session("ga", "gpt-realtime", None)
    for frame in frames:
        log.append(sid, frame)
    await log.end_session(sid)
    return sid


async def _read_all(log: EventLog, sid: str, **kwargs: Any) -> list[StoredFrame]:
    return [frame async for batch in log.read(sid, batch_size=3, **kwargs) for frame in batch]


async def test_audio_as_bytes_hands_over_the_audio_and_an_empty_field(db: str) -> None:
    async with await open_log(db) as log:
        sid = await _recorded(log, FRAMES)
        as_bytes = await _read_all(log, sid, audio="bytes")
        as_text = await _read_all(log, sid)

    assert [s.to_frame() for s in as_bytes] == FRAMES  # to_frame splices the audio back
    assert [s.data for s in as_text] == [f.data for f in FRAMES]
    assert all(s.audio is None for s in as_text)
    by_seq = {s.seq: s for s in as_bytes}
    for seq, original in enumerate(FRAMES, start=1):
        stored = by_seq[seq]
        if original in CUT:
            assert stored.audio == AUDIO
            event = msgspec.json.decode(stored.data)
            assert event[{"input_audio_buffer.append": "audio"}.get(event["type"], "delta")] == ""
            assert stored.data == original.data.replace(B64.encode(), b"")
            assert stored.t_ns == original.t_ns and stored.direction == original.direction
        else:
            assert stored.audio is None and stored.data == original.data
    # the index columns are the same in both modes
    columns = [(s.type, s.event_id, s.item_id, s.response_id) for s in as_text]
    assert [(s.type, s.event_id, s.item_id, s.response_id) for s in as_bytes] == columns
    assert by_seq[3].event_id == "ev_2" and by_seq[3].item_id == "item_1"


async def test_unknown_audio_mode_is_refused(tmp_path: Any) -> None:
    async with await open_log(str(tmp_path / "log.db")) as log:
        sid = await _recorded(log, FRAMES[:1])
        with pytest.raises(ValueError, match="audio must be 'base64' or 'bytes'"):
            await _read_all(log, sid, audio="hex")


class _Seen(RealtimeEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.server: list[str] = []
        self.client: list[str] = []

    def on_realtime_event_received(self, event: Any) -> None:
        self.server.append(event.type)

    def on_client_event(self, event: Any) -> None:
        self.client.append(event.type)


async def test_replay_gives_a_receiver_the_audio_events_as_base64_text(tmp_path: Any) -> None:
    """The log hands the audio over as bytes; the driver gives it back to a receiver that
    observes it as the protocol has it, base64 text, with the position of its frame."""
    async with await open_log(str(tmp_path / "log.db")) as log:
        sid = await _recorded(log, FRAMES)
        info = await log.get_session(sid)
        receiver = _Audio()
        result = await replay_session(log, receiver, info)

    assert result.frames == len(FRAMES)
    cut = [(delta, t_ns) for delta, t_ns in receiver.deltas if t_ns in (20, 30)]
    assert cut == [(B64, 20), (B64, 30)]  # the audio the log holds as bytes, as text again
    assert receiver.appends == [B64, B64]


class _Audio(RealtimeEventReceiver):
    def __init__(self) -> None:
        super().__init__()
        self.deltas: list[tuple[str | None, int]] = []
        self.appends: list[str | None] = []

    def on_response_audio_delta(self, event_id: str | None, response_id: str | None,
                                item_id: str | None, item_index: int | None,
                                content_index: int | None, delta: str | None) -> None:
        assert self.position is not None
        self.deltas.append((delta, self.position.t_ns))

    def on_client_event(self, event: Any) -> None:
        if event.type == "input_audio_buffer.append":
            self.appends.append(event.audio)


async def test_conversation_counts_the_same_with_audio_as_bytes(tmp_path: Any) -> None:
    """The fold of the log's steps (audio as bytes) agrees with the fold of the frames as they
    crossed the wire (audio as base64 text)."""
    from recorder.conversation import fold_log, fold_steps
    from recorder.decode import decode
    from recorder.stream import Step

    frames = [
        _text(Direction.SERVER, 1, '{"type":"response.output_item.added","response_id":"resp_1",'
              '"output_index":0,"item":{"id":"item_1","type":"message","role":"assistant"}}'),
        *CUT,
    ]
    async with await open_log(str(tmp_path / "log.db")) as log:
        sid = await _recorded(log, frames)
        info = await log.get_session(sid)
        fast = await fold_log(log, info)
    plain = fold_steps(  # whole frames, never split: every audio event decoded with its text
        Step(seq, f.t_ns, f.direction, decode(f.data).type, f.data)
        for seq, f in enumerate(frames, 1)
    )

    assert plain.conversation.input_audio_bytes == 2 * len(AUDIO)
    assert plain.conversation.items["item_1"].content[0].audio_bytes == 2 * len(AUDIO)
    assert fast.conversation.to_dict() == plain.conversation.to_dict()
    assert fast.conversation.last_t_ns == plain.conversation.last_t_ns == CUT[-1].t_ns


async def test_export_counts_an_undecodable_audio_event_as_corrupt(tmp_path: Any) -> None:
    """A delta the log stores cut but whose rest does not decode (missing fields) is skipped
    as corrupt by the export reading audio as bytes, as it is when replayed with its text."""
    from recorder.export import export_session

    frames = [
        _text(Direction.SERVER, 1, '{"type":"response.output_item.added","response_id":"resp_1",'
              '"output_index":0,"item":{"id":"item_1","type":"message","role":"assistant"}}'),
        CUT[1],
        _text(Direction.SERVER, 5, '{"type":"response.audio.delta","item_id":"item_1",'
              f'"delta":"{B64}"}}'),
    ]
    async with await open_log(str(tmp_path / "log.db")) as log:
        sid = await _recorded(log, frames)
        assert (await _read_all(log, sid, audio="bytes"))[2].audio == AUDIO  # stored cut
        report = await export_session(log, await log.get_session(sid), tmp_path / "out")

    assert report.corrupt_frames == 1
    assert report.durations_ms["assistant.wav"] == len(AUDIO) / 48


# The audio key nested or repeated: the first match is not (or not surely) the event's audio.
AMBIGUOUS = [
    _text(Direction.SERVER, 90, '{"type":"response.output_audio.delta","x":{"delta":"AAAA"},'
          f'"delta":"{B64}"}}'),
    _text(Direction.SERVER, 91, f'{{"type":"response.audio.delta","delta":"{B64}",'
          '"delta":"AAAA"}'),
    _text(Direction.SERVER, 92, '{"event_id":"ev_9","type":"response.output_audio.delta",'
          f'"x": {{"delta" : "AAAA"}}, "delta" : "{B64}"}}'),  # the slow path
    _text(Direction.CLIENT, 93, '{"type":"input_audio_buffer.append","x":{"audio":"AAAA"},'
          f'"audio":"{B64}"}}'),
]


async def test_a_nested_or_repeated_audio_key_keeps_the_frame_whole(db: str) -> None:
    async with await open_log(db) as log:
        sid = await _recorded(log, [*AMBIGUOUS, CUT[1]])
        as_bytes = await _read_all(log, sid, audio="bytes")
        as_text = await _read_all(log, sid)
    assert [(s.audio, s.data) for s in as_bytes[:-1]] == [(None, f.data) for f in AMBIGUOUS]
    assert [s.data for s in as_text[:-1]] == [f.data for f in AMBIGUOUS]
    assert as_bytes[-1].audio == AUDIO  # an unambiguous frame after them is still cut
