"""Summaries of turn figures (recorder.stats.summary): one session, and a fleet by group."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from recorder.errors import RtrecError
from recorder.stats.figures import ErrorFigure, ResponseFigures, SessionFigures, TurnFigures, Usage
from recorder.stats.summary import FLEET_KEYS, percentile, summarise_fleet, summarise_session
from tests.test_stats_fold import voice_session


def test_percentiles_are_linear_between_closest_ranks() -> None:
    assert percentile([4, 1, 3, 2], 50) == 2.5
    assert percentile([1, 2, 3, 4], 95) == pytest.approx(3.85)
    assert percentile([7], 95) == 7
    assert percentile([], 50) is None


def test_a_session_summary() -> None:
    summary = summarise_session(voice_session().figures())
    assert (summary["turns"], summary["responses"], summary["interruptions"]) == (3, 2, 1)
    assert summary["latency"]["voice_to_voice_ms"] == {"count": 2, "p50": 490, "p95": 661,
                                                       "max": 680}
    assert summary["latency"]["stopped_to_created_ms"]["count"] == 2
    assert summary["latency"]["tool_ms"] == {"count": 0, "p50": None, "p95": None, "max": None}
    assert summary["heard_share"] == pytest.approx(160 / 300)
    assert summary["tokens"]["input_cached_tokens"] == 16
    assert summary["unavailable"] >= 1


def session(model: str | None, day: int | None, status: str, voices: list[float | None], *,
            interrupted: int = 0, responses: int = 2, error: bool = False,
            tokens: int = 10) -> SessionFigures:
    return SessionFigures(
        model=model, status=status,
        started_at=None if day is None else datetime(2026, 11, day, 23, 59, tzinfo=UTC),
        turns=[TurnFigures(index=i, item_id=None, voice_to_voice_ms=v)
               for i, v in enumerate(voices, 1)],
        responses=[ResponseFigures(response_id=f"r{i}", created_ms=0, done_ms=1,
                                   status="completed", interrupted=i < interrupted)
                   for i in range(responses)],
        interruptions=interrupted,
        errors=[ErrorFigure(at_ms=1, kind="error")] if error else
        [ErrorFigure(at_ms=1, kind="transcription_failed")],
        tokens=Usage(input_tokens=tokens, output_tokens=tokens, total_tokens=2 * tokens),
    )


FLEET = [
    session("a", 1, "complete", [100, 300], interrupted=1, error=True),
    session("b", 1, "interrupted", [200, None]),
    session("a", 2, "complete", [500], responses=0, tokens=5),
    session(None, None, "complete", []),
]


def test_the_fleet_in_one_row() -> None:
    (row,) = summarise_fleet(FLEET)
    assert tuple(row) == FLEET_KEYS
    assert row == {
        "group": None, "sessions": 4, "turns": 5, "responses": 6,
        "voice_to_voice_count": 4, "voice_to_voice_p50_ms": 250.0,
        "voice_to_voice_p95_ms": pytest.approx(470.0), "interruptions": 1,
        "interruption_rate": 1 / 6, "sessions_with_errors": 1, "error_rate": 0.25,
        "input_tokens": 35, "output_tokens": 35, "total_tokens": 70,
    }


def test_the_fleet_by_model_day_and_status() -> None:
    by_model = summarise_fleet(FLEET, by="model")
    assert [(r["group"], r["sessions"], r["voice_to_voice_p50_ms"]) for r in by_model] == [
        ("a", 2, 300), ("b", 1, 200), (None, 1, None)]
    assert by_model[0]["interruption_rate"] == 0.5 and by_model[0]["error_rate"] == 0.5
    by_day = summarise_fleet(FLEET, by="day")
    assert [(r["group"], r["sessions"]) for r in by_day] == [
        ("2026-11-01", 2), ("2026-11-02", 1), (None, 1)]
    by_status = summarise_fleet(FLEET, by="status")
    assert [(r["group"], r["sessions"], r["turns"]) for r in by_status] == [
        ("complete", 3, 3), ("interrupted", 1, 2)]


def test_a_fleet_row_is_plain_json() -> None:
    rows = summarise_fleet(FLEET, by="model")
    assert msgspec.json.decode(msgspec.json.encode(rows)) == rows


def test_an_unknown_grouping_is_one_line() -> None:
    with pytest.raises(RtrecError) as caught:
        summarise_fleet(FLEET, by="week")
    assert str(caught.value) == "cannot group by 'week': choose one of model, day, status"
