"""Named, realistic Realtime sessions in GA or beta form, and an endless one for benchmarks.

    build("barge_in", protocol="ga", seed=0) -> list[Frame]   # both directions, in time order
    long_session(60, protocol="ga", seed=0) -> Iterator[Frame]  # generated as it is consumed

Every scenario starts like the service does (session.created, the client's session.update,
session.updated) and then plays its story (see SCENARIOS). The same arguments give the same
frames byte for byte. Scenario audio is kept short so recorded fixtures stay small.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

from recorder.audio import G711_ALAW_8K, G711_ULAW_8K, PCM16_24K
from recorder.errors import RtrecError
from recorder.fake.dialect import PROTOCOLS, Event
from recorder.fake.script import Call, OutOfBand, SessionScript, Speech, Text, UserTurn
from recorder.wire import Frame

WEATHER_TOOL: Event = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


def _speak(s: SessionScript, text: str, reply: str, *, reply_ms: int | None = None,
           late_transcript: bool = False) -> UserTurn:
    """A plain voice turn: the user says `text`, the assistant answers `reply` in audio."""
    turn = s.user_turn(text, _speech_ms(text))
    early_at = turn.committed_t + s.jitter(150, 350)
    if not late_transcript:
        s.transcribe(turn, early_at)
    result = s.respond([Speech(reply, reply_ms or _speech_ms(reply))], turn.committed_t)
    if late_transcript:  # transcription finishing after the response is common for long input
        s.transcribe(turn, result.done_t + s.jitter(20, 120))
    return turn


def _speech_ms(text: str) -> int:
    """About how long it takes to say `text` (kept brief to keep fixtures small)."""
    return max(500, 200 * len(text.split()))


# --- the stories ----------------------------------------------------------------------------


def voice_turns(s: SessionScript) -> None:
    """Two server-VAD voice turns; the second transcript completes after its response."""
    _speak(s, "Hi there, can you hear me?", "Yes, loud and clear.")
    _speak(s, "What is the capital of Portugal?", "It is Lisbon.", late_transcript=True)


def barge_in(s: SessionScript) -> None:
    """The user talks over a long answer: VAD cancels it, the client truncates what it played."""
    first = s.user_turn("Tell me about the moon.", 1000)
    s.transcribe(first, first.committed_t + s.jitter(150, 300))
    reply = "The moon is our only natural satellite and it is slowly drifting away from us."
    interrupt = s.barge_in(first, Speech(reply, 3000), after_ms=s.jitter(500, 800),
                           says="Wait, stop.", speech_ms=700)
    s.transcribe(interrupt, interrupt.committed_t + s.jitter(150, 300))
    s.respond([Speech("Sure, I stopped.", 1000)], interrupt.committed_t)


def _function_round(s: SessionScript, call_ids: list[str], output: Event, reply: str) -> None:
    """The client runs the call, sends its output, and asks for the next response."""
    t = s.now + s.jitter(20, 80)
    for call_id in call_ids:
        out = json.dumps(output)
        s.client(t, {"type": "conversation.item.create",
                     "item": s.dialect.function_output_item(None, call_id=call_id, output=out)})
        item_id = s.ids.item()
        t_server = t + s.jitter(3, 6)
        for event in s.dialect.item_inserted(
            s.dialect.function_output_item(item_id, call_id=call_id, output=out),
            s.last_item_id,
        ):
            s.server(t_server, event)
            t_server += 0.3
        s.last_item_id = item_id
        t += 1
    s.client(t, s.dialect.response_create())
    s.respond([Speech(reply, _speech_ms(reply))], t, client_requested=True)


def function_call(s: SessionScript) -> None:
    """The model calls a function; the client answers with function_call_output and
    response.create; the model speaks the result."""
    turn = s.user_turn("What's the weather in Lisbon?", 1300)
    s.transcribe(turn, turn.committed_t + s.jitter(150, 300))
    result = s.respond([Call("get_weather", '{"city":"Lisbon"}')], turn.committed_t)
    _function_round(s, result.call_ids, {"temp_c": 21, "sky": "clear"},
                    "It is twenty one degrees and clear in Lisbon.")


def two_items(s: SessionScript) -> None:
    """One response with two output items: a spoken message, then a function call."""
    turn = s.user_turn("Is it raining in Porto?", 1100)
    s.transcribe(turn, turn.committed_t + s.jitter(150, 300))
    result = s.respond([Speech("Let me check that for you.", 1200),
                        Call("get_weather", '{"city":"Porto"}')], turn.committed_t)
    _function_round(s, result.call_ids, {"temp_c": 16, "sky": "light rain"},
                    "Yes, light rain in Porto right now.")


def transcription_failed(s: SessionScript) -> None:
    """The user mumbles; input transcription fails but the model still answers."""
    turn = s.user_turn("", 900, mumble=True)
    s.transcribe(turn, turn.committed_t + s.jitter(200, 400), fail=True)
    s.respond([Speech("Sorry, I didn't catch that.", 1100)], turn.committed_t)


def error(s: SessionScript) -> None:
    """The client deletes an item that does not exist; the server answers with `error` and
    the session goes on."""
    t = s.now + s.jitter(50, 150)
    missing = s.ids.item()
    event_id = s.client(t, {"type": "conversation.item.delete", "item_id": missing})
    s.server(t + s.jitter(5, 20), {"type": "error", "error": {
        "type": "invalid_request_error",
        "code": "item_not_found",
        "message": f"Item with item_id '{missing}' not found.",
        "param": "item_id",
        "event_id": event_id,
    }})
    s.now = t + 40
    _speak(s, "Are you still there?", "Yes, I'm here.")


def out_of_band(s: SessionScript) -> None:
    """A text response outside the conversation (conversation "none"): no item events,
    conversation_id null, metadata echoed."""
    turn = _speak(s, "Remind me to buy bread.", "Okay, bread it is.")
    t = s.now + s.jitter(50, 150)
    metadata = {"purpose": "summary"}
    instructions = "Summarize the conversation in one sentence."
    s.client(t, s.dialect.response_create(conversation="none", modalities=["text"],
                                          instructions=instructions, metadata=metadata,
                                          input_item_ids=[turn.item_id]))
    s.respond([Text("The user asked to be reminded to buy bread.")], t, client_requested=True,
              out_of_band=OutOfBand(metadata))


def _g711(s: SessionScript) -> None:
    """voice_turns with G.711 audio both ways (8 kHz, 8 bytes/ms; the format comes from
    _FORMATS)."""
    voice_turns(s)


SCENARIOS: dict[str, Callable[[SessionScript], None]] = {
    "voice_turns": voice_turns,
    "barge_in": barge_in,
    "function_call": function_call,
    "two_items": two_items,
    "transcription_failed": transcription_failed,
    "error": error,
    "out_of_band": out_of_band,
    "g711": _g711,
    "g711_alaw": _g711,
}


def _everything(s: SessionScript) -> None:
    """Every story above, one after the other, in one session (pcm16)."""
    for name in ("voice_turns", "barge_in", "function_call", "two_items",
                 "transcription_failed", "error", "out_of_band"):
        SCENARIOS[name](s)


SCENARIOS["everything"] = _everything
_FORMATS = {"g711": G711_ULAW_8K, "g711_alaw": G711_ALAW_8K}
_NEEDS_TOOLS = {"function_call", "two_items", "everything"}


def script(name: str, protocol: str = "ga", seed: int = 0, *, model: str | None = None
           ) -> SessionScript:
    """The scenario's SessionScript with every frame placed (not yet handed out)."""
    if name not in SCENARIOS:
        raise RtrecError(
            f"unknown scenario {name!r}: choose one of {', '.join(sorted(SCENARIOS))}")
    if protocol not in PROTOCOLS:
        raise RtrecError(f"unknown protocol {protocol!r}: choose 'ga' or 'beta'")
    s = SessionScript(protocol, seed, model=model)
    s.start(tools=[WEATHER_TOOL] if name in _NEEDS_TOOLS else None,
            audio_format=_FORMATS.get(name, PCM16_24K))
    SCENARIOS[name](s)
    return s


