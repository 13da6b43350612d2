"""One local aiohttp server: start it, learn its URL, close every open WebSocket with 1001.

The proxy, `rtrec serve`, the cassette server and the fake upstream all listen the same way:

    server = LocalServer(app, host, port)      # port 0: the OS picks a free one
    await server.start()                       # OSError (nothing left listening) if it cannot
    server.url("/v1")                          # ws://127.0.0.1:<port>/v1
    ...
    async def handler(request):
        ws = web.WebSocketResponse(); await ws.prepare(request)
        with server.track(ws):                 # close() will end it with 1001 and wait for it
            ...
    await server.close(b"rtrec serve is stopping")

close() stops listening first (no new connection slips in), sends each tracked socket close
code 1001 ("going away") at once, waits (at most `shutdown_timeout`) for their handlers to
return, then shuts aiohttp down. Without this, aiohttp's own shutdown waits its timeout for
handlers that never return on their own and then drops their clients (1006).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterator
from types import TracebackType

from aiohttp import web

SHUTDOWN_TIMEOUT = 5.0  # seconds close() waits for clients to answer and handlers to return


def connect_host(host: str) -> str:
    """The host a local client dials to reach a server listening on `host` (URL form):
    every interface is reached on loopback, and an IPv6 address goes in brackets."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"[{host}]" if ":" in host else host


class LocalServer:
    """An aiohttp application listening on host:port, with its open WebSockets tracked."""

    def __init__(
        self,
        app: web.Application,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        shutdown_timeout: float = SHUTDOWN_TIMEOUT,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.ssl_context = ssl_context
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self._handlers: set[asyncio.Task[object]] = set()
        self._port = port

    # -- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen. OSError (the port is taken, the address is not local, ...) when it cannot;
        nothing is left listening then."""
        # access_log=None: the request line carries the query (and so could carry a token).
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=self.shutdown_timeout,
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port, ssl_context=self.ssl_context)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        for address in runner.addresses:  # the port the OS picked for port 0
            self._port = int(address[1])
            break

    @property
    def started(self) -> bool:
        return self._runner is not None

    async def stop_listening(self) -> None:
        """Accept no new connection; the open ones go on until close()."""
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def close(self, reason: bytes = b"", code: int = 1001) -> None:
        """Stop listening, close every tracked socket with `code` (1001, "going away") and
        `reason`, wait for their handlers, shut down. Closing a server that is not running
        does nothing."""
        if self._runner is None:
            return
        await self.stop_listening()
        sockets = list(self._sockets)
        closing = [asyncio.ensure_future(_going_away(ws, code, reason)) for ws in sockets]
        if closing:
            await asyncio.wait(closing, timeout=self.shutdown_timeout)
        handlers = [task for task in self._handlers if task is not asyncio.current_task()]
        if handlers:  # they notice the close, finish their reports and return
            await asyncio.wait(handlers, timeout=self.shutdown_timeout)
        runner, self._runner = self._runner, None
        await runner.cleanup()

    async def __aenter__(self) -> LocalServer:
        if self._runner is None:
            await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- where it is ------------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port listened on (the one the OS picked, once started with port 0)."""
        return self._port

    @property
    def scheme(self) -> str:
        return "wss" if self.ssl_context is not None else "ws"

    def url(self, path: str = "") -> str:
        """ws(s)://host:port + path, with the host a local client dials (see connect_host)."""
        return f"{self.scheme}://{connect_host(self.host)}:{self.port}{path}"

    # -- open sockets ---------------------------------------------------------------------

    @contextlib.contextmanager
    def track(self, ws: web.WebSocketResponse) -> Iterator[web.WebSocketResponse]:
        """Within the block, close() ends `ws` with 1001 and waits for this handler."""
        handler = asyncio.current_task()
        self._sockets.add(ws)
        if handler is not None:
            self._handlers.add(handler)
        try:
            yield ws
        finally:
            self._sockets.discard(ws)
            if handler is not None:
                self._handlers.discard(handler)

    @property
    def open_sockets(self) -> int:
        return len(self._sockets)


async def _going_away(ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
    with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
        await ws.close(code=code, message=reason)
