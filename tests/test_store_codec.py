"""Frame <-> row: index columns, audio cut out as binary, always byte-identical back.

Round trips go through the pair the store itself uses: codec.frame_row (the writer's) and a
RowReader (the read path's), with type ids assigned as the writer assigns them.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
from pathlib import Path

import pytest

from recorder.redact import FrameRedactor
from recorder.store import schema
from recorder.store.codec import (
    ROW_AT,
    ROW_COLUMNS,
    IndexColumns,
    Row,
    RowReader,
    SplitFrame,
    StoredFrame,
    canonical_base64,
    frame_row,
    index_of,
    split_frame,
    split_row,
    stored_form,
    with_type_id,
)
from recorder.wire import Direction, Frame, Opcode

EXAMPLES = Path(__file__).resolve().parents[2] / "shared" / "protocol" / "examples"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _rows(frames: list[Frame]) -> tuple[list[Row], RowReader]:
    """The rows the writer makes of `frames` (type ids numbered as first seen), and a reader
    that knows those ids as the log's reader learns them from event_types."""
    type_ids: dict[str, int] = {}
    rows = []
    for seq, frame in enumerate(frames, start=1):
        row = frame_row(7, seq, frame, type_ids)
        name = row[ROW_AT["type"]]
        if isinstance(name, str):  # a name not known yet: the writer inserts it, gets an id
            type_ids[name] = len(type_ids) + 1
            row = with_type_id(row, type_ids)
        rows.append(row)
    reader = RowReader()
    reader.learn((type_id, name) for name, type_id in type_ids.items())
    return rows, reader


def _read_back(frames: list[Frame], *, as_bytes: bool = False) -> list[StoredFrame]:
    rows, reader = _rows(frames)
    stored_frame = reader.reading(ROW_COLUMNS, as_bytes=as_bytes)
    return [stored_frame(row) for row in rows]


def _round_trip(data: bytes) -> bytes:
    [stored] = _read_back([Frame(Direction.SERVER, 0, Opcode.TEXT, data)])
    return stored.data


def _reencodes(text: bytes) -> bytes | None:
    """The slow definition canonical_base64 must agree with."""
    try:
        decoded = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error:
        return None
    return decoded if binascii.b2a_base64(decoded, newline=False) == text else None


def test_canonical_base64_agrees_with_decode_then_encode() -> None:
    rng = random.Random(7)
    symbols = _ALPHABET + b"=\n \\-_."
    for _ in range(50_000):
        if rng.random() < 0.5:
            text = bytearray(base64.b64encode(rng.randbytes(rng.randrange(0, 10))))
            for _ in range(rng.randrange(0, 3)):
                if text:
                    text[rng.randrange(len(text))] = rng.choice(symbols)
        else:
            text = bytearray(rng.choice(symbols) for _ in range(rng.randrange(0, 14)))
        assert canonical_base64(bytes(text)) == _reencodes(bytes(text)), bytes(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [(b"AAAA", b"\x00\x00\x00"), (b"AA==", b"\x00"), (b"AB==", None), (b"AAE=", b"\x00\x01"),
     (b"AAF=", None), (b"AA", None), (b"A\\/A", None), (b"AA AA", None), (b"", b"")],
)
def test_canonical_base64_cases(text: bytes, expected: bytes | None) -> None:
    assert canonical_base64(text) == expected


def test_audio_is_cut_out_and_the_ids_are_still_readable() -> None:
    audio = bytes(range(256)) * 4
    data = (b'{"type":"response.output_audio.delta","event_id":"e","response_id":"r",'
            b'"item_id":"i","output_index":0,"content_index":0,"delta":"'
            + base64.b64encode(audio) + b'"}')
    form = stored_form(data)
    assert form.audio == audio
    assert form.stripped
    assert len(form.body) < 120
    assert form.index == IndexColumns("response.output_audio.delta", "e", "i", "r")
    assert _round_trip(data) == data


def test_frames_that_cannot_be_cut_are_kept_whole() -> None:
    for data in [
        b'{"type":"response.audio.delta","delta":"AB=="}',
        b'{"type":"response.audio.delta","delta":"AA\\/A"}',
        b'{"delta":"AAAA","type":"response.audio.delta"}',  # type not first: still cut, later
        b'{"type":"input_audio_buffer.append"}',
        b'{"type":"input_audio_buffer.append","audio":12}',
        b'{"type":"response.audio.delta"',
        b'{"type":"response.audio.deltaX',
        b'{"type":"response.audio.delta",',
        b'{"type":"response.audio.delta","delta":"AAAA',
        b'{"type":"response.audio.delta","delta":"AAAA"',
    ]:
        form = stored_form(data)
        assert _round_trip(data) == data
        if form.audio is not None:
            assert base64.b64encode(form.audio) in data


