"""A real OTLP/HTTP receiver on loopback for the trace tests: POST /v1/traces, protobuf decoded
with opentelemetry-proto (the package collectors' own SDKs use), each request kept.

It runs on a thread of its own (its own event loop), so a synchronous CLI test (CliRunner runs
asyncio.run) and an async proxy test talk to it the same way, and a slow receiver stalls only
its own loop. delay_s makes every answer wait; status makes it refuse.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class ReceivedSpan:
    trace_id: str
    span_id: str
    parent: str | None
    name: str
    kind: int
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]]
    status_code: int
    status_message: str


def _value(any_value: Any) -> Any:
    which = any_value.WhichOneof("value")
    if which == "array_value":
        return [_value(item) for item in any_value.array_value.values]
    return getattr(any_value, which) if which else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in key_values}


def decode(body: bytes) -> tuple[dict[str, Any], list[ReceivedSpan]]:
    """(resource attributes, spans) of an ExportTraceServiceRequest."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    spans = []
    resource: dict[str, Any] = {}
    for resource_spans in request.resource_spans:
        resource = _attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(ReceivedSpan(
                    trace_id=span.trace_id.hex(), span_id=span.span_id.hex(),
                    parent=span.parent_span_id.hex() or None, name=span.name, kind=span.kind,
                    start_ns=span.start_time_unix_nano, end_ns=span.end_time_unix_nano,
                    attributes=_attributes(span.attributes),
                    events=[(e.name, e.time_unix_nano, _attributes(e.attributes))
                            for e in span.events],
                    status_code=span.status.code, status_message=span.status.message,
                ))
    return resource, spans


@dataclass
class Receiver:
    delay_s: float = 0.0
    status: int = 200
    answers: list[int] = field(default_factory=list)  # statuses for the first requests
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    port: int = 0
    arrived: int = 0  # requests received (answered or not yet)
    reject: int = 0  # spans each answer says it rejected (partial success)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def spans(self) -> list[ReceivedSpan]:
        return [span for _, body in self.requests for span in decode(body)[1]]

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.arrived += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self.requests.append((dict(request.headers), body))
        status = self.answers.pop(0) if self.answers else self.status
        if status != 200:
            return web.Response(status=status, text="refused", headers={"Retry-After": "0"})
        answer = ExportTraceServiceResponse()
        if self.reject:
            answer.partial_success.rejected_spans = self.reject
            answer.partial_success.error_message = "too many attributes"
        return web.Response(body=answer.SerializeToString(),
                            content_type="application/x-protobuf")

    def __enter__(self) -> Receiver:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        async def serve() -> None:
            app = web.Application()
            app.router.add_post("/v1/traces", self._handle)
            app.router.add_post("/custom/path", self._handle)
            self._runner = web.AppRunner(app, shutdown_timeout=0.1)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

        def main() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=main, daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def __exit__(self, *_exc: object) -> None:
        assert self._loop is not None and self._thread is not None

        async def shut() -> None:
            if self._runner is not None:
                await self._runner.cleanup()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:  # a slow answer still waiting
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shut(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
