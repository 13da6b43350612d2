"""Realistic fake Live (GPT-Live) sessions: both sides on one clock (LIVE.md §2).

    from recorder.fake.live import LIVE_SCENARIOS, build_live
    frames = build_live("tool_call", seed=0)      # list[Frame], both directions, time order

A Live session differs from a Realtime one where a script cares (LIVE.md §2b, §2h):

- the client speaks first: `session.start` (model, instructions, audio format, delegation),
  answered by `session.started` (the session's id live_u0_..., resolved defaults);
- both audio tracks are continuous: the client streams its microphone in real time (50 or
  100 ms chunks of `session.input_audio.append`, room noise between words), the server sends
  `session.output_audio.delta` every 100 ms from ~0.6 s after the start until just after
  `session.closed`, silent (a faint dither) when the model does not speak; audio frames carry
  no event_id;
- transcripts come as `session.input_transcript.delta` / `session.output_transcript.delta`
  fragments in 200 ms buckets with `start_ms`/`end_ms` on the session timeline, no done event,
  the separating space sometimes missing;
- tools go through delegations: `session.delegation.created`, then (Responses delegation)
  `response.event` envelopes with the backend's own stream events and ids (resp_, fc_, msg_,
  call_), the client's `response.item.create` + `response.create`, the continuation;
- a barge-in is only visible as overlapping transcripts and the assistant falling silent;
- the end is `session.close` -> one or two more audio frames -> `session.closed{reason,
  usage}` 0.6-0.8 s later, then the server closes the socket.

A sideband (connection "attach") sees a running session: its replay starts with
`session.started`, reflected caller audio comes as server `session.input_audio.append` (always
24 kHz PCM16, no event_id), output audio in 200 ms frames with `start_ms`/`end_ms`.

Everything random comes from one seed: the same arguments give the same bytes.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from recorder.audio import alaw_encode, ulaw_encode
from recorder.errors import RtrecError
from recorder.fake import synth
from recorder.fake.script import Timeline
from recorder.wire import Direction, Frame

Event = dict[str, Any]
_encode = msgspec.json.Encoder().encode

MODEL = "gpt-live-1"
VOICE = "marin"
INSTRUCTIONS = "You are Juniper, a cheerful voice assistant. Keep answers short."
BACKEND_MODEL = "gpt-5.4-mini"
# Server audio on the primary socket: 100 ms frames (ten a second); on a sideband 200 ms.
OUTPUT_FRAME_MS = 100
SIDEBAND_FRAME_MS = 200
TRANSCRIPT_BUCKET_MS = 200
_FIRST_AUDIO_MS = 600  # output audio starts about this long after session.started
_EPOCH_S = 1_790_000_000  # a fixed epoch keeps expires_at reproducible (2026-09-21)
_ALPHABET = string.ascii_letters + string.digits

# The server frames that run on their own, whatever the client does (the other side never
# waits for them; a script player passes over them), and the client's audio likewise.
FREE_RUNNING = frozenset({
    "session.output_audio.delta", "session.input_transcript.delta",
    "session.output_transcript.delta", "session.usage.updated", "session.input_audio.append",
})

_G711: dict[str, Callable[[bytes], bytes]] = {"audio/pcmu": ulaw_encode, "audio/pcma": alaw_encode}

WEATHER_TOOL: Event = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}},
                   "required": ["city"], "additionalProperties": False},
    "strict": True,
}


class LiveIds:
    """Ids of the shapes Live and its Responses backend use, from one seeded Random."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def _make(self, prefix: str, length: int = 21) -> str:
        return prefix + "".join(self._rng.choices(_ALPHABET, k=length))

    def session(self) -> str:
        return self._make("live_u0_", 24)

    def event(self) -> str:
        return self._make("event_")

    def client_event(self) -> str:
        return self._make("evt_")

    def delegation(self) -> str:
        return self._make("item_")

    def response(self) -> str:
        return self._make("resp_", 40)

    def function_call(self) -> str:
        return self._make("fc_", 40)

    def message(self) -> str:
        return self._make("msg_", 40)

    def call(self) -> str:
        return self._make("call_", 24)


