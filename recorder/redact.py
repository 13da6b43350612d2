"""Secrets out of everything rtrec stores or prints.

What counts as a secret: API keys and bearer tokens from the handshake (Authorization, api-key,
the `openai-insecure-api-key.<key>` subprotocol, OPENAI_API_KEY), secret-looking query values
(api-key, token, ...) and `client_secret` values inside frames (ephemeral `ek_...` keys:
{"client_secret": {"value": "ek_..."}} or {"client_secret": "ek_..."}).

How frames are redacted: the stored frame is the wire frame byte for byte, except that every
secret string is replaced by the fixed marker REDACTED. The JSON stays valid and every other byte
(field order, spacing, escapes) is untouched, so a redacted frame still decodes and replays.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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

# "client_secret": "ek_..."  or  "client_secret": {... "value": "ek_..." ...} (flat object).
_CLIENT_SECRET_STRING = re.compile(rb'("client_secret"\s*:\s*")((?:[^"\\]|\\.)*)(")')
_CLIENT_SECRET_OBJECT = re.compile(
    rb'("client_secret"\s*:\s*\{[^{}]*?"value"\s*:\s*")((?:[^"\\]|\\.)*)(")'
)
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
        if b'"client_secret"' in data:
            data = _CLIENT_SECRET_OBJECT.sub(_keep_quotes, data)
            data = _CLIENT_SECRET_STRING.sub(_keep_quotes, data)
        return data


def _keep_quotes(match: re.Match[bytes]) -> bytes:
    return match.group(1) + _REDACTED_BYTES + match.group(3)


def redact_frame(data: bytes, secrets: Iterable[str] = ()) -> bytes:
    """One-off form of FrameRedactor: the frame with secrets and client_secret values replaced."""
    return FrameRedactor(secrets)(data)