def test_random_mutations_of_audio_frames_read_back_byte_identical() -> None:
    rng = random.Random(3)
    templates = [
        b'{"type":"input_audio_buffer.append","audio":"%s"}',
        b'{"type":"input_audio_buffer.append","event_id":"ev","audio":"%s"}',
        b'{"type":"response.output_audio.delta","response_id":"r","delta":"%s","item_id":"i"}',
        b'{ "type" : "response.audio.delta" , "delta" : "%s" }',
    ]
    noise = b'"\\ :,{}=/+Aa0\n\xff\xc3'
    for _ in range(20_000):
        data = bytearray(rng.choice(templates) % base64.b64encode(rng.randbytes(rng.randrange(12))))
        for _ in range(rng.randrange(0, 3)):
            data[rng.randrange(len(data))] = rng.choice(noise)
        assert _round_trip(bytes(data)) == bytes(data)


def test_index_of_reads_nested_ids_and_tolerates_odd_shapes() -> None:
    assert index_of(b'{"type":"conversation.item.done","item":{"id":"it","type":"message"}}') == (
        IndexColumns("conversation.item.done", None, "it", None)
    )
    assert index_of(b'{"type":"response.done","response":{"id":"rs"},"event_id":"e"}') == (
        IndexColumns("response.done", "e", None, "rs")
    )
    assert index_of(b'{"type":"x","item":"not an object","event_id":7}') == IndexColumns("x")
    assert index_of(b"\xff not json") == IndexColumns()
    assert index_of(b'"just a string"') == IndexColumns()


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="the official examples are not here")
def test_every_official_example_round_trips_with_its_type() -> None:
    files = sorted(EXAMPLES.glob("*/*.json"))
    assert files
    for path in files:
        data = path.read_bytes()
        compact = data.strip()
        assert _round_trip(data) == data, path
        assert _round_trip(compact) == compact, path
        assert stored_form(compact).index.type == json.loads(data)["type"], path


@pytest.mark.parametrize(
    "data",
    [
        b'{"type":"response.output_audio.delta","x":{"delta":"AAAA"},"delta":"QUJD"}',
        b'{"type":"response.output_audio.delta","delta":"QUJD","x":{"delta":"AAAA"}}',
        b'{"type":"response.audio.delta","delta":"QUJD","delta":"AAAA"}',
        b'{"event_id":"e","type":"response.audio.delta","x":{"delta":"AAAA"},"delta":"QUJD"}',
        b'{"type":"input_audio_buffer.append","audio":"QUJD","x":{"audio":"AAAA"}}',
    ],
)
def test_a_nested_or_repeated_audio_key_is_not_cut(data: bytes) -> None:
    form = stored_form(data)
    assert (form.audio, form.audio_at) == (None, None)
    assert _round_trip(data) == data


@pytest.mark.parametrize("tail", [b'"}', b'" }', b'"}\n', b'","x":1}', b'"} '])
def test_the_bare_append_shortcut_keeps_every_tail(tail: bytes) -> None:
    """'{"type":"input_audio_buffer.append","audio":"..."}' exactly takes a shortcut to its
    body; any other ending goes the long way, and both read back byte for byte."""
    data = b'{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(b"\x01\x02" * 50)
    data += tail
    form = stored_form(data)
    assert form.audio == b"\x01\x02" * 50
    assert form.body == b'"audio":"' + tail
    assert _round_trip(data) == data


