"""RealtimeEventReceiver: the seed's methods, their parameters, and dispatch of every event."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest

from recorder import decode
from recorder.errors import RtrecError
from recorder.receiver import SERVER_EVENT_METHODS, RealtimeEventReceiver, SessionState

SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "RealtimeEventReceiverBase.txt"

# The seed's 29 virtual methods with their parameters, as the seed page lists them; kept here so
# the suite stands alone without ../shared (test_seed_file_matches_this_list checks the copy).
SEED_METHODS: dict[str, list[str]] = {
    "OnConversationCreated": ["eventId", "conversation"],
    "OnConversationItemCreated": ["eventId", "previousItemId", "item"],
    "OnConversationItemDeleted": ["eventId", "itemId"],
    "OnConversationItemInputAudioTranscriptionCompleted": [
        "eventId", "contentIndex", "transcription",
    ],
    "OnConversationItemInputAudioTranscriptionDelta": [
        "eventId", "itemId", "contentIndex", "delta",
    ],
    "OnConversationItemInputAudioTranscriptionFailed": ["eventId", "contentIndex", "error"],
    "OnConversationItemTruncated": ["eventId", "itemId", "contentIndex", "audioEndMs"],
    "OnError": ["eventId", "error"],
    "OnInputAudioBufferCleared": ["eventId"],
    "OnInputAudioBufferCommitted": ["eventId", "previousItemId", "itemId"],
    "OnInputAudioBufferSpeechStarted": ["eventId", "audioStartMs", "itemId"],
    "OnInputAudioBufferSpeechStopped": ["eventId", "audioEndMs", "itemId"],
    "OnRateLimitsUpdated": ["eventId", "rateLimits"],
    "OnResponseAudioDelta": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "delta",
    ],
    "OnResponseAudioDone": ["eventId", "responseId", "itemId", "itemIndex", "contentIndex"],
    "OnResponseAudioTranscriptDelta": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "delta",
    ],
    "OnResponseAudioTranscriptDone": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "transcript",
    ],
    "OnResponseContentPartAdded": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "part",
    ],
    "OnResponseContentPartDone": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "part",
    ],
    "OnResponseCreated": ["eventId", "response"],
    "OnResponseDone": ["eventId", "response"],
    "OnResponseFunctionCallArgumentsDelta": [
        "eventId", "responseId", "itemId", "itemIndex", "callId", "delta",
    ],
    "OnResponseFunctionCallArgumentsDone": [
        "eventId", "responseId", "itemId", "itemIndex", "callId", "arguments",
    ],
    "OnResponseOutputItemAdded": ["eventId", "responseId", "itemIndex", "item"],
    "OnResponseOutputItemDone": ["eventId", "responseId", "itemIndex", "item"],
    "OnResponseTextDelta": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "delta",
    ],
    "OnResponseTextDone": [
        "eventId", "responseId", "itemId", "itemIndex", "contentIndex", "text",
    ],
    "OnSessionCreated": ["eventId", "session"],
    "OnSessionUpdated": ["eventId", "session"],
}


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class Recorder(RealtimeEventReceiver):
    """Records every on_* call as (method, args, kwargs)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattribute__(self, name: str) -> Any:
        attr = super().__getattribute__(name)
        if name.startswith("on_") and name != "on_realtime_event_received":
            calls = super().__getattribute__("calls")

            def record(*args: Any, **kwargs: Any) -> None:
                calls.append((name, args, kwargs))

            return record
        return attr


def test_seed_file_matches_this_list() -> None:
    if not SEED.exists():
        pytest.skip("../shared/seeds is not present; the hard-coded list stands in for it")
    text = SEED.read_text()
    found = dict(
        (m.group(1), [p.split()[-1] for p in m.group(2).split(",") if p.strip()])
        for m in re.finditer(r"public virtual void (On\w+)\(([^)]*)\)", text)
    )
    assert found == SEED_METHODS


@pytest.mark.parametrize("seed_name", sorted(SEED_METHODS))
def test_each_seed_method_exists_with_the_seed_parameters_in_order(seed_name: str) -> None:
    method = getattr(RealtimeEventReceiver, snake(seed_name))
    params = list(inspect.signature(method).parameters.values())[1:]
    positional = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == [snake(p) for p in SEED_METHODS[seed_name]]


R, ITEM, OUT, C = "resp_1", "item_1", 2, 3
RIOC = {"response_id": R, "item_id": ITEM, "output_index": OUT, "content_index": C}

