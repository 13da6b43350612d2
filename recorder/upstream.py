"""Plain HTTP requests passed through to the upstream, unrecorded.

With OPENAI_BASE_URL pointed at rtrec, an SDK sends its REST calls (client_secrets, calls, chat,
...) there too. rtrec records only Realtime WebSocket sessions; everything else is forwarded to
the upstream's origin, same method, path, query, headers and body, and the answer streamed back
byte for byte (no decompression, so Content-Encoding and Content-Length stay true). Nothing of
it is stored or printed.
"""

from __future__ import annotations

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

_HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate",
        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade", "host",
    }
)


def http_origin(upstream: str) -> URL:
    """The HTTP origin of a Realtime upstream URL: wss://api.openai.com/... -> https://api..."""
    url = URL(upstream)
    scheme = {"ws": "http", "wss": "https"}.get(url.scheme, url.scheme)
    return URL.build(scheme=scheme, host=url.raw_host or "", port=url.explicit_port)


def request_headers(
    headers: CIMultiDictProxy[str], drop: frozenset[str] = frozenset()
) -> CIMultiDict[str]:
    """The client's headers without the hop-by-hop ones (and without `drop`)."""
    return CIMultiDict(
        (k, v) for k, v in headers.items() if k.lower() not in _HOP_BY_HOP | drop
    )


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
