"""Secrets out of everything rtrec stores or prints.

What counts as a secret: API keys and bearer tokens from the handshake (Authorization, api-key,
the `openai-insecure-api-key.<key>` subprotocol, OPENAI_API_KEY), secret-looking query values
(api-key, token, ...: is_secret_param; redact_url is the one rule for URLs) and `client_secret`
values inside frames (ephemeral `ek_...` keys: {"client_secret": {"value": "ek_..."}} or
{"client_secret": "ek_..."}): every string value under a client_secret key, however deeply nested.

How frames are redacted: the stored frame is the wire frame byte for byte, except that every
secret string is replaced by the fixed marker REDACTED. The JSON stays valid and every other byte
(field order, spacing, escapes) is untouched, so a redacted frame still decodes and replays.
FrameRedactor.redact says how each frame came out (Redaction): untouched, PARSED (its JSON was
read: secret strings replaced, the rest byte for byte) or SCANNED (it could not be read: known
secrets and key-shaped values masked by a byte scan, nothing kept after a client_secret key).
The store keeps that on the frame.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from recorder import jsontext
from recorder.protocol.audio_fields import STORED_AUDIO_FIELDS

REDACTED = "[REDACTED]"
_REDACTED_BYTES = REDACTED.encode()
# What a frame keeps after a client_secret key when its tokens cannot be lined up (see
# FrameRedactor): the stored frame says that a byte scan, not a parse, redacted it.
REDACTED_UNPARSED = "[REDACTED:unparsed]"
_UNPARSED_BYTES = REDACTED_UNPARSED.encode()

# The browser form of authentication: the key rides in a subprotocol name.
INSECURE_KEY_PREFIX = "openai-insecure-api-key."

SECRET_HEADERS = frozenset(
    {"authorization", "api-key", "proxy-authorization", "cookie", "x-rtrec-token", "openai-api-key"}
)
# A URL's query parameter holds a secret when its name contains one of these words (api-key,
# api_key, apikey, key, token, access_token, rtrec_token, client_secret, sig, signature,
# authorization, password, ...) or its value looks like a credential (see is_secret_param).
SECRET_QUERY_WORDS = ("key", "token", "secret", "auth", "sig", "password", "credential")
_CREDENTIAL_SCHEMES = ("bearer ", "basic ")

# The JSON tokens that give a frame its structure: strings (escapes included), punctuation, and
# runs of anything else (numbers, true, false, null; in a broken frame, stray bytes). A quote
# alone is a string that never ends.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]++|\\.)*+"|[{}\[\]:,]|[^\s"{}\[\]:,]++|"', re.DOTALL)
_SCALAR = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")
_CLIENT_SECRET_KEY = b'"client_secret"'
_ESCAPE = b"\\u"  # how a key can spell client_secret without those bytes (\u005f, \u0063...)
_HAND_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|\\(.)", re.DOTALL)
_QUOTED_REDACTED = b'"' + REDACTED.encode() + b'"'
# Too short to be a key: replacing it everywhere would mangle ordinary text.
_MIN_SECRET_LENGTH = 8
# Anything shaped like an OpenAI key: ephemeral ek_..., API sk-... (sk-proj-..., sk-svcacct-...).
# Neither "_" nor "-" is in the base64 alphabet, so audio never looks like one.
# What every such key holds, found faster than either prefix (a literal-led pattern is searched
# like memchr; a 3-byte needle is not): 'k' followed by '_' or '-'.
_KEY_HINT = re.compile(rb"k[_-]")
_KEY_SHAPED = re.compile(rb"(?<![A-Za-z0-9_\-])(?:ek_|sk-)[A-Za-z0-9_\-]{8,}")
# Every trigger above (a client_secret key, an escape, a key-shaped value) holds "_", "-" or
# "\\", none of which is in base64. The audio of an audio event (most frames) is one long
# string of base64: when its value holds none of the three, the triggers are looked for only in
# the frame around it (FrameRedactor._around_audio). The value's quotes bound it on both sides,
# and no trigger can continue through a quote into it, so the answer is the same as a search
# of the whole frame, at a fraction of the cost (the value is ~4 KB, the rest ~100 bytes).
_AUDIO_VALUE_STARTS = tuple(sorted({
    b'"' + name.encode() + b'":"' for name in STORED_AUDIO_FIELDS.values()
}))
_AUDIO_AT_LEAST = 256  # a shorter value is searched with the rest
_AUDIO_KEY_WITHIN = 512  # bytes from the start where the audio field is looked for
# A secret made only of base64 text (an Azure key is hex) may lie inside an audio value, and
# one holding a quote may cross the quotes around it; every other secret lies wholly outside.
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/=]")


class Redaction(enum.IntEnum):
    """How the redactor changed a frame; the store keeps it on the frame (NULL: UNTOUCHED).

    Ordered: a frame redacted twice (an import of a dump) keeps the larger of the two.
    """

    UNTOUCHED = 0  # byte for byte as it crossed the wire
    PARSED = 1  # its JSON was read: secret strings replaced by REDACTED, every other byte kept
    SCANNED = 2  # not JSON rtrec could read: masked by a byte scan (see FrameRedactor)

    @property
    def word(self) -> str:
        """How readers name it: '' (untouched), 'parsed' or 'scan'."""
        return _WORDS[self]

    @classmethod
    def of_word(cls, word: str) -> Redaction:
        """The Redaction a word names (ValueError for any other word)."""
        for redaction, known in _WORDS.items():
            if known == word:
                return redaction
        raise ValueError(f"unknown redaction {word!r}: use parsed or scan")


_WORDS = {Redaction.UNTOUCHED: "", Redaction.PARSED: "parsed", Redaction.SCANNED: "scan"}


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


def is_secret_param(name: str, value: str) -> bool:
    """Whether a URL query parameter (name and value unquoted) may hold a secret: a secret-like
    name (SECRET_QUERY_WORDS, any case), or a value shaped like a key (sk-..., ek_...) or an
    Authorization value (Bearer ..., Basic ...). model, deployment, api-version, intent are not."""
    lowered = name.lower()
    return (
        any(word in lowered for word in SECRET_QUERY_WORDS)
        or value.lower().startswith(_CREDENTIAL_SCHEMES)
        or _KEY_SHAPED.search(value.encode("utf-8", "surrogatepass")) is not None
    )


def redact_url(url: str, *, marked: bool = True) -> str:
    """The URL without its secrets, the one rule for every URL rtrec prints or stores.

    Dropped: the user info (user and password), the fragment. A query parameter that may hold a
    secret (is_secret_param) reads name=[REDACTED] when `marked` (messages, the console: the
    reader sees a key was given), or is left out (the stored endpoint). Every other parameter is
    kept as it was written.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: keep only what cannot be a secret
        head = url.partition("#")[0].partition("?")[0]
        scheme, sep, rest = head.rpartition("://")
        netloc, slash, path = rest.partition("/")
        return f"{scheme}{sep}{netloc.rpartition('@')[2]}{slash}{path}"
    kept = []
    for piece in parts.query.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if not is_secret_param(unquote_plus(name), unquote_plus(value)):
            kept.append(piece)
        elif marked:
            kept.append(f"{name}={REDACTED}")
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), ""))


