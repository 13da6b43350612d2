"""A scripted session: both sides of a Realtime conversation placed on one clock.

SessionScript is the single source of truth for a scenario. Operations (start, user_turn,
plan_response/emit_response, transcribe, client_event) put client and server events on a
timeline at realistic times (CATALOG.md §2):

- the client streams microphone audio in real time, one input_audio_buffer.append every
  chunk_ms (20-100 ms, fixed per session), each sent when its audio has been captured;
- server VAD answers from the audio it has received: speech_started after the chunk holding the
  detection point, speech_stopped after silence_duration_ms of silence, then the commit and the
  user item; audio_start_ms / audio_end_ms are offsets into the input audio actually sent;
- the server generates response audio 2.5-4x faster than real time, interleaving audio and
  transcript deltas; the client plays it from the first delta in real time, so a barge-in
  cancels a response still being generated and the client truncates at what it played.

Events are encoded once, when placed; the timeline hands them out in time order as Frames.
Everything random comes from one seed, so the same arguments give the same bytes.
"""

from __future__ import annotations

import base64
import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

import msgspec
import numpy as np

from recorder.audio import G711_ALAW, G711_ULAW, PCM16_24K, AudioFormat, alaw_encode, ulaw_encode
from recorder.fake import synth
from recorder.fake.dialect import (
    DEFAULT_MODEL,
    DEFAULT_VOICE,
    TRANSCRIBE_MODEL,
    Dialect,
    Event,
    SessionSettings,
)
from recorder.fake.ids import Ids
from recorder.wire import Direction, Frame, Opcode

_NS_PER_MS = 1_000_000
_encode = msgspec.json.Encoder().encode

DEFAULT_INSTRUCTIONS = "You are a helpful voice assistant. Keep answers short and friendly."
# The client starts playing a little after the first audio delta arrives (its jitter buffer).
_PLAYBACK_DELAY_MS = 40
# A fixed epoch keeps expires_at reproducible (2026-06-01T00:00:00Z); the seed moves it a little.
_EPOCH_S = 1_780_272_000


# --- the timeline ---------------------------------------------------------------------------


