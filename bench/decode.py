"""Issue 2 figure: recorder.decode against the openai SDK's own receive path, same frames.

The SDK's path is `RealtimeConnection.parse_event` (openai/resources/realtime/realtime.py):
`json.loads` plus `construct_type_unchecked` into its pydantic `RealtimeServerEvent` union; it is
what `connection.recv()` runs on every frame. Both sides get the same bytes objects, taken from a
realistic audio-heavy GA session: audio deltas of 4-8 KB of base64 interleaved with transcript
deltas, and the turn and item events around them. Frames come from
recorder.fake.scenarios.long_session when that module is available, else from the small
generator below, which follows the event order of CATALOG §2.

Issue 15 figure: the same comparison on variant events, frames of Realtime-compatible services
(Azure Voice Live's object voices, numbers as strings, extra nesting on usage, null lists) that
fail rtrec's strict typed decode and are rebuilt field by field (recorder.tolerant).

Run: python bench/run.py decode   (or python bench/decode.py)
"""

from __future__ import annotations

import base64
import json
import random
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, best_of, print_figures

from recorder import decode

GOAL = 5.0
VARIANT_GOAL = 2.0
VARIANT_ROUNDS = 200  # the variant frames below, this many times over
MINUTES = 2
REPEATS = 5


def session_frames(turns: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """Server events of a GA voice session, `turns` user turns each answered with audio."""
    rng = random.Random(seed)
    n = 0

    def event(type_name: str, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {"type": type_name, "event_id": f"event_{seed:04d}{n:08d}", **fields}

    yield event("session.created", session={
        "type": "realtime", "object": "realtime.session", "id": "sess_bench", "model":
        "gpt-realtime", "output_modalities": ["audio"], "instructions": "Be brief.",
        "tools": [], "tool_choice": "auto", "max_output_tokens": "inf", "tracing": None,
        "prompt": None, "expires_at": 1790000000, "include": None,
        "audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000},
                            "transcription": {"model": "gpt-4o-mini-transcribe"},
                            "noise_reduction": None,
                            "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                               "prefix_padding_ms": 300,
                                               "silence_duration_ms": 200,
                                               "idle_timeout_ms": None, "create_response": True,
                                               "interrupt_response": True}},
                  "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin",
                             "speed": 1}}})
    previous: str | None = None
    words = ("sure", "the", "order", "left", "our", "warehouse", "this", "morning", "and",
             "should", "arrive", "on", "friday")
    for turn in range(turns):
        user, assistant, resp = f"item_u{turn}", f"item_a{turn}", f"resp_{turn}"
        yield event("input_audio_buffer.speech_started", item_id=user, audio_start_ms=turn * 9000)
        yield event("input_audio_buffer.speech_stopped", item_id=user,
                    audio_end_ms=turn * 9000 + 2500)
        yield event("input_audio_buffer.committed", item_id=user, previous_item_id=previous)
        user_item = {"id": user, "type": "message", "status": "completed", "role": "user",
                     "content": [{"type": "input_audio", "transcript": None}]}
        yield event("conversation.item.added", previous_item_id=previous, item=user_item)
        yield event("conversation.item.done", previous_item_id=previous, item=user_item)
        yield event("response.created", response={
            "object": "realtime.response", "id": resp, "status": "in_progress",
            "status_details": None, "output": [], "conversation_id": "conv_bench",
            "output_modalities": ["audio"], "max_output_tokens": "inf", "usage": None,
            "metadata": None, "audio": {"output": {"format": {"type": "audio/pcm",
                                                              "rate": 24000}, "voice": "marin"}}})
        live_item = {"id": assistant, "type": "message", "status": "in_progress",
                     "role": "assistant", "content": []}
        yield event("response.output_item.added", response_id=resp, output_index=0,
                    item=live_item)
        yield event("conversation.item.added", previous_item_id=user, item=live_item)
        rioc = {"response_id": resp, "item_id": assistant, "output_index": 0,
                "content_index": 0}
        yield event("response.content_part.added", **rioc,
                    part={"type": "audio", "transcript": ""})
        spoken: list[str] = []
        for chunk in range(rng.randint(40, 70)):  # 4-8 KB of base64 each: ~3-6 s of speech
            pcm = rng.randbytes(rng.randint(3000, 6000))
            yield event("response.output_audio.delta", **rioc,
                        delta=base64.b64encode(pcm).decode("ascii"))
            if chunk % 3 == 0:
                word = rng.choice(words) + " "
                spoken.append(word)
                yield event("response.output_audio_transcript.delta", **rioc, delta=word,
                            obfuscation="x" * rng.randint(2, 12))
        transcript = "".join(spoken).strip()
        yield event("conversation.item.input_audio_transcription.delta", item_id=user,
                    content_index=0, delta="where is my order", obfuscation="k3Lq")
        yield event("conversation.item.input_audio_transcription.completed", item_id=user,
                    content_index=0, transcript="where is my order",
                    usage={"type": "tokens", "total_tokens": 22, "input_tokens": 13,
                           "input_token_details": {"text_tokens": 0, "audio_tokens": 13},
                           "output_tokens": 9})
        yield event("response.output_audio.done", **rioc)
        yield event("response.output_audio_transcript.done", **rioc, transcript=transcript)
        yield event("response.content_part.done", **rioc,
                    part={"type": "audio", "transcript": transcript})
        done_item = {"id": assistant, "type": "message", "status": "completed",
                     "role": "assistant",
                     "content": [{"type": "output_audio", "transcript": transcript}]}
        yield event("response.output_item.done", response_id=resp, output_index=0,
                    item=done_item)
        yield event("conversation.item.done", previous_item_id=user, item=done_item)
        yield event("response.done", response={
            "object": "realtime.response", "id": resp, "status": "completed",
            "status_details": None, "output": [done_item], "conversation_id": "conv_bench",
            "output_modalities": ["audio"], "max_output_tokens": "inf",
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000},
                                 "voice": "marin"}},
            "usage": {"total_tokens": 253, "input_tokens": 132, "output_tokens": 121,
                      "input_token_details": {"text_tokens": 119, "audio_tokens": 13,
                                              "image_tokens": 0, "cached_tokens": 64,
                                              "cached_tokens_details": {"text_tokens": 64,
                                                                        "audio_tokens": 0,
                                                                        "image_tokens": 0}},
                      "output_token_details": {"text_tokens": 30, "audio_tokens": 91}},
            "metadata": None})
        yield event("rate_limits.updated", rate_limits=[
            {"name": "tokens", "limit": 40000, "remaining": 39000 - turn, "reset_seconds": 1.5}])
        previous = assistant


