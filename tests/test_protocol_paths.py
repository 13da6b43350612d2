"""recorder.protocol.paths: which paths are Realtime or Live sockets, and what goes upstream."""

from __future__ import annotations

import pytest

from recorder.protocol.paths import (
    REALTIME_PATHS,
    LivePath,
    split_live_path,
    split_realtime_path,
    upstream_path,
)


def test_the_azure_ga_path_is_a_realtime_path() -> None:
    assert "/openai/v1/realtime" in REALTIME_PATHS
    assert split_realtime_path("/openai/v1/realtime") == ("/openai/v1/realtime", "")


@pytest.mark.parametrize(("path", "split"), [
    ("/v1/realtime", ("/v1/realtime", "")),
    ("/v1/realtime/translations", ("/v1/realtime", "/translations")),
    ("/realtime", ("/realtime", "")),
    ("/openai/realtime", ("/openai/realtime", "")),
    ("/voice-live/realtime", ("/voice-live/realtime", "")),
    ("/voice-live/realtimes", None),
    ("/v1/realtimes", None),
    ("/v1/chat/completions", None),
])
def test_split_realtime_path(path: str, split: tuple[str, str] | None) -> None:
    assert split_realtime_path(path) == split


@pytest.mark.parametrize(("base", "request_path", "expected"), [
    # a bare host: the client's path
    ("", "/openai/v1/realtime", "/openai/v1/realtime"),
    ("/", "/v1/realtime/translations", "/v1/realtime/translations"),
    # an upstream path is kept, plus what the client added after its Realtime path
    ("/v1/realtime", "/v1/realtime/translations", "/v1/realtime/translations"),
    ("/v1/realtime", "/openai/v1/realtime", "/v1/realtime"),
    ("/gateway/v1/realtime/", "/realtime", "/gateway/v1/realtime"),
    ("/openai/realtime", "/v1/realtime", "/openai/realtime"),
    # on Azure the client's path says which API it speaks
    ("/openai/realtime", "/openai/v1/realtime", "/openai/v1/realtime"),
    ("/openai/v1/realtime", "/openai/realtime", "/openai/realtime"),
    ("/gw/openai/realtime", "/openai/v1/realtime", "/gw/openai/v1/realtime"),
    # Azure Voice Live: its own path, on a bare host or in place of an Azure OpenAI path
    ("", "/voice-live/realtime", "/voice-live/realtime"),
    ("/voice-live/realtime", "/voice-live/realtime", "/voice-live/realtime"),
    ("/openai/realtime", "/voice-live/realtime", "/voice-live/realtime"),
    ("/openai/v1/realtime", "/voice-live/realtime", "/voice-live/realtime"),
    ("/voice-live/realtime", "/openai/v1/realtime", "/openai/v1/realtime"),
])
def test_upstream_path(base: str, request_path: str, expected: str) -> None:
    assert upstream_path(base, request_path) == expected


# --- Live ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "split"), [
    ("/v1/live/sessions", LivePath("/v1/live/sessions", "primary", None)),
    ("/live/sessions", LivePath("/live/sessions", "primary", None)),
    ("/openai/v1/live/sessions", LivePath("/openai/v1/live/sessions", "primary", None)),
    ("/v1/live/sessions/live_u0_abc/attach",
     LivePath("/v1/live/sessions", "attach", "live_u0_abc")),
    ("/v1/live/sessions/live_u0_abc/fork", LivePath("/v1/live/sessions", "fork", "live_u0_abc")),
    ("/openai/v1/live/sessions/live_u1_x/attach",
     LivePath("/openai/v1/live/sessions", "attach", "live_u1_x")),
    # REST calls and strangers are not Live sockets
    ("/v1/live/sessions/live_u0_abc", None),
    ("/v1/live/sessions/live_u0_abc/hangup", None),
    ("/v1/live/sessions/live_u0_abc/content", None),
    ("/v1/live/sessions//fork", None),
    ("/v1/live/sessions/a/fork/more", None),
    ("/v1/live/sessionsx", None),
    ("/v1/realtime", None),
])
def test_split_live_path(path: str, split: LivePath | None) -> None:
    assert split_live_path(path) == split


def test_a_live_path_is_no_realtime_path() -> None:
    assert split_realtime_path("/v1/live/sessions") is None


@pytest.mark.parametrize(("base", "request_path", "expected"), [
    # the same --upstream serves both APIs: Live beside the Realtime path
    ("/v1/realtime", "/v1/live/sessions", "/v1/live/sessions"),
    ("/v1/realtime/", "/v1/live/sessions/live_u0_a/attach", "/v1/live/sessions/live_u0_a/attach"),
    ("/v1/realtime", "/v1/live/sessions/live_u0_a/fork", "/v1/live/sessions/live_u0_a/fork"),
    ("/v1/realtime", "/live/sessions", "/v1/live/sessions"),
    ("/realtime", "/v1/live/sessions", "/live/sessions"),
    ("/gw/v1/realtime", "/v1/live/sessions", "/gw/v1/live/sessions"),
    # a bare host: the client's path, Azure's too
    ("", "/v1/live/sessions", "/v1/live/sessions"),
    ("/", "/openai/v1/live/sessions/x/attach", "/openai/v1/live/sessions/x/attach"),
    # Azure: Live is under /openai/v1, whichever Realtime path the upstream was given by
    ("/openai/v1/realtime", "/openai/v1/live/sessions", "/openai/v1/live/sessions"),
    ("/openai/v1/realtime", "/v1/live/sessions", "/openai/v1/live/sessions"),
    ("/openai/realtime", "/openai/v1/live/sessions/x/fork", "/openai/v1/live/sessions/x/fork"),
    # an upstream given by its Live URL
    ("/v1/live/sessions", "/v1/live/sessions/x/attach", "/v1/live/sessions/x/attach"),
    # ... serves Realtime beside it too
    ("/v1/live/sessions", "/v1/realtime", "/v1/realtime"),
    ("/openai/v1/live/sessions", "/openai/v1/realtime", "/openai/v1/realtime"),
    # any other upstream path is the API root
    ("/gateway", "/v1/live/sessions", "/gateway/live/sessions"),
])
def test_live_upstream_path(base: str, request_path: str, expected: str) -> None:
    assert upstream_path(base, request_path) == expected