class Timeline:
    """Frames waiting to be handed out in time order (ties keep the order they were put in)."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Direction, bytes]] = []
        self._seq = 0
        self._drained_ns = 0

    def put(self, t_ms: float, direction: Direction, data: bytes) -> None:
        t_ns = round(t_ms * _NS_PER_MS)
        if t_ns < self._drained_ns:
            raise ValueError(f"event at {t_ms:.3f} ms is before frames already handed out")
        heapq.heappush(self._heap, (t_ns, self._seq, direction, data))
        self._seq += 1

    def drain(self, before_ms: float | None = None) -> Iterator[Frame]:
        """Frames earlier than before_ms (all of them when None), in time order."""
        limit = None if before_ms is None else round(before_ms * _NS_PER_MS)
        while self._heap and (limit is None or self._heap[0][0] < limit):
            t_ns, _, direction, data = heapq.heappop(self._heap)
            self._drained_ns = t_ns
            yield Frame(direction, t_ns, Opcode.TEXT, data)
        if limit is not None:
            self._drained_ns = max(self._drained_ns, limit)


# --- what a response says -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Speech:
    """An assistant message spoken as audio with its transcript."""

    transcript: str
    ms: int


@dataclass(frozen=True, slots=True)
class Text:
    """An assistant message in text only."""

    text: str


@dataclass(frozen=True, slots=True)
class Call:
    """A function call the model makes."""

    name: str
    arguments: str


Output = Speech | Text | Call


@dataclass(frozen=True, slots=True)
class OutOfBand:
    """response.create with conversation "none": items stay out of the conversation."""

    metadata: Event


@dataclass(slots=True)
class _Delta:
    t: float
    kind: str  # audio | audio_transcript | text | arguments
    payload: str
    ms: int = 0  # audio milliseconds in this delta


@dataclass(slots=True)
class _PlannedItem:
    output: Output
    item_id: str
    call_id: str | None
    previous_item_id: str | None
    added_t: float
    deltas: list[_Delta]
    end_t: float


@dataclass(slots=True)
class ResponsePlan:
    """When every event of a response would be sent if nothing interrupts it."""

    response_id: str
    created_t: float
    items: list[_PlannedItem]
    done_t: float
    out_of_band: OutOfBand | None
    first_audio_t: float | None


@dataclass(slots=True)
class ResponseResult:
    """What was actually sent for a response, and when the client finished playing it."""

    response_id: str
    item_ids: list[str]
    call_ids: list[str]
    done_t: float
    audio_ms: int  # audio generated (and sent) for the response
    playback_start: float | None
    playback_end: float
    cancelled: bool


@dataclass(slots=True)
class UserTurn:
    """One spoken user turn as the server saw it."""

    item_id: str
    audio_start_ms: int
    audio_end_ms: int
    speech_started_t: float
    committed_t: float
    transcript: str


# --- the session ----------------------------------------------------------------------------


class SessionScript:
    """Builds one session's frames, both directions, on one clock (milliseconds)."""

    def __init__(
        self,
        protocol: str = "ga",
        seed: int = 0,
        *,
        model: str | None = None,
        chunk_ms: int | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.ids = Ids(self.rng)
        self.dialect = Dialect(protocol)
        self.timeline = Timeline()
        self.now = 0.0  # where the next operation starts, ms since the session started
        self.input_ms = 0  # input audio written to the server so far
        self.mic_free_t = 0.0  # when the last microphone chunk was sent
        self.last_item_id: str | None = None
        self.conversation_id = self.ids.conversation()
        self.chunk_ms = chunk_ms or self.rng.choice([20, 40, 50, 100])
        self.context_tokens = 120  # grows with the conversation; feeds response usage
        self.settings = SessionSettings(
            session_id=self.ids.session(),
            model=model or DEFAULT_MODEL[protocol],
            voice=DEFAULT_VOICE[protocol],
            instructions=DEFAULT_INSTRUCTIONS,
            expires_at=_EPOCH_S + self.rng.randint(0, 86_400),
            input_format=PCM16_24K,
            output_format=PCM16_24K,
            transcribe=False,
            transcribe_model=TRANSCRIBE_MODEL[protocol],
        )

    @property
    def ga(self) -> bool:
        return self.dialect.ga

    def frames(self, before_ms: float | None = None) -> Iterator[Frame]:
        """Frames placed so far (earlier than before_ms), in time order."""
        return self.timeline.drain(before_ms)

    # --- placing events -------------------------------------------------------------------

    def server(self, t: float, event: Event) -> None:
        """A server event at t; the server's event_id goes right after the type, as on the wire."""
        body = {"type": event["type"], "event_id": self.ids.event()}
        body.update((k, v) for k, v in event.items() if k != "type")
        self.timeline.put(t, Direction.SERVER, _encode(body))

    def client(self, t: float, event: Event, *, event_id: bool = True) -> str | None:
        """A client event at t, with a client-chosen event_id unless told otherwise."""
        eid = self.ids.client_event() if event_id else None
        body = {"type": event["type"]}
        if eid is not None:
            body["event_id"] = eid
        body.update((k, v) for k, v in event.items() if k != "type")
        self.timeline.put(t, Direction.CLIENT, _encode(body))
        return eid

    def jitter(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 3)

    # --- session start --------------------------------------------------------------------

    def start(
        self,
        *,
        transcribe: bool = True,
        tools: list[Event] | None = None,
        audio_format: AudioFormat = PCM16_24K,
        instructions: str = "You are Juniper, a cheerful assistant. Answer briefly.",
        silence_ms: int = 500,
    ) -> None:
        """session.created with the defaults, the client's session.update, session.updated."""
        t = self.jitter(40, 120)
        self.server(t, {"type": "session.created", "session": self.dialect.session(self.settings)})
        if not self.ga:  # the beta service announced the default conversation
            self.server(t + 0.4, {"type": "conversation.created", "conversation": {
                "id": self.conversation_id, "object": "realtime.conversation"}})
        self.settings = replace(
            self.settings,
            instructions=instructions,
            transcribe=transcribe,
            tools=tools or [],
            input_format=audio_format,
            output_format=audio_format,
            silence_ms=silence_ms,
        )
        t += self.jitter(20, 60)
        self.client(t, self.dialect.session_update(self.settings))
        t += self.jitter(30, 90)
        self.server(t, {"type": "session.updated", "session": self.dialect.session(self.settings)})
        self.now = t + self.jitter(50, 200)
        self.mic_free_t = self.now

    # --- the microphone -------------------------------------------------------------------

    def _encode_audio(self, samples: np.ndarray, fmt: AudioFormat) -> bytes:
        pcm = synth.to_pcm16(samples)
        if fmt.name == G711_ULAW:
            return ulaw_encode(pcm)
        if fmt.name == G711_ALAW:
            return alaw_encode(pcm)
        return pcm

    def _send_mic(self, start: float, samples: np.ndarray) -> list[float]:
        """Append the captured samples in chunk_ms pieces, each sent once captured.

        Returns the send time of each chunk; chunk k holds input ms
        [input_ms + k*chunk_ms, input_ms + (k+1)*chunk_ms).
        """
        fmt = self.settings.input_format
        per_chunk = fmt.sample_rate * self.chunk_ms // 1000
        sent: list[float] = []
        for k, offset in enumerate(range(0, len(samples), per_chunk)):
            piece = samples[offset : offset + per_chunk]
            t = start + (k * self.chunk_ms) + len(piece) * 1000 / fmt.sample_rate
            t += self.jitter(0.2, 3.0)
            audio = base64.b64encode(self._encode_audio(piece, fmt)).decode("ascii")
            self.client(t, {"type": "input_audio_buffer.append", "audio": audio}, event_id=False)
            sent.append(t)
        return sent

    def _sent_at(self, sent: list[float], capture_ms: float) -> float:
        """When the chunk holding capture offset capture_ms (ms into this capture) was sent."""
        return sent[min(int(capture_ms // self.chunk_ms), len(sent) - 1)]

    # --- user turns -----------------------------------------------------------------------

    def user_turn(
        self,
        transcript: str,
        speech_ms: int,
        *,
        speak_at: float | None = None,
        capture_from: float | None = None,
        mumble: bool = False,
    ) -> UserTurn:
        """The user speaks; server VAD detects, commits and inserts the user item.

        The microphone runs from capture_from (default: now, but never before the previous
        chunk) until a little after the silence that ends the turn; the user starts speaking at
        speak_at (default: a short pause after capture starts). mumble makes the "speech" a
        series of noise bursts, the kind of audio transcription fails on.
        """
        s = self.settings
        fmt = s.input_format
        capture_start = max(capture_from if capture_from is not None else self.now,
                            self.mic_free_t)
        if speak_at is None:
            speak_at = capture_start + self.jitter(250, 600)
        lead_ms = max(int(speak_at - capture_start), 60)
        tail_ms = s.silence_ms + self.rng.randint(80, 200)
        total_ms = lead_ms + speech_ms + tail_ms

        samples = synth.room_noise(total_ms, self.np_rng, rate=fmt.sample_rate)
        a = lead_ms * fmt.sample_rate // 1000
        if mumble:
            voice = self._mumble(speech_ms, fmt.sample_rate)
        else:
            voice = synth.speech_like(speech_ms, self.np_rng, pitch_hz=self.rng.uniform(110, 190),
                                      rate=fmt.sample_rate)
        samples[a : a + len(voice)] += voice

        item_id = self.ids.item()
        p0 = self.input_ms
        sent = self._send_mic(capture_start, samples)

        detect_ms = self.rng.randint(60, 160)  # speech needed before VAD fires
        audio_start_ms = max(p0 + lead_ms + detect_ms - s.prefix_ms, p0)
        started_t = self._sent_at(sent, lead_ms + detect_ms) + self.jitter(3, 12)
        audio_end_ms = p0 + lead_ms + speech_ms + s.silence_ms
        stopped_t = self._sent_at(sent, audio_end_ms - p0 - 1) + self.jitter(3, 12)
        self.server(started_t, {"type": "input_audio_buffer.speech_started",
                                "audio_start_ms": audio_start_ms, "item_id": item_id})
        self.server(stopped_t, {"type": "input_audio_buffer.speech_stopped",
                                "audio_end_ms": audio_end_ms, "item_id": item_id})
        committed_t = stopped_t + self.jitter(1, 4)
        self.server(committed_t, {"type": "input_audio_buffer.committed",
                                  "previous_item_id": self.last_item_id, "item_id": item_id})
        t = committed_t
        for event in self.dialect.item_inserted(self.dialect.user_audio_item(item_id),
                                                self.last_item_id):
            t += 0.3
            self.server(t, event)
        self.last_item_id = item_id
        self.input_ms = p0 + total_ms
        self.mic_free_t = sent[-1]
        self.context_tokens += speech_ms // 100 + 4
        self.now = t
        return UserTurn(item_id, audio_start_ms, audio_end_ms, started_t, committed_t, transcript)

    def _mumble(self, ms: int, rate: int) -> np.ndarray:
        out = np.zeros(ms * rate // 1000)
        pos = 0
        while pos < len(out):
            burst = min(int(rate * self.rng.uniform(0.05, 0.15)), len(out) - pos)
            pcm = synth.noise_burst(burst * 1000 / rate, self.np_rng, amplitude=0.4, rate=rate)
            chunk = np.frombuffer(pcm, dtype="<i2")[:burst] / 32767
            out[pos : pos + len(chunk)] = chunk
            pos += burst + int(rate * self.rng.uniform(0.03, 0.1))
        return out

    def transcribe(self, turn: UserTurn, at: float, *, fail: bool = False) -> float:
        """Input transcription of a user turn, arriving from `at`; returns when it ended."""
        t = at
        key = {"item_id": turn.item_id, "content_index": 0}
        if fail:
            self.server(t, {"type": "conversation.item.input_audio_transcription.failed", **key,
                            "error": {"type": "transcription_error",
                                      "code": "audio_unintelligible",
                                      "message": "Audio could not be transcribed.",
                                      "param": None}})
            return t
        for piece in _pieces(turn.transcript, self.rng):
            delta: Event = {"type": "conversation.item.input_audio_transcription.delta", **key,
                            "delta": piece}
            if self.ga:
                delta["obfuscation"] = self.ids.obfuscation()
            self.server(t, delta)
            t += self.jitter(15, 50)
        audio_tokens = (turn.audio_end_ms - turn.audio_start_ms) // 100 + 2
        text_tokens = len(turn.transcript.split()) + 2
        self.server(t, {
            "type": "conversation.item.input_audio_transcription.completed", **key,
            "transcript": turn.transcript,
            "usage": {"type": "tokens", "total_tokens": audio_tokens + text_tokens,
                      "input_tokens": audio_tokens,
                      "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens},
                      "output_tokens": text_tokens},
        })
        return t

    # --- responses ------------------------------------------------------------------------

    def plan_response(
        self,
        outputs: list[Output],
        start: float,
        *,
        out_of_band: OutOfBand | None = None,
        client_requested: bool = False,
    ) -> ResponsePlan:
        """Times, ids and content of a response that starts at `start`.

        Items of an in-band response join the conversation here (last_item_id moves on), since
        they are inserted before anything can interrupt the response.
        """
        created_t = start + (self.jitter(8, 30) if client_requested else self.jitter(2, 15))
        t = created_t + self.jitter(180, 450)  # time to the first output
        items: list[_PlannedItem] = []
        first_audio: float | None = None
        for output in outputs:
            item_id = self.ids.item()
            call_id = self.ids.call() if isinstance(output, Call) else None
            previous = None if out_of_band else self.last_item_id
            deltas = self._plan_deltas(output, t + 1.0)
            if first_audio is None and isinstance(output, Speech):
                first_audio = next(d.t for d in deltas if d.kind == "audio")
            end_t = (deltas[-1].t if deltas else t) + self.jitter(1, 4)
            items.append(_PlannedItem(output, item_id, call_id, previous, t, deltas, end_t))
            if out_of_band is None:
                self.last_item_id = item_id
            t = end_t + self.jitter(20, 80)
        done_t = t + self.jitter(5, 20)
        return ResponsePlan(self.ids.response(), created_t, items, done_t, out_of_band,
                            first_audio)

    def _plan_deltas(self, output: Output, t0: float) -> list[_Delta]:
        if isinstance(output, Call):
            return self._spread(t0, "arguments", _chunks(output.arguments, self.rng, 3, 12),
                                (8, 25))
        if isinstance(output, Text):
            return self._spread(t0, "text", _pieces(output.text, self.rng), (10, 30))
        fmt = self.settings.output_format
        speed = self.rng.uniform(2.5, 4.0)  # generation runs ahead of real time
        pcm = synth.speech_like(output.ms, self.np_rng, pitch_hz=self.rng.uniform(170, 230),
                                rate=fmt.sample_rate)
        wire = self._encode_audio(pcm, fmt)
        deltas: list[_Delta] = []
        done_ms = 0
        while done_ms < output.ms:
            ms = min(self.rng.choice([40, 60, 100, 120, 200, 240]), output.ms - done_ms)
            data = wire[done_ms * fmt.bytes_per_ms : (done_ms + ms) * fmt.bytes_per_ms]
            t = t0 + done_ms / speed + self.jitter(0, 1.5)
            deltas.append(_Delta(t, "audio", base64.b64encode(data).decode("ascii"), ms))
            done_ms += ms
        words = _pieces(output.transcript, self.rng)
        span = output.ms / speed
        for j, piece in enumerate(words):
            # the transcript runs a little ahead of the audio it describes
            t = t0 + 0.5 + span * 0.8 * j / len(words) + self.jitter(0, 2)
            deltas.append(_Delta(t, "audio_transcript", piece))
        deltas.sort(key=lambda d: d.t)
        return deltas

    def _spread(self, t0: float, kind: str, pieces: list[str], gap: tuple[int, int]
                ) -> list[_Delta]:
        deltas = []
        t = t0
        for piece in pieces:
            deltas.append(_Delta(t, kind, piece))
            t += self.jitter(*gap)
        return deltas

    def emit_response(self, plan: ResponsePlan, *, cancel_at: float | None = None
                      ) -> ResponseResult:
        """Send the planned response; with cancel_at, VAD cancels it then (turn_detected)."""
        d = self.dialect
        fmt = self.settings.output_format
        oob = plan.out_of_band
        conversation_id = None if oob else self.conversation_id
        metadata = oob.metadata if oob else None
        modalities = ["text"] if oob else ["audio"]

        def response(status: str, output: list[Event], status_details: Event | None = None,
                     usage: Event | None = None) -> Event:
            return d.response(plan.response_id, status=status, output=output,
                              conversation_id=conversation_id, voice=self.settings.voice,
                              fmt=fmt, modalities=modalities, metadata=metadata,
                              status_details=status_details, usage=usage)

        self.server(plan.created_t, {"type": "response.created",
                                     "response": response("in_progress", [])})
        final_items: list[Event] = []
        audio_ms = 0
        cancelled = False
        end = plan.created_t
        for index, item in enumerate(plan.items):
            if cancel_at is not None and item.added_t >= cancel_at:
                raise ValueError("a response can only be cancelled once its items were added")
            final, ms, end, cut = self._emit_item(plan, index, item, cancel_at)
            final_items.append(final)
            audio_ms += ms
            if cut:
                cancelled = True
                break
        done_t = end + self.jitter(5, 20) if cancelled else plan.done_t
        output_tokens = sum(_tokens(i) for i in final_items) + audio_ms // 50
        usage = {
            "total_tokens": self.context_tokens + output_tokens,
            "input_tokens": self.context_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {"text_tokens": self.context_tokens // 3,
                                    "audio_tokens": self.context_tokens - self.context_tokens // 3,
                                    "cached_tokens": 0},
            "output_token_details": {"text_tokens": output_tokens - audio_ms // 50,
                                     "audio_tokens": audio_ms // 50},
        }
        self.context_tokens += output_tokens
        self._rate_limits(done_t - self.jitter(0.3, 2))
        details = {"type": "cancelled", "reason": "turn_detected"} if cancelled else None
        self.server(done_t, {"type": "response.done", "response": response(
            "cancelled" if cancelled else "completed", final_items,
            status_details=details, usage=usage)})
        play_start = (None if plan.first_audio_t is None
                      else plan.first_audio_t + _PLAYBACK_DELAY_MS)
        play_end = done_t if play_start is None else max(play_start + audio_ms, done_t)
        return ResponseResult(plan.response_id, [i.item_id for i in plan.items],
                              [i.call_id for i in plan.items if i.call_id], done_t, audio_ms,
                              play_start, play_end, cancelled)

    def _emit_item(self, plan: ResponsePlan, index: int, item: _PlannedItem,
                   cancel_at: float | None) -> tuple[Event, int, float, bool]:
        """One output item's events; returns the final item, its audio ms, when it ended and
        whether the cancellation cut it."""
        self._open_item(plan, index, item)
        said, audio_ms, end, cut = self._stream_deltas(plan, index, item, cancel_at)
        final, end = self._close_item(plan, index, item, "".join(said), end,
                                      "incomplete" if cut else "completed")
        return final, audio_ms, end, cut

    def _open_item(self, plan: ResponsePlan, index: int, item: _PlannedItem) -> None:
        """output_item.added, the conversation insertion (in-band only), content_part.added."""
        d = self.dialect
        out = item.output
        if isinstance(out, Call):
            added = d.function_call_item(item.item_id, call_id=item.call_id or "",
                                         name=out.name, arguments="", status="in_progress")
        else:
            added = d.assistant_item(item.item_id, status="in_progress")
        self.server(item.added_t, {"type": "response.output_item.added",
                                   "response_id": plan.response_id, "output_index": index,
                                   "item": added})
        t = item.added_t
        if plan.out_of_band is None:
            for inserted in d.item_inserted(added, item.previous_item_id):
                t += 0.2
                self.server(t, inserted)
        if isinstance(out, Call):
            return
        part = ({"type": "text", "text": ""} if isinstance(out, Text)
                else {"type": "audio", "transcript": ""})
        self.server(t + 0.3, {"type": "response.content_part.added",
                              **_content_key(plan, index, item), "part": part})

    def _stream_deltas(self, plan: ResponsePlan, index: int, item: _PlannedItem,
                       cancel_at: float | None) -> tuple[list[str], int, float, bool]:
        """The item's deltas up to cancel_at; returns the text said, audio ms, end, cut."""
        said: list[str] = []
        audio_ms = 0
        for delta in item.deltas:
            if cancel_at is not None and delta.t >= cancel_at:
                return said, audio_ms, cancel_at + self.jitter(1, 5), True
            if delta.kind == "arguments":
                event: Event = {"type": "response.function_call_arguments.delta",
                                "response_id": plan.response_id, "item_id": item.item_id,
                                "output_index": index, "call_id": item.call_id,
                                "delta": delta.payload}
            else:
                event = {"type": self.dialect.delta_type(delta.kind) + ".delta",
                         **_content_key(plan, index, item), "delta": delta.payload}
            if delta.kind == "audio":
                audio_ms += delta.ms
            else:
                said.append(delta.payload)
            if self.ga and delta.kind == "audio_transcript":
                event["obfuscation"] = self.ids.obfuscation()  # as the live GA wire does
            self.server(delta.t, event)
        return said, audio_ms, item.end_t, False

    def _close_item(self, plan: ResponsePlan, index: int, item: _PlannedItem, text: str,
                    t: float, status: str) -> tuple[Event, float]:
        """The *.done events (also sent when cancelled), output_item.done, GA item.done."""
        d = self.dialect
        out = item.output
        key = _content_key(plan, index, item)
        if isinstance(out, Call):
            done: Event = {"type": "response.function_call_arguments.done",
                           "response_id": plan.response_id, "item_id": item.item_id,
                           "output_index": index, "call_id": item.call_id}
            if self.ga:
                done["name"] = out.name
            done["arguments"] = text
            self.server(t, done)
            final = d.function_call_item(item.item_id, call_id=item.call_id or "", name=out.name,
                                         arguments=text, status=status)
        else:
            if isinstance(out, Text):
                self.server(t, {"type": d.delta_type("text") + ".done", **key, "text": text})
                part: Event = {"type": "text", "text": text}
                content = d.assistant_text_content(text)
            else:
                self.server(t, {"type": d.delta_type("audio") + ".done", **key})
                t += 0.2
                self.server(t, {"type": d.delta_type("audio_transcript") + ".done", **key,
                                "transcript": text})
                part = {"type": "audio", "transcript": text}
                content = d.assistant_audio_content(text)
            t += 0.2
            self.server(t, {"type": "response.content_part.done", **key, "part": part})
            final = d.assistant_item(item.item_id, status=status, content=[content])
        t += 0.2
        self.server(t, {"type": "response.output_item.done", "response_id": plan.response_id,
                        "output_index": index, "item": final})
        if self.ga and plan.out_of_band is None:
            t += 0.2
            self.server(t, d.item_done(final, item.previous_item_id))
        return final, t

    def _rate_limits(self, t: float) -> None:
        tokens = {"name": "tokens", "limit": 40_000,
                  "remaining": max(40_000 - self.context_tokens, 0),
                  "reset_seconds": round(self.rng.uniform(0.5, 4.0), 3)}
        limits = [tokens] if self.ga else [
            {"name": "requests", "limit": 5_000, "remaining": 4_999, "reset_seconds": 0.012},
            tokens]
        self.server(t, {"type": "rate_limits.updated", "rate_limits": limits})

    def barge_in(self, turn: UserTurn, reply: Speech, *, after_ms: float, says: str,
                 speech_ms: int) -> UserTurn:
        """The assistant answers `turn` with `reply`; `after_ms` into playback the user says
        `says`, VAD cancels the response (turn_detected) and the client truncates the
        assistant item at what it played (CATALOG.md §2.8). Returns the interrupting turn;
        its response is up to the caller.
        """
        plan = self.plan_response([reply], turn.committed_t)
        assert plan.first_audio_t is not None
        play_start = plan.first_audio_t + _PLAYBACK_DELAY_MS
        # VAD needs the speech onset plus up to one chunk and its detection time; cut in early
        # enough that the server is still generating, so there is something to cancel
        last_audio = max(d.t for d in plan.items[0].deltas if d.kind == "audio")
        latest = last_audio - play_start - self.chunk_ms - 200
        if latest <= 0:
            raise ValueError(f"a {reply.ms} ms reply is generated too fast to be interrupted")
        # the microphone stays open during playback
        interrupt = self.user_turn(says, speech_ms, capture_from=play_start,
                                   speak_at=play_start + min(after_ms, latest))
        result = self.emit_response(plan, cancel_at=interrupt.speech_started_t + 0.5)
        assert result.cancelled
        # the client stops playback when speech starts and tells the server what was heard
        heard_at = interrupt.speech_started_t + self.jitter(2, 8)
        played_ms = min(int(heard_at - play_start), result.audio_ms)
        item_id = plan.items[0].item_id
        self.client(heard_at, {"type": "conversation.item.truncate", "item_id": item_id,
                               "content_index": 0, "audio_end_ms": played_ms})
        self.server(heard_at + self.jitter(8, 20), {
            "type": "conversation.item.truncated", "item_id": item_id, "content_index": 0,
            "audio_end_ms": played_ms})
        self.now = max(self.now, interrupt.committed_t)
        return interrupt

    def respond(self, outputs: list[Output], start: float, *, client_requested: bool = False,
                out_of_band: OutOfBand | None = None) -> ResponseResult:
        """A response played to the end; `now` moves past the client's playback."""
        plan = self.plan_response(outputs, start, out_of_band=out_of_band,
                                  client_requested=client_requested)
        result = self.emit_response(plan)
        self.now = max(self.now, result.playback_end)
        return result


# --- text helpers ---------------------------------------------------------------------------


def _pieces(text: str, rng: random.Random) -> list[str]:
    """Text as the service streams it: a word or two per delta, spaces kept in front."""
    words = text.split(" ")
    pieces: list[str] = []
    i = 0
    while i < len(words):
        n = 2 if rng.random() < 0.3 else 1
        chunk = " ".join(words[i : i + n])
        pieces.append(chunk if not pieces else " " + chunk)
        i += n
    return pieces


def _chunks(text: str, rng: random.Random, low: int, high: int) -> list[str]:
    out = []
    i = 0
    while i < len(text):
        n = rng.randint(low, high)
        out.append(text[i : i + n])
        i += n
    return out


def _tokens(item: Event) -> int:
    """A rough token count of an output item's text, for usage figures."""
    content = item.get("content") or [{}]
    text = content[0].get("transcript") or content[0].get("text") or item.get("arguments") or ""
    return len(text.split()) + 3


def _content_key(plan: ResponsePlan, index: int, item: _PlannedItem) -> Event:
    """The R I O C fields of content events (CATALOG.md §1b)."""
    return {"response_id": plan.response_id, "item_id": item.item_id, "output_index": index,
            "content_index": 0}
