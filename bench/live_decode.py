"""Issue 18 figure: recorder.live.decode against the openai SDK's own Live receive path, same
frames.

The SDK's path is `AsyncLiveConnection.parse_event` (openai/resources/live/live.py, `openai`
3.12 and later): `json.loads` plus `construct_type_unchecked` into its pydantic Live
`ServerEvent` union; `connection.recv()` runs it on every frame (it does not use self). Both
sides get the same bytes objects: the server side of a primary Live socket as LIVE.md §2b, §2g
and §2h describe it, generated below: `session.started`, then the continuous output track
(100 ms frames of 24 kHz PCM16, ten a second, 6,400 bytes of base64 each, no event_id),
transcript fragments in 200 ms buckets for both speakers, usage updates every second, and
every ~20 s a delegated tool call through the Responses backend (session.delegation.created and
its response.event envelopes: lifecycle, the function call's arguments, the continuation's
text), ending with session.closed.

Runs alternate (SDK, rtrec, SDK, ...) and each side's best run counts, so a noisy neighbour on
the shared machine weighs on both alike.

Run: python bench/run.py live_decode   (or python bench/live_decode.py)
"""

from __future__ import annotations

import base64
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Figure, print_figures

from recorder.events import UnknownEvent
from recorder.live.decode import decode
from recorder.live.events import ResponseEvent
from recorder.wire import Direction

GOAL = 5.0
MINUTES = 2
REPEATS = 7
FRAME_MS = 100  # output audio frame (LIVE.md §2b)
BUCKET_MS = 200  # transcript fragments
WORDS = ("sure", "the", "forecast", "for", "lisbon", "is", "sunny", "with", "a", "high",
         "of", "twenty", "one", "degrees", "anything", "else")


