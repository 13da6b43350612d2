"""Record modes for tests, as vcrpy and pytest-recording have them: none, once, new_episodes, all.

A cassette is one SQLite file per test (default cassettes/{module}/{test}.db beside the test
file, as pytest-recording lays them out). One file per test rather than one shared database
with a label per test: no schema change in the store, no two tests writing the same file when
tests run in parallel (pytest-xdist), and deleting or re-recording one test's sessions is
deleting one file.

The test gets one URL (websocket_base_url). Each WebSocket connection the test opens is one
episode: connection N is served from the cassette's N-th session (in recording order) when it
has one, otherwise, if the mode allows recording, forwarded through the recording proxy
(recorder.proxy) to the upstream and recorded into the cassette as a new session.

    none          serve only; a missing cassette fails the test at setup (the default, so CI
                  never touches the network)
    once          a cassette with sessions: serve only; no cassette (or an empty one): record
    new_episodes  serve the sessions that exist; connections beyond them are recorded
    all           record every connection again, beside the cassette; the new recording
                  replaces the cassette when the test ends, only if it recorded something
                  and nothing failed

A cassette file is only created when something was recorded into it: a cassette that holds no
session yet is recorded beside too (`once`, `new_episodes` without a cassette), and a run that
recorded nothing, or failed, leaves neither the file nor the folders made for it.

A Live client's connection (on /v1/live/sessions) is an episode like any other: a Live session
of the cassette is played to it (recorder.live.playback), or it is recorded on the Live path.

A connection that has no session to play and may not record gets an `error` event (code
"rtrec_no_recording", saying which mode would record it) and the socket closes with 4404.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from aiohttp import WSMsgType, web

from recorder.errors import CannotListen, NoCassette, RtrecError
from recorder.localserver import LocalServer
from recorder.matching import DEFAULT_RULES, MatchRules
from recorder.protocol.error_event import encode, error_event
from recorder.serve import (
    MATCH_MODES,
    MatchMode,
    Mismatch,
    PlaybackResult,
    Recording,
    accept,
    add_socket_routes,
    load_recording,
    play,
    wrong_api,
)

if TYPE_CHECKING:
    from recorder.proxy import RecordingProxy
    from recorder.store import EventLog

log = logging.getLogger("recorder.cassette")

RecordMode = Literal["none", "once", "new_episodes", "all"]
RECORD_MODES: tuple[RecordMode, ...] = ("none", "once", "new_episodes", "all")
DEFAULT_RECORD_MODE: RecordMode = "none"
DEFAULT_UPSTREAM = "wss://api.openai.com/v1/realtime"

NO_RECORDING_CLOSE_CODE = 4404
NO_RECORDING_ERROR_CODE = "rtrec_no_recording"


def check_record_mode(mode: str) -> RecordMode:
    for known in RECORD_MODES:
        if mode == known:
            return known
    raise RtrecError(f"--record-mode {mode!r} is not valid: use none, once, new_episodes or all")


class Cassette:
    """One test's sessions: served from the cassette file, or recorded into it.

    async use:   url = await cassette.start(); ...; await cassette.stop()
    from sync code (a plain test, another event loop): `with cassette.running(): ...` runs the
    server on its own thread and loop.
    """

    def __init__(
        self,
        path: str | Path,
        mode: RecordMode = DEFAULT_RECORD_MODE,
        *,
        upstream: str = DEFAULT_UPSTREAM,
        match: MatchMode = "strict",
        speed: float | None = None,
        api_key: str | None = None,
        rules: MatchRules = DEFAULT_RULES,
    ) -> None:
        if match not in MATCH_MODES:
            raise RtrecError(f"match {match!r} is not valid: use strict or lenient")
        self.path = Path(path)
        self.rules = rules
        self.mode = check_record_mode(mode)
        self.upstream = upstream
        self.match: MatchMode = match
        self.speed = speed
        self.api_key = api_key
        self.recordings: list[Recording] = []  # what this cassette serves, in order
        self.results: list[PlaybackResult] = []  # one per served connection, as they end
        self.refusals: list[str] = []  # connections that had no session to play
        # strict mismatches as they happen (before the client hears of them), for the plugin
        self.mismatches: list[Mismatch] = []
        self.reported = 0  # how many of problems() a test has already failed with
        self.recording_enabled = False
        self._changed = threading.Condition()
        self._connections = 0
        self._recorded = 0  # connections handed to the recording proxy and upgraded
        # Where recordings go: the cassette itself, except under "all", which records beside it
        # and replaces it only once the new recording is whole (a failed re-recording must not
        # cost the cassette that was there).
        self._record_path = self.path
        self._made_dirs: list[Path] = []  # folders made for a recording, removed if it fails
        self._log: EventLog | None = None
        self._proxy: RecordingProxy | None = None
        self._server: LocalServer | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Load what the cassette holds, decide what to record, listen; returns self.url."""
        await self._prepare()
        self._server = server = LocalServer(self._application(), host, port)
        try:
            await server.start()
        except OSError as error:
            await self.stop()
            raise CannotListen(
                f"cassette server cannot listen on {host}:{port}: {error}"
            ) from error
        self.port = server.port
        return self.url

    @property
    def url(self) -> str:
        """The value for the OpenAI SDKs' websocket_base_url (they append /realtime)."""
        return f"ws://127.0.0.1:{self.port}/v1"

    async def stop(self) -> None:
        """Stop serving; recorded sessions are flushed into the cassette."""
        if self._proxy is not None:  # first: it closes sessions still open and ends them
            await self._proxy.close()
            self._proxy = None
        if self._server is not None:  # playbacks still open get 1001
            await self._server.close(b"rtrec cassette is stopping")
            self._server = None
        if self._log is not None:
            failed = self._log.failure is not None
            await self._log.close()
            self._log = None
            if self._record_path != self.path:
                self._finish_rerecording(failed)

    def _finish_rerecording(self, log_failed: bool) -> None:
        """Put the new recording in the cassette's place, or drop it and keep the old one."""
        fresh = (self._record_path, *_sqlite_sidecars(self._record_path))
        if log_failed or self.refusals or not self._recorded:
            why = ("recording failed" if log_failed or self.refusals
                   else "the test opened no connection")
            for leftover in fresh:
                leftover.unlink(missing_ok=True)
            for made in reversed(self._made_dirs):
                with contextlib.suppress(OSError):  # not empty: something else lives there
                    made.rmdir()
            kept = "the old cassette is kept" if self.path.exists() else "no cassette written"
            log.warning("cassette %s: %s under record-mode %s; %s", self.path, why, self.mode,
                        kept)
            return
        for stale in _sqlite_sidecars(self.path):
            stale.unlink(missing_ok=True)
        os.replace(self._record_path, self.path)  # closed: the new file holds everything

    @contextlib.contextmanager
    def running(self, timeout: float = 60.0) -> Iterator[Cassette]:
        """Serve from a background thread with its own event loop (for sync callers)."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="rtrec-cassette", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result(timeout)
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            loop.close()

    def wait_for_results(self, count: int, timeout: float = 30.0) -> list[PlaybackResult]:
        """Block until `count` served connections have ended (thread-safe); returns them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self.results) >= count, timeout):
                raise TimeoutError(f"{len(self.results)} of {count} connections ended in time")
            return list(self.results)

    def problems(self) -> list[str]:
        """What went against the cassette: strict mismatches and connections it could not
        serve (lenient mismatches and unused recorded frames are only logged)."""
        found = list(self.refusals)
        if self.match == "strict":
            found += [m.report() for m in self.mismatches]
        return found

    # -- what to serve, what to record ------------------------------------------------------

    async def _prepare(self) -> None:
        exists = self.path.exists()
        if self.mode == "none" and not exists:
            raise NoCassette(
                f"no cassette {self.path}: record it once with --record-mode=once "
                "(this reaches the upstream Realtime API)"
            )
        if self.mode != "all" and exists:
            self.recordings = await _load_all(self.path)
        if self.mode == "none" and not self.recordings:
            raise NoCassette(
                f"cassette {self.path} holds no session: record it with --record-mode=once"
            )
        self.recording_enabled = self.mode in ("new_episodes", "all") or (
            self.mode == "once" and not self.recordings
        )
        if self.recording_enabled and not self.recordings:
            # nothing to keep yet: record beside, so a failed recording leaves no file behind
            self._record_path = self.path.with_name(self.path.name + ".rerecording")
            for stale in (self._record_path, *_sqlite_sidecars(self._record_path)):
                stale.unlink(missing_ok=True)  # left by a run that was killed
        if self.recording_enabled:
            await self._open_recorder()

    async def _open_recorder(self) -> None:
        from recorder.proxy import ProxyConfig, RecordingProxy
        from recorder.store import open_log

        missing = [folder for folder in (self.path.parent, *self.path.parent.parents)
                   if not folder.exists()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._made_dirs = missing[::-1]  # outermost first
        proxy = RecordingProxy(
            None, ProxyConfig(upstream=self.upstream, port=0, api_key=self.api_key)
        )
        self._log = await open_log(str(self._record_path), on_failure=proxy.report_log_failure)
        proxy.log = self._log
        # start() also opens the proxy's upstream client session; its own listening socket on
        # a free loopback port stays unused: connections reach it through self._handle
        await proxy.start()
        self._proxy = proxy

    def _application(self) -> web.Application:
        app = web.Application()
        add_socket_routes(app, self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        index = self._connections
        self._connections += 1
        if index < len(self.recordings) and self.mode != "all":
            return await self._serve(request, index)
        if self._proxy is not None:
            # RecordingProxy answers the handshake itself (upstream first, then upgrade)
            response = await self._proxy._handle(request)
            if isinstance(response, web.WebSocketResponse):
                self._recorded += 1
            elif response.status >= 400:
                self._record_refusal(index, response.status)
            return response
        return await self._refuse(request, index)

    def _record_refusal(self, index: int, status: int) -> None:
        from recorder.redact import redact_url

        answer = "is unreachable" if status == 502 else f"refused it with HTTP {status}"
        message = (
            f"cassette {self.path}: record-mode {self.mode} records connection {index + 1} "
            f"from {redact_url(self.upstream)}, which {answer}: check --realtime-upstream "
            "and the API key"
        )
        log.warning(message)
        self.refusals.append(message)

    async def _serve(self, request: web.Request, index: int) -> web.StreamResponse:
        wrong = wrong_api(request, self.recordings[index])
        if wrong is not None:
            return wrong
        ws = await accept(request)
        if not isinstance(ws, web.WebSocketResponse):
            return ws
        assert self._server is not None  # a connection arrives only once started
        with self._server.track(ws):
            result = await play(
                ws,
                self.recordings[index],
                match=self.match,
                speed=self.speed,
                connection=index + 1,
                request=request,
                rules=self.rules,
                on_mismatch=self.mismatches.append,
            )
        with self._changed:
            self.results.append(result)
            self._changed.notify_all()
        return ws

    async def _refuse(self, request: web.Request, index: int) -> web.StreamResponse:
        ws = await accept(request)
        if not isinstance(ws, web.WebSocketResponse):
            return ws
        message = (
            f"cassette {self.path} holds {len(self.recordings)} session(s) and the test opened "
            f"connection {index + 1}; record-mode {self.mode} does not record: rerun with "
            "--record-mode=new_episodes to record it"
        )
        log.warning(message)
        self.refusals.append(message)
        event = error_event(
            NO_RECORDING_ERROR_CODE, message, event_id="event_rtrec_no_recording"
        )
        await ws.send_frame(encode(event), WSMsgType.TEXT)
        await ws.close(code=NO_RECORDING_CLOSE_CODE, message=b"rtrec: no recorded session left")
        return ws


async def _load_all(path: Path) -> list[Recording]:
    from recorder.store import open_log

    event_log = await open_log(str(path))
    try:
        sessions = await event_log.list_sessions()
        return [await load_recording(event_log, info.id) for info in sessions]
    finally:
        await event_log.close()


def _sqlite_sidecars(path: Path) -> tuple[Path, ...]:
    return tuple(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))
