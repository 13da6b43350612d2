"""Where a Live output frame's lateness goes in `rtrec serve` (issue 18's serve figure):
for each server frame, the wait on the loop's timer past its due time (`wake`), rtrec's own
work between that wake-up and the send (`work`: picking the stream, the id rewriting), and the
send itself through aiohttp (`send`). Percentiles in ms over one playback at speed 1, the client
in another process as in bench/live_serve.py. Instrumented by wrapping Alarm.sleep_until and
Playback.send, so the figures include that wrapping's small cost.

    python bench/live_serve_breakdown.py [--minutes N]
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from live_serve import client_process, session_frames, stored_session

from recorder import script_player
from recorder.serve import Playback, RecordedFrame, ReplayServer


def percentiles(values_ns: list[int]) -> str:
    ordered = sorted(values_ns)
    n = len(ordered)
    if n == 0:
        return "none"
    p50, p99 = ordered[n // 2], ordered[min(n - 1, int(n * 0.99))]
    return f"p50 {p50 / 1e6:.3f}  p99 {p99 / 1e6:.3f}  max {ordered[-1] / 1e6:.3f} ms (n={n})"


async def breakdown(minutes: float) -> dict[str, list[int]]:
    recording = await stored_session(session_frames(minutes))
    _plan = recording.live_plan  # worked out once, before any connection, as rtrec serve does
    parts: dict[str, list[int]] = {"wake": [], "work": [], "send": []}
    woke = [0]
    sleep_until, send = script_player.Alarm.sleep_until, Playback.send

    async def timed_sleep(alarm: script_player.Alarm, due_ns: int | None) -> None:
        await sleep_until(alarm, due_ns)
        woke[0] = time.monotonic_ns()
        if due_ns is not None and not alarm.rung:
            parts["wake"].append(max(0, woke[0] - due_ns))

    async def timed_send(playback: Playback, frame: RecordedFrame, due_ns: int | None) -> bool:
        began = time.monotonic_ns()
        parts["work"].append(began - woke[0])
        sent = await send(playback, frame, due_ns)
        parts["send"].append(time.monotonic_ns() - began)
        return sent

    patched: Any = script_player.Alarm
    patched.sleep_until, Playback.send = timed_sleep, timed_send  # type: ignore[method-assign]
    try:
        async with ReplayServer(recording, speed=1.0) as server:
            arrivals = await client_process(server.url, minutes)
            result = await server.next_result()
    finally:
        patched.sleep_until, Playback.send = sleep_until, send  # type: ignore[method-assign]
    if not result.ok:
        raise RuntimeError(f"playback failed: {[m.message for m in result.mismatches[:2]]}")
    parts["lateness"] = result.lateness_ns
    parts["arrival"] = arrivals
    return parts


if __name__ == "__main__":
    args = sys.argv[1:]
    minutes = float(args[args.index("--minutes") + 1]) if "--minutes" in args else 0.5
    for name, values in asyncio.run(breakdown(minutes)).items():
        print(f"{name:9} {percentiles(values)}")
