"""Summaries of turn figures: one session (p50, p95, max of each latency...) and a fleet.

Both give plain dicts of numbers and strings (JSON as they are). summarise_fleet's rows are
flat, one per group, with the keys of FLEET_KEYS: the shape a SQL query over a table of stored
figures can give as well (percentiles are linear between the closest ranks, SQL's
percentile_cont).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from recorder.errors import RtrecError
from recorder.stats.figures import SessionFigures, Usage

__all__ = ["FLEET_BY", "FLEET_KEYS", "LATENCIES", "percentile", "summarise_fleet",
           "summarise_session"]

# Each latency a session summary reduces: its name -> its values in one session's figures.
LATENCIES: dict[str, Callable[[SessionFigures], list[float | None]]] = {
    "voice_to_voice_ms": lambda f: [t.voice_to_voice_ms for t in f.turns],
    "stopped_to_created_ms": lambda f: [t.stopped_to_created_ms for t in f.turns],
    "stopped_to_first_audio_ms": lambda f: [t.stopped_to_first_audio_ms for t in f.turns],
    "stopped_to_first_text_ms": lambda f: [t.stopped_to_first_text_ms for t in f.turns],
    "stopped_to_first_transcript_ms": lambda f: [
        t.stopped_to_first_transcript_ms for t in f.turns],
    "create_to_created_ms": lambda f: [r.create_to_created_ms for r in f.responses],
    "create_to_first_audio_ms": lambda f: [r.create_to_first_audio_ms for r in f.responses],
    "response_duration_ms": lambda f: [r.duration_ms for r in f.responses],
    "tool_ms": lambda f: [c.tool_ms for c in f.tool_calls],
    "output_to_next_audio_ms": lambda f: [c.output_to_next_audio_ms for c in f.tool_calls],
}

TOKEN_KEYS = ("input_tokens", "output_tokens", "total_tokens", "input_text_tokens",
              "input_audio_tokens", "input_cached_tokens", "output_text_tokens",
              "output_audio_tokens")

FLEET_BY = ("model", "day", "status")
FLEET_KEYS = ("group", "sessions", "turns", "responses", "voice_to_voice_count",
              "voice_to_voice_p50_ms", "voice_to_voice_p95_ms", "interruptions",
              "interruption_rate", "sessions_with_errors", "error_rate", "input_tokens",
              "output_tokens", "total_tokens")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) of values, linear between closest ranks; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _spread(values: list[float | None]) -> dict[str, Any]:
    known = [v for v in values if v is not None]
    return {
        "count": len(known),
        "p50": percentile(known, 50),
        "p95": percentile(known, 95),
        "max": max(known) if known else None,
    }


def _tokens(usage: Usage | None) -> dict[str, int | None] | None:
    if usage is None:
        return None
    return {key: getattr(usage, key) for key in TOKEN_KEYS}


def summarise_session(f: SessionFigures) -> dict[str, Any]:
    """One session: counts, the spread (count, p50, p95, max) of each latency, heard share,
    tokens; figures that are None stay out of the spreads (their count says how many)."""
    kinds = [e.kind for e in f.errors]
    return {
        "session": f.session_id,
        "protocol": f.protocol,
        "model": f.model,
        "status": f.status,
        "started_at": f.started_at.isoformat() if f.started_at is not None else None,
        "duration_ms": f.duration_ms,
        "turns": len(f.turns),
        "responses": len(f.responses),
        "tool_calls": len(f.tool_calls),
        "interruptions": f.interruptions,
        "heard_share": f.heard_share,
        "errors": kinds.count("error"),
        "transcription_failures": kinds.count("transcription_failed"),
        "rate_limited": kinds.count("rate_limited"),
        "tokens": _tokens(f.tokens),
        "latency": {name: _spread(values(f)) for name, values in LATENCIES.items()},
        "unavailable": len(f.unavailable),
    }


def _group_key(f: SessionFigures, by: str | None) -> str | None:
    if by is None:
        return None
    if by == "model":
        return f.model
    if by == "status":
        return f.status
    if by == "day":
        return f.started_at.date().isoformat() if f.started_at is not None else None
    raise RtrecError(f"cannot group by {by!r}: choose one of {', '.join(FLEET_BY)}")


def summarise_fleet(rows: Iterable[SessionFigures], by: str | None = None) -> list[dict[str, Any]]:
    """Many sessions, in one row per group (by model, day (UTC, of started_at) or status; one
    row for all when by is None), ordered by group (None last). Each row has FLEET_KEYS:
    voice-to-voice p50/p95 over the turns of all its sessions, interruption rate over its
    responses, error rate over its sessions (a session with at least one error event)."""
    if by is not None and by not in FLEET_BY:
        raise RtrecError(f"cannot group by {by!r}: choose one of {', '.join(FLEET_BY)}")
    groups: dict[str | None, list[SessionFigures]] = {}
    for figures in rows:
        groups.setdefault(_group_key(figures, by), []).append(figures)
    ordered = sorted(groups, key=lambda key: (key is None, key or ""))
    return [_fleet_row(key, groups[key]) for key in ordered]


def _fleet_row(key: str | None, sessions: list[SessionFigures]) -> dict[str, Any]:
    voice = [t.voice_to_voice_ms for f in sessions for t in f.turns
             if t.voice_to_voice_ms is not None]
    responses = sum(len(f.responses) for f in sessions)
    interruptions = sum(f.interruptions for f in sessions)
    with_errors = sum(1 for f in sessions if any(e.kind == "error" for e in f.errors))

    def tokens(name: str) -> int:
        return sum(getattr(f.tokens, name) or 0 for f in sessions if f.tokens is not None)

    return {
        "group": key,
        "sessions": len(sessions),
        "turns": sum(len(f.turns) for f in sessions),
        "responses": responses,
        "voice_to_voice_count": len(voice),
        "voice_to_voice_p50_ms": percentile(voice, 50),
        "voice_to_voice_p95_ms": percentile(voice, 95),
        "interruptions": interruptions,
        "interruption_rate": interruptions / responses if responses else None,
        "sessions_with_errors": with_errors,
        "error_rate": with_errors / len(sessions) if sessions else None,
        "input_tokens": tokens("input_tokens"),
        "output_tokens": tokens("output_tokens"),
        "total_tokens": tokens("total_tokens"),
    }