def live_server_frames(minutes: int, seed: int = 0) -> Iterator[dict[str, Any]]:
    """The server events of `minutes` of a primary Live socket with a Responses backend."""
    rng = random.Random(seed)
    n = 0

    def event(type_name: str, **fields: Any) -> dict[str, Any]:
        nonlocal n
        n += 1
        return {"type": type_name, "event_id": f"event_{seed:03d}{n:09d}", **fields}

    session = {
        "id": "live_u0_bench", "model": "gpt-live-1", "status": "active",
        "expires_at": 1796400000, "instructions": "You are a weather assistant.",
        "audio": {"format": {"type": "audio/pcm", "rate": 24000}, "output": {"voice": "marin"}},
        "delegation": {"type": "responses", "acknowledgement_delay_ms": 0, "responses": {
            "model": "gpt-5.1", "instructions": "Use the weather tool.", "tool_choice": "auto",
            "tools": [{"type": "function", "name": "get_weather",
                       "parameters": {"type": "object",
                                      "properties": {"city": {"type": "string"}}}}]}},
        "input": [], "triggers": [],
    }
    yield event("session.started", client_event_id="evt_start", session=session)
    total_ms = minutes * 60_000
    for now in range(0, total_ms, FRAME_MS):
        speaking = (now // 4000) % 2 == 1  # the assistant speaks every other 4 s
        pcm = rng.randbytes(4800) if speaking else bytes(4800)  # silence is sent too
        yield {"type": "session.output_audio.delta", "delta": base64.b64encode(pcm).decode()}
        if now % BUCKET_MS == 0:
            kind = "output" if speaking else "input"
            yield event(f"session.{kind}_transcript.delta", start_ms=now,
                        end_ms=now + BUCKET_MS, delta=rng.choice(WORDS) + " ")
        if now % 1000 == 0:
            yield event("session.usage.updated", usage={"seconds": float(now // 1000)})
        if now % 20_000 == 10_000:
            yield from _delegation(event, now, rng)
    yield event("session.closed", client_event_id="evt_close", reason="close_requested",
                session=session, usage={"seconds": float(total_ms // 1000)})


def _delegation(
    event: Callable[..., dict[str, Any]], now: int, rng: random.Random
) -> Iterator[dict[str, Any]]:
    item, first, second = f"item_{now}", f"resp_{now}a", f"resp_{now}b"
    call, fc, msg = f"call_{now}", f"fc_{now}", f"msg_{now}"
    yield event("session.delegation.created", offset_ms=now, delegation={
        "id": item, "type": "delegation", "target": "responses", "response_id": first})
    seq = 0

    def nested(type_name: str, **fields: Any) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        return event("response.event", delegation_id=item,
                     event={"type": type_name, "sequence_number": seq, **fields})

    def snapshot(response_id: str, status: str, **fields: Any) -> dict[str, Any]:
        return {"id": response_id, "object": "response", "created_at": 1796398800 + now,
                "status": status, "model": "gpt-5.1", "instructions": None, "tools": [],
                "tool_choice": "auto", "parallel_tool_calls": False, "output": [], **fields}

    usage = {"input_tokens": 318, "output_tokens": 24, "total_tokens": 342,
             "input_tokens_details": {"cached_tokens": 0},
             "output_tokens_details": {"reasoning_tokens": 8}}
    call_item = {"id": fc, "type": "function_call", "status": "in_progress",
                 "name": "get_weather", "call_id": call, "arguments": ""}
    yield nested("response.created", response=snapshot(first, "in_progress"))
    yield nested("response.in_progress", response=snapshot(first, "in_progress"))
    yield nested("response.output_item.added", output_index=0, item=call_item)
    for piece in ('{"city"', ':"Lis', 'bon"}'):
        yield nested("response.function_call_arguments.delta", item_id=fc, output_index=0,
                     delta=piece)
    yield nested("response.function_call_arguments.done", item_id=fc, output_index=0,
                 arguments='{"city":"Lisbon"}')
    yield nested("response.output_item.done", output_index=0,
                 item={**call_item, "status": "completed", "arguments": '{"city":"Lisbon"}'})
    yield nested("response.completed", response=snapshot(first, "completed", usage=usage))
    yield nested("response.created", response=snapshot(second, "in_progress",
                                                       previous_response_id=first))
    part = {"item_id": msg, "output_index": 0, "content_index": 0}
    for _ in range(rng.randint(6, 12)):
        yield nested("response.output_text.delta", **part, delta=rng.choice(WORDS) + " ",
                     logprobs=[])
    yield nested("response.completed", response=snapshot(second, "completed", usage=usage))


def frames(minutes: int) -> list[bytes]:
    return [json.dumps(e, separators=(",", ":")).encode() for e in live_server_frames(minutes)]


def sdk_parse_event() -> Callable[[bytes], Any]:
    """The SDK's own per-frame parse: AsyncLiveConnection.parse_event (it does not use self)."""
    from openai.resources.live.live import AsyncLiveConnection

    def parse(data: bytes) -> Any:
        return AsyncLiveConnection.parse_event(None, data)  # type: ignore[arg-type]

    return parse


def alternating_best(repeats: int, first: Callable[[], object],
                     second: Callable[[], object]) -> tuple[float, float]:
    """Seconds of the fastest run of each, running them in turn `repeats` times."""
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for side, work in enumerate((first, second)):
            start = time.perf_counter()
            work()
            best[side] = min(best[side], time.perf_counter() - start)
    return best[0], best[1]


def figures() -> list[Figure]:
    stream = frames(MINUTES)
    megabytes = sum(map(len, stream)) / 1e6
    parse = sdk_parse_event()
    server = Direction.SERVER

    # Same frames, same answers: both sides see the same event types, rtrec no unknowns (a
    # nested Responses event included), the audio frames the bulk of the bytes.
    ours = Counter(decode(frame, server).type for frame in stream)
    theirs = Counter(parse(frame).type for frame in stream)
    assert ours == theirs, (ours - theirs, theirs - ours)
    decoded = [decode(frame, server) for frame in stream]
    assert not any(isinstance(event, UnknownEvent) for event in decoded)
    nested = [event.event for event in decoded if isinstance(event, ResponseEvent)]
    assert nested and not any(isinstance(event, UnknownEvent) for event in nested)
    audio = sum(len(f) for f in stream if f.startswith(b'{"type":"session.output_audio'))
    assert audio > 0.9 * megabytes * 1e6

    def run_sdk() -> None:
        for frame in stream:
            parse(frame)

    def run_rtrec() -> None:
        for frame in stream:
            decode(frame, server)

    sdk_s, rtrec_s = alternating_best(REPEATS, run_sdk, run_rtrec)
    ratio = sdk_s / rtrec_s
    return [
        Figure(
            issue=18,
            name=f"decode a Live audio-heavy stream ({len(stream):,} server frames, "
            f"{megabytes:.1f} MB, {MINUTES} min of a primary socket with delegations)",
            goal=f">= {GOAL:g}x the openai SDK Live receive path",
            baseline=f"openai AsyncLiveConnection.parse_event (json.loads + pydantic) "
            f"{len(stream) / sdk_s:,.0f} frames/s, {megabytes / sdk_s:,.0f} MB/s",
            measured=f"recorder.live.decode {len(stream) / rtrec_s:,.0f} frames/s, "
            f"{megabytes / rtrec_s:,.0f} MB/s",
            ratio=ratio,
            passed=ratio >= GOAL,
        ),
    ]


if __name__ == "__main__":
    print_figures(figures())