@dataclass(frozen=True, slots=True)
class Speech:
    """Who speaks, what, from when to when (ms of script time)."""

    speaker: str  # "user" | "assistant"
    text: str
    start: float
    end: float


@dataclass
class LiveScript:
    """Builds one Live connection's frames, both directions, on one clock (milliseconds)."""

    seed: int = 0
    model: str = MODEL
    rate: int = 24000  # audio/pcm: 16000 or 24000; G.711 (audio/pcmu, audio/pcma): 8000
    connection: str = "primary"  # primary | attach | fork
    parent_id: str | None = None  # attach: the observed session; fork: the stored one
    rng: random.Random = field(init=False)
    np_rng: np.random.Generator = field(init=False)
    ids: LiveIds = field(init=False)
    timeline: Timeline = field(init=False)
    session_id: str = field(init=False)
    speech: list[Speech] = field(default_factory=list)
    now: float = 0.0
    started_t: float = 0.0  # when session.started was sent: the session timeline's zero
    chunk_ms: int = 0
    closed: bool = False
    _session: Event = field(default_factory=dict)
    audio_type: str = "audio/pcm"  # the session's format (LIVE.md §2e): pcm, pcmu or pcma

    def __post_init__(self) -> None:
        if self.audio_type in _G711:
            self.rate = 8000
        elif self.audio_type != "audio/pcm":
            raise RtrecError(f"unknown Live audio format {self.audio_type!r}: choose "
                             "audio/pcm, audio/pcmu or audio/pcma")
        elif self.rate not in (16000, 24000):
            raise RtrecError(f"Live PCM runs at 16000 or 24000 Hz, not {self.rate}")
        self.rng = random.Random(self.seed)
        self.np_rng = np.random.default_rng(self.seed)
        self.ids = LiveIds(self.rng)
        self.timeline = Timeline()
        own = self.ids.session()
        self.session_id = self.parent_id if self.connection == "attach" and self.parent_id \
            else own
        self.chunk_ms = self.rng.choice([50, 100])

    # --- placing events -------------------------------------------------------------------

    def jitter(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 3)

    def server(self, t: float, event: Event, *, event_id: bool = True) -> str | None:
        """A server event at t; its event_id right after the type (audio frames have none)."""
        eid = self.ids.event() if event_id else None
        body: Event = {"type": event["type"]}
        if eid is not None:
            body["event_id"] = eid
        body.update((k, v) for k, v in event.items() if k != "type")
        self.timeline.put(t, Direction.SERVER, _encode(body))
        return eid

    def client(self, t: float, event: Event, *, event_id: bool = True) -> str | None:
        """A client event at t, with a client-chosen event_id unless told otherwise."""
        eid = self.ids.client_event() if event_id else None
        body: Event = {"type": event["type"]}
        if eid is not None:
            body["event_id"] = eid
        body.update((k, v) for k, v in event.items() if k != "type")
        self.timeline.put(t, Direction.CLIENT, _encode(body))
        return eid

    def ms(self, t: float) -> int:
        """Script time t on the session timeline (ms since session.started)."""
        return max(0, round(t - self.started_t))

    def frames(self) -> Iterator[Frame]:
        return self.timeline.drain()

    # --- the session ----------------------------------------------------------------------

    def start(self, *, delegation: Event | None = None, instructions: str = INSTRUCTIONS) -> None:
        """The client's session.start, the server's session.started (a sideband: only the
        replay's session.started)."""
        fmt = {"type": self.audio_type, "rate": self.rate}
        session: Event = {"model": self.model, "instructions": instructions,
                          "audio": {"format": fmt, "output": {"voice": VOICE}}}
        if delegation is not None:
            session["delegation"] = delegation
        t = self.jitter(3, 12)
        start_id = None
        if self.connection != "attach":
            start_id = self.client(t, {"type": "session.start",
                                       "session": {} if self.connection == "fork" else session})
            t += self.jitter(90, 180)
        resolved: Event = {
            "id": self.session_id, "object": "live.session", "model": self.model,
            "expires_at": _EPOCH_S + self.seed * 7 + 3600, "status": "active",
            "instructions": instructions,
            "audio": {"format": fmt, "output": {"voice": VOICE}},
            "delegation": delegation or {"type": "client", "acknowledgement_delay_ms": 0},
            "tools": [], "tool_choice": "auto", "input": [], "store": False,
        }
        self._session = resolved
        event: Event = {"type": "session.started", "session": resolved}
        if start_id is not None:
            event["client_event_id"] = start_id
        self.server(t, event)
        self.started_t = t
        self.now = t + _FIRST_AUDIO_MS

    def say(self, speaker: str, text: str, at: float, ms: float, *,
            cut_at: float | None = None) -> Speech:
        """`speaker` says `text` from `at` for `ms` (cut at `cut_at`: the rest is never said),
        with its transcript fragments (user: transcribed ~0.3 s behind the audio)."""
        end = at + ms if cut_at is None else min(at + ms, cut_at)
        words = text.split()
        said = words[: max(1, round(len(words) * (end - at) / ms))] if cut_at else words
        spoken = Speech(speaker, " ".join(said), at, end)
        self.speech.append(spoken)
        kind = "output" if speaker == "assistant" else "input"
        lag = (40, 90) if speaker == "assistant" else (250, 400)
        per_word = (end - at) / max(1, len(said))
        bucket: list[str] = []
        bucket_start = at
        for n, word in enumerate(said):
            word_end = at + (n + 1) * per_word
            space = "" if n == 0 or (bucket and self.rng.random() < 0.15) else " "
            bucket.append(space + word)
            if word_end - bucket_start >= TRANSCRIPT_BUCKET_MS or n == len(said) - 1:
                self.server(word_end + self.jitter(*lag), {
                    "type": f"session.{kind}_transcript.delta", "delta": "".join(bucket),
                    "start_ms": self.ms(bucket_start), "end_ms": self.ms(word_end)})
                bucket, bucket_start = [], word_end
        self.now = max(self.now, end)
        return spoken

    def close(self, t: float | None = None, reason: str = "close_requested") -> None:
        """The client's session.close, the server's session.closed 0.6-0.8 s later; then both
        audio tracks are laid down from start to end."""
        t = self.now + self.jitter(150, 300) if t is None else t
        close_id = None
        if self.connection != "attach":
            close_id = self.client(t, {"type": "session.close"})
        closed_t = t + self.jitter(600, 800)
        seconds = round((closed_t - self.started_t) / 1000, 1)
        event: Event = {"type": "session.closed", "reason": reason, "session": self._session,
                        "usage": {"seconds": seconds}}
        if close_id is not None:
            event["client_event_id"] = close_id
        self._audio(t, closed_t)
        self.server(closed_t, event)
        self.closed = True

    def usage(self, every_ms: float = 2000) -> None:
        """session.usage.updated every `every_ms` of session time (call before close)."""
        t = self.started_t + every_ms
        while t < self.now:
            self.server(t + self.jitter(2, 9), {"type": "session.usage.updated",
                                                "usage": {"seconds": round(self.ms(t) / 1000)}})
            t += every_ms

    # --- audio ----------------------------------------------------------------------------

    def _speaking(self, speaker: str, a: float, b: float) -> bool:
        return any(s.speaker == speaker and s.start < b and s.end > a for s in self.speech)

    def _wire(self, speaker: str, a: float, b: float) -> bytes:
        """The audio of [a, b) in the session's format (G.711: one byte a sample)."""
        pcm = self._pcm(speaker, a, b, self.rate)
        encode = _G711.get(self.audio_type)
        return pcm if encode is None else encode(pcm)

    def _pcm(self, speaker: str, a: float, b: float, rate: int) -> bytes:
        """The audio of [a, b): speech-like where `speaker` speaks, else a quiet floor."""
        ms = b - a
        if self._speaking(speaker, a, b):
            pitch = 190.0 if speaker == "assistant" else 130.0
            signal = synth.speech_like(ms, self.np_rng, pitch_hz=pitch, rate=rate)
        else:
            signal = synth.room_noise(ms, self.np_rng, rate=rate) * (
                0.25 if speaker == "assistant" else 1.0)
        return synth.to_pcm16(signal)

    def _audio(self, close_t: float, closed_t: float) -> None:
        """Both continuous tracks: the client's microphone until session.close, the server's
        output from ~0.6 s after the start until just past session.close (one or two frames
        after it)."""
        b64 = base64.b64encode
        if self.connection == "attach":  # reflected input and timed output, 200 ms frames
            t = self.started_t + SIDEBAND_FRAME_MS
            while t <= close_t:
                a = t - SIDEBAND_FRAME_MS
                self.server(t + self.jitter(5, 25), {
                    "type": "session.input_audio.append",
                    "audio": b64(self._pcm("user", a, t, 24000)).decode()}, event_id=False)
                self.server(t + self.jitter(30, 60), {
                    "type": "session.output_audio.delta",
                    "delta": b64(self._pcm("assistant", a, t, 24000)).decode(),
                    "start_ms": self.ms(a), "end_ms": self.ms(t)}, event_id=False)
                t += SIDEBAND_FRAME_MS
            return
        t = self.started_t + self.chunk_ms
        while t <= close_t:
            self.client(t + self.jitter(0.2, 2), {
                "type": "session.input_audio.append",
                "audio": b64(self._wire("user", t - self.chunk_ms, t)).decode()},
                event_id=False)
            t += self.chunk_ms
        t = self.started_t + _FIRST_AUDIO_MS
        last = close_t + OUTPUT_FRAME_MS * self.rng.choice([1, 2])
        while t <= min(last, closed_t - 5):
            self.server(t + self.jitter(0.5, 4), {
                "type": "session.output_audio.delta",
                "delta": b64(self._wire("assistant", t - OUTPUT_FRAME_MS, t)).decode()},
                event_id=False)
            t += OUTPUT_FRAME_MS


