"""Who may connect: loopback by default, a shared token beyond it.

Both servers rtrec runs guard something worth guarding: `rtrec record` forwards the API key of
whoever connects (or its own OPENAI_API_KEY), and `rtrec serve` plays recordings of people's
voices. So each listens on loopback unless told otherwise, and listening elsewhere requires a
token that every client presents.

Loopback alone is not enough against a browser: any web page the user opens may connect a
WebSocket (or send a simple POST) to 127.0.0.1, and the browser says so in the Origin header.
So a request with an Origin that is not itself on loopback needs the token too (SDKs and
command-line clients send no Origin; apps served from localhost keep working).

Nor is Origin enough: after DNS rebinding (evil.example resolving to 127.0.0.1), the page's
own requests are same-origin and a GET carries no Origin at all, only `Host: evil.example`. So
without a token only loopback Host names are served: localhost, 127.0.0.1, [::1] (any port).
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


def is_loopback_host(host: str) -> bool:
    """A Host header naming loopback: localhost | 127.0.0.1 | [::1], with or without a port."""
    name = host.strip().lower()
    if name.startswith("["):  # [::1] or [::1]:PORT
        name, bracket, rest = name[1:].partition("]")
        if not bracket or (rest and not _is_port_suffix(rest)):
            return False
    elif name.count(":") == 1:
        name, _, port = name.partition(":")
        if not port.isdigit():
            return False
    elif ":" in name:  # an IPv6 address must be in brackets
        return False
    return name in _LOOPBACK_NAMES


def _is_port_suffix(text: str) -> bool:
    return text.startswith(":") and text[1:].isdigit()


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def host_ok(request: web.Request, expected: str | None) -> bool:
    """True for a loopback Host (or none: no browser omits it), or any Host with a token set.

    With a token, the token check stands guard (a page cannot know the token)."""
    if expected:
        return True
    host = request.headers.get("Host")
    return host is None or is_loopback_host(host)


def host_rejection() -> web.Response:
    """What a request for another host name gets without a token (the name is not echoed)."""
    return web.Response(
        status=403,
        text="rtrec: refused a request for a host name that is not localhost, 127.0.0.1 or "
        "[::1] (a web page after DNS rebinding sends one): connect to a loopback address, or "
        f"start rtrec with --token SECRET and send it as header {TOKEN_HEADER}\n",
    )


def refusal(request: web.Request, token: str | None) -> tuple[str, web.Response] | None:
    """None when the request may pass; else (why, for the server's log) and the answer refusing
    it. Checked in this order: the token, the Host (DNS rebinding: a page on another site whose
    name now points at loopback), the Origin (a page on another site). Every local server of
    rtrec asks this one function."""
    if not token_ok(request, token):
        return "missing or wrong rtrec token", token_rejection()
    if not host_ok(request, token):
        return "a Host that is not loopback; --token allows it", host_rejection()
    if not origin_ok(request, token):
        return "a web page on another origin; --token allows it", origin_rejection()
    return None


def origin_rejection() -> web.Response:
    """What a page from another origin gets without the token (its origin is not echoed)."""
    return web.Response(
        status=403,
        text="rtrec: refused a request from a web page on another origin: to allow it, start "
        f"rtrec with --token SECRET and have the page send it as header {TOKEN_HEADER} or query "
        f"{TOKEN_QUERY}\n",
    )
