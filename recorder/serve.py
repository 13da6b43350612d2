"""A recorded session played back as a live Realtime (or Live) server, for a client under test.

On each WebSocket connection the recording is played from the start (a fresh playback per
connection): server frames leave byte for byte as recorded; where the recording shows a client
frame next, playback waits for the client's frame and matches it against the recorded one
(recorder.matching: type and content, volatile ids ignored, measured timing fields such as a
truncate's audio_end_ms accepted within a tolerance, all of it changeable with MatchRules; an
item id the client chose itself stands for the recorded one in the client's later references
to it), then goes on. When the received frame is of another type than the recorded one, the
mismatch also names the nearest recorded client frame of its type among the next few.

Timing (`speed`): None plays as fast as possible. A number paces the server frames: a frame
recorded at t leaves at its recorded offset from the connection start, and never sooner after
the last matched client frame than the recording shows:
    due = max(opened + t / speed, received_c + (t - t_c) / speed)
where (t_c, received_c) are the recorded time and the arrival time of the latest matched client
frame. So a slow client never makes the server rush through the frames that answer it, a client
that sends early never pulls frames ahead of their recorded offsets, and once the client is on
time again the server is too (one late microphone chunk does not shift the rest of the call).

Match modes: "strict" answers a mismatch (or a client frame the recording has no room for) with
an `error` event (error.code "rtrec_mismatch", error.message naming the expected event, the
received one and the differing fields) and closes the socket with code 4400;
"lenient" logs the difference and goes on as if the frame matched. Recorded client frames the
client never sent are listed in the PlaybackResult and logged when the connection ends.

A Live session (protocol "live") is served on the Live paths by its own policy over the same
Playback (recorder.live.playback): a free-running output stream on recorded timing from the
client's session.start, only the frames that answer a client command held back for it, fresh
ids per connection, client audio matched by its total duration. A client on the other API's
path gets HTTP 404 and a line saying which client to connect.

No authentication is required on loopback (except from a web page on another origin: see
recorder.access), and no header is ever logged (the Authorization header and the
browser's `openai-insecure-api-key.*` subprotocol carry keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import aiohttp
import msgspec
from aiohttp import web

from recorder.access import check_exposure, refusal
from recorder.errors import CannotListen, NotAnEventLog, RtrecError
from recorder.jsontext import frame_type
from recorder.localserver import LocalServer, connect_host
from recorder.matching import (
    DEFAULT_RULES,
    LOOKAHEAD,
    MatchRules,
    client_item_ids,
    describe_mismatch,
    diff_events,
    order_hint,
    show_frame,
)
from recorder.protocol import close
from recorder.protocol.audio_fields import INPUT_AUDIO, LIVE_INPUT_AUDIO
from recorder.protocol.error_event import client_event_id, error_event
from recorder.protocol.live import PROTOCOL as LIVE_PROTOCOL
from recorder.protocol.live import is_live_start
from recorder.protocol.paths import (
    LIVE_PATHS,
    REALTIME_PATHS,
    split_live_path,
    split_realtime_path,
)
from recorder.script_player import Inbox, Pacing, Verdict, play_script
from recorder.wire import Direction, Frame, Opcode

if TYPE_CHECKING:
    from recorder.live.serve_plan import LivePlan
    from recorder.store import EventLog
    from recorder.stream import Step

log = logging.getLogger("recorder.serve")

MatchMode = Literal["strict", "lenient"]
MATCH_MODES: tuple[MatchMode, ...] = ("strict", "lenient")

# 4000-4999 are application close codes (RFC 6455 7.4.2). 4400 reads as "bad request".
MISMATCH_CLOSE_CODE = 4400
MISMATCH_CLOSE_REASON = "rtrec: client frame does not match the recording"
MISMATCH_ERROR_CODE = "rtrec_mismatch"

# Ctrl-C with clients connected: each gets 1001 ("going away") at once, not a drop minutes later.
STOPPING_CLOSE_CODE = 1001
STOPPING_CLOSE_REASON = "rtrec serve is stopping"
STOP_TIMEOUT = 5.0  # seconds a stopping server waits for clients to answer the close
MIN_SPEED = 0.001  # --speed: slower than 1/1000 of real time is refused


# microphone audio: skipped when looking ahead for a frame sent out of order
_STREAMED = frozenset({INPUT_AUDIO, LIVE_INPUT_AUDIO})

_OPCODES = {Opcode.TEXT: aiohttp.WSMsgType.TEXT, Opcode.BINARY: aiohttp.WSMsgType.BINARY}


@dataclass(frozen=True, slots=True)
class RecordedFrame:
    """One frame of a recording, with its position in the session (seq) and its event type."""

    seq: int
    direction: Direction
    t_ns: int
    opcode: Opcode
    data: bytes
    type: str | None


@dataclass(frozen=True)
class Recording:
    """A whole session in memory, loaded once and played to every connection."""

    frames: tuple[RecordedFrame, ...]
    session_id: str | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: str | None = None  # "server": playback closes (or drops, for 1006) at the end
    gaps_note: str | None = None  # what `rtrec serve` says of frames the recorder did not keep
    protocol: str | None = None  # "live": played by recorder.live.playback's policy
    connection: str | None = None  # Live: primary | attach | fork

    @classmethod
    def from_frames(
        cls,
        frames: Iterable[Frame],
        *,
        session_id: str | None = None,
        close_code: int | None = None,
        close_reason: str | None = None,
        closed_by: str | None = None,
        protocol: str | None = None,
        connection: str | None = None,
    ) -> Recording:
        """A recording of frames in memory; protocol None: Live when its first frames are
        Live's (recorder.protocol.live.is_live_start), else Realtime."""
        recorded = tuple(
            RecordedFrame(seq, f.direction, f.t_ns, f.opcode, f.data, frame_type(f.data))
            for seq, f in enumerate(frames, start=1)
        )
        if protocol is None and is_live_start(
            [(f.direction is Direction.CLIENT, f.data) for f in recorded[:64]]
        ):
            protocol = LIVE_PROTOCOL
        return cls(recorded, session_id, close_code, close_reason, closed_by,
                   protocol=protocol, connection=connection)

    @property
    def is_live(self) -> bool:
        return self.protocol == LIVE_PROTOCOL

    def notes(self) -> list[str]:
        """What `rtrec serve` says of the recording before playing it (one line each): frames
        the recorder did not keep, and for a Live session what it lacks (recorder.live.playback).
        """
        notes = [self.gaps_note] if self.gaps_note is not None else []
        if self.is_live:
            notes += self.live_plan.notes
        return notes

    @functools.cached_property
    def live_plan(self) -> LivePlan:
        """How a Live recording is played (worked out once, for every connection)."""
        # the policy's module too: imported on the first connection, it held up the reading
        # of that client's session.start (~6 ms), and every frame counted from it was late
        import recorder.live.playback  # noqa: F401
        from recorder.live.serve_plan import LivePlan

        return LivePlan.of(self)

    @property
    def client_frames(self) -> int:
        return sum(1 for f in self.frames if f.direction is Direction.CLIENT)

    @property
    def server_frames(self) -> int:
        return len(self.frames) - self.client_frames