AZURE_VOICE = {"name": "en-US-Ava:DragonHDLatestNeural", "type": "azure-standard"}


def variant_frames() -> list[bytes]:
    """One of each variant shape of issue 15, as Voice Live-style server events: each has at
    least one field rtrec's strict decode rejects (the rest of the event is well formed)."""
    rioc = {"response_id": "resp_v", "item_id": "item_a", "output_index": 0,
            "content_index": 0}
    item = {"id": "item_a", "object": "realtime.item", "type": "message", "role": "assistant",
            "status": "completed", "content": [{"type": "audio", "transcript": "It is sunny."}]}
    usage = {"total_tokens": 253, "input_tokens": 132, "output_tokens": 121,
             "input_token_details": {"text_tokens": 119, "audio_tokens": 13},
             "output_token_details": {"text_tokens": 30, "audio_tokens": {"value": 91}}}
    session = {"id": "sess_v", "object": "realtime.session", "model": "gpt-4o-realtime-preview",
               "modalities": ["text", "audio"], "voice": AZURE_VOICE, "instructions": "Be brief.",
               "input_audio_format": "pcm16", "output_audio_format": "pcm16",
               "input_audio_transcription": {"model": "whisper-1"},
               "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                  "prefix_padding_ms": 300, "silence_duration_ms": "500"},
               "tools": [], "tool_choice": "auto", "temperature": 0.8,
               "max_response_output_tokens": "inf"}
    response = {"id": "resp_v", "object": "realtime.response", "status": "completed",
                "status_details": None, "output": [item], "voice": AZURE_VOICE,
                "modalities": ["text", "audio"], "output_audio_format": "pcm16",
                "usage": usage}
    events: list[dict[str, Any]] = [
        {"type": "session.created", "session": session},
        {"type": "session.updated", "session": session},
        {"type": "input_audio_buffer.speech_started", "item_id": "item_u",
         "audio_start_ms": "1200"},
        {"type": "response.created", "response": {**response, "status": "in_progress",
                                                  "output": [], "usage": None}},
        {"type": "response.output_item.added", "response_id": "resp_v", "output_index": "0",
         "item": {**item, "status": "in_progress", "content": []}},
        {"type": "response.content_part.done", **rioc,
         "part": {"type": "azure_avatar_audio", "transcript": "It is sunny.",
                  "text": {"viseme": [1, 2]}}},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "item_u",
         "content_index": "0", "transcript": "How is the weather?"},
        {"type": "response.done", "response": response},
        {"type": "rate_limits.updated", "rate_limits": None},
    ]
    return [
        json.dumps({"event_id": f"event_v{n}", **event}, separators=(",", ":")).encode()
        for n, event in enumerate(events)
    ]