# (event JSON, expected method, expected positional args as a function of the decoded event,
#  expected keyword args). Covers all 29 seed methods; GA names appear beside beta names.
CASES: list[tuple[dict[str, Any], str, Any, dict[str, Any]]] = [
    ({"type": "session.created", "event_id": "e1", "session": {"id": "sess_1", "model": "m"}},
     "on_session_created", lambda e: ("e1", e.session), {}),
    ({"type": "session.updated", "event_id": "e2", "session": {"id": "sess_1"}},
     "on_session_updated", lambda e: ("e2", e.session), {}),
    ({"type": "conversation.created", "event_id": "e3",
      "conversation": {"id": "conv_1", "object": "realtime.conversation"}},
     "on_conversation_created", lambda e: ("e3", e.conversation), {}),
    ({"type": "conversation.item.created", "event_id": "e4", "previous_item_id": "item_0",
      "item": {"id": ITEM, "type": "message", "role": "user", "content": []}},
     "on_conversation_item_created", lambda e: ("e4", "item_0", e.item), {}),
    ({"type": "conversation.item.deleted", "event_id": "e5", "item_id": ITEM},
     "on_conversation_item_deleted", lambda e: ("e5", ITEM), {}),
    ({"type": "conversation.item.input_audio_transcription.completed", "event_id": "e6",
      "item_id": ITEM, "content_index": 0, "transcript": "hello"},
     "on_conversation_item_input_audio_transcription_completed",
     lambda e: ("e6", 0, "hello"), {"item_id": ITEM}),
    ({"type": "conversation.item.input_audio_transcription.delta", "event_id": "e7",
      "item_id": ITEM, "content_index": 0, "delta": "hel"},
     "on_conversation_item_input_audio_transcription_delta", lambda e: ("e7", ITEM, 0, "hel"), {}),
    ({"type": "conversation.item.input_audio_transcription.failed", "event_id": "e8",
      "item_id": ITEM, "content_index": 0,
      "error": {"type": "transcription_error", "code": "audio_unintelligible",
                "message": "no", "param": None}},
     "on_conversation_item_input_audio_transcription_failed",
     lambda e: ("e8", 0, e.error), {"item_id": ITEM}),
    ({"type": "conversation.item.truncated", "event_id": "e9", "item_id": ITEM,
      "content_index": 0, "audio_end_ms": 1500},
     "on_conversation_item_truncated", lambda e: ("e9", ITEM, 0, 1500), {}),
    ({"type": "error", "event_id": "e10",
      "error": {"type": "invalid_request_error", "message": "bad", "code": "x", "param": None,
                "event_id": "c1"}},
     "on_error", lambda e: ("e10", e.error), {}),
    ({"type": "input_audio_buffer.cleared", "event_id": "e11"},
     "on_input_audio_buffer_cleared", lambda e: ("e11",), {}),
    ({"type": "input_audio_buffer.committed", "event_id": "e12", "previous_item_id": "item_0",
      "item_id": ITEM},
     "on_input_audio_buffer_committed", lambda e: ("e12", "item_0", ITEM), {}),
    ({"type": "input_audio_buffer.speech_started", "event_id": "e13", "audio_start_ms": 1000,
      "item_id": ITEM},
     "on_input_audio_buffer_speech_started", lambda e: ("e13", 1000, ITEM), {}),
    ({"type": "input_audio_buffer.speech_stopped", "event_id": "e14", "audio_end_ms": 2000,
      "item_id": ITEM},
     "on_input_audio_buffer_speech_stopped", lambda e: ("e14", 2000, ITEM), {}),
    ({"type": "rate_limits.updated", "event_id": "e15",
      "rate_limits": [{"name": "tokens", "limit": 100, "remaining": 50,
                       "reset_seconds": 2.5}]},
     "on_rate_limits_updated", lambda e: ("e15", e.rate_limits), {}),
    ({"type": "response.audio.delta", "event_id": "e16", **RIOC, "delta": "AAAA"},
     "on_response_audio_delta", lambda e: ("e16", R, ITEM, OUT, C, "AAAA"), {}),
    ({"type": "response.output_audio.delta", "event_id": "e16g", **RIOC, "delta": "BBBB"},
     "on_response_audio_delta", lambda e: ("e16g", R, ITEM, OUT, C, "BBBB"), {}),
    ({"type": "response.audio.done", "event_id": "e17", **RIOC},
     "on_response_audio_done", lambda e: ("e17", R, ITEM, OUT, C), {}),
    ({"type": "response.output_audio.done", "event_id": "e17g", **RIOC},
     "on_response_audio_done", lambda e: ("e17g", R, ITEM, OUT, C), {}),
    ({"type": "response.audio_transcript.delta", "event_id": "e18", **RIOC, "delta": "Hi"},
     "on_response_audio_transcript_delta", lambda e: ("e18", R, ITEM, OUT, C, "Hi"), {}),
    ({"type": "response.output_audio_transcript.delta", "event_id": "e18g", **RIOC,
      "delta": "Hi", "obfuscation": "xyz"},
     "on_response_audio_transcript_delta", lambda e: ("e18g", R, ITEM, OUT, C, "Hi"), {}),
    ({"type": "response.audio_transcript.done", "event_id": "e19", **RIOC,
      "transcript": "Hi there"},
     "on_response_audio_transcript_done", lambda e: ("e19", R, ITEM, OUT, C, "Hi there"), {}),
    ({"type": "response.output_audio_transcript.done", "event_id": "e19g", **RIOC,
      "transcript": "Hi there"},
     "on_response_audio_transcript_done", lambda e: ("e19g", R, ITEM, OUT, C, "Hi there"), {}),
    ({"type": "response.content_part.added", "event_id": "e20", **RIOC,
      "part": {"type": "audio", "transcript": ""}},
     "on_response_content_part_added", lambda e: ("e20", R, ITEM, OUT, C, e.part), {}),
    ({"type": "response.content_part.done", "event_id": "e21", **RIOC,
      "part": {"type": "audio", "transcript": "Hi there"}},
     "on_response_content_part_done", lambda e: ("e21", R, ITEM, OUT, C, e.part), {}),
    ({"type": "response.created", "event_id": "e22",
      "response": {"id": R, "object": "realtime.response", "status": "in_progress",
                   "output": []}},
     "on_response_created", lambda e: ("e22", e.response), {}),
    ({"type": "response.done", "event_id": "e23",
      "response": {"id": R, "object": "realtime.response", "status": "completed",
                   "output": []}},
     "on_response_done", lambda e: ("e23", e.response), {}),
    ({"type": "response.function_call_arguments.delta", "event_id": "e24", "response_id": R,
      "item_id": ITEM, "output_index": OUT, "call_id": "call_1", "delta": "{\"a\""},
     "on_response_function_call_arguments_delta",
     lambda e: ("e24", R, ITEM, OUT, "call_1", "{\"a\""), {}),
    ({"type": "response.function_call_arguments.done", "event_id": "e25", "response_id": R,
      "item_id": ITEM, "output_index": OUT, "call_id": "call_1", "arguments": "{\"a\": 1}",
      "name": "get_weather"},
     "on_response_function_call_arguments_done",
     lambda e: ("e25", R, ITEM, OUT, "call_1", "{\"a\": 1}"), {"name": "get_weather"}),
    ({"type": "response.output_item.added", "event_id": "e26", "response_id": R,
      "output_index": OUT, "item": {"id": ITEM, "type": "message", "role": "assistant",
                                  "content": []}},
     "on_response_output_item_added", lambda e: ("e26", R, OUT, e.item), {}),
    ({"type": "response.output_item.done", "event_id": "e27", "response_id": R,
      "output_index": OUT, "item": {"id": ITEM, "type": "message", "role": "assistant",
                                  "content": []}},
     "on_response_output_item_done", lambda e: ("e27", R, OUT, e.item), {}),
    ({"type": "response.text.delta", "event_id": "e28", **RIOC, "delta": "Hel"},
     "on_response_text_delta", lambda e: ("e28", R, ITEM, OUT, C, "Hel"), {}),
    ({"type": "response.output_text.delta", "event_id": "e28g", **RIOC, "delta": "Hel"},
     "on_response_text_delta", lambda e: ("e28g", R, ITEM, OUT, C, "Hel"), {}),
    ({"type": "response.text.done", "event_id": "e29", **RIOC, "text": "Hello"},
     "on_response_text_done", lambda e: ("e29", R, ITEM, OUT, C, "Hello"), {}),
    ({"type": "response.output_text.done", "event_id": "e29g", **RIOC, "text": "Hello"},
     "on_response_text_done", lambda e: ("e29g", R, ITEM, OUT, C, "Hello"), {}),
]


