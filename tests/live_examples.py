"""One realistic example of every Live event (LIVE.md §2c, §2d) and of the Responses events a
`response.event` carries (§2g), written for rtrec's tests from the protocol map's descriptions:
a weather assistant on gpt-live-1 with a Responses backend, ids shaped as the map says
(live_u0_..., event_..., item_..., resp_..., fc_..., call_...), timeline fields in session ms,
audio synthesized here (a 440 Hz tone, PCM16 LE).

CLIENT and SERVER map each type to its example (a JSON object); RESPONSES maps each nested
Responses event type to its example. frame() gives the compact bytes a client or server sends.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any


def tone(ms: int, rate: int = 24000, hz: float = 440.0) -> bytes:
    """`ms` of a quiet sine tone, PCM16 LE mono at `rate`."""
    count = rate * ms // 1000
    return struct.pack(
        f"<{count}h", *(int(3000 * math.sin(2 * math.pi * hz * n / rate)) for n in range(count))
    )


def b64(audio: bytes) -> str:
    return base64.b64encode(audio).decode("ascii")


def frame(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


AUDIO_20MS = b64(tone(20))
SESSION_ID = "live_u0_7QmV2rK9sT"
DELEGATION = "item_4hTz81Lw"
RESPONSE_A = "resp_68f1a2b3c4d5e6f7"
RESPONSE_B = "resp_68f1a2b3c4d5e6f8"
CALL_ID = "call_Kx3PqW9dZ2"
FUNCTION_ITEM = "fc_68f1a2b3c4d5e6aa"
MESSAGE_ITEM = "msg_68f1a2b3c4d5e6bb"

WEATHER_TOOL = {
    "type": "function", "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"]},
    "strict": True,
}
BACKEND = {
    "model": "gpt-5.1", "instructions": "Answer weather questions using the tool.",
    "tools": [WEATHER_TOOL], "tool_choice": "auto", "parallel_tool_calls": False,
    "reasoning": {"effort": "low"}, "max_output_tokens": 800,
}
START_CONFIG = {
    "model": "gpt-live-1",
    "instructions": "You are a friendly weather assistant. Keep answers short.",
    "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}},
    "delegation": {"type": "responses", "responses": BACKEND, "acknowledgement_delay_ms": 0},
    "input": [
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "The caller is in Lisbon."}]},
        {"type": "message", "role": "user",
         "content": [{"type": "input_text", "text": "Hi there."}]},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "Hello! How can I help?"}]},
    ],
    "store": True,
    "safety_identifier": "user_2f9c",
}
RESOLVED = {
    **START_CONFIG,
    "id": SESSION_ID, "expires_at": 1796400000, "status": "active",
    "triggers": [],
}
USAGE = {"seconds": 28.0}
QUESTION = {"type": "predicate", "name": "wants_human",
            "instructions": "Does the caller ask for a human agent?"}
DECISION = {
    "answers": [{"type": "predicate", "name": "wants_human", "probability": 0.08}],
    "model": "gpt-5.1-mini",
    "usage": {"input_tokens": 412, "input_tokens_details": {"cached_tokens": 0,
                                                            "cache_write_tokens": 0},
              "output_tokens": 3, "output_tokens_details": {"reasoning_tokens": 0},
              "total_tokens": 415},
}

CLIENT: dict[str, dict[str, Any]] = {
    "session.start": {"type": "session.start", "event_id": "evt_c001", "session": START_CONFIG},
    "session.update": {
        "type": "session.update", "event_id": "evt_c002",
        "session": {"delegation": {"type": "responses", "acknowledgement_delay_ms": 250,
                                   "responses": {"max_output_tokens": 400}},
                    "triggers": [{"type": "decisions",
                                  "event_type": "session.input_transcript.delta",
                                  "decisions": {"questions": [QUESTION]}}]},
    },
    "session.input_audio.append": {"type": "session.input_audio.append", "audio": AUDIO_20MS},
    "session.input_audio.mute": {"type": "session.input_audio.mute", "event_id": "evt_c003"},
    "session.input_audio.unmute": {"type": "session.input_audio.unmute", "event_id": "evt_c004"},
    "session.output_audio.fixture.play": {
        "type": "session.output_audio.fixture.play", "event_id": "evt_c005",
        "audio": b64(tone(40, hz=660.0)),
    },
    "session.instructions.append": {
        "type": "session.instructions.append", "event_id": "evt_c006",
        "content": "Use Celsius.", "delegation_id": None,
    },
    "session.thinking.append": {
        "type": "session.thinking.append", "event_id": "evt_c007",
        "content": "The caller's account is in good standing.", "delegation_id": DELEGATION,
    },
    "session.commentary.append": {
        "type": "session.commentary.append", "event_id": "evt_c008",
        "content": "It is 21 degrees and sunny in Lisbon.", "delegation_id": DELEGATION,
    },
    "decision.create": {"type": "decision.create", "event_id": "evt_c009"},
    "decision.item.create": {
        "type": "decision.item.create", "event_id": "evt_c010",
        "item": {"type": "message", "role": "user",
                 "content": [{"type": "input_text", "text": "Caller tier: gold."}]},
    },
    "decision.item.delete": {"type": "decision.item.delete", "event_id": "evt_c011",
                             "item_id": "ditem_01"},
    "response.item.create": {
        "type": "response.item.create", "event_id": "evt_c012",
        "item": {"type": "function_call_output", "call_id": CALL_ID,
                 "output": '{"temperature_c": 21, "sky": "sunny"}'},
    },
    "response.create": {"type": "response.create", "event_id": "evt_c013"},
    "session.close": {"type": "session.close", "event_id": "evt_c014"},
    "transport.dtmf.send": {"type": "transport.dtmf.send", "event_id": "evt_c015", "event": "5"},
}


def _timed(type_name: str, n: int, start_ms: int, end_ms: int, **fields: Any) -> dict[str, Any]:
    return {"type": type_name, "event_id": f"event_{n:04d}", "start_ms": start_ms,
            "end_ms": end_ms, **fields}


def _server(type_name: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": type_name, "event_id": f"event_{n:04d}", **fields}


SERVER: dict[str, dict[str, Any]] = {
    "session.started": _server("session.started", 1, client_event_id="evt_c001",
                               session=RESOLVED),
    "session.updated": _server("session.updated", 2, client_event_id="evt_c002",
                               session=RESOLVED),
    "session.paused": _server("session.paused", 3),
    "session.resumed": _server("session.resumed", 4),
    "session.input_audio.muted": _server("session.input_audio.muted", 5,
                                         client_event_id="evt_c003"),
    "session.input_audio.unmuted": _server("session.input_audio.unmuted", 6,
                                           client_event_id="evt_c004"),
    "session.output_audio.fixture.playing": _server("session.output_audio.fixture.playing", 7,
                                                    client_event_id="evt_c005"),
    "session.output_audio.fixture.played": _server("session.output_audio.fixture.played", 8,
                                                   client_event_id="evt_c005"),
    "session.instructions.appended": _timed("session.instructions.appended", 9, 5200, 5200,
                                            client_event_id="evt_c006"),
    "session.thinking.appended": _timed("session.thinking.appended", 10, 6100, 6100,
                                        client_event_id="evt_c007"),
    "session.commentary.appended": _timed("session.commentary.appended", 11, 6400, 6400,
                                          client_event_id="evt_c008"),
    "session.input_audio.append": {"type": "session.input_audio.append", "audio": AUDIO_20MS},
    "session.output_audio.delta": {"type": "session.output_audio.delta",
                                   "delta": b64(tone(20, hz=220.0)),
                                   "start_ms": 4000, "end_ms": 4020},
    "session.input_transcript.delta": _timed("session.input_transcript.delta", 12, 1200, 1400,
                                             delta="What's the weather"),
    "session.output_transcript.delta": _timed("session.output_transcript.delta", 13, 2600,
                                              2800, delta="Sure, checking"),
    "session.delegation.created": _server(
        "session.delegation.created", 14, offset_ms=2450,
        delegation={"id": DELEGATION, "type": "delegation", "target": "responses",
                    "response_id": RESPONSE_A}),
    "response.event": _server(
        "response.event", 15, delegation_id=DELEGATION,
        event={"type": "response.function_call_arguments.delta", "sequence_number": 5,
               "item_id": FUNCTION_ITEM, "output_index": 0, "delta": '{"city":"Lis'}),
    "decision.event": _server(
        "decision.event", 16, trigger_id="trig_01", source_event_id="event_0012",
        source_event_type="session.input_transcript.delta",
        event={"type": "decision.completed", "decision": DECISION}),
    "decision.item.created": _server(
        "decision.item.created", 17, client_event_id="evt_c010",
        item={"id": "ditem_01", "type": "message", "role": "user",
              "content": [{"type": "input_text", "text": "Caller tier: gold."}]}),
    "decision.item.deleted": _server("decision.item.deleted", 18, client_event_id="evt_c011",
                                     item_id="ditem_01"),
    "session.usage.updated": _server("session.usage.updated", 19, usage={"seconds": 7},
                                     context_window={"usage_ratio": 0.031}),
    "session.closed": _server("session.closed", 20, client_event_id="evt_c014",
                              reason="close_requested", session=RESOLVED, usage=USAGE),
    "error": _server("error", 21, client_event_id="evt_c012", error={
        "type": "invalid_request_error", "code": "unknown_parameter",
        "message": "Unknown parameter: 'session.voice'.", "param": "session.voice",
        "client_event_id": "evt_c012"}),
    "info": _server("info", 22, code="data_channel_permissions",
                    message="The data channel may send 3 client event types."),
    "transport.dtmf.received": _server("transport.dtmf.received", 23, event="7"),
    "transport.dtmf.sent": _server("transport.dtmf.sent", 24, client_event_id="evt_c015",
                                   event="5"),
    "transport.dtmf.send": _server("transport.dtmf.send", 25, client_event_id="evt_c015",
                                   event="5"),
    "transport.ringing": _server("transport.ringing", 26, session_id=SESSION_ID),
    "transport.answered": _server("transport.answered", 27, session_id=SESSION_ID),
    "transport.failed": _server("transport.failed", 28, session_id=SESSION_ID, error={
        "type": "call_error", "code": "sip_busy", "message": "The callee is busy."}),
}


def _trimmed(response_id: str, status: str, **fields: Any) -> dict[str, Any]:
    """A lifecycle snapshot as Live trims it: no input; instructions, tools, output cleared."""
    return {"id": response_id, "object": "response", "created_at": 1796398800,
            "status": status, "model": "gpt-5.1", "instructions": None, "tools": [],
            "tool_choice": "auto", "parallel_tool_calls": False, "output": [], **fields}


_BACKEND_USAGE = {"input_tokens": 318,
                  "input_tokens_details": {"cached_tokens": 128, "cache_write_tokens": 0},
                  "output_tokens": 24, "output_tokens_details": {"reasoning_tokens": 8},
                  "total_tokens": 342}
_CALL = {"id": FUNCTION_ITEM, "type": "function_call", "status": "completed",
         "name": "get_weather", "call_id": CALL_ID, "arguments": '{"city":"Lisbon"}'}
_PART = {"item_id": MESSAGE_ITEM, "output_index": 0, "content_index": 0}

RESPONSES: dict[str, dict[str, Any]] = {
    "response.created": {"type": "response.created", "sequence_number": 0,
                         "response": _trimmed(RESPONSE_A, "in_progress")},
    "response.queued": {"type": "response.queued", "sequence_number": 0,
                        "response": _trimmed(RESPONSE_A, "queued")},
    "response.in_progress": {"type": "response.in_progress", "sequence_number": 1,
                             "response": _trimmed(RESPONSE_A, "in_progress")},
    "response.completed": {"type": "response.completed", "sequence_number": 9,
                           "response": _trimmed(RESPONSE_A, "completed", usage=_BACKEND_USAGE)},
    "response.failed": {"type": "response.failed", "sequence_number": 4,
                        "response": _trimmed(RESPONSE_A, "failed", error={
                            "code": "server_error", "message": "The backend failed."})},
    "response.incomplete": {"type": "response.incomplete", "sequence_number": 7,
                            "response": _trimmed(RESPONSE_B, "incomplete",
                                                 previous_response_id=RESPONSE_A,
                                                 incomplete_details={
                                                     "reason": "max_output_tokens"})},
    "response.output_item.added": {"type": "response.output_item.added", "sequence_number": 2,
                                   "output_index": 0,
                                   "item": {**_CALL, "status": "in_progress", "arguments": ""}},
    "response.output_item.done": {"type": "response.output_item.done", "sequence_number": 8,
                                  "output_index": 0, "item": _CALL},
    "response.content_part.added": {"type": "response.content_part.added",
                                    "sequence_number": 3, **_PART,
                                    "part": {"type": "output_text", "text": "",
                                             "annotations": []}},
    "response.content_part.done": {"type": "response.content_part.done", "sequence_number": 6,
                                   **_PART, "part": {"type": "output_text",
                                                     "text": "It is 21 degrees and sunny.",
                                                     "annotations": []}},
    "response.output_text.delta": {"type": "response.output_text.delta", "sequence_number": 4,
                                   **_PART, "delta": "It is 21 degrees", "logprobs": []},
    "response.output_text.done": {"type": "response.output_text.done", "sequence_number": 5,
                                  **_PART, "text": "It is 21 degrees and sunny.",
                                  "logprobs": []},
    "response.refusal.delta": {"type": "response.refusal.delta", "sequence_number": 4,
                               **_PART, "delta": "I can't"},
    "response.refusal.done": {"type": "response.refusal.done", "sequence_number": 5, **_PART,
                              "refusal": "I can't help with that."},
    "response.function_call_arguments.delta": {
        "type": "response.function_call_arguments.delta", "sequence_number": 3,
        "item_id": FUNCTION_ITEM, "output_index": 0, "delta": '{"city":'},
    "response.function_call_arguments.done": {
        "type": "response.function_call_arguments.done", "sequence_number": 7,
        "item_id": FUNCTION_ITEM, "output_index": 0, "arguments": '{"city":"Lisbon"}'},
    "response.web_search_call.in_progress": {
        "type": "response.web_search_call.in_progress", "sequence_number": 2,
        "item_id": "ws_68f1a2b3", "output_index": 0},
    "response.web_search_call.searching": {
        "type": "response.web_search_call.searching", "sequence_number": 3,
        "item_id": "ws_68f1a2b3", "output_index": 0},
    "response.web_search_call.completed": {
        "type": "response.web_search_call.completed", "sequence_number": 4,
        "item_id": "ws_68f1a2b3", "output_index": 0},
    "error": {"type": "error", "sequence_number": 2, "code": "rate_limit_exceeded",
              "message": "Rate limit reached for the backend model.", "param": None},
}