async def load_recording(event_log: EventLog, session_id: str | None = None) -> Recording:
    """Read one session of the log into memory (None: the newest session)."""
    # (the store is loaded already: event_log is one; the stream needs it)
    from recorder.stream import log_steps

    info = await event_log.get_session(session_id)
    frames: list[RecordedFrame] = []
    async for batch in log_steps(event_log, info, whole=True):  # the wire bytes, spliced once
        frames.extend(map(_recorded, batch))
    from recorder.store import gaps_line  # (the store is loaded already: event_log is one)

    note = gaps_line(info.id, await event_log.gaps(info.id)) if info.gaps else None
    return Recording(
        tuple(frames), info.id, info.close_code, info.close_reason, info.closed_by, note,
        info.protocol, info.connection,
    )


def _recorded(step: Step) -> RecordedFrame:
    """A step of the stream as playback keeps it: the bytes to send (or match), ready."""
    data = step.frame_data()
    kind = step.type if step.type is not None else frame_type(data)
    return RecordedFrame(step.seq, step.direction, step.t_ns, step.opcode, data, kind)


@dataclass(frozen=True, slots=True)
class Mismatch:
    """A client frame unlike the recorded one, or one the recording had no room for."""

    seq: int | None  # the recorded client frame's seq; None when the recording had none left
    expected_type: str | None
    received_type: str | None
    paths: tuple[str, ...]
    message: str
    expected: bytes | None = None  # the recorded client frame (None: none was left)
    received: bytes = b""

    def report(self) -> str:
        """The message, then both frames (abbreviated), one per line: what a test shows."""
        lines = [self.message]
        if self.expected is not None:
            lines.append(f"  expected: {show_frame(self.expected)}")
        lines.append(f"  received: {show_frame(self.received)}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class UnusedFrame:
    """A recorded client frame that the client never sent."""

    seq: int
    type: str | None


@dataclass
class PlaybackResult:
    """What happened on one connection: available to tests, summarized in the log."""

    connection: int
    session_id: str | None
    server_frames_sent: int = 0
    client_frames_matched: int = 0
    mismatches: list[Mismatch] = field(default_factory=list)
    unused_client_frames: list[UnusedFrame] = field(default_factory=list)
    # speed given: for each server frame, how late it left (ns after its due time)
    lateness_ns: list[int] = field(default_factory=list)
    closed_on_mismatch: bool = False
    finished: bool = False  # the whole recording was played

    @property
    def ok(self) -> bool:
        return self.finished and not self.mismatches and not self.unused_client_frames


def parse_speed(text: str) -> float | None:
    """'asap' -> None (no pacing); a number >= MIN_SPEED -> that playback rate (1 = real time)."""
    if text.strip().lower() == "asap":
        return None
    try:
        speed = float(text)
    except ValueError:
        speed = 0.0
    # Below MIN_SPEED a recorded offset divided by the speed overflows (and a call would take
    # years anyway); NaN fails the comparison too.
    if not speed >= MIN_SPEED or speed == float("inf"):
        raise RtrecError(
            f"--speed {text!r} is not valid: use 'asap' or a positive number such as 1"
        )
    return speed


class Policy(Protocol):
    """How one protocol plays a recording over a Playback: Realtime's lockstep
    (`play_lockstep`) or Live's free-running stream with gated answers
    (recorder.live.playback). True when the whole recording was played."""

    def __call__(self, playback: Playback, pacing: Pacing) -> Awaitable[bool]: ...


async def play_lockstep(playback: Playback, pacing: Pacing) -> bool:
    """Realtime: every frame in recorded order; where a client frame is next, wait for it."""
    frames = playback.recording.frames
    outcome = await play_script(
        frames, Direction.SERVER, playback.inbox, send=playback.send, check=playback.check,
        pacing=pacing,
    )
    if not outcome.finished:
        playback.report_unused(frames[outcome.rest :])
    return outcome.finished


class Playback:
    """Plays one recording over one prepared socket, by the recording's protocol's policy.

    What every policy shares: the client's frames in an Inbox, server frames sent (`send`),
    client frames matched (`check`), mismatches answered by the match mode, the end of the
    connection (`after_script`)."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        recording: Recording,
        result: PlaybackResult,
        *,
        match: MatchMode,
        speed: float | None,
        abort: Callable[[], None] | None = None,
        rules: MatchRules = DEFAULT_RULES,
        on_mismatch: Callable[[Mismatch], None] | None = None,
        policy: Policy = play_lockstep,
    ) -> None:
        self.ws = ws
        self.rules = rules
        self.on_mismatch = on_mismatch
        self.abort = abort
        self.recording = recording
        self.result = result
        self.match = match
        self.speed = speed
        self.policy = policy
        self.inbox: Inbox[bytes] = Inbox()
        self.errors_sent = 0
        self.aliases: dict[str, str] = {}  # live client-chosen item id -> recorded id
        # the recorded frame as the client is to send it (Live: with this connection's ids)
        self.expected: Callable[[RecordedFrame], RecordedFrame] = lambda frame: frame

    async def run(self) -> PlaybackResult:
        pacing = Pacing(self.speed)
        reader = asyncio.create_task(self._read_client())
        try:
            if await self.policy(self, pacing):
                self.result.finished = True
                await self._after_script()
        except ConnectionError:
            pass  # the client went away while frames were leaving; reported as unused below
        finally:
            if not self.ws.closed:
                await self.ws.close()
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        return self.result

    async def _read_client(self) -> None:
        async for message in self.ws:
            if message.type is aiohttp.WSMsgType.TEXT or message.type is aiohttp.WSMsgType.BINARY:
                self.inbox.put(message.data)
        self.inbox.close()

    async def send(self, frame: RecordedFrame, due_ns: int | None) -> bool:
        """Send a server frame (due_ns: when it was due, for the lateness figures); False when
        the socket is closed."""
        if self.ws.closed:
            return False
        await self.ws.send_frame(frame.data, _OPCODES[frame.opcode])
        if due_ns is not None:
            self.result.lateness_ns.append(time.monotonic_ns() - due_ns)
        self.result.server_frames_sent += 1
        return True

    async def check(self, recorded: RecordedFrame, data: bytes, index: int) -> Verdict:
        """Match one received frame against the recorded one (frames[index]); "stop" when
        playback must stop."""
        if data == recorded.data:
            self.result.client_frames_matched += 1
            return "matched"
        paths = diff_events(recorded.data, data, aliases=self.aliases, rules=self.rules)
        # ids the client chose itself stand for the recorded ones from here on
        self.aliases.update(client_item_ids(recorded.data, data))
        if not paths:
            self.result.client_frames_matched += 1
            return "matched"
        message = (
            f"{self.where()}, client frame seq {recorded.seq}: "
            + describe_mismatch(recorded.data, data, paths, self.rules)
            + self._nearest(recorded, data, index + 1)
        )
        self.record(Mismatch(
            recorded.seq, recorded.type, frame_type(data), tuple(paths), message,
            recorded.data, data,
        ))
        return "matched" if await self.reject(message, data) else "stop"

    def where(self) -> str:
        return f"session {self.recording.session_id or '(frames)'}"

    def _nearest(self, recorded: RecordedFrame, data: bytes, after: int) -> str:
        """When the received type is not the expected one: the recorded client frame, among the
        next LOOKAHEAD, that the client most likely sent out of order."""
        kind = frame_type(data)
        if kind == recorded.type:
            return ""
        wanted = (
            f for f in itertools.islice(self.recording.frames, after, None)
            if f.direction is Direction.CLIENT and (f.type not in _STREAMED or kind in _STREAMED)
        )
        ahead = [(f.seq, self.expected(f).data) for f in itertools.islice(wanted, LOOKAHEAD)]
        return order_hint(data, ahead, rules=self.rules, aliases=self.aliases)

    def record(self, mismatch: Mismatch) -> None:
        self.result.mismatches.append(mismatch)
        if self.on_mismatch is not None:  # before the client hears of it: a test sees it first
            self.on_mismatch(mismatch)

    async def unexpected(self, data: bytes) -> bool:
        """A client frame after the last recorded one: a mismatch; False when playback stops."""
        message = (
            f"{self.where()}: received client event {_quoted(frame_type(data))} after the last "
            f"recorded client frame ({self.recording.client_frames} recorded)"
        )
        self.record(Mismatch(None, None, frame_type(data), ("$",), message, None, data))
        return await self.reject(message, data)

    async def _after_script(self) -> None:
        """The recording is done: close as the server did, or wait for the client to leave."""
        if self.recording.closed_by == "server":
            code = self.recording.close_code
            if code == close.ABNORMAL and self.abort is not None:
                self.abort()  # the upstream dropped without a close frame: so does playback
                return
            reason = close.close_reason(self.recording.close_reason or "")
            await self.ws.close(code=close.sendable_or_normal(code), message=reason)
            return
        while (item := await self.inbox.get()) is not None:
            if not await self.unexpected(item[1]):
                return

    async def reject(self, message: str, data: bytes) -> bool:
        """Answer a mismatch by the match mode: True (lenient) when playback goes on."""
        if self.match == "lenient":
            log.warning("connection %d: %s (lenient: going on)", self.result.connection, message)
            return True
        log.warning("connection %d: %s (strict: closing)", self.result.connection, message)
        self.errors_sent += 1
        event = mismatch_error_event(message, data, self.errors_sent,
                                     live=self.recording.is_live)
        await self.ws.send_frame(msgspec.json.encode(event), aiohttp.WSMsgType.TEXT)
        await self.ws.close(code=MISMATCH_CLOSE_CODE, message=MISMATCH_CLOSE_REASON.encode())
        self.result.closed_on_mismatch = True
        return False

    def report_unused(self, rest: Iterable[RecordedFrame]) -> None:
        self.result.unused_client_frames.extend(
            UnusedFrame(f.seq, f.type) for f in rest if f.direction is Direction.CLIENT
        )


def mismatch_error_event(
    message: str, received: bytes, number: int = 1, *, live: bool = False
) -> dict[str, object]:
    """The `error` event strict mode sends, shaped like the API's (error.event_id echoes the
    client's event_id, as the API does for a failed client event; Live's error says
    client_event_id, LIVE.md §2d)."""
    return error_event(
        MISMATCH_ERROR_CODE, message, event_id=f"event_rtrec_mismatch_{number}",
        client_event_id=client_event_id(received), live=live,
    )


def _quoted(kind: str | None) -> str:
    return f'"{kind}"' if kind else "(a frame without a type)"


async def accept(request: web.Request) -> web.WebSocketResponse | web.Response:
    """Upgrade the request, choosing the `realtime` subprotocol when offered, as the API does.

    A plain HTTP request gets 426 and a line saying what to do.
    """
    # decode_text=False: a client's text frame is matched as the bytes it sent (a recording
    # may hold text frames that are not valid UTF-8, and so may a client replaying it)
    ws = web.WebSocketResponse(
        protocols=("realtime",), max_msg_size=0, compress=False, decode_text=False
    )
    if not ws.can_prepare(request).ok:
        return web.Response(
            status=426,
            text="rtrec serve: this is a Realtime (or Live) WebSocket endpoint; connect with a "
            "WebSocket client (e.g. websocket_base_url=ws://HOST:PORT/v1)\n",
        )
    await ws.prepare(request)
    return ws


def add_socket_routes(
    app: web.Application, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> None:
    """Route every Realtime and Live WebSocket path of the API (recorder.protocol.paths) to
    handler: a Live path with its /{session_id}/attach or /fork too."""
    for path in (*REALTIME_PATHS, *LIVE_PATHS):
        app.router.add_get(path, handler)
    for path in LIVE_PATHS:
        app.router.add_get(path + "/{session_id}/{action}", handler)


def wrong_api(request: web.Request, recording: Recording) -> web.Response | None:
    """HTTP 404 and a line saying where to connect, for a handshake on the other API's path
    than the recording's (a Realtime client to a Live session, or the other way round)."""
    if recording.is_live and split_live_path(request.path) is not None:
        return None
    if not recording.is_live and split_realtime_path(request.path) is not None:
        return None
    session = recording.session_id or "(frames)"
    if recording.is_live:
        why = f"session {session} is a Live session: connect a Live client (/v1/live/sessions)"
    else:
        why = f"session {session} is a Realtime session: connect a Realtime client (/v1/realtime)"
    log.warning("refused a connection to %s: %s", request.path, why)
    return web.Response(status=404, text=f"rtrec serve: {why}\n")