Call = tuple[str, tuple[Any, ...], dict[str, Any]]


def dispatch(payload: dict[str, Any]) -> tuple[Any, list[Call]]:
    event = decode(json.dumps(payload).encode())
    receiver = Recorder()
    receiver.on_realtime_event_received(event)
    return event, [c for c in receiver.calls if c[0] != "on_session_state_changed"]


@pytest.mark.parametrize("payload, method, args, kwargs", CASES, ids=[c[0]["type"] for c in CASES])
def test_dispatch_calls_the_seed_method_with_the_event_fields(
    payload: dict[str, Any], method: str, args: Any, kwargs: dict[str, Any]
) -> None:
    event, calls = dispatch(payload)
    assert calls == [(method, args(event), kwargs)]


def test_cases_cover_all_29_seed_methods() -> None:
    assert {c[1] for c in CASES} == {snake(name) for name in SEED_METHODS}


GA_ONLY: list[tuple[dict[str, Any], str, tuple[Any, ...]]] = [
    ({"type": "conversation.item.added", "event_id": "g1", "previous_item_id": None,
      "item": {"id": ITEM, "type": "message", "role": "user", "content": []}},
     "on_conversation_item_added", ("g1", None)),
    ({"type": "conversation.item.done", "event_id": "g2", "previous_item_id": "item_0",
      "item": {"id": ITEM, "type": "message", "role": "user", "content": []}},
     "on_conversation_item_done", ("g2", "item_0")),
    ({"type": "input_audio_buffer.timeout_triggered", "event_id": "g3", "item_id": ITEM,
      "audio_start_ms": 100, "audio_end_ms": 900},
     "on_input_audio_buffer_timeout_triggered", ("g3", ITEM, 100, 900)),
    ({"type": "input_audio_buffer.dtmf_event_received", "event": "5", "received_at": 1700000000},
     "on_input_audio_buffer_dtmf_event_received", ("5", 1700000000)),
    ({"type": "output_audio_buffer.started", "event_id": "g5", "response_id": R},
     "on_output_audio_buffer_started", ("g5", R)),
    ({"type": "output_audio_buffer.stopped", "event_id": "g6", "response_id": R},
     "on_output_audio_buffer_stopped", ("g6", R)),
    ({"type": "output_audio_buffer.cleared", "event_id": "g7", "response_id": R},
     "on_output_audio_buffer_cleared", ("g7", R)),
    ({"type": "conversation.item.input_audio_transcription.segment", "event_id": "g8",
      "item_id": ITEM, "content_index": 0, "id": "seg_1", "text": "hi", "speaker": "A",
      "start": 0.5, "end": 1.25},
     "on_conversation_item_input_audio_transcription_segment",
     ("g8", ITEM, 0, "seg_1", "hi", "A", 0.5, 1.25)),
    ({"type": "mcp_list_tools.completed", "event_id": "g9", "item_id": ITEM},
     "on_mcp_list_tools_completed", ("g9", ITEM)),
    ({"type": "response.mcp_call.failed", "event_id": "g10", "item_id": ITEM, "output_index": 1},
     "on_response_mcp_call_failed", ("g10", ITEM, 1)),
    ({"type": "response.mcp_call_arguments.done", "event_id": "g11", "response_id": R,
      "item_id": ITEM, "output_index": 1, "arguments": "{}"},
     "on_response_mcp_call_arguments_done", ("g11", R, ITEM, 1, "{}")),
]


