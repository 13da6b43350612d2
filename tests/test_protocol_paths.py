"""recorder.protocol.paths: which paths are Realtime sockets, and which path goes upstream."""

from __future__ import annotations

import pytest

from recorder.protocol.paths import REALTIME_PATHS, split_realtime_path, upstream_path


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
