"""Write rtrec's own test vectors: one JSON payload per event type and protocol version.

Usage: python tests/vectors/make_vectors.py   (rewrites tests/vectors/{beta,ga}/*.json)

The payloads are written here by hand from the field lists in the protocol catalog (CATALOG §1,
§1c), in the shape each protocol version sends, with our own ids and values. File names follow
the official examples' convention: `<client|server>.<type>.json`. The suite decodes every file
and checks it against the type in its name, so it stands alone without ../shared.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

Payload = dict[str, Any]


def _pcm16_tone_base64(ms: int) -> str:
    """A short 440 Hz tone as pcm16 @ 24 kHz, base64: a realistic audio field."""
    samples = (int(8000 * math.sin(2 * math.pi * 440 * n / 24000)) for n in range(24 * ms))
    pcm = b"".join(s.to_bytes(2, "little", signed=True) for s in samples)
    return base64.b64encode(pcm).decode("ascii")


AUDIO = _pcm16_tone_base64(20)
RIOC = {"response_id": "resp_T1", "item_id": "item_A1", "output_index": 0, "content_index": 0}

TURN_DETECTION = {
    "type": "server_vad",
    "threshold": 0.6,
    "prefix_padding_ms": 250,
    "silence_duration_ms": 400,
    "create_response": True,
    "interrupt_response": True,
}
TOOL = {
    "type": "function",
    "name": "lookup_order",
    "description": "Find an order by its number.",
    "parameters": {"type": "object", "properties": {"number": {"type": "string"}}},
}


def beta_session(object_name: str = "realtime.session") -> Payload:
    return {
        "id": "sess_T1",
        "object": object_name,
        "model": "gpt-4o-realtime-preview",
        "modalities": ["audio", "text"],
        "instructions": "Answer briefly.",
        "voice": "verse",
        "input_audio_format": "g711_ulaw",
        "output_audio_format": "pcm16",
        "input_audio_transcription": {"model": "whisper-1", "language": "en", "prompt": None},
        "input_audio_noise_reduction": None,
        "turn_detection": TURN_DETECTION,
        "tools": [TOOL],
        "tool_choice": "auto",
        "temperature": 0.7,
        "max_response_output_tokens": 512,
        "speed": 1.0,
        "tracing": None,
    }


def beta_transcription_session() -> Payload:
    return {
        "id": "sess_T2",
        "object": "realtime.transcription_session",
        "input_audio_format": "pcm16",
        "input_audio_transcription": {"model": "gpt-4o-mini-transcribe", "language": "de"},
        "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
        "input_audio_noise_reduction": {"type": "far_field"},
        "include": [],
    }


def ga_session(kind: str = "realtime") -> Payload:
    audio_input = {
        "format": {"type": "audio/pcmu"},
        "transcription": {"model": "gpt-4o-transcribe", "language": None, "prompt": ""},
        "noise_reduction": {"type": "near_field"},
        "turn_detection": {**TURN_DETECTION, "idle_timeout_ms": 6000},
    }
    if kind == "transcription":
        return {"type": "transcription", "id": "sess_T3", "audio": {"input": audio_input},
                "include": ["item.input_audio_transcription.logprobs"]}
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": "sess_T4",
        "model": "gpt-realtime",
        "output_modalities": ["audio"],
        "instructions": "Answer briefly.",
        "tools": [TOOL, {"type": "mcp", "server_label": "docs", "server_url": "https://mcp.test",
                         "require_approval": "never"}],
        "tool_choice": {"type": "function", "name": "lookup_order"},
        "max_output_tokens": "inf",
        "tracing": "auto",
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.8},
        "prompt": None,
        "expires_at": 1790000000,
        "audio": {
            "input": audio_input,
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "cedar",
                       "speed": 1.25},
        },
        "include": None,
    }


def user_audio_item(transcript: str | None) -> Payload:
    return {"id": "item_U1", "object": "realtime.item", "type": "message", "status": "completed",
            "role": "user", "content": [{"type": "input_audio", "transcript": transcript}]}


def assistant_item(protocol: str, *, with_audio: bool = False) -> Payload:
    part: Payload = {"type": "output_audio" if protocol == "ga" else "audio",
                     "transcript": "Your order ships tomorrow."}
    if with_audio:
        part["audio"] = AUDIO
    return {"id": "item_A1", "type": "message", "status": "completed", "role": "assistant",
            "content": [part]}


def function_call_item() -> Payload:
    return {"id": "item_F1", "type": "function_call", "status": "completed",
            "call_id": "call_T1", "name": "lookup_order", "arguments": '{"number":"A-17"}'}


def usage(protocol: str) -> Payload:
    details: Payload = {"text_tokens": 40, "audio_tokens": 60, "cached_tokens": 0}
    if protocol == "ga":
        details |= {"image_tokens": 0,
                    "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0,
                                              "image_tokens": 0}}
    return {"total_tokens": 180, "input_tokens": 100, "output_tokens": 80,
            "input_token_details": details,
            "output_token_details": {"text_tokens": 20, "audio_tokens": 60}}


def response(protocol: str, status: str) -> Payload:
    done = status != "in_progress"
    body: Payload = {
        "id": "resp_T1",
        "object": "realtime.response",
        "status": status,
        "status_details": (
            {"type": "cancelled", "reason": "turn_detected"} if status == "cancelled" else None
        ),
        "output": [assistant_item(protocol), function_call_item()] if done else [],
        "usage": usage(protocol) if done else None,
        "conversation_id": "conv_T1",
        "metadata": {"topic": "orders"},
    }
    if protocol == "ga":
        body |= {"output_modalities": ["audio"], "max_output_tokens": 4096,
                 "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000},
                                      "voice": {"id": "voice_custom_1"}}}}
    else:
        body |= {"modalities": ["audio", "text"], "voice": "alloy",
                 "output_audio_format": "pcm16", "temperature": 0.8,
                 "max_response_output_tokens": "inf"}
    return body


def client_events(protocol: str) -> dict[str, Payload]:
    ga = protocol == "ga"
    events: dict[str, Payload] = {
        "session.update": {"event_id": "c_1", "session": ga_session() if ga else beta_session()},
        "input_audio_buffer.append": {"event_id": "c_2", "audio": AUDIO},
        "input_audio_buffer.commit": {"event_id": "c_3"},
        "input_audio_buffer.clear": {},
        "conversation.item.create": {
            "previous_item_id": "root",
            "item": {"type": "message", "role": "user",
                     "content": [{"type": "input_text", "text": "Where is my order?"}]},
        },
        "conversation.item.retrieve": {"event_id": "c_4", "item_id": "item_A1"},
        "conversation.item.truncate": {"item_id": "item_A1", "content_index": 0,
                                       "audio_end_ms": 830},
        "conversation.item.delete": {"item_id": "item_U1"},
        "response.create": {"event_id": "c_5", "response": (
            {"output_modalities": ["text"], "conversation": "none", "instructions": "Summarize.",
             "input": [{"type": "item_reference", "id": "item_U1"}],
             "audio": {"output": {"format": {"type": "audio/pcma"}, "voice": "marin"}},
             "metadata": {"purpose": "summary"}, "max_output_tokens": 200}
            if ga else
            {"modalities": ["text"], "instructions": "Summarize.", "voice": "ash",
             "output_audio_format": "g711_alaw", "temperature": 0.6, "tools": [TOOL],
             "tool_choice": "required", "max_response_output_tokens": 200,
             "conversation": "auto"}
        )},
        "response.cancel": {"response_id": "resp_T1"},
        "output_audio_buffer.clear": {"event_id": "c_6"},
    }
    if not ga:
        events["transcription_session.update"] = {
            "session": {key: value for key, value in beta_transcription_session().items()
                        if key not in ("id", "object")}
        }
    return events


def server_events(protocol: str) -> dict[str, Payload]:
    ga = protocol == "ga"
    text_prefix = "response.output_text" if ga else "response.text"
    audio_prefix = "response.output_audio" if ga else "response.audio"
    transcript_prefix = "response.output_audio_transcript" if ga else "response.audio_transcript"
    transcription = "conversation.item.input_audio_transcription"
    session = ga_session() if ga else beta_session()
    events: dict[str, Payload] = {
        "session.created": {"session": session},
        "session.updated": {"session": ga_session("transcription") if ga else session},
        "conversation.created": {"conversation": {"id": "conv_T1",
                                                  "object": "realtime.conversation"}},
        "conversation.item.created": {"previous_item_id": None, "item": user_audio_item(None)},
        "conversation.item.retrieved": {"item": assistant_item(protocol, with_audio=True)},
        "conversation.item.truncated": {"item_id": "item_A1", "content_index": 0,
                                        "audio_end_ms": 830},
        "conversation.item.deleted": {"item_id": "item_U1"},
        f"{transcription}.delta": {"item_id": "item_U1", "content_index": 0,
                                   "delta": "Where is", "obfuscation": "q8Xw2"},
        f"{transcription}.completed": {
            "item_id": "item_U1", "content_index": 0, "transcript": "Where is my order?",
            "usage": ({"type": "duration", "seconds": 1.75} if ga else
                      {"type": "tokens", "total_tokens": 30, "input_tokens": 20,
                       "output_tokens": 10,
                       "input_token_details": {"text_tokens": 0, "audio_tokens": 20}}),
            "logprobs": [{"token": "Where", "logprob": -0.01, "bytes": [87, 104, 101, 114, 101]}],
            **({"languages": [{"code": "en"}]} if ga else {}),
        },
        f"{transcription}.failed": {
            "item_id": "item_U1", "content_index": 0,
            "error": {"type": "transcription_error", "code": "audio_unintelligible",
                      "message": "Could not transcribe.", "param": None},
        },
        "input_audio_buffer.committed": {"item_id": "item_U1", "previous_item_id": None},
        "input_audio_buffer.cleared": {},
        "input_audio_buffer.speech_started": {"item_id": "item_U1", "audio_start_ms": 420},
        "input_audio_buffer.speech_stopped": {"item_id": "item_U1", "audio_end_ms": 2210},
        "output_audio_buffer.started": {"response_id": "resp_T1"},
        "output_audio_buffer.stopped": {"response_id": "resp_T1"},
        "output_audio_buffer.cleared": {"response_id": "resp_T1"},
        "response.created": {"response": response(protocol, "in_progress")},
        "response.done": {"response": response(protocol, "cancelled")},
        "response.output_item.added": {"response_id": "resp_T1", "output_index": 0,
                                       "item": {**assistant_item(protocol),
                                                "status": "in_progress", "content": []}},
        "response.output_item.done": {"response_id": "resp_T1", "output_index": 1,
                                      "item": function_call_item()},
        "response.content_part.added": {**RIOC, "part": {"type": "audio", "transcript": ""}},
        "response.content_part.done": {**RIOC, "part": {"type": "audio",
                                                        "transcript": "Your order ships."}},
        f"{text_prefix}.delta": {**RIOC, "delta": "Your or"},
        f"{text_prefix}.done": {**RIOC, "text": "Your order ships tomorrow."},
        f"{audio_prefix}.delta": {**RIOC, "delta": AUDIO},
        f"{audio_prefix}.done": {**RIOC},
        f"{transcript_prefix}.delta": {**RIOC, "delta": "Your ", "obfuscation": "Zt0"},
        f"{transcript_prefix}.done": {**RIOC, "transcript": "Your order ships tomorrow."},
        "response.function_call_arguments.delta": {
            "response_id": "resp_T1", "item_id": "item_F1", "output_index": 1,
            "call_id": "call_T1", "delta": '{"numb'},
        "response.function_call_arguments.done": {
            "response_id": "resp_T1", "item_id": "item_F1", "output_index": 1,
            "call_id": "call_T1", "arguments": '{"number":"A-17"}',
            **({"name": "lookup_order"} if ga else {})},
        "rate_limits.updated": {"rate_limits": [
            {"name": "tokens", "limit": 40000, "remaining": 39120, "reset_seconds": 1.32}]},
        "error": {"error": {"type": "invalid_request_error", "code": "invalid_value",
                            "message": "Unknown voice.", "param": "session.voice",
                            "event_id": "c_1"}},
    }
    if ga:
        events |= {
            "conversation.item.added": {"previous_item_id": "item_U1",
                                        "item": {**assistant_item(protocol),
                                                 "status": "in_progress", "content": []}},
            "conversation.item.done": {"previous_item_id": "item_U1",
                                       "item": assistant_item(protocol)},
            f"{transcription}.segment": {"item_id": "item_U1", "content_index": 0,
                                         "id": "seg_1", "text": "Where is my order?",
                                         "speaker": "A", "start": 0.42, "end": 2.21},
            "input_audio_buffer.timeout_triggered": {"item_id": "item_U2",
                                                     "audio_start_ms": 9000,
                                                     "audio_end_ms": 15000},
            "input_audio_buffer.dtmf_event_received": {"event": "#", "received_at": 1790000042},
            "response.mcp_call_arguments.delta": {"response_id": "resp_T2", "item_id": "mcp_1",
                                                  "output_index": 0, "delta": '{"q":',
                                                  "obfuscation": "x1"},
            "response.mcp_call_arguments.done": {"response_id": "resp_T2", "item_id": "mcp_1",
                                                 "output_index": 0,
                                                 "arguments": '{"q":"refunds"}'},
            "response.mcp_call.in_progress": {"item_id": "mcp_1", "output_index": 0},
            "response.mcp_call.completed": {"item_id": "mcp_1", "output_index": 0},
            "response.mcp_call.failed": {"item_id": "mcp_1", "output_index": 0},
            "mcp_list_tools.in_progress": {"item_id": "mcp_tools_1"},
            "mcp_list_tools.completed": {"item_id": "mcp_tools_1"},
            "mcp_list_tools.failed": {"item_id": "mcp_tools_1"},
        }
    else:
        events |= {
            "transcription_session.created": {"session": beta_transcription_session()},
            "transcription_session.updated": {"session": beta_transcription_session()},
        }
    return events


def write_all() -> int:
    written = 0
    for protocol in ("beta", "ga"):
        folder = HERE / protocol
        folder.mkdir(exist_ok=True)
        for old in folder.glob("*.json"):
            old.unlink()
        for direction, events in (("client", client_events(protocol)),
                                  ("server", server_events(protocol))):
            for number, (type_name, fields) in enumerate(sorted(events.items())):
                payload: Payload = {"type": type_name}
                # Server events all carry a server event_id (dtmf is the documented exception).
                if direction == "server" and type_name != "input_audio_buffer.dtmf_event_received":
                    payload["event_id"] = f"event_T{protocol}{number:03d}"
                payload |= fields
                path = folder / f"{direction}.{type_name}.json"
                path.write_text(json.dumps(payload, indent=2) + "\n")
                written += 1
    return written


if __name__ == "__main__":
    print(f"wrote {write_all()} vectors under {HERE}")
