"""The recording proxy: client socket <-> rtrec <-> upstream socket, every frame into the log.

One aiohttp server accepts Realtime and Live WebSocket handshakes on the APIs' own paths
(recorder.protocol.paths; a Live path goes to the Live path beside the --upstream), connects
upstream FIRST (so a refusal reaches the client as the same HTTP answer), then upgrades the
client and runs two pumps per session. A pump receives a frame, sends it on, and only then
hands a copy to the log (EventLog.append is synchronous and queued: forwarding never waits for
the disk). Per frame the hot path does: one receive, one send, a monotonic clock read, a few
substring searches for secrets, one append.

Stored frames are the wire frames byte for byte, except that secret strings (the handshake's
API key, client_secret values) are replaced by recorder.redact.REDACTED before the append,
and the frame says how it was redacted (Frame.redaction; the log keeps it).
Requests that are not Realtime WebSockets (REST calls of an SDK whose base URL points here) are
passed to the upstream origin unrecorded (recorder.upstream).

Session status in the log:
  complete     the socket closed with a close handshake and code 1000/1001, or no code (stored
               as 1005) (either side)
  interrupted  a socket dropped without a close frame, closed with an error code, or rtrec
               itself was stopped while the session was open (closed_by "proxy")
  incomplete   frames of the session could not be kept (the store was down past the memory
               buffer, or a frame did not fit in it): the call went on, the log's gaps say
               which frames are missing

The log's store may fail and come back (a restarted database, a lock, a full disk): the log
keeps frames in memory meanwhile and says so (Notice, printed by the console once per outage
and once on recovery); a session that opens during an outage gets its row as soon as the store
answers, its first frames waiting in memory (up to _PENDING_BYTES) until then. GET
/rtrec/status (same token and origin rules as the proxy) shows the recorder's health as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

import aiohttp
from aiohttp import WSMsgType, web
from multidict import CIMultiDictProxy, MultiDict
from yarl import URL

from recorder.access import TOKEN_HEADER, TOKEN_QUERY, check_exposure, refusal
from recorder.console import Console
from recorder.decode import decode, protocol_of
from recorder.errors import CannotListen, RtrecError
from recorder.localserver import LocalServer
from recorder.protocol import close, live
from recorder.protocol.paths import (
    LIVE_PATH,
    LIVE_PATHS,
    REALTIME_PATHS,
    LivePath,
    split_live_path,
)
from recorder.redact import FrameRedactor, redact_url, secrets_in_handshake
from recorder.upstream import (
    forward_http,
    handshake_headers,
    keeping_refusal_body,
    offered_protocols,
    refusal_response,
    request_headers,
    secret_query_values,
    trace_refusal_bodies,
    upstream_url,
)
from recorder.wire import Direction, Frame, Opcode

if TYPE_CHECKING:
    from recorder.stats.sender import TraceSender
    from recorder.store.codec import SplitFrame
    from recorder.store.writer import Notice

    ClientSocket = web.WebSocketResponse[Literal[False]]
    UpstreamSocket = aiohttp.ClientWebSocketResponse[Literal[False]]
    Socket = ClientSocket | UpstreamSocket

DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"
DEFAULT_LISTEN = "127.0.0.1:8765"

NO_STATUS_CODE = close.NO_STATUS


class RecordingLog(Protocol):
    """What the proxy needs from recorder.store.EventLog."""

    @property
    def failure(self) -> Exception | None: ...

    async def begin_session(
        self, protocol: str | None, model: str | None, endpoint: str | None
    ) -> str: ...

    def update_session(
        self, sid: str, *, protocol: str | None = None, model: str | None = None,
        upstream_id: str | None = None, connection: str | None = None,
        parent_id: str | None = None,
    ) -> None: ...

    def append(self, sid: str, frame: Frame | SplitFrame) -> None: ...

    def skip(
        self, sid: str, frames: int, first_t_ns: int, last_t_ns: int, reason: str
    ) -> None: ...

    async def end_session(
        self,
        sid: str,
        *,
        status: str = "complete",
        close_code: int | None = None,
        close_reason: str | None = None,
        closed_by: str | None = None,
    ) -> str | None: ...


class SessionEndListener(Protocol):
    """Told of each recorded session as it ends (recorder.stats.sender.TraceSender): must not
    wait or do I/O in session_ended (it runs on the session's task); health() joins the
    status endpoint's answer."""

    def session_ended(self, sid: str) -> None: ...

    def health(self) -> dict[str, Any]: ...


# A session that opens while the store is down keeps its first frames in memory up to this,
# and retries opening its row for _BEGIN_GRACE seconds after the call ended.
_PENDING_BYTES = 8 * 2**20
_BEGIN_GRACE = 10.0
# The console's "opened" line waits this long at most for session.created to name the protocol
# and model the handshake did not (it leads the server's frames, so it is normally there at once).
_OPENED_WAIT = 1.0
STATUS_PATH = "/rtrec/status"


@dataclass
class ProxyConfig:
    upstream: str = DEFAULT_UPSTREAM
    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    api_key: str | None = None  # used when the client brings no credential of its own
    verbose: bool = False
    server_ssl: Any = None  # ssl.SSLContext to serve wss://
    upstream_ssl: Any = True  # ssl.SSLContext | bool for the upstream connection


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[::1]:PORT') -> (host, port); RtrecError naming --listen otherwise."""
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit():
        raise RtrecError(f"--listen {value!r} is not HOST:PORT: give e.g. 127.0.0.1:8765")
    if int(port_text) > 65535:
        raise RtrecError(
            f"--listen {value!r}: port {int(port_text)} is out of range: give 1-65535, "
            "or 0 for any free port"
        )
    return host, int(port_text)


def check_upstream(url: str) -> str:
    """The --upstream value, if it is a WebSocket URL rtrec can connect to."""
    try:
        parsed = URL(url)
        parsed.port  # noqa: B018  (yarl checks the port only when asked for it)
    except ValueError:
        # Not echoed, not even redacted: a URL too broken to parse cannot be redacted reliably.
        # Nor kept as the cause: the parser's message holds the URL (and any key in it).
        raise RtrecError(
            "--upstream is not a valid URL (check the host, brackets and port): "
            f"give e.g. {DEFAULT_UPSTREAM}"
        ) from None
    if parsed.scheme not in ("ws", "wss", "http", "https") or not parsed.host:
        raise RtrecError(
            f"--upstream {redact_url(url)!r} is not a ws:// or wss:// URL: "
            f"give e.g. {DEFAULT_UPSTREAM}"
        )
    return url


def protocol_from_handshake(headers: CIMultiDictProxy[str], protocols: Iterable[str]) -> str | None:
    """'beta' when the handshake says so; None means: decide from the first session.created."""
    beta_header = "realtime=v1" in headers.get("OpenAI-Beta", "").replace(" ", "")
    if beta_header or "openai-beta.realtime-v1" in protocols:
        return "beta"
    return None


_SESSION_CREATED = frozenset({"session.created", "transcription_session.created"})


def protocol_from_session_created(data: bytes) -> str | None:
    """'ga' | 'beta' from a session.created frame (recorder.decode.protocol_of); else None."""
    event = decode(data)
    if getattr(event, "type", None) not in _SESSION_CREATED:
        return None
    return protocol_of(event)


def _model_from_session_created(data: bytes) -> str | None:
    model = getattr(getattr(decode(data), "session", None), "model", None)
    return model if isinstance(model, str) else None


@dataclass
class _End:
    """How one side of a session ended."""

    side: str  # "client" | "server" | "proxy"
    code: int | None
    reason: str
    clean: bool  # a close frame arrived (False: the socket dropped)


@dataclass
class _Session:
    key: int
    sid: str | None
    model: str | None
    protocol: str | None
    client: ClientSocket
    upstream: UpstreamSocket
    request: web.Request
    redact: FrameRedactor
    started_ns: int = field(default_factory=time.monotonic_ns)
    counts: dict[Direction, int] = field(
        default_factory=lambda: {Direction.CLIENT: 0, Direction.SERVER: 0}
    )
    pending: list[Frame] | None = field(default_factory=list)  # until the log gives an id
    pending_bytes: int = 0
    # frames that passed while the log gave no id and pending was full: count, first/last t
    pending_lost: list[int] = field(default_factory=lambda: [0, 0, 0])
    pumps_done: float | None = None  # monotonic time both pumps ended
    stopping: bool = False
    log_failed: bool = False  # not wholly recorded (no row, a frame failed, shed): incomplete
    # the server's first frames are read for protocol and model (the handshake did not say)
    watching: bool = True
    # A Live session (the path said so): its kind, and the session the path names. The
    # client's first frame is read too (session.start: the model, and the protocol confirmed).
    live: LivePath | None = None
    watching_client: bool = False
    # upstream_id, connection, parent_id as learnt: given to log.update_session
    links: dict[str, str] = field(default_factory=dict)
    announced: bool = False  # the console's "opened" line is out
    announce_timer: asyncio.TimerHandle | None = None

    @property
    def label(self) -> str:
        """How the console names the session before (and besides) its log id."""
        return f"#{self.key + 1}"


class RecordingProxy:
    """The aiohttp application that forwards and records Realtime sessions.

    log=None forwards without recording (a dry run). Start with `await start()`, stop with
    `await close()`: that closes the open sessions (code 1001), waits for their pumps and
    returns; closing the log is the caller's.
    """

    def __init__(
        self,
        log: RecordingLog | None,
        config: ProxyConfig,
        console: Console | None = None,
    ) -> None:
        check_exposure(config.host, config.token)
        check_upstream(config.upstream)
        self.log = log
        self.config = config
        self.console = console or Console()
        self._sessions: dict[int, _Session] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._next_key = 0
        self._client: aiohttp.ClientSession | None = None
        self._server: LocalServer | None = None
        self._endpoint = redact_url(config.upstream)
        self._closing = False
        self.frames_unrecorded = 0  # lost outside any stored gap (e.g. a session without a row)
        self.sessions_unrecorded = 0
        self.listener: SessionEndListener | None = None  # e.g. rtrec record --otlp's traces

    # -- lifecycle ------------------------------------------------------------------------

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_get(STATUS_PATH, self._status)
        for path in (*REALTIME_PATHS, *LIVE_PATHS):
            app.router.add_get(path, self.handle)
            app.router.add_get(path + "/{rest:.*}", self.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle_http)  # REST calls: passed on
        return app

    async def start(self) -> str:
        """Listen; returns the base URL clients use (ws://host:port or wss://...)."""
        self._client = aiohttp.ClientSession(
            trace_configs=[trace_refusal_bodies()],
            connector=aiohttp.TCPConnector(limit=0, force_close=True),
            timeout=aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30),
        )
        self._server = LocalServer(
            self.application(), self.config.host, self.config.port,
            ssl_context=self.config.server_ssl, shutdown_timeout=60.0,
        )
        try:
            await self._server.start()
        except OSError as error:
            self._server = None
            await self._client.close()
            raise CannotListen(
                f"cannot listen on {self.config.host}:{self.config.port} ({error.strerror}): "
                "pick another --listen HOST:PORT (port 0 picks a free one)"
            ) from error
        return self.base_url

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return self._server.url()

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    async def close(self) -> None:
        """Close every open session (1001, closed_by proxy), wait for them, stop listening."""
        self._closing = True
        if self._server is not None:
            await self._server.stop_listening()
        await asyncio.gather(*(_stop(session) for session in list(self._sessions.values())))
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=10)
        if self._server is not None:
            await self._server.close()
        if self._client is not None:
            await self._client.close()

    def report_log_failure(self, error: BaseException) -> None:
        """on_failure for the log: it calls this once as each outage begins."""
        self.console.log_paused(error)

    def report_log_notice(self, notice: Notice) -> None:
        """on_notice for the log: each outage once, its end once, frames dropped into gaps."""
        if notice.kind == "paused" and notice.error is not None:
            self.console.log_paused(notice.error)
        elif notice.kind == "dropping" and notice.error is not None:
            self.console.log_dropping(notice.error)
        elif notice.kind == "journaling" and notice.error is not None:
            self.console.log_journaling(notice.error)
        elif notice.kind == "resumed":
            self.console.log_resumed(notice.seconds, notice.lost)
        elif notice.kind == "gave_up":
            self.console.log_gave_up(notice.seconds, notice.lost, notice.error)

    def health(self) -> dict[str, Any]:
        """What GET /rtrec/status answers: the log's health and the proxy's own counts."""
        log_health = getattr(self.log, "health", None)
        return {
            "recording": self.log is not None,
            "sessions_open": len(self._sessions),
            "sessions_unrecorded": self.sessions_unrecorded,
            "frames_unrecorded": self.frames_unrecorded,
            **(log_health() if callable(log_health) else {}),
            **(self.listener.health() if self.listener is not None else {}),
        }

    async def _status(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._refusal(request)) is not None:
            return refused
        return web.json_response(self.health())

    def report_shed(self, record: Any) -> None:
        """on_shed for the log (a recorder.store.writer.ShedRecord): say which session."""
        for session in self._sessions.values():
            if session.sid is not None and session.sid == record.sid:
                session.log_failed = True
                self.console.recording_shed(session.label, session.sid, record.reason)
                return
        self.console.recording_shed("", record.sid, record.reason)

    # -- one session ----------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Serve one request: a Realtime WebSocket (recorded) or plain HTTP (passed on).

        For embedding the proxy in another aiohttp app (start() still opens the upstream
        client session; close() still ends the sessions this served).
        """
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            return await self._serve(request)
        finally:
            if task is not None:
                self._tasks.discard(task)

    _handle = handle  # the name recorder.cassette uses

    async def _handle_http(self, request: web.Request) -> web.StreamResponse:
        """Anything that is not a Realtime WebSocket goes to the upstream, unrecorded."""
        if (refused := self._refusal(request)) is not None:
            return refused
        assert self._client is not None
        headers = request_headers(request.headers, self.config.api_key)
        query = [(k, v) for k, v in request.query.items() if k != TOKEN_QUERY]
        return await forward_http(
            self._client, request, self.config.upstream, headers, query, self.config.upstream_ssl
        )

    def _refusal(self, request: web.Request) -> web.Response | None:
        """None when the request may pass; else the answer refusing it (see access.refusal)."""
        refused = refusal(request, self.config.token)
        if refused is None:
            return None
        why, answer = refused
        self.console.rejected(why)
        return answer

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return await self._handle_http(request)
        if (refused := self._refusal(request)) is not None:
            return refused
        assert self._client is not None
        protocols = offered_protocols(request.headers)
        headers = handshake_headers(request.headers, protocols, self.config.api_key)
        url = upstream_url(self.config.upstream, request.path, request.query)
        try:
            with keeping_refusal_body() as refusal_body:
                upstream = await self._client.ws_connect(
                    url,
                    protocols=protocols,
                    headers=headers,
                    max_msg_size=0,
                    decode_text=False,
                    autoping=True,
                    compress=0,
                    ssl=self.config.upstream_ssl,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5),
                )
        except aiohttp.WSServerHandshakeError as refusal:
            self.console.refused(refusal.status, self._endpoint)
            return refusal_response(refusal, refusal_body.get("body", b""))
        except (TimeoutError, aiohttp.ClientError, OSError) as error:
            self.console.unreachable(self._endpoint, type(error).__name__)
            return web.Response(status=502, text="rtrec: upstream unreachable\n")
        if self._closing:  # rtrec began stopping while the upstream answered
            await _close_quietly(upstream, 1001, "rtrec is stopping")
            return web.Response(status=503, text="rtrec is stopping\n")

        client: ClientSocket = web.WebSocketResponse(
            protocols=(upstream.protocol,) if upstream.protocol else (),
            max_msg_size=0,
            decode_text=False,
            autoping=True,
            compress=False,
        )
        try:
            await client.prepare(request)
        except (ConnectionError, RuntimeError):
            await _close_quietly(upstream, 1001, "client went away")
            return client

        model = request.query.get("model") or request.query.get("deployment")
        protocol = protocol_from_handshake(request.headers, protocols)
        live_path = split_live_path(request.path)
        links: dict[str, str] = {}
        if live_path is not None:  # Live: the path says so; the model is in session.start
            protocol = live.PROTOCOL
            links["connection"] = live_path.kind
            if live_path.session_id is not None:
                links["parent_id"] = live_path.session_id
        session = _Session(
            key=self._next_key,
            sid=None,
            model=model,
            protocol=protocol,
            client=client,
            upstream=upstream,
            request=request,
            redact=FrameRedactor(
                secrets_in_handshake(request.headers, protocols, self.config.api_key)
                | secret_query_values(request.query)
            ),
            watching=protocol is None or model is None or live_path is not None,
            live=live_path,
            watching_client=live_path is not None and live_path.kind != "attach",
            links=links,
        )
        self._next_key += 1
        self._sessions[session.key] = session
        stopping = None
        if self._closing:  # close() began during the client's handshake and missed this one
            stopping = asyncio.ensure_future(_stop(session))
        try:
            end = await self._run_pumps(session)
            if stopping is not None:
                await stopping
            await self._finish(session, end)
        finally:
            del self._sessions[session.key]
        return client

    async def _begin(self, session: _Session) -> None:
        """Open the session in the log while the pumps already run (forward first).

        Frames that pass before the log answers wait in session.pending and are appended, in
        order, the moment the session id is known. A store that is down (the log reports
        that) is retried with backoff while the call runs and _BEGIN_GRACE seconds after.
        """
        log = self.log
        if log is not None:
            recorded = (session.protocol, session.model)
            sid = await self._open_row(log, session)
            if sid is not None:
                session.sid = sid  # first: a frame shed below names its session (report_shed)
                append = log.append
                for frame in session.pending or ():
                    try:
                        append(sid, frame)
                    except Exception as error:  # a frame can only fail itself
                        self._frame_not_recorded(session, error, frame.t_ns, sid)
                lost, first_t, last_t = session.pending_lost
                if lost:
                    log.skip(sid, lost, first_t, last_t, "store down, session not opened yet")
                if (session.protocol, session.model) != recorded:  # learnt meanwhile
                    log.update_session(sid, protocol=session.protocol, model=session.model)
                if session.links:  # the path's (the row is opened without them), or learnt
                    log.update_session(
                        sid, upstream_id=session.links.get("upstream_id"),
                        connection=session.links.get("connection"),
                        parent_id=session.links.get("parent_id"),
                    )
            else:  # the call went on unrecorded
                session.log_failed = True
                self.sessions_unrecorded += 1
                self.frames_unrecorded += len(session.pending or ()) + session.pending_lost[0]
        session.pending = None
        if session.watching:  # session.created is due: the "opened" line waits for it, a while
            session.announce_timer = asyncio.get_running_loop().call_later(
                _OPENED_WAIT, self._announce, session, True
            )
        self._announce(session)

    def _announce(self, session: _Session, final: bool = False) -> None:
        """The console's "opened" line, once the log has answered and the protocol and model
        are known (from the handshake or session.created); final: now, with what is known."""
        if session.announced or session.pending is not None or (session.watching and not final):
            return
        session.announced = True
        if session.announce_timer is not None:
            session.announce_timer.cancel()
        self.console.session_opened(
            session.label, session.sid, model=session.model, protocol=session.protocol,
            link=live.link_words(session.links.get("upstream_id"),
                                 session.links.get("connection"),
                                 session.links.get("parent_id")),
        )

    async def _open_row(self, log: RecordingLog, session: _Session) -> str | None:
        """begin_session, retried through an outage; None once the session is given up."""
        delay = 0.05
        while True:
            try:
                return await log.begin_session(session.protocol, session.model, self._endpoint)
            except Exception:  # the log reported the outage; the call goes on
                done = session.pumps_done
                if done is not None and (
                    self._closing or time.monotonic() - done > _BEGIN_GRACE
                ):
                    return None
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    async def _run_pumps(self, session: _Session) -> _End:
        begin = asyncio.ensure_future(self._begin(session))
        to_upstream = asyncio.ensure_future(
            self._pump(session, session.client, session.upstream, Direction.CLIENT)
        )
        to_client = asyncio.ensure_future(
            self._pump(session, session.upstream, session.client, Direction.SERVER)
        )
        done, _ = await asyncio.wait((to_upstream, to_client), return_when=asyncio.FIRST_COMPLETED)
        first = to_upstream if to_upstream in done else to_client
        other = to_client if first is to_upstream else to_upstream
        end = first.result()
        if session.stopping:
            end = _End("proxy", 1001, "rtrec is stopping", clean=True)
        elif first is to_client:  # the upstream ended: the client gets the same ending
            await _pass_on_end(end, session.client, session.request)
        else:  # the client ended: close the upstream
            await _pass_on_end(end, session.upstream, None)
        try:
            await asyncio.wait_for(other, timeout=10)
        except (TimeoutError, Exception):
            other.cancel()
        session.pumps_done = time.monotonic()
        await begin  # end_session needs the id; frames still pending go in first
        self._announce(session, final=True)  # a session that ended before session.created
        return end

    async def _pump(
        self,
        session: _Session,
        source: Socket,
        sink: Socket,
        direction: Direction,
    ) -> _End:
        side = "client" if direction is Direction.CLIENT else "server"
        log = self.log
        append: Callable[[str, Frame | SplitFrame], None] | None = log.append if log else None
        redactor = session.redact
        redact = redactor.redact  # the frame redacted, and how (the log keeps both)
        if append is not None:  # the store's, imported with it (a dry run has none)
            from recorder.store.codec import split_frame
        counts = session.counts
        started = session.started_ns
        verbose = self.config.verbose
        watch_protocol = direction is Direction.SERVER and session.watching
        watch_client = direction is Direction.CLIENT and session.watching_client
        # Enum members as locals: looking one up on its class costs ~25 ns, twice per frame.
        text, binary, opcode_text, opcode_binary = (
            WSMsgType.TEXT, WSMsgType.BINARY, Opcode.TEXT, Opcode.BINARY
        )
        monotonic_ns = time.monotonic_ns
        receive, send_frame = source.receive, sink.send_frame
        while True:
            message = await receive()
            t_ns = monotonic_ns() - started
            kind = message.type
            if kind is text or kind is binary:
                data: bytes = message.data
                opcode = opcode_text if kind is text else opcode_binary
                try:  # noqa: SIM105  (try is free on the hot path, suppress() is not)
                    await send_frame(data, kind)
                except (ConnectionError, RuntimeError):
                    pass  # the other side is gone; its pump reports how, the frame is kept
                counts[direction] += 1
                # Recording work never reaches the pump: a frame can only fail itself.
                if append is not None:
                    try:
                        if session.sid is not None:
                            # an audio event is split for the log now, while it is hot, once
                            split = split_frame(redactor, direction, t_ns, data) if (
                                opcode is opcode_text) else None
                            append(session.sid, split if split is not None else
                                   Frame(direction, t_ns, opcode, *redact(data)))
                        elif session.pending is not None:  # the log has not answered yet
                            self._hold(session, Frame(direction, t_ns, opcode, *redact(data)))
                    except Exception as error:
                        self._frame_not_recorded(session, error, t_ns, session.sid)
                if watch_protocol:  # only the first few server frames: session.created leads
                    try:
                        watch_protocol = counts[direction] < 10 and self._learn_session(
                            session, data
                        )
                    except Exception:  # the session's protocol stays unknown; recording goes on
                        watch_protocol = False
                    if not watch_protocol:
                        session.watching = False
                        self._announce(session)
                if watch_client:  # a Live client's first frame: session.start
                    watch_client = session.watching_client = False
                    with contextlib.suppress(Exception):  # recording goes on regardless
                        self._learn_live_start(session, data)
                if verbose:
                    if opcode is Opcode.TEXT:
                        self.console.event(session.label, direction.value, data)
                    else:
                        self.console.binary(session.label, direction.value, len(data))
            elif kind is WSMsgType.CLOSE:
                # aiohttp gives 0 for an empty close payload
                code = message.data or NO_STATUS_CODE
                return _End(side, code, message.extra or "", clean=True)
            elif kind is WSMsgType.CLOSING or kind is WSMsgType.CLOSED:
                code = source.close_code
                if code == 0:
                    code = NO_STATUS_CODE
                return _End(side, code, "", clean=code is not None and code != close.ABNORMAL)
            elif kind is WSMsgType.ERROR:
                return _End(side, close.ABNORMAL, "", clean=False)

    @staticmethod
    def _hold(session: _Session, frame: Frame) -> None:
        """Keep a frame until the log gives the session an id; past _PENDING_BYTES, count it
        as lost (it becomes the session's first gap once the id comes)."""
        assert session.pending is not None
        lost = session.pending_lost
        if not lost[0] and session.pending_bytes + len(frame.data) <= _PENDING_BYTES:
            session.pending.append(frame)
            session.pending_bytes += len(frame.data)
            return
        if not lost[0]:
            lost[1] = frame.t_ns
        lost[0] += 1
        lost[2] = frame.t_ns

    def _frame_not_recorded(
        self, session: _Session, error: Exception, t_ns: int, sid: str | None
    ) -> None:
        """One frame could not be appended: the call goes on, the frame is a gap of its session
        (so the session reads incomplete and rtrec record's exit code counts it)."""
        if not session.log_failed:
            self.console.frame_not_recorded(session.label, error)
        session.log_failed = True
        if self.log is not None and sid is not None:
            try:
                self.log.skip(sid, 1, t_ns, t_ns, f"not recorded: {type(error).__name__}")
                return
            except Exception:  # the log refused even that: counted below instead
                pass
        self.frames_unrecorded += 1

    def _learn_session(self, session: _Session, data: bytes) -> bool:
        """From the first server frame: protocol and model when the handshake did not say."""
        if session.live is not None:
            return self._learn_live_started(session, data)
        if b"session.created" not in data[:200]:
            return True  # keep watching until session.created
        protocol = session.protocol or protocol_from_session_created(data)
        model = session.model or _model_from_session_created(data)
        if (protocol, model) != (session.protocol, session.model):
            session.protocol, session.model = protocol, model
            if self.log is not None and session.sid is not None:
                self.log.update_session(session.sid, protocol=protocol, model=model)
        return False

    def _learn_live_start(self, session: _Session, data: bytes) -> None:
        """A Live client's first frame: session.start confirms the protocol and names the
        model; anything else is said once on the console (the frame goes on: the API
        answers it with an error)."""
        facts = live.facts_of(data)
        if facts.type != live.START:
            self.console.live_without_start(session.label, facts.type)
            return
        if facts.model is not None and session.model is None:
            self._learnt(session, model=facts.model)

    def _learn_live_started(self, session: _Session, data: bytes) -> bool:
        """A Live server frame: session.started gives the session's own id (and the model a
        sideband's client never names). True: keep watching."""
        facts = live.facts_of(data)
        if facts.type != live.STARTED:
            return True
        if facts.session_id is not None:
            self._learnt(session, upstream_id=facts.session_id)
        if facts.model is not None and session.model is None:
            self._learnt(session, model=facts.model)
        return False

    def _learnt(self, session: _Session, *, model: str | None = None,
                upstream_id: str | None = None) -> None:
        """Keep what was learnt of a session, and give it to the log once it has a row (before
        that, _begin gives it)."""
        if model is not None:
            session.model = model
        if upstream_id is not None:
            session.links["upstream_id"] = upstream_id
        if self.log is not None and session.sid is not None:
            if model is not None:
                self.log.update_session(session.sid, model=model)
            if upstream_id is not None:
                self.log.update_session(session.sid, upstream_id=upstream_id)

    async def _finish(self, session: _Session, end: _End) -> None:
        if session.log_failed:
            status = "incomplete"
        elif end.clean and end.code in close.CLEAN and end.side != "proxy":
            status = "complete"
        else:
            status = "interrupted"
        if self.log is not None and session.sid is not None:
            try:
                stored = await self.log.end_session(
                    session.sid,
                    status=status,
                    close_code=end.code,
                    # a reason is free text from either side: it may quote a secret too
                    close_reason=_redacted_text(session.redact, end.reason) or None,
                    closed_by=end.side,
                )
            except Exception as error:
                self.report_log_failure(error)
            else:
                status = stored or status  # 'incomplete' when frames of it were lost
                if self.listener is not None:
                    try:
                        self.listener.session_ended(session.sid)
                    except Exception as error:  # a listener never costs the session its end
                        self.console.listener_failed(session.label, error)
        self.console.session_closed(
            session.label,
            session.sid,
            model=session.model,
            seconds=(time.monotonic_ns() - session.started_ns) / 1e9,
            client_frames=session.counts[Direction.CLIENT],
            server_frames=session.counts[Direction.SERVER],
            status=status,
            close_code=end.code,
            closed_by=end.side,
        )


async def _stop(session: _Session) -> None:
    """End a session because rtrec is stopping: 1001 to both sides."""
    session.stopping = True
    await asyncio.gather(
        _close_quietly(session.client, 1001, "rtrec is stopping"),
        _close_quietly(session.upstream, 1001, "rtrec is stopping"),
    )


def _redacted_text(redact: FrameRedactor, text: str) -> str:
    return redact(text.encode()).decode("utf-8", errors="replace")


async def _pass_on_end(
    end: _End,
    sink: Socket,
    request: web.Request | None,
) -> None:
    """Give the other side the same ending: the same close code and reason, or a drop."""
    if end.clean:  # a close frame without a code (1005): the nearest thing is a normal close
        await _close_quietly(sink, close.sendable_or_normal(end.code), end.reason)
    elif request is not None and request.transport is not None:
        request.transport.abort()  # the client sees the same abnormal closure (1006)
    else:
        await _close_quietly(sink, 1001, "client went away")


async def _close_quietly(
    ws: Socket, code: int, reason: str
) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
        await ws.close(code=code, message=close.close_reason(reason))


def env_api_key() -> str | None:
    return os.environ.get("OPENAI_API_KEY") or None


async def record(
    db: str,
    config: ProxyConfig,
    console: Console | None = None,
    *,
    stop: asyncio.Event | None = None,
    ca_file: str | None = None,
    buffer_bytes: int = 64 * 2**20,
    journal: str | None = None,
    journal_bytes: int = 1024 * 2**20,
    figures: str | None = None,
    traces: TraceSender | None = None,
) -> int:
    """`rtrec record`: open the log, serve until SIGINT/SIGTERM (or `stop`), close, flush.

    figures: "module:function" of the fold that computes each session's turn figures once its
    end is stored, in the recorder's one worker process (recorder.stats.worker); None: they
    are computed on first use. traces: each ended session's trace is sent by it (rtrec
    record --otlp), off the pumps; with figures, encoded by that same worker from the same
    figures (one fold per session).
    Returns the number of frames that passed but were not recorded (0: every frame is stored).
    """
    from recorder.store import open_log

    console = console or Console()
    proxy = RecordingProxy(None, config, console)
    log = await open_log(
        db, on_notice=proxy.report_log_notice, on_shed=proxy.report_shed,
        max_queue_bytes=buffer_bytes, live=True, journal=journal, journal_bytes=journal_bytes,
        figures=figures, traces=traces if figures is not None else None,
    )
    proxy.log = log
    if traces is not None:
        traces.start(db)  # it sends what the figures worker encodes (or computes it itself)
        if figures is None:
            proxy.listener = traces
    watch = asyncio.ensure_future(_watch_health(proxy, console))
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        base_url = await proxy.start()
        console.started(
            # log.display: the URL without its password (the banner lands in terminals, CI logs)
            listen_url=base_url, upstream=redact_url(config.upstream), db=log.display,
            ca_file=ca_file, live_upstream=redact_url(str(upstream_url(
                config.upstream, LIVE_PATH, MultiDict()))),
        )
        if config.token:
            console.token_note(TOKEN_HEADER, TOKEN_QUERY)
        if traces is not None:
            console.traces_note(traces.target.display)
        console.status_note(base_url.replace("ws", "http", 1) + STATUS_PATH)
        await stop.wait()
        console.stopping(proxy.open_sessions)
        await proxy.close()
    finally:
        watch.cancel()
        if traces is not None and figures is None:
            await traces.close()  # the traces still queued, for a few seconds at most
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        await log.close()  # and its figures worker: what it encodes goes to traces
        if traces is not None and figures is not None:
            await traces.close()
    worker = log.figures
    if worker is not None and (worker.failed or worker.dropped):
        console.figures_left(worker.computed, worker.failed, worker.dropped, worker.errors)
    if worker is not None and worker.text_failed:
        console.texts_left(worker.text_failed, worker.text_errors)
    lost = log.frames_lost + proxy.frames_unrecorded
    if lost:
        console.not_recorded(lost, log.health()["gaps"], proxy.sessions_unrecorded)
    return lost


async def _watch_health(proxy: RecordingProxy, console: Console, every: float = 10.0) -> None:
    """While the store is down or the writer lags, show the recorder's health every `every`s."""
    while True:
        await asyncio.sleep(every)
        health = proxy.health()
        if health.get("store") == "down" or health.get("lag_s", 0) > 1.0:
            console.health(health)