async def play(
    ws: web.WebSocketResponse,
    recording: Recording,
    *,
    match: MatchMode = "strict",
    speed: float | None = None,
    connection: int = 1,
    request: web.Request | None = None,
    rules: MatchRules = DEFAULT_RULES,
    on_mismatch: Callable[[Mismatch], None] | None = None,
) -> PlaybackResult:
    """Play `recording` to the client on a prepared socket; returns when the connection ends.

    With the request, a recording that ended in a dropped connection (closed by the server with
    1006, no close frame) ends in a dropped connection too, for testing a client's reconnects.
    """
    result = PlaybackResult(connection=connection, session_id=recording.session_id)
    log.info(
        "connection %d: playing session %s (%d server frames, %d client frames)",
        connection,
        recording.session_id or "(frames)",
        recording.server_frames,
        recording.client_frames,
    )
    transport = request.transport if request is not None else None
    abort = transport.abort if transport is not None else None
    policy: Policy = play_lockstep
    if recording.is_live:
        from recorder.live.playback import LivePlayback

        live = split_live_path(request.path) if request is not None else None
        observed = live.session_id if live is not None and live.kind == "attach" else None
        policy = LivePlayback(recording.live_plan, observed)  # a fork's session is new
    await Playback(
        ws, recording, result, match=match, speed=speed, abort=abort, rules=rules,
        on_mismatch=on_mismatch, policy=policy,
    ).run()
    log_result(result)
    return result


