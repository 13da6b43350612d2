"""Small Live sessions as frames in memory, for the fold, replay and receiver tests: a weather
call with a Responses delegation (a tool call, the client's answer, the backend's continuation),
an assistant interrupted by the user, an instructions append, a mute, a command error and a
clean close. Times are arrival times (ns) and session-timeline ms, as LIVE.md §2 describes.
"""

from __future__ import annotations

import json
from typing import Any

from live_examples import b64, tone

from recorder.wire import Direction, Frame, Opcode

SESSION_ID = "live_u0_7QmV2rK9sT"
DELEGATION = "item_4hTz81Lw"
RESP_A = "resp_A1"
RESP_B = "resp_B2"
CALL_ID = "call_Wx12"
FC_ID = "fc_9Qa"

AUDIO_100MS = b64(tone(100))


class Session:
    """Frames appended in time order: client(at_ms, event), server(at_ms, event)."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self._n = 0

    def client(self, at_ms: float, event: dict[str, Any]) -> Session:
        return self._add(Direction.CLIENT, at_ms, event)

    def server(self, at_ms: float, event: dict[str, Any]) -> Session:
        if "event_id" not in event and event["type"] != "session.output_audio.delta":
            self._n += 1
            event = {"type": event["type"], "event_id": f"event_{self._n:04d}",
                     **{k: v for k, v in event.items() if k != "type"}}
        return self._add(Direction.SERVER, at_ms, event)

    def raw(self, direction: Direction, at_ms: float, data: bytes) -> Session:
        self.frames.append(Frame(direction, round(at_ms * 1e6), Opcode.TEXT, data))
        return self

    def _add(self, direction: Direction, at_ms: float, event: dict[str, Any]) -> Session:
        data = json.dumps(event, separators=(",", ":")).encode()
        return self.raw(direction, at_ms, data)

    def transcript(self, at_ms: float, speaker: str, text: str, start_ms: int, end_ms: int,
                   event_id: str | None = None) -> Session:
        kind = "input" if speaker == "user" else "output"
        event: dict[str, Any] = {"type": f"session.{kind}_transcript.delta", "delta": text,
                                 "start_ms": start_ms, "end_ms": end_ms}
        if event_id is not None:
            event["event_id"] = event_id
        return self.server(at_ms, event)

    def backend(self, at_ms: float, nested: dict[str, Any]) -> Session:
        return self.server(at_ms, {"type": "response.event", "delegation_id": DELEGATION,
                                   "event": nested})


def start(session: Session, fmt: dict[str, Any] | None = None) -> Session:
    audio = {"format": fmt or {"type": "audio/pcm", "rate": 24000}}
    session.client(0, {"type": "session.start", "event_id": "evt_c001",
                       "session": {"model": "gpt-live-1", "audio": audio}})
    return session.server(40, {"type": "session.started", "client_event_id": "evt_c001",
                               "session": {"id": SESSION_ID, "model": "gpt-live-1",
                                           "status": "active", "audio": audio}})


def weather() -> Session:
    """The whole call, about 5 s."""
    s = start(Session())
    for n in range(50):  # 5 s of microphone audio, 100 ms chunks, and the output track
        s.client(100 + n * 100, {"type": "session.input_audio.append", "audio": AUDIO_100MS})
        s.server(150 + n * 100, {"type": "session.output_audio.delta", "delta": AUDIO_100MS})
    s.transcript(420, "user", "What's the", 200, 400)
    s.transcript(620, "user", " weather in Lisbon?", 400, 600, event_id="event_w2")
    s.transcript(630, "user", " weather in Lisbon?", 400, 600, event_id="event_w2")  # again
    s.server(900, {"type": "session.delegation.created", "offset_ms": 650,
                   "delegation": {"id": DELEGATION, "type": "delegation", "target": "responses",
                                  "response_id": RESP_A}})
    s.backend(910, {"type": "response.created", "sequence_number": 0,
                    "response": {"id": RESP_A, "status": "in_progress"}})
    s.backend(920, {"type": "response.output_item.added", "sequence_number": 1,
                    "output_index": 0,
                    "item": {"id": FC_ID, "type": "function_call", "name": "get_weather",
                             "call_id": CALL_ID, "arguments": ""}})
    s.backend(930, {"type": "response.function_call_arguments.delta", "sequence_number": 2,
                    "item_id": FC_ID, "output_index": 0, "delta": '{"city":'})
    s.backend(940, {"type": "response.function_call_arguments.delta", "sequence_number": 3,
                    "item_id": FC_ID, "output_index": 0, "delta": '"Lisbon"}'})
    s.backend(950, {"type": "response.function_call_arguments.done", "sequence_number": 4,
                    "item_id": FC_ID, "output_index": 0, "arguments": '{"city":"Lisbon"}',
                    "name": "get_weather"})
    s.transcript(1100, "assistant", "Sure, checking", 800, 1000)
    s.transcript(1300, "assistant", " the forecast.", 1000, 1200)
    s.client(1320, {"type": "response.item.create", "event_id": "evt_c012",
                    "item": {"type": "function_call_output", "call_id": CALL_ID,
                             "output": '{"temperature_c": 21}'}})
    s.client(1330, {"type": "response.create", "event_id": "evt_c013"})
    s.backend(1400, {"type": "response.completed", "sequence_number": 5,
                     "response": {"id": RESP_A, "status": "completed",
                                  "usage": {"input_tokens": 120, "output_tokens": 20,
                                            "total_tokens": 140}}})
    s.backend(1500, {"type": "response.created", "sequence_number": 0,
                     "response": {"id": RESP_B, "status": "in_progress",
                                  "previous_response_id": RESP_A}})
    s.backend(1510, {"type": "response.output_text.delta", "sequence_number": 1,
                     "item_id": "msg_1", "output_index": 0, "content_index": 0,
                     "delta": "21 degrees, "})
    s.backend(1520, {"type": "response.output_text.delta", "sequence_number": 2,
                     "item_id": "msg_1", "output_index": 0, "content_index": 0,
                     "delta": "sunny."})
    s.backend(1530, {"type": "response.completed", "sequence_number": 3,
                     "response": {"id": RESP_B, "status": "completed",
                                  "usage": {"input_tokens": 150, "output_tokens": 8,
                                            "total_tokens": 158}}})
    s.client(1600, {"type": "session.instructions.append", "event_id": "evt_c006",
                    "content": "Use Celsius.", "delegation_id": None})
    s.server(1650, {"type": "session.instructions.appended", "client_event_id": "evt_c006",
                    "start_ms": 1500, "end_ms": 1500})
    s.transcript(3600, "assistant", " It's 21 degrees", 3300, 3500)  # after 2.1 s of silence
    s.transcript(3800, "assistant", " and sunny in", 3500, 3700)
    s.transcript(4000, "assistant", " Lisbon.", 3700, 3900)
    s.transcript(4200, "user", "Thanks, that's all", 3800, 4100)  # over the assistant
    s.client(4300, {"type": "session.input_audio.mute", "event_id": "evt_c003"})
    s.server(4350, {"type": "session.input_audio.muted", "client_event_id": "evt_c003"})
    s.client(4600, {"type": "session.input_audio.unmute", "event_id": "evt_c004"})
    s.server(4650, {"type": "session.input_audio.unmuted", "client_event_id": "evt_c004"})
    s.client(4700, {"type": "session.update", "event_id": "evt_c020",
                    "session": {"voice": "cedar"}})
    s.server(4750, {"type": "error", "client_event_id": "evt_c020",
                    "error": {"type": "invalid_request_error", "code": "unknown_parameter",
                              "message": "Unknown parameter: 'session.voice'.",
                              "param": "session.voice", "client_event_id": "evt_c020"}})
    s.server(4800, {"type": "session.usage.updated", "usage": {"seconds": 4.7}})
    s.client(5200, {"type": "session.close", "event_id": "evt_c014"})
    s.server(5900, {"type": "session.closed", "client_event_id": "evt_c014",
                    "reason": "close_requested",
                    "session": {"id": SESSION_ID, "status": "active"},
                    "usage": {"seconds": 5.0}})
    s.frames.sort(key=lambda frame: frame.t_ns)
    return s
