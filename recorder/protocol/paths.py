"""The Realtime and Live WebSocket paths (CATALOG.md §3, LIVE.md §1), and the path a client's
handshake takes upstream.

OpenAI: /v1/realtime (plus /v1/realtime/translations); a websocket_base_url without /v1 gives
/realtime. Azure: the classic /openai/realtime (api-version and deployment in the query), the
v1 GA path /openai/v1/realtime, and Azure Voice Live's /voice-live/realtime (api-version and
model in the query; Voice Live speaks the Realtime events, https://learn.microsoft.com/azure/
ai-services/speech-service/voice-live-how-to).

Live (LIVE.md §1): /v1/live/sessions (the primary socket), /v1/live/sessions/{id}/attach (a
sideband on a running session) and /v1/live/sessions/{id}/fork (a new session from a stored
one); Azure the same under /openai/v1; a websocket_base_url without /v1 gives /live/sessions.
One --upstream serves both APIs: a Live path goes to the Live path beside the upstream's
Realtime path (wss://api.openai.com/v1/realtime -> wss://api.openai.com/v1/live/sessions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

OPENAI_PATH = "/v1/realtime"
BARE_PATH = "/realtime"
AZURE_PATH = "/openai/realtime"
AZURE_GA_PATH = "/openai/v1/realtime"
VOICE_LIVE_PATH = "/voice-live/realtime"
AZURE_PATHS = (AZURE_GA_PATH, AZURE_PATH, VOICE_LIVE_PATH)

# Every path a Realtime client may connect to; a path may go on (/v1/realtime/translations).
REALTIME_PATHS = (OPENAI_PATH, BARE_PATH, AZURE_PATH, AZURE_GA_PATH, VOICE_LIVE_PATH)


REALTIME = "/realtime"  # what every Realtime path ends with
LIVE = "/live/sessions"  # what every Live path begins with, after its root
LIVE_PATH = "/v1" + LIVE
BARE_LIVE_PATH = LIVE
AZURE_LIVE_PATH = "/openai/v1" + LIVE
# Every path a Live client may connect to; a path may go on (/{id}/attach, /{id}/fork).
LIVE_PATHS = (LIVE_PATH, BARE_LIVE_PATH, AZURE_LIVE_PATH)
# The connection kinds of Live, by the last part of the path (none: the primary socket).
LiveKind = Literal["primary", "attach", "fork"]
_LIVE_ACTIONS: dict[str, LiveKind] = {"attach": "attach", "fork": "fork"}
# Azure OpenAI's classic Realtime root; its Live API lives under /openai/v1 only.
_AZURE_CLASSIC_ROOT = "/openai"


@dataclass(frozen=True, slots=True)
class LivePath:
    """A Live WebSocket path taken apart: '/v1/live/sessions/live_u0_x/fork' ->
    LivePath('/v1/live/sessions', 'fork', 'live_u0_x')."""

    base: str  # the Live path it starts with (one of LIVE_PATHS)
    kind: LiveKind
    session_id: str | None  # the session the path names (attach, fork); None for primary

    @property
    def rest(self) -> str:
        """What follows the base: '' or '/{session_id}/{kind}'."""
        return "" if self.session_id is None else f"/{self.session_id}/{self.kind}"


def split_live_path(path: str) -> LivePath | None:
    """The Live path `path` is, or None for another path (a Realtime one, a REST call).

    '/v1/live/sessions' -> primary; '/openai/v1/live/sessions/{id}/attach' -> attach of id;
    '/v1/live/sessions/{id}/fork' -> fork of id; '/v1/live/sessions/{id}' (HTTP, not a socket)
    and anything longer -> None.
    """
    for base in LIVE_PATHS:
        if path == base:
            return LivePath(base, "primary", None)
        if not path.startswith(base + "/"):
            continue
        session_id, _, action = path[len(base) + 1:].partition("/")
        kind = _LIVE_ACTIONS.get(action)
        if session_id and kind is not None:
            return LivePath(base, kind, session_id)
    return None


def _root(base: str) -> str | None:
    """The API root of an upstream path: '/v1/realtime' -> '/v1', '/gw/openai/v1/live/sessions'
    -> '/gw/openai/v1'; None when the path names neither API."""
    if base.endswith(REALTIME):
        return base[: -len(REALTIME)]
    if base.endswith(LIVE):
        return base[: -len(LIVE)]
    return None


def live_upstream_path(base: str, live: LivePath) -> str:
    """The upstream path for a Live handshake on `live`, from the --upstream's path `base`.

    A bare host gets the client's path. An upstream given by its Realtime (or Live) URL gets the
    Live path beside it: '/v1/realtime' -> '/v1/live/sessions' (+ '/{id}/attach'); Azure's
    classic '/openai/realtime' -> '/openai/v1/live/sessions' (Azure has Live under /openai/v1
    only). Any other upstream path is the API root: '/gw' -> '/gw/live/sessions'.
    """
    base = base.rstrip("/")
    if not base:
        return live.base + live.rest
    root = _root(base)
    if root is None:
        root = base
    elif root.endswith(_AZURE_CLASSIC_ROOT):
        root += "/v1"
    return root + LIVE + live.rest


def split_realtime_path(path: str) -> tuple[str, str] | None:
    """(the Realtime path `path` starts with, what follows it), or None for another path.

    '/v1/realtime/translations' -> ('/v1/realtime', '/translations'); '/realtimes' -> None.
    """
    for known in REALTIME_PATHS:
        rest = path[len(known):]
        if path.startswith(known) and (not rest or rest.startswith("/")):
            return known, rest
    return None


def upstream_path(base: str, request_path: str) -> str:
    """The path of the upstream URL for a handshake on `request_path`.

    An upstream given as a bare host gets the client's path. An upstream with a path keeps it,
    plus what the client added after its Realtime path (e.g. /translations); except that on
    Azure the client's path says which API it speaks: a GA client on /openai/v1/realtime goes to
    /openai/v1/realtime of an upstream given as .../openai/realtime, and the other way round;
    a Voice Live client on /voice-live/realtime goes to /voice-live/realtime. A Live path goes
    to live_upstream_path's.
    """
    live = split_live_path(request_path)
    if live is not None:
        return live_upstream_path(base, live)
    if base in ("", "/"):
        return request_path
    client, rest = split_realtime_path(request_path) or ("", "")
    base = base.rstrip("/")
    if base.endswith(LIVE):  # an upstream given by its Live URL serves Realtime beside it
        base = base[: -len(LIVE)] + REALTIME
    if client in AZURE_PATHS:
        for azure in AZURE_PATHS:
            if base.endswith(azure):
                base = base[: -len(azure)] + client
                break
    return base + rest