def log_result(result: PlaybackResult) -> None:
    session = result.session_id or "(frames)"
    if result.unused_client_frames:
        listed = ", ".join(
            f"seq {f.seq} {f.type or '(untyped)'}" for f in result.unused_client_frames[:10]
        )
        more = len(result.unused_client_frames) - 10
        log.warning(
            "connection %d: session %s: %d recorded client frame(s) not used: %s%s",
            result.connection,
            session,
            len(result.unused_client_frames),
            listed,
            f" and {more} more" if more > 0 else "",
        )
    log.info(
        "connection %d: ended: %d server frames sent, %d client frames matched, %d mismatches",
        result.connection,
        result.server_frames_sent,
        result.client_frames_matched,
        len(result.mismatches),
    )


class ReplayServer:
    """An aiohttp server that plays one recording to every connection.

    async with ReplayServer(recording) as server:
        client = AsyncOpenAI(api_key="test", websocket_base_url=server.url)
        ...
        result = await server.next_result()
    """

    def __init__(
        self,
        recording: Recording,
        *,
        match: MatchMode = "strict",
        speed: float | None = None,
        token: str | None = None,
        rules: MatchRules = DEFAULT_RULES,
    ) -> None:
        if match not in MATCH_MODES:
            raise RtrecError(f"--match {match!r} is not valid: use strict or lenient")
        self.recording = recording
        self.rules = rules
        self.token = token
        self.match: MatchMode = match
        self.speed = speed
        self.results: list[PlaybackResult] = []
        self._finished: asyncio.Queue[PlaybackResult] = asyncio.Queue()
        self._connections = 0
        self._server: LocalServer | None = None
        self.host = "127.0.0.1"
        self.port = 0

    def app(self) -> web.Application:
        app = web.Application()
        add_socket_routes(app, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        refused = refusal(request, self.token)  # recordings hold people's voices
        if refused is not None:
            why, answer = refused
            log.warning("refused a connection: %s", why)
            return answer
        wrong = wrong_api(request, self.recording)
        if wrong is not None:
            return wrong
        ws = await accept(request)
        if not isinstance(ws, web.WebSocketResponse):
            return ws
        self._connections += 1
        assert self._server is not None  # a connection arrives only once started
        with self._server.track(ws):  # close() ends it with 1001 and waits for its report
            result = await play(
                ws,
                self.recording,
                match=self.match,
                speed=self.speed,
                connection=self._connections,
                request=request,
                rules=self.rules,
            )
        self.results.append(result)
        self._finished.put_nowait(result)
        return ws

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        check_exposure(host, self.token)  # recordings hold people's voices
        if self.recording.is_live:
            _ = self.recording.live_plan  # worked out before any client waits on it
        self._server = server = LocalServer(self.app(), host, port, shutdown_timeout=STOP_TIMEOUT)
        try:
            await server.start()
        except OSError as error:
            self._server = None
            raise CannotListen(
                f"cannot listen on {host}:{port} ({error.strerror}): choose another --listen"
            ) from error
        self.host, self.port = host, server.port

    @property
    def url(self) -> str:
        """The value for the OpenAI SDKs' websocket_base_url (they append /realtime)."""
        return f"ws://{connect_host(self.host)}:{self.port}/v1"

    async def next_result(self, timeout: float = 30.0) -> PlaybackResult:
        """The result of the next connection to end (in the order they end)."""
        return await asyncio.wait_for(self._finished.get(), timeout)

    async def close(self) -> None:
        """Stop listening, close open connections (1001, each one's report logged)."""
        server, self._server = self._server, None
        if server is not None:
            await server.close(STOPPING_CLOSE_REASON.encode(), STOPPING_CLOSE_CODE)

    async def __aenter__(self) -> ReplayServer:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


@contextlib.asynccontextmanager
async def serving(
    recording: Recording,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    match: MatchMode = "strict",
    speed: float | None = None,
    token: str | None = None,
    rules: MatchRules = DEFAULT_RULES,
) -> AsyncIterator[ReplayServer]:
    """A started ReplayServer for the duration of the block."""
    server = ReplayServer(recording, match=match, speed=speed, token=token, rules=rules)
    await server.start(host, port)
    try:
        yield server
    finally:
        await server.close()


async def serve(
    db: str,
    *,
    session_id: str | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    match: MatchMode = "strict",
    speed: float | None = None,
    token: str | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[ReplayServer], object] | None = None,
    rules: MatchRules = DEFAULT_RULES,
) -> list[PlaybackResult]:
    """`rtrec serve`: load the session once, serve it until SIGINT/SIGTERM (or `stop`)."""
    from recorder.store import open_log

    check_exposure(host, token)  # before any work, as a flag error should be
    if "://" not in db and not Path(db).exists():
        raise NotAnEventLog(f"{db} does not exist: give the database you recorded into")
    event_log = await open_log(db)
    try:
        recording = await load_recording(event_log, session_id)
    finally:
        await event_log.close()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with serving(
            recording, host=host, port=port, match=match, speed=speed, token=token, rules=rules
        ) as server:
            if on_ready is not None:
                on_ready(server)
            await stop.wait()
        return server.results
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
