"""The Realtime WebSocket paths (CATALOG.md §3) and the path a client's handshake takes upstream.

OpenAI: /v1/realtime (plus /v1/realtime/translations); a websocket_base_url without /v1 gives
/realtime. Azure: the classic /openai/realtime (api-version and deployment in the query), the
v1 GA path /openai/v1/realtime, and Azure Voice Live's /voice-live/realtime (api-version and
model in the query; Voice Live speaks the Realtime events, https://learn.microsoft.com/azure/
ai-services/speech-service/voice-live-how-to).
"""

from __future__ import annotations

OPENAI_PATH = "/v1/realtime"
BARE_PATH = "/realtime"
AZURE_PATH = "/openai/realtime"
AZURE_GA_PATH = "/openai/v1/realtime"
VOICE_LIVE_PATH = "/voice-live/realtime"
AZURE_PATHS = (AZURE_GA_PATH, AZURE_PATH, VOICE_LIVE_PATH)

# Every path a Realtime client may connect to; a path may go on (/v1/realtime/translations).
REALTIME_PATHS = (OPENAI_PATH, BARE_PATH, AZURE_PATH, AZURE_GA_PATH, VOICE_LIVE_PATH)


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
    a Voice Live client on /voice-live/realtime goes to /voice-live/realtime.
    """
    if base in ("", "/"):
        return request_path
    client, rest = split_realtime_path(request_path) or ("", "")
    base = base.rstrip("/")
    if client in AZURE_PATHS:
        for azure in AZURE_PATHS:
            if base.endswith(azure):
                base = base[: -len(azure)] + client
                break
    return base + rest