# --- the stories ----------------------------------------------------------------------------


def _speech_ms(text: str) -> float:
    return max(500.0, 220.0 * len(text.split()))


def _turn(s: LiveScript, user: str, reply: str) -> None:
    """The user says `user`; after a pause the assistant answers `reply`."""
    heard = s.say("user", user, s.now + s.jitter(100, 300), _speech_ms(user))
    s.say("assistant", reply, heard.end + s.jitter(350, 600), _speech_ms(reply))


def spoken_turn(s: LiveScript) -> None:
    """One spoken exchange."""
    s.start()
    _turn(s, "Hi, what's a good name for a grey cat?", "How about Pebble? It suits a grey cat.")
    s.usage()
    s.close()


def close(s: LiveScript) -> None:
    """A clean end with nothing said: start, a second of audio both ways, session.close,
    session.closed (close_requested, usage)."""
    s.start()
    s.now += 400
    s.close()


def error(s: LiveScript) -> None:
    """A command the session refuses (response.item.create without Responses delegation): an
    `error` that echoes the command's event_id; the session goes on."""
    s.start()
    t = s.now + s.jitter(50, 150)
    bad = s.client(t, {"type": "response.item.create", "item": {
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})
    s.server(t + s.jitter(8, 25), {
        "type": "error", "error": {
            "type": "invalid_request_error", "code": None,
            "message": "response.item.create requires Responses delegation.",
            "param": None, "client_event_id": bad},
        "client_event_id": bad})
    s.now = t + 100
    _turn(s, "Are you still there?", "Yes, I'm here.")
    s.close()


def barge_in(s: LiveScript) -> None:
    """The user talks over a long answer; the model stops on its own (no event says so)."""
    s.start()
    asked = s.say("user", "Tell me about the moon.", s.now + s.jitter(100, 250), 1000)
    reply_at = asked.end + s.jitter(350, 500)
    interrupt_at = reply_at + s.jitter(900, 1200)
    s.say("assistant", "The moon is our only natural satellite and it is slowly drifting "
          "away from the earth every year.", reply_at, 4000,
          cut_at=interrupt_at + s.jitter(250, 400))
    wait = s.say("user", "Wait, stop.", interrupt_at, 700)
    s.say("assistant", "Sure, I stopped.", wait.end + s.jitter(350, 500), 900)
    s.close()


def _responses_delegation() -> Event:
    return {"type": "responses", "acknowledgement_delay_ms": 0, "responses": {
        "model": BACKEND_MODEL, "instructions": "Use the tools to answer.",
        "tools": [WEATHER_TOOL], "tool_choice": "auto", "parallel_tool_calls": False}}


def tool_call(s: LiveScript) -> None:
    """A delegated tool call through the Responses backend: the delegation, the backend's
    function call (nested events), the client's function_call_output and response.create,
    the backend's answer; Live acknowledges meanwhile and then says the answer."""
    s.start(delegation=_responses_delegation())
    asked = s.say("user", "What's the weather in Lisbon?", s.now + s.jitter(100, 250), 1000)
    delegation_id, resp_a = s.ids.delegation(), s.ids.response()
    t = asked.end + s.jitter(350, 500)
    s.server(t, {"type": "session.delegation.created", "delegation": {
        "id": delegation_id, "type": "delegation", "target": "responses",
        "response_id": resp_a}, "offset_ms": s.ms(asked.end)})
    s.say("assistant", "Sure, checking the forecast.", t + s.jitter(60, 120), 1100)
    seq = 0

    def nested(at: float, event: Event) -> float:
        nonlocal seq
        s.server(at, {"type": "response.event", "delegation_id": delegation_id,
                      "event": {**event, "sequence_number": seq}})
        seq += 1
        return at + s.jitter(8, 30)

    def response(rid: str, status: str, previous: str | None, usage: Event | None) -> Event:
        return {"id": rid, "object": "response", "status": status, "model": BACKEND_MODEL,
                "previous_response_id": previous, "output": [], "instructions": None,
                "tools": [], "usage": usage}

    fc_id, call_id = s.ids.function_call(), s.ids.call()
    arguments = '{"city":"Lisbon"}'
    call: Event = {"id": fc_id, "type": "function_call", "status": "in_progress",
                   "name": "get_weather", "call_id": call_id, "arguments": ""}
    at = nested(t + s.jitter(40, 90), {"type": "response.created",
                                       "response": response(resp_a, "in_progress", None, None)})
    at = nested(at, {"type": "response.in_progress",
                     "response": response(resp_a, "in_progress", None, None)})
    at = nested(at + s.jitter(200, 400), {"type": "response.output_item.added",
                                          "output_index": 0, "item": call})
    for piece in ('{"city"', ':"Lis', 'bon"}'):
        at = nested(at, {"type": "response.function_call_arguments.delta", "item_id": fc_id,
                         "output_index": 0, "delta": piece})
    at = nested(at, {"type": "response.function_call_arguments.done", "item_id": fc_id,
                     "output_index": 0, "arguments": arguments, "name": "get_weather"})
    at = nested(at, {"type": "response.output_item.done", "output_index": 0,
                     "item": {**call, "status": "completed", "arguments": arguments}})
    # the client runs the tool and hands the output back to the backend
    t = at + s.jitter(30, 90)
    s.client(t, {"type": "response.item.create", "item": {
        "type": "function_call_output", "call_id": call_id,
        "output": '{"temp_c":21,"sky":"clear"}'}})
    t += s.jitter(1, 4)
    s.client(t, {"type": "response.create"})
    usage_a = {"input_tokens": 412, "output_tokens": 18, "total_tokens": 430}
    at = nested(t + s.jitter(20, 60), {"type": "response.completed",
                                       "response": response(resp_a, "completed", None, usage_a)})
    resp_b, msg_id = s.ids.response(), s.ids.message()
    at = nested(at, {"type": "response.created",
                     "response": response(resp_b, "in_progress", resp_a, None)})
    at += s.jitter(150, 300)
    for piece in ("It's 21 degrees", " and clear", " in Lisbon."):
        at = nested(at, {"type": "response.output_text.delta", "item_id": msg_id,
                         "output_index": 0, "content_index": 0, "delta": piece})
    usage_b = {"input_tokens": 455, "output_tokens": 11, "total_tokens": 466}
    at = nested(at, {"type": "response.completed",
                     "response": response(resp_b, "completed", resp_a, usage_b)})
    s.say("assistant", "It's twenty one degrees and clear in Lisbon.",
          max(s.now, at) + s.jitter(100, 200), 1700)
    s.usage()
    s.close()


def client_delegation(s: LiveScript) -> None:
    """A client delegation answered with commentary: the model hands the task to the app,
    which appends what to say (session.commentary.append), acknowledged, then spoken."""
    s.start()
    asked = s.say("user", "Is my table booked for tonight?", s.now + s.jitter(100, 250), 1300)
    delegation_id = s.ids.delegation()
    t = asked.end + s.jitter(300, 450)
    s.server(t, {"type": "session.delegation.created", "delegation": {
        "id": delegation_id, "type": "delegation", "target": "client"},
        "offset_ms": s.ms(asked.end)})
    s.say("assistant", "Let me look.", t + s.jitter(60, 120), 700)
    t = s.now + s.jitter(200, 500)
    appended = s.client(t, {"type": "session.commentary.append", "delegation_id": delegation_id,
                            "content": "The booking is confirmed: 8 pm, table for two."})
    ack_t = t + s.jitter(10, 30)
    s.server(ack_t, {"type": "session.commentary.appended", "start_ms": s.ms(ack_t),
                     "end_ms": s.ms(ack_t), "client_event_id": appended})
    s.say("assistant", "Yes, you're booked at eight for two.", ack_t + s.jitter(200, 350), 1700)
    s.close()


def sideband(s: LiveScript) -> None:
    """A server's sideband on a running call (/attach): the replay's session.started, the
    caller's reflected audio and the timed output, a developer instruction appended (and
    acknowledged), then the call ends (the sideband sends no session.close)."""
    s.start()
    heard = s.say("user", "Hello, I'd like to change my delivery address.",
                  s.now + s.jitter(100, 250), 1800)
    t = heard.end + s.jitter(100, 200)
    appended = s.client(t, {"type": "session.instructions.append", "delegation_id": None,
                            "content": "The caller is verified; you may change the address."})
    ack_t = t + s.jitter(10, 30)
    s.server(ack_t, {"type": "session.instructions.appended", "start_ms": s.ms(ack_t),
                     "end_ms": s.ms(ack_t), "client_event_id": appended})
    s.say("assistant", "Of course. What is the new address?", ack_t + s.jitter(300, 450), 1600)
    s.close(reason="remote_hangup")


LIVE_SCENARIOS: dict[str, Callable[[LiveScript], None]] = {
    "spoken_turn": spoken_turn,
    "tool_call": tool_call,
    "client_delegation": client_delegation,
    "barge_in": barge_in,
    "error": error,
    "close": close,
    "sideband": sideband,
}
# The connection each scenario is played on (the rest: the primary socket).
CONNECTION = {"sideband": "attach"}


def live_script(name: str, seed: int = 0, *, rate: int = 24000,
                parent_id: str | None = None, connection: str | None = None,
                audio_type: str = "audio/pcm") -> LiveScript:
    """Scenario `name` with every frame placed; a sideband observes `parent_id` (a made-up
    session id by default); connection "fork" plays it as a fork of `parent_id`."""
    if name not in LIVE_SCENARIOS:
        raise RtrecError(
            f"unknown Live scenario {name!r}: choose one of {', '.join(sorted(LIVE_SCENARIOS))}")
    connection = CONNECTION.get(name, connection or "primary")
    if connection == "attach" and parent_id is None:
        parent_id = LiveIds(random.Random(seed + 1)).session()
    s = LiveScript(seed, rate=rate, connection=connection, parent_id=parent_id,
                   audio_type=audio_type)
    LIVE_SCENARIOS[name](s)
    return s


def build_live(name: str, seed: int = 0, *, rate: int = 24000, parent_id: str | None = None,
               connection: str | None = None, audio_type: str = "audio/pcm") -> list[Frame]:
    """Both sides of Live scenario `name`, in time order; the same arguments, the same bytes."""
    return list(live_script(name, seed, rate=rate, parent_id=parent_id, connection=connection,
                            audio_type=audio_type).frames())