def _fixture_frames() -> list[Frame]:
    """Every frame of the bundled fixture sessions (their dumps), in order."""
    frames = []
    for path in sorted(FIXTURES.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            data = (entry["frame"].encode() if "frame" in entry
                    else base64.b64decode(entry["frame_base64"]))
            frames.append(Frame(Direction(entry["direction"]), entry["t_ns"],
                                Opcode(entry.get("opcode", 1)), data))
    return frames


def _hostile_frames(rng: random.Random) -> list[Frame]:
    """Audio events of every shape the codec must keep byte for byte: canonical and not,
    empty and absent audio, odd layouts, and random damage to each."""
    audio = [base64.b64encode(rng.randbytes(n)) for n in (0, 1, 2, 3, 4, 5, 770)]
    shapes = [
        b'{"type":"input_audio_buffer.append","audio":"%s"}',
        b'{"type":"input_audio_buffer.append","event_id":"ev_1","audio":"%s"}',
        b'{"type":"response.output_audio.delta","response_id":"r","item_id":"i",'
        b'"output_index":0,"content_index":0,"delta":"%s"}',
        b'{ "type" : "response.audio.delta" , "delta" : "%s" }',
        b'{"delta":"%s","type":"response.audio.delta","item_id":"i"}',  # type not first
        b'{"type":"response.output_audio.delta","delta":"%s","x":{"delta":"AAAA"}}',  # nested
        b'{"type":"input_audio_buffer.append","audio":"%s","audio":"QUJD"}',  # repeated
        # Live (LIVE.md §2e): the append (either side), the output track, the fixture
        b'{"type":"session.input_audio.append","audio":"%s"}',
        b'{"type":"session.input_audio.append","event_id":"evt_c1","audio":"%s"}',
        b'{"type":"session.output_audio.delta","delta":"%s"}',
        b'{"type":"session.output_audio.delta","delta":"%s","start_ms":4000,"end_ms":4100}',
        b'{"type":"session.output_audio.delta","start_ms":4000,"end_ms":4100,"delta":"%s"}',
        b'{"type":"session.output_audio.fixture.play","event_id":"evt_c5","audio":"%s"}',
        b'{"type":"session.output_audio.delta","delta":"%s","x":{"delta":"AAAA"}}',  # nested
    ]
    texts = [
        *(shape % text for shape in shapes for text in audio),
        *(shape % text for shape in shapes  # not canonical base64: kept whole
          for text in (b"AB==", b"AAF=", b"QUJD\\n", b"QU JD", b"QUJ", b"A===", b"====")),
        b'{"type":"input_audio_buffer.append"}',  # no audio
        b'{"type":"input_audio_buffer.append","audio":null}',
        b'{"type":"input_audio_buffer.append","audio":12}',
        b'{"type":"response.output_audio.delta","delta":""}',  # an empty audio field
        b'{"type":"response.output_audio.delta","event_id":"e","delta":"","item_id":"i"}',
        b'{"type":"response.audio.delta","delta":"AAAA',  # cut short
        b'{"type":"response.audio.delta"}\xff',
        b'\xff\xfe not json', b"", b"[]", b'"input_audio_buffer.append"',
    ]
    damaged = []
    for text in texts:
        for _ in range(20):
            mutated = bytearray(text)
            for _ in range(rng.randrange(1, 3)):
                if mutated:
                    mutated[rng.randrange(len(mutated))] = rng.choice(b'"\\ :,{}=/+Aa0\n\xff')
            damaged.append(bytes(mutated))
    frames = [Frame(Direction.CLIENT, n, Opcode.TEXT, text)
              for n, text in enumerate(texts + damaged)]
    frames.append(Frame(Direction.SERVER, 1, Opcode.BINARY, texts[0]))  # binary: kept as is
    return frames


def _live_frames(rng: random.Random) -> list[Frame]:
    """A Live session's frames both ways (tests/live_examples.py: every event type, the
    nested Responses events, and a stream of audio both ways as Live sends it)."""
    from live_examples import CLIENT, RESPONSES, SERVER, b64, frame

    texts: list[tuple[Direction, bytes]] = []
    texts += [(Direction.CLIENT, frame(event)) for event in CLIENT.values()]
    texts += [(Direction.SERVER, frame(event)) for event in SERVER.values()]
    texts += [(Direction.SERVER, frame({**SERVER["response.event"], "event": nested}))
              for nested in RESPONSES.values()]
    for n in range(200):  # 50 ms appends up, 100 ms output frames down (sideband: timed)
        texts.append((Direction.CLIENT, frame({"type": "session.input_audio.append",
                                               "audio": b64(rng.randbytes(2400))})))
        output = {"type": "session.output_audio.delta", "delta": b64(rng.randbytes(4800))}
        if n % 2:
            output |= {"start_ms": n * 100, "end_ms": n * 100 + 100}
        texts.append((Direction.SERVER, frame(output)))
        texts.append((Direction.SERVER, frame({"type": "session.input_audio.append",
                                               "audio": b64(rng.randbytes(4800))})))
    return [Frame(direction, n, Opcode.TEXT, data) for n, (direction, data) in enumerate(texts)]


@pytest.mark.parametrize("source", ["fixtures", "hostile", "live"])
def test_frame_row_and_the_row_reader_round_trip_every_frame(source: str) -> None:
    frames = (_fixture_frames() if source == "fixtures"
              else _live_frames(random.Random(18)) if source == "live"
              else _hostile_frames(random.Random(5)))
    assert len(frames) > 500
    rows, reader = _rows(frames)
    as_text = [reader.reading(ROW_COLUMNS)(row) for row in rows]
    as_bytes = [reader.reading(ROW_COLUMNS, as_bytes=True)(row) for row in rows]

    assert [s.to_frame() for s in as_text] == frames  # every byte, time, direction, opcode
    assert [s.to_frame() for s in as_bytes] == frames  # the audio spliced back from bytes
    assert [s.seq for s in as_text] == list(range(1, len(frames) + 1))
    assert [row[ROW_AT["seq"]] for row in rows] == [s.seq for s in as_text]
    cut = 0
    for frame, values, text, split in zip(frames, rows, as_text, as_bytes, strict=True):
        row = dict(zip(ROW_COLUMNS, values, strict=True))
        assert text.audio is None and text.data == frame.data
        # the index columns are those of the frame itself, in both modes, cut or not
        expected = index_of(frame.data) if frame.opcode is Opcode.TEXT else IndexColumns()
        for read in (text, split):
            assert (read.type, read.event_id, read.item_id, read.response_id) == (
                expected.type, expected.event_id, expected.item_id, expected.response_id
            ), frame.data
        # the row by column name: what the database gets in each column
        assert (row["session"], row["t_ns"], row["opcode"]) == (7, frame.t_ns, frame.opcode)
        assert row["direction"] == schema.DIRECTION_CODES[frame.direction]
        assert (row["type"] is None) == (expected.type is None)
        if row["audio"] is None:
            assert split.audio is None and split.data == frame.data
            assert row["audio_at"] is None
            if not row["stripped"]:
                assert row["data"] == frame.data
        else:  # kept as binary, and only when its base64 was canonical
            cut += 1
            assert split.audio == row["audio"]
            assert base64.b64encode(row["audio"]) in frame.data
            assert split.data == frame.data.replace(base64.b64encode(row["audio"]), b"", 1)
            assert (row["event_id"], row["item_id"], row["response_id"]) == (None, None, None)
            assert len(row["data"]) < len(frame.data)
    assert cut >= 30  # the audio path was exercised, not only whole frames
    if source == "live":  # every canonical Live audio frame is stored as binary
        audio_types = {"session.input_audio.append", "session.output_audio.delta",
                       "session.output_audio.fixture.play"}
        assert cut == sum(index_of(f.data).type in audio_types for f in frames) >= 600


def test_rows_are_read_by_column_name_whatever_the_select_order() -> None:
    """The reader finds each column by its name: a select listing them in another order, or
    with more columns (id, a column a later migration adds), reads back the same frames."""
    frames = _fixture_frames()[:300]
    rows, reader = _rows(frames)
    columns = ["extra", *reversed(ROW_COLUMNS), "id"]
    shuffled = [(None, *reversed(row), 99) for row in rows]
    assert [s.to_frame() for s in map(reader.reading(columns), shuffled)] == frames
    assert list(ROW_AT) == list(ROW_COLUMNS)


def test_the_row_is_the_frames_table() -> None:
    """A row names frames columns; the table's columns it leaves out are the id (write
    order, assigned by the database) and nullable ones (a frame row may leave them NULL)."""
    columns = {column.name: column for column in schema.frames.columns}
    assert set(ROW_COLUMNS) <= set(columns)
    left_out = set(columns) - set(ROW_COLUMNS)
    assert "id" in left_out
    assert all(columns[name].nullable or columns[name].server_default is not None
               for name in left_out - {"id"})


@pytest.mark.parametrize("source", ["fixtures", "hostile", "live"])
def test_an_audio_event_split_early_is_stored_as_the_writer_would_split_it(source: str) -> None:
    """split_frame (the proxy's, while the frame is hot) gives the row frame_row gives, and
    the frame back byte for byte; a frame it does not split is appended as it is."""
    frames = (_fixture_frames() if source == "fixtures"
              else _live_frames(random.Random(18)) if source == "live"
              else _hostile_frames(random.Random(5)))
    type_ids = {"input_audio_buffer.append": 3}  # one type known, the others by name
    split = 0
    for frame in frames:
        if frame.opcode is not Opcode.TEXT:
            continue
        early = split_frame(FrameRedactor(), frame.direction, frame.t_ns, frame.data)
        if early is None:
            continue
        split += 1
        assert isinstance(early, SplitFrame)
        assert early.frame() == frame and (early.data, early.size) == (frame.data, len(frame.data))
        assert split_row(7, 9, early, type_ids) == frame_row(7, 9, frame, type_ids)
    assert split > 100  # the bulk of every corpus (its audio events)


def test_an_audio_event_the_redactor_changes_or_a_large_one_is_not_split_early() -> None:
    audio = base64.b64encode(bytes(range(256)) * 4).decode()
    clean = f'{{"type":"input_audio_buffer.append","audio":"{audio}"}}'.encode()
    secret = ('{"type":"input_audio_buffer.append","event_id":"sk-0123456789ab",'
              f'"audio":"{audio}"}}')
    large = f'{{"type":"input_audio_buffer.append","audio":"{audio * 64}"}}'.encode()
    assert split_frame(FrameRedactor(), Direction.CLIENT, 1, clean) is not None
    assert split_frame(FrameRedactor(["sk-0123456789ab"]), Direction.CLIENT, 1,
                       secret.encode()) is None  # the proxy redacts it whole, as before
    assert split_frame(FrameRedactor(), Direction.CLIENT, 1, large) is None  # 64 KiB and up
    assert split_frame(FrameRedactor(), Direction.CLIENT, 1, b'{"type":"a"}') is None
