"""A frame can only fail itself: hostile frames through the real proxy beside a bystander.

The upstream is recorder.fake's FakeUpstream: the bystander plays its voice_turns scenario on
/v1/realtime, and the hostile session talks to an echo route added to the same fake app
(/v1/realtime/hostile: every frame sent back as it came, same opcode), so each hostile frame
crosses the proxy in both directions. Every frame must arrive unchanged, be stored byte for
byte (or exactly redacted), recording must never stop, and every reader must read the result.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from click.testing import CliRunner

from recorder.cli import cli
from recorder.console import Console
from recorder.fake.client import play_client
from recorder.fake.server import FakeUpstream
from recorder.proxy import ProxyConfig, RecordingProxy
from recorder.redact import REDACTED, REDACTED_UNPARSED, Redaction
from recorder.serve import ReplayServer, load_recording
from recorder.store import EventLog, open_log
from recorder.wire import Direction, Frame, Opcode

KEY = "sk-hostile-test-key-0123456789"
R = REDACTED.encode()
T, B = Opcode.TEXT, Opcode.BINARY


def nested(depth: int, inner: bytes = b"1") -> bytes:
    return b"[" * depth + inner + b"]" * depth


AUDIO = base64.b64encode(bytes(range(256)) * 4)


@dataclass(frozen=True)
class Case:
    name: str
    opcode: Opcode
    wire: bytes
    stored: bytes | None = None  # None: stored as it crossed the wire


def corpus() -> list[Case]:
    """Every shape the issue lists, with what the log must hold for each (in this order: the
    session learns secrets as it goes)."""
    deep_secret = (b'{"type":"session.update","a":' + nested(100_000, b'{"client_secret":'
                   b'{"value":"deep-secret-value-1","expires_at":1}}') + b"}")
    append_1000 = (b'{"type":"input_audio_buffer.append","audio":"' + AUDIO + b'","x":'
                   + nested(1000) + b"}")
    return [
        Case("deep 1000 append", T, append_1000),
        Case("deep 1000 client_secret", T,
             b'{"type":"input_audio_buffer.append","audio":"AAAA","client_secret":"c-s-1000-deep",'
             b'"x":' + nested(1000) + b"}",
             b'{"type":"input_audio_buffer.append","audio":"AAAA","client_secret":"[REDACTED]",'
             b'"x":' + nested(1000) + b"}"),
        Case("deep 100000 client_secret", T, deep_secret,
             deep_secret.replace(b'"deep-secret-value-1"', b'"' + R + b'"')),
        Case("deep 100000 objects", T, b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        Case("learnt value repeated later", T,
             b'{"type":"conversation.item.create","text":"quote deep-secret-value-1 and '
             b'c-s-1000-deep"}',
             b'{"type":"conversation.item.create","text":"quote ' + R + b" and " + R + b'"}'),
        Case("huge string", T,
             b'{"type":"conversation.item.create","text":"' + b"x" * (6 * 2**20) + b'"}'),
        Case("huge audio", T,
             b'{"type":"input_audio_buffer.append","audio":"' + AUDIO * 3000 + b'"}'),
        Case("invalid UTF-8", T, b'{"type":"conversation.item.create","text":"\xff\xfe\xc3"}'),
        Case("invalid UTF-8 audio", T,
             b'{"type":"input_audio_buffer.append","\xff":1,"audio":"' + AUDIO + b'"}'),
        Case("lone surrogate", T, b'{"type":"response.create","text":"\\ud800 and \\udc00"}'),
        Case("escaped client_secret key", T,
             b'{"type":"session.update","session":{"client\\u005fsecret":'
             b'{"value":"escaped-key-value-1"}}}',
             b'{"type":"session.update","session":{"client\\u005fsecret":{"value":"' + R
             + b'"}}}'),
        Case("escaped value repeated", T, b'{"type":"x","t":"escaped-key-value-1"}',
             b'{"type":"x","t":"' + R + b'"}'),
        Case("ek_ anywhere", T, b'{"type":"x","note":"use ek_live_0123456789abcdef now"}',
             b'{"type":"x","note":"use ' + R + b' now"}'),
        Case("ek_ in a binary frame", B, b"\x00\x01ek_live_0123456789abcdef\xff",
             b"\x00\x01" + R + b"\xff"),
        Case("handshake key in text", T, b'{"type":"x","t":"' + KEY.encode() + b'"}',
             b'{"type":"x","t":"' + R + b'"}'),
        Case("duplicate keys", T,
             b'{"type":"input_audio_buffer.append","audio":"AAAA","audio":"BBBB"}'),
        Case("duplicate type", T,
             b'{"type":"input_audio_buffer.append","type":"x","audio":"AAAA"}'),
        Case("audio key nested", T,
             b'{"type":"input_audio_buffer.append","audio":"AAAA","x":{"audio":"BBBB"}}'),
        Case("delta repeated", T,
             b'{"type":"response.output_audio.delta","x":{"delta":"AAAA"},"delta":"AAAA"}'),
        Case("non-canonical base64", T, b'{"type":"input_audio_buffer.append","audio":"AB=="}'),
        Case("base64 with a space", T, b'{"type":"input_audio_buffer.append","audio":"AA AA"}'),
        Case("base64 bad padding", T, b'{"type":"input_audio_buffer.append","audio":"A==="}'),
        Case("escaped type", T, b'{"type":"input_audio_buffer.\\u0061ppend","audio":"AAAA"}'),
        Case("escaped audio", T, b'{"type":"input_audio_buffer.append","audio":"AA\\u0041A"}'),
        Case("broken client_secret", T, b'{"type":"x","client_secret":{"value":"cut-secret-val',
             b'{"type":"x","client_secret":"' + REDACTED_UNPARSED.encode() + b'"'),
        Case("deep and truncated", T, b'{"type":"x","a":' + b"[" * 5000),
        Case("not an object", T, b"[1,2,3]"),
        Case("a bare string", T, b'"input_audio_buffer.append"'),
        Case("NaN and big numbers", T, b'{"type":"x","n":NaN,"m":1e999999,"k":' + b"9" * 5000
             + b"}"),
        Case("type is not a string", T, b'{"type":{"deep":' + nested(3000) + b'},"event_id":7}'),
        Case("binary", B, bytes(range(256)) * 64),
        Case("empty text", T, b""),
        Case("empty binary", B, b""),
    ]


def fuzzed(seed: int, count: int) -> list[Case]:
    """Seeded mutations of ordinary events (flips, cuts, splices, nesting), some quoting the
    handshake key (stored with it redacted); never anything else shaped like a key."""
    rng = random.Random(seed)
    seeds = [
        b'{"type":"input_audio_buffer.append","audio":"' + AUDIO[:64] + b'"}',
        b'{"type":"response.output_audio.delta","event_id":"e1","response_id":"r","item_id":"i",'
        b'"delta":"' + AUDIO[:128] + b'"}',
        b'{"type":"conversation.item.create","item":{"id":"it","type":"message","content":'
        b'[{"type":"input_text","text":"hi \\"there\\""}]}}',
        b'{"type":"session.created","session":{"id":"s","model":"m","client_secret":null}}',
    ]
    cases = []
    for n in range(count):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            action = rng.randrange(5)
            at = rng.randrange(len(data) + 1)
            if action == 0 and data:
                data[min(at, len(data) - 1)] = rng.randrange(256)
            elif action == 1:
                del data[at:at + rng.randint(1, 20)]
            elif action == 2:
                data[at:at] = rng.choice([b"{", b"[", b'"', b"\\", b"\\u005f", b",", b":", b"\xff"])
            elif action == 3:
                data[at:at] = b"[" * rng.randint(900, 3000)
            else:
                data[at:at] = bytes(data[rng.randrange(len(data) + 1):][:40])
        wire = bytes(data)
        if b"ek_" in wire or b"sk-" in wire or b"client" in wire:
            wire = wire.replace(b"ek_", b"e_").replace(b"sk-", b"s-").replace(b"client", b"c")
        stored = None
        if n % 5 == 0:
            at = rng.randrange(len(wire) + 1)
            stored = wire[:at] + b" " + R + b" " + wire[at:]
            wire = wire[:at] + b" " + KEY.encode() + b" " + wire[at:]
        cases.append(Case(f"fuzz {n}", B if n % 7 == 0 else T, wire, stored))
    return cases


async def echo(request: web.Request) -> web.WebSocketResponse:
    """The hostile route: every frame back as it came (text stays text, bytes stay bytes)."""
    ws = web.WebSocketResponse(max_msg_size=0, compress=False, decode_text=False)
    await ws.prepare(request)
    async for message in ws:
        if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            await ws.send_frame(message.data, message.type)
    return ws


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    fake = FakeUpstream("voice_turns", pace=0)
    fake.app.router.add_get("/v1/realtime/hostile", echo)
    async with fake:
        yield fake


@pytest.fixture
async def event_log(tmp_path: Path) -> AsyncIterator[EventLog]:
    log = await open_log(str(tmp_path / "h.db"), flush_interval=0.01)
    yield log
    await log.close()


async def hostile_session(url: str, cases: list[Case]) -> list[tuple[Opcode, bytes]]:
    """Send every case, wait for its echo; returns what came back."""
    echoed: list[tuple[Opcode, bytes]] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(
        url + "/v1/realtime/hostile?model=m", headers={"Authorization": f"Bearer {KEY}"},
        max_msg_size=0, compress=0, decode_text=False,
    ) as ws:
        for case in cases:
            await ws.send_frame(case.wire, WSMsgType(case.opcode))
            message = await ws.receive(timeout=30)
            assert message.type in (WSMsgType.TEXT, WSMsgType.BINARY), (case.name, message)
            echoed.append((Opcode(message.type.value), message.data))
        await ws.close()
    return echoed


async def frames_of(log: EventLog, sid: str) -> list[tuple[Direction, Opcode, bytes]]:
    return [(f.direction, f.opcode, f.data) async for batch in log.read(sid) for f in batch]


async def run_beside_bystander(
    event_log: EventLog, upstream: FakeUpstream, cases: list[Case]
) -> tuple[RecordingProxy, str]:
    out = io.StringIO()
    proxy = RecordingProxy(event_log, ProxyConfig(upstream=upstream.url, port=0), Console(out, out))
    url = await proxy.start()
    try:
        echoed, bystander = await asyncio.gather(
            hostile_session(url, cases),
            play_client(url + "/v1/realtime", "voice_turns", pace=0, model="m"),
        )
        after = await play_client(url + "/v1/realtime", "voice_turns", pace=0, model="m")
    finally:
        await proxy.close()
    await event_log.flush()
    assert echoed == [(c.opcode, c.wire) for c in cases], "every frame forwarded unchanged"
    assert event_log.failure is None, "recording never stopped"
    sessions = await event_log.list_sessions()
    assert len(sessions) == 3, "the bystander and the session after both got their rows"
    hostile = next(s for s in sessions if s.frames == 2 * len(cases))
    others = [s for s in sessions if s is not hostile]
    for info, played, seen in zip(others, (bystander, after), upstream.sessions, strict=True):
        assert info.status == "complete" and played.sent > 0
        stored = await frames_of(event_log, info.id)
        assert [d for way, _, d in stored if way is Direction.SERVER] == [
            f.data for f in played.received]
        assert [d for way, _, d in stored if way is Direction.CLIENT] == [
            f.data for f in seen.received]
    assert hostile.status == "complete"
    expected = []
    for case in cases:
        stored = case.wire if case.stored is None else case.stored
        expected += [(way, case.opcode, stored) for way in (Direction.CLIENT, Direction.SERVER)]
    got = await frames_of(event_log, hostile.id)
    for (want, have, case) in zip(expected, got, [c for c in cases for _ in (0, 1)], strict=True):
        assert have == want, f"{case.name}: stored {have[2][:200]!r}"
    assert "ERROR" not in out.getvalue(), out.getvalue()
    return proxy, hostile.id


async def test_hostile_corpus_is_forwarded_and_stored_and_recording_goes_on(
    db: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    """On SQLite and on PostgreSQL (conftest's db fixture)."""
    log = await open_log(db, flush_interval=0.01)
    try:
        cases = corpus()
        _, sid = await run_beside_bystander(log, upstream, cases)
        await readers_read(log, db, sid, tmp_path)
        # each frame says how it was redacted: a byte scan for the ones that cannot be parsed
        flags = [f.redaction async for batch in log.read(sid) for f in batch]
        scanned = {"broken client_secret", "ek_ in a binary frame"}
        for case, both in zip(cases, zip(flags[::2], flags[1::2], strict=True), strict=True):
            want = (Redaction.UNTOUCHED if case.stored is None else
                    Redaction.SCANNED if case.name in scanned else Redaction.PARSED)
            assert both == (want, want), case.name
    finally:
        await log.close()


async def test_a_bounded_fuzz_run_is_forwarded_and_stored(
    event_log: EventLog, upstream: FakeUpstream
) -> None:
    await run_beside_bystander(event_log, upstream, fuzzed(seed=13, count=300))


async def readers_read(event_log: EventLog, db: str, sid: str, tmp_path: Path) -> None:
    """replay, export, events, dump, import (of the dump) and serve all read the session."""
    invoke = CliRunner().invoke
    for args in (["replay", db, "--session", sid], ["events", db, "--session", sid],
                 ["events", db, "--session", sid, "--json"],
                 ["export", db, "--session", sid, "--out", str(tmp_path / "out")]):
        result = await asyncio.to_thread(invoke, cli, args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    dump = await asyncio.to_thread(invoke, cli, ["dump", db, "--session", sid])
    assert dump.exit_code == 0, dump.output
    assert REDACTED_UNPARSED in dump.output, "the reader shows how the broken frame was redacted"
    (tmp_path / "dump.jsonl").write_text(dump.output)
    copy = str(tmp_path / "copy.db")
    imported = await asyncio.to_thread(invoke, cli, ["import", copy, str(tmp_path / "dump.jsonl")])
    assert imported.exit_code == 0, imported.output
    copy_log = await open_log(copy)
    try:
        new_sid = (await copy_log.list_sessions())[0].id
        assert await frames_of(copy_log, new_sid) == await frames_of(event_log, sid)
    finally:
        await copy_log.close()
    recording = await load_recording(event_log, sid)
    server_frames = [f.data for f in recording.frames if f.direction is Direction.SERVER]
    played: list[bytes] = []
    async with ReplayServer(recording, match="lenient") as server, aiohttp.ClientSession() as http,\
            http.ws_connect(server.url + "/realtime", max_msg_size=0, decode_text=False,
                            headers={"Authorization": "Bearer x"}) as ws:
        for frame in recording.frames:
            if frame.direction is Direction.CLIENT:
                await ws.send_frame(frame.data, WSMsgType(frame.opcode))
        while len(played) < len(server_frames):
            message = await ws.receive(timeout=30)
            assert message.type in (WSMsgType.TEXT, WSMsgType.BINARY), message
            played.append(message.data)
    assert played == server_frames


class ExplodingLog:
    """An EventLog whose append raises for one frame (a stand-in for any recording bug)."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def __getattr__(self, name: str) -> object:
        return getattr(self._log, name)

    def append(self, sid: str, frame: Frame) -> None:
        if frame.data == b'{"type":"boom"}':
            raise RecursionError("maximum recursion depth exceeded")
        self._log.append(sid, frame)


async def test_an_exception_from_recording_work_never_reaches_the_pump(
    event_log: EventLog, upstream: FakeUpstream
) -> None:
    out = io.StringIO()
    proxy = RecordingProxy(ExplodingLog(event_log),  # type: ignore[arg-type]
                           ProxyConfig(upstream=upstream.url, port=0), Console(out, out))
    url = await proxy.start()
    cases = [Case("before", T, b'{"type":"a"}'), Case("boom", T, b'{"type":"boom"}'),
             Case("after", T, b'{"type":"b"}')]
    try:
        echoed = await hostile_session(url, cases)
        bystander = await play_client(url + "/v1/realtime", "voice_turns", pace=0, model="m")
    finally:
        await proxy.close()
    await event_log.flush()
    assert echoed == [(c.opcode, c.wire) for c in cases], "the call went on"
    hostile, other = await event_log.list_sessions()
    assert hostile.status == "incomplete" and other.status == "complete"
    assert [d for _, _, d in await frames_of(event_log, hostile.id)] == [
        b'{"type":"a"}', b'{"type":"a"}', b'{"type":"b"}', b'{"type":"b"}']
    # the frame that failed (sent, then echoed back) is no silent loss: one gap, counted
    gaps = await event_log.gaps(hostile.id)
    assert [(g.first_seq, g.last_seq, g.reason) for g in gaps] == [
        (3, 4, "not recorded: RecursionError")]
    assert event_log.frames_lost == 2 and proxy.frames_unrecorded == 0
    assert bystander.sent > 0
    assert out.getvalue().count("ERROR") == 1
    assert "rtrec: ERROR: session #1: a frame could not be recorded (RecursionError); the call " \
        "goes on, the session is marked incomplete\n" in out.getvalue()


async def test_import_reads_deep_and_escaped_events_and_redacts_them(tmp_path: Path) -> None:
    cases = {c.name: c for c in corpus()}
    chosen = [cases[name] for name in ("deep 1000 append", "deep 1000 client_secret",
                                       "deep 100000 client_secret", "escaped client_secret key",
                                       "escaped value repeated")]
    chosen[-1] = Case("escaped value repeated", T,
                      b'{"type":"session.update","t":"escaped-key-value-1"}',
                      b'{"type":"session.update","t":"' + R + b'"}')
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join(c.wire for c in chosen) + b"\n")
    db = str(tmp_path / "imported.db")
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["import", db, str(source)])
    assert result.exit_code == 0, (result.output, result.exception)
    log = await open_log(db)
    try:
        sid = (await log.list_sessions())[0].id
        assert [d for _, _, d in await frames_of(log, sid)] == [
            c.wire if c.stored is None else c.stored for c in chosen]
    finally:
        await log.close()


async def test_a_dump_and_import_round_trip_keeps_each_frames_redaction(
    event_log: EventLog, tmp_path: Path
) -> None:
    from recorder.store.transfer import dump_line, import_file

    frames = [
        Frame(Direction.CLIENT, 1, T, b'{"type":"response.create"}'),
        Frame(Direction.SERVER, 2, T, b'{"type":"x","client_secret":"' + R + b'"}',
              Redaction.PARSED),
        Frame(Direction.SERVER, 3, B, b"\x00" + R, Redaction.SCANNED),
    ]
    sid = await event_log.begin_session("ga", None, None)
    for frame in frames:
        event_log.append(sid, frame)
    await event_log.end_session(sid)
    stored = [f async for batch in event_log.read(sid) for f in batch]
    lines = [dump_line(f) for f in stored]
    assert b'"redacted"' not in lines[0] and b'"redacted":"parsed"' in lines[1]
    assert b'"redacted":"scan"' in lines[2]
    dump = tmp_path / "dump.jsonl"
    dump.write_bytes(b"\n".join(lines) + b"\n")
    info = await import_file(event_log, dump)
    back = [f async for batch in event_log.read(info.id) for f in batch]
    assert [(f.data, f.redaction) for f in back] == [(f.data, f.redaction) for f in frames]
    # an old dump, without the field, imports as not redacted
    old = tmp_path / "old.jsonl"
    old.write_bytes(lines[1].replace(b',"redacted":"parsed"', b"") + b"\n")
    info = await import_file(event_log, old)
    assert [f.redaction async for batch in event_log.read(info.id) for f in batch] == [
        Redaction.UNTOUCHED]


async def test_events_shows_how_a_frame_was_redacted_on_its_line(tmp_path: Path) -> None:
    db = str(tmp_path / "events.db")
    async with await open_log(db, flush_interval=0.01) as log:
        sid = await log.begin_session("ga", None, None)
        log.append(sid, Frame(Direction.CLIENT, 0, T, b'{"type":"response.create"}'))
        log.append(sid, Frame(Direction.SERVER, 10**6, T,
                              b'{"type":"error","t":"' + R + b'"}', Redaction.PARSED))
        log.append(sid, Frame(Direction.SERVER, 2 * 10**6, B, b"\x00" + R, Redaction.SCANNED))
        await log.end_session(sid)
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["events", db])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()[2:]
    assert "response.create" in lines[0] and lines[0].endswith("B")
    assert lines[1].endswith("B  redacted (parsed)")
    assert lines[2].endswith("B  redacted (scan)") and "(binary)" in lines[2]
    as_json = await asyncio.to_thread(CliRunner().invoke, cli, ["events", db, "--json"])
    records = json.loads(as_json.output)
    assert ["redacted" in r for r in records] == [False, True, True]
    assert [r.get("redacted") for r in records[1:]] == ["parsed", "scan"]


async def test_replay_notes_the_frames_a_byte_scan_redacted(tmp_path: Path) -> None:
    db = str(tmp_path / "replay.db")
    async with await open_log(db, flush_interval=0.01) as log:
        sid = await log.begin_session("ga", None, None)
        log.append(sid, Frame(Direction.CLIENT, 0, T, b'{"type":"response.create"}'))
        log.append(sid, Frame(Direction.SERVER, 1, T, b'{"type":"x","t":"' + R + b'"}',
                              Redaction.PARSED))
        for t in (2, 3):
            log.append(sid, Frame(Direction.SERVER, t, B, b"\x00" + R, Redaction.SCANNED))
        await log.end_session(sid)
        assert await log.redacted(sid) == [
            (2, Redaction.PARSED), (3, Redaction.SCANNED), (4, Redaction.SCANNED)]
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["replay", db])
    assert result.exit_code == 0, result.output
    note = "note: 2 frames could not be parsed and were redacted by a byte scan (seq 3, 4)"
    assert result.stderr.splitlines() == [note]
    assert note not in result.stdout


def test_the_scanned_note_counts_one_frame_and_shortens_many() -> None:
    from recorder.store.log import scanned_line

    assert scanned_line([]) is None
    assert scanned_line([7]) == (
        "note: 1 frame could not be parsed and was redacted by a byte scan (seq 7)")
    line = scanned_line(list(range(1, 13)))
    assert line is not None and line.endswith("(seq 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 and 2 more)")
