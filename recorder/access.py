"""Who may connect: loopback by default, a shared token beyond it.

Both servers rtrec runs guard something worth guarding: `rtrec record` forwards the API key of
whoever connects (or its own OPENAI_API_KEY), and `rtrec serve` plays recordings of people's
voices. So each listens on loopback unless told otherwise, and listening elsewhere requires a
token that every client presents.

Loopback alone is not enough against a browser: any web page the user opens may connect a
WebSocket (or send a simple POST) to 127.0.0.1, and the browser says so in the Origin header.
So a request with an Origin that is not itself on loopback needs the token too (SDKs and
command-line clients send no Origin; apps served from localhost keep working).
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web
from yarl import URL

from recorder.errors import RtrecError

TOKEN_HEADER = "X-Rtrec-Token"
TOKEN_QUERY = "rtrec_token"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token."""
    if not is_loopback(host) and not token:
        raise RtrecError(
            f"--listen {host} is not a loopback address: pass --token SECRET (or set "
            f"RTREC_TOKEN); clients then send it as header {TOKEN_HEADER} or query {TOKEN_QUERY}"
        )


def token_ok(request: web.Request, expected: str | None) -> bool:
    """True when no token is required, or the request presents the right one."""
    if not expected:
        return True
    presented = request.headers.get(TOKEN_HEADER) or request.query.get(TOKEN_QUERY) or ""
    return hmac.compare_digest(presented.encode(), expected.encode())


def token_rejection() -> web.Response:
    """What a client without the right token gets (the token itself is never echoed)."""
    return web.Response(
        status=401,
        text=f"rtrec: missing or wrong token: send header {TOKEN_HEADER} or query {TOKEN_QUERY}\n",
    )


def is_loopback_origin(origin: str) -> bool:
    """http(s)://localhost | 127.0.0.1 | [::1], any port ("null" and other pages are not)."""
    try:
        url = URL(origin)
        host = url.host
    except ValueError:
        return False
    return url.scheme in ("http", "https") and host is not None and is_loopback(host)


def origin_ok(request: web.Request, expected: str | None) -> bool:
    """True for a request without Origin or from a loopback page, else only with the token."""
    origin = request.headers.get("Origin")
    if origin is None or is_loopback_origin(origin):
        return True
    return bool(expected) and token_ok(request, expected)


def origin_rejection() -> web.Response:
    """What a page from another origin gets without the token (its origin is not echoed)."""
    return web.Response(
        status=403,
        text="rtrec: refused a request from a web page on another origin: to allow it, start "
        f"rtrec with --token SECRET and have the page send it as header {TOKEN_HEADER} or query "
        f"{TOKEN_QUERY}\n",
    )
