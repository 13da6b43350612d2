"""recorder.protocol.error_event: the `error` event rtrec sends, shaped like the API's."""

from __future__ import annotations

import json

import pytest

from recorder.protocol.error_event import client_event_id, encode, error_event


def test_error_event_has_the_apis_shape_and_order() -> None:
    event = error_event("rtrec_mismatch", "expected x", event_id="event_rtrec_1",
                        client_event_id="evt_client_7")
    assert json.loads(encode(event)) == {
        "type": "error",
        "event_id": "event_rtrec_1",
        "error": {"type": "invalid_request_error", "code": "rtrec_mismatch",
                  "message": "expected x", "param": None, "event_id": "evt_client_7"},
    }
    assert encode(event).startswith(b'{"type":"error","event_id":"event_rtrec_1","error":{')


def test_error_event_without_a_client_event() -> None:
    event = error_event("c", "m", event_id="e", error_type="server_error")
    assert event["error"] == {"type": "server_error", "code": "c", "message": "m",
                              "param": None, "event_id": None}


@pytest.mark.parametrize(("frame", "expected"), [
    (b'{"type":"response.create","event_id":"evt_1"}', "evt_1"),
    (b'{"type":"response.create"}', None),
    (b'{"event_id":5}', None),
    (b"[1,2]", None),
    (b"not json", None),
    (b'{"event_id":"\xff"}', None),
])
def test_client_event_id(frame: bytes, expected: str | None) -> None:
    assert client_event_id(frame) == expected