def realistic_frames(minutes: int) -> tuple[list[bytes], str]:
    """Server text frames of about `minutes` of conversation, and where they came from."""
    try:
        from recorder.fake.scenarios import long_session
        from recorder.wire import Direction, Opcode
    except ImportError:
        turns = minutes * 60 // 9  # a user turn and a spoken answer every ~9 s
        frames = [json.dumps(e, separators=(",", ":")).encode() for e in session_frames(turns)]
        return frames, f"bench generator, {turns} turns"
    frames = [
        frame.data
        for frame in long_session(minutes, protocol="ga", seed=0)
        if frame.direction is Direction.SERVER and frame.opcode is Opcode.TEXT
    ]
    return frames, f"recorder.fake long_session({minutes} min)"


def sdk_parse_event() -> Callable[[bytes], Any]:
    """The SDK's own per-frame parse: RealtimeConnection.parse_event (it does not use self)."""
    from openai.resources.realtime.realtime import RealtimeConnection

    def parse(data: bytes) -> Any:
        return RealtimeConnection.parse_event(None, data)  # type: ignore[arg-type]

    return parse


def figures() -> list[Figure]:
    frames, source = realistic_frames(MINUTES)
    megabytes = sum(map(len, frames)) / 1e6
    parse = sdk_parse_event()

    # Same frames, same answers: both sides see the same event types (and we see no unknowns).
    ours = Counter(decode(frame).type for frame in frames)
    theirs = Counter(parse(frame).type for frame in frames)
    assert ours == theirs, (ours - theirs, theirs - ours)

    def run_sdk() -> None:
        for frame in frames:
            parse(frame)

    def run_rtrec() -> None:
        for frame in frames:
            decode(frame)

    sdk_s = best_of(REPEATS, run_sdk)
    rtrec_s = best_of(REPEATS, run_rtrec)
    ratio = sdk_s / rtrec_s
    per_s = len(frames) / rtrec_s
    return [
        Figure(
            issue=2,
            name=f"decode realistic audio-heavy stream ({len(frames):,} frames, "
            f"{megabytes:.1f} MB, {source})",
            goal=f">= {GOAL:g}x the openai SDK receive path",
            baseline=f"openai parse_event (json.loads + pydantic) {len(frames) / sdk_s:,.0f} "
            f"frames/s, {megabytes / sdk_s:,.0f} MB/s",
            measured=f"recorder.decode {per_s:,.0f} frames/s, {megabytes / rtrec_s:,.0f} MB/s",
            ratio=ratio,
            passed=ratio >= GOAL,
        ),
        variant_figure(parse),
    ]


def variant_figure(parse: Callable[[bytes], Any]) -> Figure:
    """Variant events (each rebuilt by recorder.tolerant) against the SDK on the same frames."""
    kinds = variant_frames()
    for frame in kinds:  # each is typed, with what did not fit noted: the slow path is measured
        event = decode(frame)
        assert getattr(event, "odd", None) is not None, (frame, event)
        assert event.type == parse(frame).type
    frames = kinds * VARIANT_ROUNDS

    def run_sdk() -> None:
        for frame in frames:
            parse(frame)

    def run_rtrec() -> None:
        for frame in frames:
            decode(frame)

    sdk_s = best_of(REPEATS, run_sdk)
    rtrec_s = best_of(REPEATS, run_rtrec)
    ratio = sdk_s / rtrec_s
    return Figure(
        issue=15,
        name=f"decode variant events ({len(kinds)} Voice Live-style shapes x {VARIANT_ROUNDS}, "
        "each with a field kept raw)",
        goal=f">= {VARIANT_GOAL:g}x the openai SDK receive path",
        baseline=f"openai parse_event {len(frames) / sdk_s:,.0f} frames/s",
        measured=f"recorder.decode (rebuilt field by field) {len(frames) / rtrec_s:,.0f} frames/s",
        ratio=ratio,
        passed=ratio >= VARIANT_GOAL,
    )


if __name__ == "__main__":
    print_figures(figures())
