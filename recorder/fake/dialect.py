"""Event bodies in the GA and the beta shape (CATALOG.md §1, §3 "How beta and GA differ").

Only shapes live here: which names, which nesting, which fields. Ids, times and content come
from the script (recorder.fake.script). Event dicts keep the wire's key order (type first), and
the server's event_id is added by the script when the event is placed on the timeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recorder.audio import G711_ALAW, G711_ULAW, PCM16, AudioFormat
from recorder.protocol import names

GA = "ga"
BETA = "beta"
PROTOCOLS = (GA, BETA)

Event = dict[str, Any]

_GA_FORMATS = {PCM16: "audio/pcm", G711_ULAW: "audio/pcmu", G711_ALAW: "audio/pcma"}

# Realistic defaults of each generation of the service.
DEFAULT_MODEL = {GA: "gpt-realtime-2025-08-28", BETA: "gpt-4o-realtime-preview-2025-06-03"}
DEFAULT_VOICE = {GA: "marin", BETA: "alloy"}
TRANSCRIBE_MODEL = {GA: "gpt-4o-mini-transcribe", BETA: "whisper-1"}


def turn_detection(*, silence_ms: int, prefix_ms: int) -> Event:
    return {
        "type": "server_vad",
        "threshold": 0.5,
        "prefix_padding_ms": prefix_ms,
        "silence_duration_ms": silence_ms,
        "create_response": True,
        "interrupt_response": True,
    }


class Dialect:
    """Builds event bodies for one protocol version."""

    def __init__(self, protocol: str) -> None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
        self.protocol = protocol
        self.ga = protocol == GA

    # --- audio format -------------------------------------------------------------------

    def audio_format(self, fmt: AudioFormat) -> Any:
        if not self.ga:
            return fmt.name
        wire: Event = {"type": _GA_FORMATS[fmt.name]}
        if fmt.name == PCM16:
            wire["rate"] = fmt.sample_rate
        return wire

    # --- session ----------------------------------------------------------------------------

    def session(self, s: SessionSettings) -> Event:
        """The full session object of session.created / session.updated."""
        transcription = {"model": s.transcribe_model, "language": None, "prompt": ""}
        td = turn_detection(silence_ms=s.silence_ms, prefix_ms=s.prefix_ms)
        if self.ga:
            td["idle_timeout_ms"] = None
            return {
                "type": "realtime",
                "object": "realtime.session",
                "id": s.session_id,
                "model": s.model,
                "output_modalities": ["audio"],
                "instructions": s.instructions,
                "tools": s.tools,
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "truncation": "auto",
                "prompt": None,
                "expires_at": s.expires_at,
                "audio": {
                    "input": {
                        "format": self.audio_format(s.input_format),
                        "transcription": transcription if s.transcribe else None,
                        "noise_reduction": None,
                        "turn_detection": td,
                    },
                    "output": {
                        "format": self.audio_format(s.output_format),
                        "voice": s.voice,
                        "speed": 1,
                    },
                },
                "include": None,
            }
        return {
            "id": s.session_id,
            "object": "realtime.session",
            "expires_at": s.expires_at,
            "model": s.model,
            "modalities": ["audio", "text"],
            "instructions": s.instructions,
            "voice": s.voice,
            "input_audio_format": self.audio_format(s.input_format),
            "output_audio_format": self.audio_format(s.output_format),
            "input_audio_transcription": transcription if s.transcribe else None,
            "input_audio_noise_reduction": None,
            "turn_detection": td,
            "tools": s.tools,
            "tool_choice": "auto",
            "temperature": 0.8,
            "max_response_output_tokens": "inf",
            "speed": 1.0,
            "tracing": None,
        }

    def session_update(self, s: SessionSettings) -> Event:
        """What a client sends to configure the session (only the fields it sets)."""
        td = turn_detection(silence_ms=s.silence_ms, prefix_ms=s.prefix_ms)
        transcription = {"model": s.transcribe_model} if s.transcribe else None
        if self.ga:
            session: Event = {
                "type": "realtime",
                "instructions": s.instructions,
                "audio": {
                    "input": {
                        "format": self.audio_format(s.input_format),
                        "transcription": transcription,
                        "turn_detection": td,
                    },
                    "output": {"format": self.audio_format(s.output_format), "voice": s.voice},
                },
                "tools": s.tools,
            }
        else:
            session = {
                "modalities": ["audio", "text"],
                "instructions": s.instructions,
                "voice": s.voice,
                "input_audio_format": self.audio_format(s.input_format),
                "output_audio_format": self.audio_format(s.output_format),
                "input_audio_transcription": transcription,
                "turn_detection": td,
                "tools": s.tools,
            }
        return {"type": "session.update", "session": session}

    # --- items ------------------------------------------------------------------------------

    def user_audio_item(self, item_id: str, *, transcript: str | None = None) -> Event:
        item: Event = {"id": item_id}
        if not self.ga:
            item["object"] = "realtime.item"  # live GA frames usually omit it
        item |= {"type": "message", "status": "completed", "role": "user"}
        item["content"] = [{"type": "input_audio", "transcript": transcript}]
        return item

    def assistant_item(
        self, item_id: str, *, status: str, content: list[Event] | None = None
    ) -> Event:
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content or [],
        }

    def assistant_audio_content(self, transcript: str) -> Event:
        return {"type": "output_audio" if self.ga else "audio", "transcript": transcript}

    def assistant_text_content(self, text: str) -> Event:
        return {"type": "output_text" if self.ga else "text", "text": text}

    def function_call_item(
        self, item_id: str, *, call_id: str, name: str, arguments: str, status: str
    ) -> Event:
        return {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": status,
            "name": name,
            "call_id": call_id,
            "arguments": arguments,
        }

    def function_output_item(self, item_id: str | None, *, call_id: str, output: str) -> Event:
        """As the client creates it (item_id None) or as the server echoes it (with its id)."""
        if item_id is None:
            return {"type": "function_call_output", "call_id": call_id, "output": output}
        return {"id": item_id, "object": "realtime.item", "type": "function_call_output",
                "call_id": call_id, "output": output, "status": "completed"}

    def item_inserted(self, item: Event, previous_item_id: str | None) -> list[Event]:
        """The server events announcing an item in the conversation: GA added (+ done for a
        finished item), beta created."""
        if not self.ga:
            return [
                {"type": "conversation.item.created", "previous_item_id": previous_item_id,
                 "item": item}
            ]
        added: Event = {"type": "conversation.item.added", "previous_item_id": previous_item_id,
                        "item": item}
        if item.get("status") == "in_progress":
            return [added]
        return [added, self.item_done(item, previous_item_id)]

    def item_done(self, item: Event, previous_item_id: str | None) -> Event:
        """GA only: the finalized item."""
        return {"type": "conversation.item.done", "previous_item_id": previous_item_id,
                "item": item}

    # --- responses --------------------------------------------------------------------------

    def response(
        self,
        response_id: str,
        *,
        status: str,
        output: list[Event],
        conversation_id: str | None,
        voice: str,
        fmt: AudioFormat,
        modalities: list[str],
        status_details: Event | None = None,
        usage: Event | None = None,
        metadata: Event | None = None,
    ) -> Event:
        body: Event = {
            "object": "realtime.response",
            "id": response_id,
            "status": status,
            "status_details": status_details,
            "output": output,
            "conversation_id": conversation_id,
        }
        if self.ga:
            body |= {
                "output_modalities": modalities,
                "max_output_tokens": "inf",
                "audio": {"output": {"format": self.audio_format(fmt), "voice": voice}},
            }
        else:
            body |= {
                "modalities": ["audio", "text"] if modalities == ["audio"] else modalities,
                "voice": voice,
                "output_audio_format": self.audio_format(fmt),
                "temperature": 0.8,
                "max_output_tokens": "inf",
            }
        body |= {"usage": usage, "metadata": metadata}
        return body

    def response_create(
        self,
        *,
        conversation: str | None = None,
        modalities: list[str] | None = None,
        instructions: str | None = None,
        metadata: Event | None = None,
        input_item_ids: list[str] | None = None,
    ) -> Event:
        """A client's response.create; with no arguments, the bare `{"type": ...}` form."""
        response: Event = {}
        if conversation is not None:
            response["conversation"] = conversation
        if modalities is not None:
            response["output_modalities" if self.ga else "modalities"] = modalities
        if instructions is not None:
            response["instructions"] = instructions
        if metadata is not None:
            response["metadata"] = metadata
        if input_item_ids is not None:
            response["input"] = [{"type": "item_reference", "id": i} for i in input_item_ids]
        event: Event = {"type": "response.create"}
        if response:
            event["response"] = response
        return event

    def delta_type(self, kind: str) -> str:
        """'audio', 'audio_transcript' or 'text' deltas, renamed in GA (CATALOG.md §6)."""
        return names.family(kind, ga=self.ga)


@dataclass(frozen=True, slots=True)
class SessionSettings:
    """What a session is configured with (the server's view, echoed in session.* events)."""

    session_id: str
    model: str
    voice: str
    instructions: str
    expires_at: int
    input_format: AudioFormat
    output_format: AudioFormat
    transcribe: bool
    transcribe_model: str
    tools: list[Event] = field(default_factory=list)
    silence_ms: int = 200
    prefix_ms: int = 300