class FrameRedactor:
    """Replaces secret strings inside the frames of one session; never raises.

    Built once per session with the secrets of its handshake, and it learns as the session goes:
    every string under a client_secret key (keys compared after JSON unescaping, so
    "client\\u005fsecret" counts) and every key-shaped value (ek_..., sk-...) seen in a frame of
    either direction becomes a secret of the session, replaced wherever it appears later.
    Frames without a secret (nearly all of them) cost one substring search per known secret and
    three for the trigger strings, and come back as the very same object.

    A frame whose structure cannot be trusted (not JSON, and its tokens do not line up: a string
    cut short, stray bytes) keeps nothing after its first client_secret key: that tail reads
    REDACTED_UNPARSED, which says on the stored frame that a byte scan, not a parse, redacted it.
    redact() also reports it: a changed frame is PARSED when its structure was read (it parses,
    or its tokens line up: JSON nested deeper than msgspec reads), SCANNED otherwise (binary,
    broken text, or a failure inside the redactor).
    """

    __slots__ = ("_in_base64", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[bytes] = []
        self._in_base64: list[bytes] = []  # the secrets base64 text may hold (_NOT_BASE64)
        for secret in secrets:
            self.learn(secret)

    def learn(self, secret: str | bytes) -> None:
        """Treat `secret` as a secret of this session from now on (too short: ignored)."""
        raw = secret.encode("utf-8", "surrogatepass") if isinstance(secret, str) else secret
        if len(raw) < _MIN_SECRET_LENGTH or raw in self._secrets or _REDACTED_BYTES in raw:
            return
        self._secrets.append(raw)
        self._secrets.sort(key=len, reverse=True)  # a secret containing another goes first
        if b'"' in raw or _NOT_BASE64.search(raw) is None:
            self._in_base64.append(raw)

    def __call__(self, data: bytes) -> bytes:
        """The frame with its secrets replaced (see redact)."""
        return self.redact(data)[0]

    def redact(self, data: bytes) -> tuple[bytes, Redaction]:
        """The frame with its secrets replaced, and how (an unchanged frame comes back as the
        very same object, UNTOUCHED); never raises."""
        try:
            rest = _around_audio(data)
            if rest is not None and _CLIENT_SECRET_KEY not in rest and _ESCAPE not in rest and (
                _KEY_HINT.search(rest) is None
            ):  # nothing to walk or learn (the tests below, made of the frame but its audio)
                out = self._replace_known(data)
                return (data, Redaction.UNTOUCHED) if out is data else (out, Redaction.PARSED
                                                                        if _readable(data)
                                                                        else Redaction.SCANNED)
            out, readable = data, None
            if _CLIENT_SECRET_KEY in data or (b"\\" in data and _ESCAPE in data):
                out, readable = self._redact_client_secrets(data)
            out = self._scan(out)
            if out is data or out == data:
                return data, Redaction.UNTOUCHED
            if readable is None:
                readable = _readable(data)
            return out, Redaction.PARSED if readable else Redaction.SCANNED
        except Exception:  # a bug or MemoryError must not store the frame unredacted
            try:
                return self._scan(_cut_after_client_secret(data)), Redaction.SCANNED
            except Exception:
                return _UNPARSED_BYTES, Redaction.SCANNED

    def untouched_around_audio(self, outline: bytes, data: bytes) -> bool:
        """Whether redact(data) leaves `data` untouched, for an audio event whose audio value,
        canonical base64 text, was cut out of it leaving `outline` (the store's codec cuts it:
        recorder.store.codec.split_audio_event). Base64 text holds none of the triggers (see
        _AUDIO_VALUE_STARTS) and no secret but those of _in_base64, so only the outline (~100
        bytes) is redacted, and the whole frame searched for those few secrets. Never raises
        (False: ask redact, which also learns what the frame holds)."""
        try:
            if self.redact(outline)[0] is not outline:
                return False
            return not any(secret in data for secret in self._in_base64)
        except Exception:
            return False

    def _scan(self, data: bytes) -> bytes:
        """Key-shaped values learnt, then every known secret replaced: bytes only, no parse."""
        if _KEY_HINT.search(data) is not None:
            for match in _KEY_SHAPED.finditer(data):
                self.learn(match.group())
        return self._replace_known(data)

    def _replace_known(self, data: bytes) -> bytes:
        """Every known secret replaced (the very same object when there was none)."""
        for secret in self._secrets:
            if secret in data:
                data = data.replace(secret, _REDACTED_BYTES)
        return data

    def _redact_client_secrets(self, data: bytes) -> tuple[bytes, bool | None]:
        """Every string value under a client_secret key, at any depth, replaced by the marker
        and learnt as a secret of the session; and whether the frame's structure was read
        (None: not known without a parse)."""
        walk = _walk(data)
        if not walk.keys:
            return data, True if walk.clean else None
        if not walk.clean and not _parses(data):
            # the tokens cannot be trusted: a value may run to the end of the frame
            return _cut(data, walk.keys[0]), False
        parts: list[bytes] = []
        last = 0
        for start, end, learn in walk.spans:
            if learn:
                token = data[start:end]
                self.learn(token[1:-1])
                self.learn(_unescaped(token))
            parts += (data[last:start], _QUOTED_REDACTED)
            last = end
        parts.append(data[last:])
        return b"".join(parts), True


def _around_audio(data: bytes) -> bytes | None:
    """The frame without the value of its audio field (the bytes before it, then those after
    it), when that value is long and holds none of "_", "-", "\\" (see _AUDIO_VALUE_STARTS);
    None otherwise. The field is looked for near the start only (where every audio event has
    it): a frame with it further on is searched whole, as any other."""
    find = data.find
    for key in _AUDIO_VALUE_STARTS:
        at = find(key, 0, _AUDIO_KEY_WITHIN)
        if at < 0:
            continue
        start = at + len(key)
        end = find(b'"', start)
        if end - start < _AUDIO_AT_LEAST or find(b"_", start, end) >= 0 or find(
            b"-", start, end
        ) >= 0 or find(b"\\", start, end) >= 0:
            return None
        # the two sides meet as '""': no trigger can form across the join
        return data[:start] + data[end:]
    return None


def _cut(data: bytes, at: int) -> bytes:
    """Nothing kept after a client_secret key ending at `at`: the rest reads REDACTED_UNPARSED."""
    return data[:at] + b':"' + _UNPARSED_BYTES + b'"'


def _cut_after_client_secret(data: bytes) -> bytes:
    """For a frame the walk failed on: cut after its first literal client_secret key, if any."""
    at = data.find(_CLIENT_SECRET_KEY)
    return data if at < 0 else _cut(data, at + len(_CLIENT_SECRET_KEY))


def _readable(data: bytes) -> bool:
    """Whether a frame's structure can be read: it parses, or its tokens line up (JSON nested
    deeper than msgspec reads)."""
    return _parses(data) or _walk(data).clean


def _parses(data: bytes) -> bool:
    try:
        jsontext.parse(data)
    except jsontext.NotJson:
        return False
    return True


@dataclass
class _Walk:
    # the secret strings (quotes included) and whether each is a secret of the session to learn
    spans: list[tuple[int, int, bool]] = field(default_factory=list)
    keys: list[int] = field(default_factory=list)  # where each "client_secret" token ends
    clean: bool = True  # every byte was a token, whitespace or a scalar; brackets balanced


def _unescaped(token: bytes) -> str:
    """A JSON string token's text (for an invalid escape: \\uXXXX and \\x read by hand)."""
    try:
        value = jsontext.parse(token)
    except jsontext.NotJson:
        value = None
    if isinstance(value, str):
        return value
    text = token[1:-1].decode("utf-8", "replace")
    return _HAND_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)) if m.group(1) else m.group(2), text)


