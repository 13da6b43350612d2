"""recorder.protocol.live: what the recorder reads of a Live session's first frames."""

from __future__ import annotations

import pytest

from recorder.protocol.live import SessionFacts, facts_of, is_live_start, link_words


@pytest.mark.parametrize(("frame", "facts"), [
    (b'{"type":"session.start","session":{"model":"gpt-live-1","instructions":"hi"}}',
     SessionFacts("session.start", None, "gpt-live-1")),
    (b'{"type":"session.started","event_id":"event_1","session":{"id":"live_u0_a",'
     b'"model":"gpt-live-1","status":"active"}}',
     SessionFacts("session.started", "live_u0_a", "gpt-live-1")),
    # a fork's start names nothing; a start's session id is not the session's
    (b'{"type":"session.start","session":{}}', SessionFacts("session.start")),
    (b'{"type":"session.start","session":{"id":"x"}}', SessionFacts("session.start")),
    # odd shapes read as far as they go, never raise
    (b'{"type":"session.started","session":"live_u0_a"}', SessionFacts("session.started")),
    (b'{"type":"session.started","session":{"id":7}}', SessionFacts("session.started")),
    (b'{"type":"session.started"}', SessionFacts("session.started")),
    (b'{"type":"session.output_audio.delta","delta":"AAAA"}',
     SessionFacts("session.output_audio.delta")),
    (b'{"type":7}', SessionFacts(None)),
    (b"[1, 2]", SessionFacts(None)),
    (b"\xff\xfe not json", SessionFacts(None)),
    (b"[" * 100_000, SessionFacts(None)),
])
def test_facts_of(frame: bytes, facts: SessionFacts) -> None:
    assert facts_of(frame) == facts


START = b'{"type":"session.start","session":{"model":"gpt-live-1"}}'
STARTED = b'{"type":"session.started","session":{"id":"live_u0_a"}}'
CREATED = b'{"type":"session.created","session":{"id":"sess_1"}}'


@pytest.mark.parametrize(("frames", "live"), [
    ([(True, START), (False, STARTED)], True),
    ([(False, STARTED), (False, b'{"type":"session.input_audio.append","audio":""}')], True),
    ([(False, CREATED), (True, b'{"type":"session.update","session":{}}')], False),
    # only the first frame of each side counts
    ([(True, b'{"type":"session.update"}'), (False, b'{"type":"error"}'), (True, START)], False),
    ([], False),
])
def test_is_live_start(frames: list[tuple[bool, bytes]], live: bool) -> None:
    assert is_live_start(frames) is live


def test_link_words() -> None:
    assert link_words("live_u0_a", "primary", None) == "live_u0_a"
    assert link_words("live_u0_a", "attach", "live_u0_a") == "sideband of live_u0_a"
    assert link_words("live_u0_b", "fork", "live_u0_a") == "fork of live_u0_a, now live_u0_b"
    assert link_words(None, "fork", "live_u0_a") == "fork of live_u0_a"
    assert link_words(None, None, None) is None