@pytest.mark.parametrize("payload, method, args_prefix", GA_ONLY,
                         ids=[c[0]["type"] for c in GA_ONLY])
def test_ga_only_events_reach_their_own_methods(
    payload: dict[str, Any], method: str, args_prefix: tuple[Any, ...]
) -> None:
    _, calls = dispatch(payload)
    assert len(calls) == 1
    name, args, _ = calls[0]
    assert name == method
    assert args[: len(args_prefix)] == args_prefix


def test_every_known_server_type_has_a_route() -> None:
    from recorder.events import SERVER_TYPES

    assert set(SERVER_TYPES) <= set(SERVER_EVENT_METHODS)


def test_client_events_reach_the_outbound_hook() -> None:
    event, calls = dispatch({"type": "response.create", "event_id": "c1"})
    assert calls == [("on_client_event", (event,), {})]


@pytest.mark.parametrize("raw", [
    b'{"type": "response.brand_new_thing", "event_id": "x"}',
    b"not json",
    b'{"type": "response.audio.delta", "delta": 42}',
])
def test_unknown_and_broken_events_reach_the_catch_all(raw: bytes) -> None:
    receiver = Recorder()
    event = decode(raw)
    receiver.on_realtime_event_received(event)
    assert receiver.calls == [("on_unknown_event", (event,), {})]


def test_session_created_reports_the_state_change_before_the_handler() -> None:
    receiver = Recorder()
    receiver.on_realtime_event_received(
        decode(b'{"type": "session.created", "event_id": "e", "session": {"id": "s"}}')
    )
    assert [c[0] for c in receiver.calls] == ["on_session_state_changed", "on_session_created"]
    assert receiver.calls[0][1] == (SessionState.CREATED,)


def test_send_without_a_connection_says_what_to_do() -> None:
    with pytest.raises(RtrecError, match="no connection attached"):
        RealtimeEventReceiver().send({"type": "response.create"})


def test_send_goes_through_the_attached_sender() -> None:
    sent: list[Any] = []
    receiver = RealtimeEventReceiver()
    receiver.attach_sender(sent.append)
    receiver.send({"type": "response.create"})
    assert sent == [{"type": "response.create"}]
