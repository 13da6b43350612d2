"""Talking to the upstream on a client's behalf: URL, headers, refusals, plain HTTP.

What goes upstream is what the client sent, minus what belongs to one hop (Host, Upgrade,
Sec-WebSocket-Key, ...) and minus rtrec's own token; OPENAI_API_KEY stands in only when the
client brought no credential (Authorization, api-key, or the browser subprotocol).

Plain HTTP requests (REST calls of an SDK whose OPENAI_BASE_URL points at rtrec: client_secrets,
calls, chat, ...) are passed to the upstream's origin unrecorded: same method, path, query,
headers and body, the answer streamed back byte for byte (no decompression, so Content-Encoding
and Content-Length stay true). Nothing of them is stored or printed.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping
from yarl import URL

from recorder.access import TOKEN_HEADER, TOKEN_QUERY
from recorder.protocol.paths import upstream_path
from recorder.redact import INSECURE_KEY_PREFIX, is_secret_param

# rtrec's own credential when it listens beyond loopback; never forwarded.

_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host",
        TOKEN_HEADER.lower(),
    }
)
# A WebSocket handshake also owns its length and Sec-WebSocket-* headers (aiohttp makes its own,
# and the subprotocols are passed separately).
_HANDSHAKE_ONLY = _HOP_BY_HOP | {
    "content-length", "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions",
    "sec-websocket-protocol", "sec-websocket-accept",
}
_REFUSAL_DROPS = _HANDSHAKE_ONLY | {"content-encoding", "date", "server"}


def upstream_url(upstream: str, request_path: str, query: MultiMapping[str]) -> URL:
    """The upstream URL for one client handshake.

    The path follows recorder.protocol.paths.upstream_path. The client's query (model, call_id,
    intent, deployment, api-version, ...) is passed on, without rtrec's own token.
    """
    base = URL(upstream)
    path = upstream_path(base.path, request_path)
    params = [(k, v) for k, v in base.query.items() if k not in query]
    params += [(k, v) for k, v in query.items() if k != TOKEN_QUERY]
    return base.with_path(path).with_query(params)


def offered_protocols(headers: CIMultiDictProxy[str]) -> list[str]:
    """The subprotocols the client offered, in its order."""
    offered: list[str] = []
    for value in headers.getall("Sec-WebSocket-Protocol", ()):
        offered += [p.strip() for p in value.split(",") if p.strip()]
    return offered


def secret_query_values(query: MultiMapping[str]) -> set[str]:
    """Query values that are credentials (api-key=..., token=...): to be redacted in frames."""
    return {v for k, v in query.items() if is_secret_param(k, v) and len(v) >= 8}


def handshake_headers(
    client_headers: CIMultiDictProxy[str], protocols: list[str], api_key: str | None
) -> CIMultiDict[str]:
    """Headers for the upstream WebSocket handshake."""
    headers = CIMultiDict(
        (k, v) for k, v in client_headers.items() if k.lower() not in _HANDSHAKE_ONLY
    )
    _add_default_credential(headers, protocols, api_key)
    return headers


def request_headers(client_headers: CIMultiDictProxy[str], api_key: str | None) -> CIMultiDict[str]:
    """Headers for a plain HTTP request passed upstream."""
    headers = CIMultiDict(
        (k, v) for k, v in client_headers.items() if k.lower() not in _HOP_BY_HOP
    )
    _add_default_credential(headers, [], api_key)
    return headers


def _add_default_credential(
    headers: CIMultiDict[str], protocols: list[str], api_key: str | None
) -> None:
    has_credential = (
        "Authorization" in headers
        or "api-key" in headers
        or any(p.startswith(INSECURE_KEY_PREFIX) for p in protocols)
    )
    if not has_credential and api_key:
        headers["Authorization"] = f"Bearer {api_key}"


# -- refused handshakes: the client gets the same status, headers and body ----------------------

_refusal_body: contextvars.ContextVar[dict[str, bytes]] = contextvars.ContextVar(
    "rtrec_refusal_body"
)


@contextlib.contextmanager
def keeping_refusal_body() -> Iterator[dict[str, bytes]]:
    """Around ws_connect: if the upstream refuses, its body lands in the yielded dict["body"]."""
    holder: dict[str, bytes] = {}
    reset = _refusal_body.set(holder)
    try:
        yield holder
    finally:
        _refusal_body.reset(reset)


async def _keep_refusal_body(
    _session: aiohttp.ClientSession, _ctx: Any, params: aiohttp.TraceRequestEndParams
) -> None:
    # aiohttp's ws_connect raises on a refusal without reading the body; read it here first.
    holder = _refusal_body.get(None)
    if holder is not None and params.response.status != 101:
        try:
            holder["body"] = await params.response.read()
        except aiohttp.ClientError:
            holder["body"] = b""


def trace_refusal_bodies() -> aiohttp.TraceConfig:
    """The trace config a ClientSession needs for keeping_refusal_body to work."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_keep_refusal_body)
    return trace


def refusal_response(refusal: aiohttp.WSServerHandshakeError, body: bytes) -> web.Response:
    """The upstream's refusal, as the answer to the client's handshake."""
    headers = CIMultiDict(
        (k, v) for k, v in (refusal.headers or {}).items() if k.lower() not in _REFUSAL_DROPS
    )
    return web.Response(status=refusal.status, body=body, headers=headers)


# -- plain HTTP ---------------------------------------------------------------------------------


def http_origin(upstream: str) -> URL:
    """The HTTP origin of a Realtime upstream URL: wss://api.openai.com/... -> https://api..."""
    url = URL(upstream)
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    return URL.build(scheme=scheme, host=url.raw_host or "", port=url.explicit_port)


async def forward_http(
    client: aiohttp.ClientSession,
    request: web.Request,
    upstream: str,
    headers: CIMultiDict[str],
    query: list[tuple[str, str]],
    ssl: object = True,
) -> web.StreamResponse:
    """Send `request` to the upstream origin (headers and query prepared) and stream the answer."""
    url = http_origin(upstream).with_path(request.path).with_query(query)
    body = request.content if request.body_exists else None
    response: web.StreamResponse | None = None
    try:
        async with client.request(
            request.method, url, headers=headers, data=body, allow_redirects=False,
            auto_decompress=False, ssl=ssl,  # type: ignore[arg-type]
        ) as answer:
            response = web.StreamResponse(status=answer.status, reason=answer.reason)
            for name, value in answer.headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    response.headers.add(name, value)
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response
    except (aiohttp.ClientError, OSError, TimeoutError):
        if response is not None and response.prepared:
            return response  # cut mid-answer: the client sees the same truncated answer
        return web.Response(status=502, text="rtrec: upstream unreachable\n")