def _is_secret_key(token: bytes) -> bool:
    if token == _CLIENT_SECRET_KEY:
        return True
    return b"\\" in token and _unescaped(token) == "client_secret"


def _walk(data: bytes) -> _Walk:
    """Where the string values under a client_secret key are (quotes included), in order.

    A walk over the frame's JSON tokens keeping track of nesting in a list (no recursion: any
    depth), so a client_secret object holding further objects ({"expires_at": {"anchor": ...},
    "value": "ek_..."}) is covered whole and keys are never touched. The key itself (a string
    directly under client_secret) and the `value` member of a client_secret object are marked
    as the session's secrets to learn.
    """
    walk = _Walk()
    # (in_object, secret, secret_key, direct, value_key) of the containers outside this one
    enclosing: list[tuple[bool, bool, bool, bool, bool]] = []
    in_object = False
    secret = False  # the current container lies inside a client_secret value
    direct = False  # the current container is a client_secret value itself
    secret_key = False  # the current member's key is client_secret
    value_key = False  # the current member's key is "value"
    expect_key = False
    for token in _JSON_TOKEN.finditer(data):
        text = token.group()
        first = text[:1]
        if first == b'"':
            if len(text) == 1:
                walk.clean = False  # a string that never ends
                continue
            named = _is_secret_key(text)
            if named:  # as a key or not: in a broken frame, who knows
                walk.keys.append(token.end())
            if expect_key:
                secret_key, value_key, expect_key = named, text == b'"value"', False
            elif in_object and secret_key:
                walk.spans.append((*token.span(), True))
            elif secret:
                walk.spans.append((*token.span(), direct and in_object and value_key))
        elif first in (b"{", b"["):
            enclosing.append((in_object, secret, secret_key, direct, value_key))
            direct = in_object and secret_key
            secret = secret or direct
            in_object, secret_key, value_key = first == b"{", False, False
            expect_key = in_object
        elif first in (b"}", b"]"):
            if enclosing:
                in_object, secret, secret_key, direct, value_key = enclosing.pop()
            else:
                walk.clean = False
            expect_key = False
        elif first == b",":
            expect_key = in_object
        elif first == b":":
            expect_key = False
        elif not _SCALAR.fullmatch(text):
            walk.clean = False  # stray bytes: not JSON we can line up
    if enclosing:
        walk.clean = False
    return walk


def redact_frame(data: bytes, secrets: Iterable[str] = ()) -> bytes:
    """One-off form of FrameRedactor: the frame with secrets and client_secret values replaced."""
    return FrameRedactor(secrets)(data)
