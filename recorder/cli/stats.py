"""rtrec stats DB [--session ID] [--json | --csv] [--by model|day|status] [--from/--to DATE]."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import click

from recorder.cli.app import run
from recorder.errors import RtrecError

if TYPE_CHECKING:
    from recorder.stats.figures import SessionFigures

_DATE = click.DateTime(formats=["%Y-%m-%d"])

# The columns of one session's turn table (--csv): a turn and the response answering it.
TURN_COLUMNS = (
    "turn", "item_id", "speech_started_ms", "speech_stopped_ms", "speech_end_wire_ms",
    "committed_ms", "response_id", "voice_to_voice_ms", "stopped_to_created_ms",
    "stopped_to_first_audio_ms", "stopped_to_first_text_ms", "stopped_to_first_transcript_ms",
    "transcript_failed", "status", "status_reason", "interrupted_by", "duration_ms",
    "audio_generated_ms", "audio_heard_ms", "input_tokens", "output_tokens",
)


@click.command("stats")
@click.argument("db")
@click.option("--session", "session_id", metavar="ID",
              help="One session (id or unique prefix): its turns and its summary.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV (a session's turns, or the rows "
              "of the summary).")
@click.option("--by", type=click.Choice(["model", "day", "status"]),
              help="Without --session: one summary row per model, day (UTC) or status.")
@click.option("--from", "from_day", type=_DATE, metavar="YYYY-MM-DD",
              help="Without --session: only sessions started on or after this day (UTC).")
@click.option("--to", "to_day", type=_DATE, metavar="YYYY-MM-DD",
              help="Without --session: only sessions started on or before this day (UTC).")
@click.option("--rebuild", is_flag=True,
              help="Compute every session's kept figures again from its frames first.")
def stats_command(
    db: str,
    session_id: str | None,
    as_json: bool,
    as_csv: bool,
    by: str | None,
    from_day: datetime | None,
    to_day: datetime | None,
    rebuild: bool,
) -> None:
    """What each turn cost in time, measured on the wire: one session's turns, or every
    session of DB summarised.

    With --session, a table of the session's turns (voice-to-voice latency, latencies from
    speech_stopped, the answering response's status, audio generated and heard, tokens) and
    its summary (p50, p95, max of each latency). Without it, every session summarised:
    count, voice-to-voice p50/p95, interruption and error rates, tokens. A database keeps each
    session's figures in derived tables (computed as a recording ends, or here on first use:
    sessions not computed yet, or computed by an older rtrec, are computed first), so the
    summary is one query; --rebuild computes them all again from the frames.
    """
    if as_json and as_csv:
        raise click.UsageError("--json and --csv cannot be combined: choose one")
    if session_id is not None:
        given = [flag for flag, value in (("--by", by), ("--from", from_day), ("--to", to_day),
                                          ("--rebuild", rebuild or None)) if value is not None]
        if given:
            raise click.UsageError(
                f"{' and '.join(given)} summarise every session and cannot go with --session: "
                "leave one out")
        _one_session(db, session_id, as_json=as_json, as_csv=as_csv)
        return
    start = from_day.date() if from_day is not None else None
    end = to_day.date() if to_day is not None else None
    if start is not None and end is not None and start > end:
        raise click.UsageError(f"--from {start} is after --to {end}: swap them")
    _fleet(db, by, start, end, rebuild=rebuild, as_json=as_json, as_csv=as_csv)


# -- one session ----------------------------------------------------------------------------------


def _one_session(db: str, session_id: str, *, as_json: bool, as_csv: bool) -> None:
    import msgspec

    from recorder.stats.fold import session_figures
    from recorder.stats.summary import summarise_session

    figures = run(session_figures(db, session_id))
    summary = summarise_session(figures)
    if figures.live is not None:  # a Live session: what applies (recorder.stats.live)
        from recorder.stats import live

        summary["live"] = live.live_summary(figures)
        if as_csv:
            click.echo(_csv(live.segment_rows(figures), live.SEGMENT_COLUMNS), nl=False)
            return
        if not as_json:
            for line in live.render_live_lines(figures):
                click.echo(line)
            return
    if as_json:
        click.echo(json.dumps({"figures": msgspec.to_builtins(figures), "summary": summary}))
        return
    rows = _turn_rows(figures)
    if as_csv:
        click.echo(_csv([dict(zip(TURN_COLUMNS, row, strict=True)) for row in rows],
                        TURN_COLUMNS), nl=False)
        return
    _print_session(figures, summary, rows)


def _turn_rows(figures: SessionFigures) -> list[list[Any]]:
    responses = {r.response_id: r for r in figures.responses}
    rows = []
    for turn in figures.turns:
        answer = responses.get(turn.response_id) if turn.response_id else None
        usage = answer.usage if answer is not None else None
        rows.append([
            turn.index, turn.item_id, turn.speech_started_ms, turn.speech_stopped_ms,
            turn.speech_end_wire_ms, turn.committed_ms, turn.response_id, turn.voice_to_voice_ms,
            turn.stopped_to_created_ms, turn.stopped_to_first_audio_ms,
            turn.stopped_to_first_text_ms, turn.stopped_to_first_transcript_ms,
            turn.transcript_failed,
            answer.status if answer else None, answer.status_reason if answer else None,
            answer.interrupted_by if answer else None, answer.duration_ms if answer else None,
            answer.audio_generated_ms if answer else None,
            answer.audio_heard_ms if answer else None,
            usage.input_tokens if usage else None, usage.output_tokens if usage else None,
        ])
    return rows


def _num(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}"
    return str(value)


def _print_session(figures: SessionFigures, summary: dict[str, Any], rows: list[list[Any]]
                   ) -> None:
    from rich.table import Table

    console = _console()
    columns = dict(zip(TURN_COLUMNS, range(len(TURN_COLUMNS)), strict=True))
    shown = [("turn", "#"), ("voice_to_voice_ms", "voice-to-voice ms"),
             ("stopped_to_created_ms", "stopped→created"),
             ("stopped_to_first_audio_ms", "stopped→audio"), ("response_id", "response"),
             ("status", "status"), ("interrupted_by", "interrupted by"),
             ("audio_generated_ms", "audio ms"), ("audio_heard_ms", "heard ms"),
             ("input_tokens", "in tok"), ("output_tokens", "out tok")]
    plural = "" if len(rows) == 1 else "s"
    table = Table(title=f"session {figures.session_id}: {len(rows)} turn{plural}")
    for _, title in shown:
        table.add_column(title, justify="left" if title in ("response", "status") else "right")
    for row in rows:
        table.add_row(*(_num(row[columns[key]]) for key, _ in shown))
    console.print(table)
    if figures.tool_calls:
        calls = Table(title="tool calls")
        for title in ("call", "name", "tool ms", "output→next audio ms", "next response"):
            calls.add_column(title, justify="right" if title.endswith("ms") else "left")
        for call in figures.tool_calls:
            calls.add_row(call.call_id, call.name or "-", _num(call.tool_ms),
                          _num(call.output_to_next_audio_ms), call.next_response_id or "-")
        console.print(calls)
    tokens = summary["tokens"] or {}
    share = summary["heard_share"]
    lines = [
        f"turns {summary['turns']}, responses {summary['responses']}, tool calls "
        f"{summary['tool_calls']}, interruptions {summary['interruptions']}, heard share "
        f"{'-' if share is None else f'{share:.0%}'}",
        f"errors {summary['errors']}, failed transcriptions {summary['transcription_failures']}"
        f", rate-limited {summary['rate_limited']}; tokens in {_num(tokens.get('input_tokens'))}"
        f", out {_num(tokens.get('output_tokens'))}, cached "
        f"{_num(tokens.get('input_cached_tokens'))}",
    ]
    for name, spread in summary["latency"].items():
        if spread["count"]:
            lines.append(f"{name}: p50 {_num(spread['p50'])}, p95 {_num(spread['p95'])}, "
                         f"max {_num(spread['max'])} (n={spread['count']})")
    for error in figures.errors:
        said = ": ".join(part for part in (error.code, error.message) if part)
        lines.append(f"{error.kind} at {error.at_ms:.0f} ms" + (f": {said}" if said else ""))
    for missing in figures.unavailable:
        lines.append(f"not available: {missing.what}: {missing.why}")
    for line in lines:
        click.echo(line)


# -- many sessions --------------------------------------------------------------------------------


def _fleet(db: str, by: str | None, start: date | None, end: date | None, *, rebuild: bool,
           as_json: bool, as_csv: bool) -> None:
    from recorder.stats.summary import FLEET_KEYS, summarise_fleet
    from recorder.stream import is_file_of_events

    if is_file_of_events(db):  # one session, no database: fold it
        if rebuild:
            raise click.UsageError(f"--rebuild rebuilds a database's kept figures; {db} is a "
                                   "file of events: leave --rebuild out")
        rows = summarise_fleet(run(_file_figures(db, start, end)), by=by)
    else:
        rows = run(_kept_summary(db, by, start, end, rebuild=rebuild))
    if as_json:
        click.echo(json.dumps(rows))
    elif as_csv:
        click.echo(_csv(rows, FLEET_KEYS), nl=False)
    else:
        _print_fleet(rows, by, FLEET_KEYS)


def _day_of(moment: datetime | None) -> date | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)).astimezone(
        UTC).date()


def _wanted(start: date | None, end: date | None, started_at: datetime | None) -> bool:
    if start is None and end is None:
        return True
    day = _day_of(started_at)  # an unknown start is in no range
    return day is not None and (start is None or day >= start) and (end is None or day <= end)


def _none_left(where: str, start: date | None, end: date | None) -> RtrecError:
    return RtrecError(f"no session of {where} started {_range(start, end)} (UTC): "
                      "widen --from/--to, or run `rtrec sessions` to see when they did")


async def _file_figures(path: str, start: date | None, end: date | None
                        ) -> list[SessionFigures]:
    from recorder.stats.fold import session_figures

    figures = await session_figures(path)
    if not _wanted(start, end, figures.started_at):
        raise _none_left(path, start, end)
    return [figures]


async def _kept_summary(db: str, by: str | None, start: date | None, end: date | None, *,
                        rebuild: bool) -> list[dict[str, Any]]:
    """The summary from the derived tables, after computing what is missing or stale."""
    from recorder.stats import table
    from recorder.stats.fold import figures_of_session
    from recorder.store import open_log

    async with await open_log(db, create=False) as log:
        sessions = await log.list_sessions()
        if not sessions:
            raise RtrecError(f"no sessions in {log.display} yet: record or import one first")
        if not any(_wanted(start, end, info.started_at) for info in sessions):
            raise _none_left(log.display, start, end)
        keep = table.rebuild if rebuild else table.ensure
        await keep(log, figures_of_session)
        rows = await table.summarise(log, by, start, end)  # type: ignore[arg-type]
    return [row.as_dict() for row in rows]


def _range(start: date | None, end: date | None) -> str:
    if start is not None and end is not None:
        return f"between {start} and {end}"
    return f"on or after {start}" if start is not None else f"on or before {end}"


def _print_fleet(rows: list[dict[str, Any]], by: str | None, keys: tuple[str, ...]) -> None:
    from rich.table import Table

    console = _console()
    titles = {"group": by or "group", "voice_to_voice_count": "v2v n",
              "voice_to_voice_p50_ms": "v2v p50 ms", "voice_to_voice_p95_ms": "v2v p95 ms",
              "interruption_rate": "interrupted", "sessions_with_errors": "with errors",
              "error_rate": "error rate", "input_tokens": "in tok", "output_tokens": "out tok",
              "total_tokens": "tokens"}
    shown = [k for k in keys if k not in ("interruptions",)]
    table = Table()
    for key in shown:
        table.add_column(titles.get(key, key), justify="left" if key == "group" else "right")
    for row in rows:
        cells = []
        for key in shown:
            value = row[key]
            if key == "group":
                cells.append("all" if by is None else ("unknown" if value is None else value))
            elif key.endswith("_rate"):
                cells.append("-" if value is None else f"{value:.0%}")
            else:
                cells.append(_num(value))
        table.add_row(*cells)
    console.print(table)


def _console() -> Any:
    """A console on stdout: a terminal's width, or wide enough not to cut a column in a pipe."""
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=160)


def _csv(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(keys), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in keys})
    return out.getvalue()