def build(name: str, protocol: str = "ga", seed: int = 0, *, model: str | None = None
          ) -> list[Frame]:
    """Both sides of scenario `name`, in time order; the same arguments give the same bytes."""
    return list(script(name, protocol, seed, model=model).frames())


# --- the long session -----------------------------------------------------------------------

_USER_LINES = [
    "Can you help me plan a trip to the mountains next weekend?",
    "What should I pack if it gets cold at night?",
    "How long does the drive usually take from the city?",
    "Are there any good places to stop for lunch on the way?",
    "What about hiking trails for beginners?",
    "Should I book the cabin in advance or is it fine to just show up?",
]
_ASSISTANT_LINES = [
    "Of course. A weekend in the mountains is a lovely idea, and there is plenty to do "
    "whether you like walking, reading by a fire or simply looking at the view.",
    "Bring layers: a warm fleece, a hat, gloves and a waterproof jacket. Nights can drop "
    "close to freezing even when the days are mild.",
    "Usually around three hours, a bit more on a Friday evening when everyone leaves town "
    "at the same time.",
    "There is a small bakery in the valley that people love, and a lakeside cafe about "
    "halfway up the road with good soup.",
    "The lake loop is flat and about five kilometres, and the ridge path is a little "
    "steeper but has the best views.",
    "I would book ahead. Weekends fill up quickly this time of year, especially the cabins "
    "with a fireplace.",
]


def long_session(minutes: float, protocol: str = "ga", seed: int = 0) -> Iterator[Frame]:
    """An audio-heavy session of about `minutes` minutes, generated lazily turn by turn.

    The microphone streams continuously (as a real app does), the user speaks 2-6 s, the
    assistant answers with 4-12 s of audio, every turn is transcribed; every seventh turn the
    user barges in. Memory stays bounded by one turn, so an hour is fine.
    """
    if protocol not in PROTOCOLS:
        raise RtrecError(f"unknown protocol {protocol!r}: choose 'ga' or 'beta'")
    s = SessionScript(protocol, seed)
    s.start()
    end_ms = minutes * 60_000
    turn_no = 0
    while s.now < end_ms:
        line = turn_no % len(_USER_LINES)
        speech_ms = s.rng.randint(2000, 6000)
        turn = s.user_turn(_USER_LINES[line], speech_ms, capture_from=s.mic_free_t,
                           speak_at=s.now + s.jitter(300, 900))
        s.transcribe(turn, turn.committed_t + s.jitter(150, 350))
        reply = Speech(_ASSISTANT_LINES[line], s.rng.randint(4000, 12000))
        if turn_no % 7 == 6:
            interrupt = s.barge_in(turn, reply, after_ms=s.jitter(1000, 2000),
                                   says="Sorry, one more thing.", speech_ms=1500)
            s.transcribe(interrupt, interrupt.committed_t + s.jitter(150, 300))
            s.respond([Speech("Sure, go ahead.", 1200)], interrupt.committed_t)
        else:
            s.respond([reply], turn.committed_t)
        turn_no += 1
        yield from s.frames(before_ms=s.mic_free_t)
    yield from s.frames()
