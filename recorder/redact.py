"""Secrets out of everything rtrec stores or prints.

What counts as a secret: API keys and bearer tokens from the handshake (Authorization, api-key,
the `openai-insecure-api-key.<key>` subprotocol, OPENAI_API_KEY), secret-looking query values
(api-key, token, ...) and `client_secret` values inside frames (ephemeral `ek_...` keys:
{"client_secret": {"value": "ek_..."}} or {"client_secret": "ek_..."}): every string value under
a client_secret key, however deeply nested.

How frames are redacted: the stored frame is the wire frame byte for byte, except that every
secret string is replaced by the fixed marker REDACTED. The JSON stays valid and every other byte
(field order, spacing, escapes) is untouched, so a redacted frame still decodes and replays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from recorder import jsontext

REDACTED = "[REDACTED]"
_REDACTED_BYTES = REDACTED.encode()

# The browser form of authentication: the key rides in a subprotocol name.
INSECURE_KEY_PREFIX = "openai-insecure-api-key."

SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "proxy-authorization", "cookie", "x-rtrec-token", "openai-api-key"}
)
SECRET_QUERY_KEYS = frozenset(
    {
        "api-key", "api_key", "apikey", "key", "token", "access_token", "rtrec_token",
        "client_secret", "sig", "signature", "password", "secret",
    }
)

# The JSON tokens that give a frame its structure: strings (escapes included) and punctuation.
# Numbers, true, false and null are skipped: they never hold a secret and never nest.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')
_CLIENT_SECRET_KEY = b'"client_secret"'
_QUOTED_REDACTED = b'"' + REDACTED.encode() + b'"'
# Too short to be a key: replacing it everywhere would mangle ordinary text.
_MIN_SECRET_LENGTH = 8


def secret_from_authorization(value: str) -> str:
    """The credential inside an Authorization header ("Bearer sk-..." -> "sk-...")."""
    scheme, _, credential = value.strip().partition(" ")
    return credential.strip() if credential else scheme


def secrets_in_handshake(
    headers: Mapping[str, str], protocols: Iterable[str], env_key: str | None = None
) -> set[str]:
    """Every secret string a client (or the environment) brought to one handshake."""
    found: set[str] = set()
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in ("authorization", "proxy-authorization"):
            found.add(secret_from_authorization(value))
        elif lowered in SECRET_HEADERS:
            found.add(value.strip())
    for protocol in protocols:
        if protocol.startswith(INSECURE_KEY_PREFIX):
            found.add(protocol[len(INSECURE_KEY_PREFIX):])
    if env_key:
        found.add(env_key)
    return {secret for secret in found if len(secret) >= _MIN_SECRET_LENGTH}


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Headers safe to print: secret header values replaced by the marker."""
    return {
        name: REDACTED if name.lower() in SECRET_HEADERS else value
        for name, value in headers.items()
    }


def redact_protocols(protocols: Iterable[str]) -> list[str]:
    """Subprotocols safe to print or store: the key in openai-insecure-api-key.* replaced."""
    return [
        INSECURE_KEY_PREFIX + REDACTED if p.startswith(INSECURE_KEY_PREFIX) else p
        for p in protocols
    ]


def redact_url(url: str) -> str:
    """A URL safe to store: user info dropped, secret-looking query values replaced."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [
        (key, REDACTED if key.lower() in SECRET_QUERY_KEYS else value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="[]"), ""))


class FrameRedactor:
    """Replaces secret strings inside frames; cheap when there is nothing to replace.

    Built once per session with the secrets of its handshake. Frames without a secret (nearly
    all of them) cost one substring search per known secret plus one for b"client_secret" and
    come back as the very same object.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted(
            {s.encode() for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def __call__(self, data: bytes) -> bytes:
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, _REDACTED_BYTES)
        if _CLIENT_SECRET_KEY in data:
            data = _redact_client_secrets(data)
        return data


def _redact_client_secrets(data: bytes) -> bytes:
    """Every string value under a client_secret key, at any depth, replaced by the marker.

    A frame that is not valid JSON cannot be walked safely (a string may run to its end), so
    nothing after its first client_secret key is kept: a broken frame stays broken, never a leak.
    """
    try:
        jsontext.parse(data)
    except jsontext.NotJson:
        cut = data.index(_CLIENT_SECRET_KEY) + len(_CLIENT_SECRET_KEY)
        return data[:cut] + b":" + _QUOTED_REDACTED
    spans = _client_secret_spans(data)
    if not spans:
        return data
    parts: list[bytes] = []
    last = 0
    for start, end in spans:
        parts += (data[last:start], _QUOTED_REDACTED)
        last = end
    parts.append(data[last:])
    return b"".join(parts)


def _client_secret_spans(data: bytes) -> list[tuple[int, int]]:
    """Where the string values under a client_secret key are (quotes included), in order.

    A walk over the frame's JSON tokens keeping track of nesting, so a client_secret object
    holding further objects ({"expires_at": {"anchor": ...}, "value": "ek_..."}) is covered
    whole, keys are never touched, and equal strings elsewhere in the frame stay as they are.
    """
    spans: list[tuple[int, int]] = []
    enclosing: list[tuple[bool, bool, bytes | None]] = []  # (in_object, secret, key) outside
    in_object = False
    secret = False  # the current container lies inside a client_secret value
    key: bytes | None = None  # the current member's key (raw token), in an object
    expect_key = False
    for token in _JSON_TOKEN.finditer(data):
        first = token.group()[:1]
        if first == b'"':
            if expect_key:
                key, expect_key = token.group(), False
            elif secret or (in_object and key == _CLIENT_SECRET_KEY):
                spans.append(token.span())
        elif first in (b"{", b"["):
            enclosing.append((in_object, secret, key))
            secret = secret or (in_object and key == _CLIENT_SECRET_KEY)
            in_object, key = first == b"{", None
            expect_key = in_object
        elif first in (b"}", b"]"):
            if enclosing:
                in_object, secret, key = enclosing.pop()
            expect_key = False
        elif first == b",":
            expect_key = in_object
        else:  # ":"
            expect_key = False
    return spans


def redact_frame(data: bytes, secrets: Iterable[str] = ()) -> bytes:
    """One-off form of FrameRedactor: the frame with secrets and client_secret values replaced."""
    return FrameRedactor(secrets)(data)
