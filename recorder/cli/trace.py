"""rtrec trace: recorded sessions as OpenTelemetry traces, sent over OTLP/HTTP."""

from __future__ import annotations

from typing import Any

import click

from recorder.cli.app import run
from recorder.errors import RtrecError

OTLP_HELP = (
    "The OTLP/HTTP collector: http://HOST:4318 (traces go to /v1/traces) or the full traces "
    "URL. [default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT]"
)


async def fold_figures(log: Any, info: Any) -> Any:
    """recorder.stats.fold.log_figures (an open log, a session's SessionInfo), imported when
    first needed."""
    try:
        from recorder.stats.fold import log_figures
    except ModuleNotFoundError as error:
        if error.name != "recorder.stats.fold":
            raise
        raise RtrecError(
            "this rtrec has no turn figures (recorder.stats.fold is missing): reinstall rtrec"
        ) from error

    return await log_figures(log, info)


@click.command("trace")
@click.argument("db")
@click.option("--session", "session_id", metavar="ID",
              help="Session id or unique prefix (default: every ended session of DB).")
@click.option("--otlp", "otlp_url", metavar="URL", default=None, help=OTLP_HELP)
@click.option("--with-text", is_flag=True,
              help="Put transcripts and error messages on the spans (left out by default).")
def trace_command(db: str, session_id: str | None, otlp_url: str | None, with_text: bool) -> None:
    """Send sessions of DB as OpenTelemetry traces over OTLP/HTTP: a span per turn, response and
    tool call.

    Trace and span ids derive from the session id: sending a session again does not duplicate
    it. Exits 1 when the collector cannot be reached or refuses the traces.
    """
    from recorder.stats.otlp import otlp_target, proto_modules

    target = otlp_target(otlp_url)  # a bad setting is said before the store is opened
    proto_modules()
    sent, skipped = run(send_sessions(db, session_id, target, with_text=with_text))
    for line in skipped:
        click.echo(f"rtrec: {line}", err=True)
    if not sent and session_id is not None:
        raise SystemExit(1)
    click.echo(f"sent {len(sent)} trace{'s' if len(sent) != 1 else ''} to {target.display}")
    for sid, spans in sent:
        click.echo(f"  {sid}: {spans} span{'s' if spans != 1 else ''}")


async def send_sessions(
    db: str, session_id: str | None, target: Any, *, with_text: bool = False,
    figures_of: Any = None,
) -> tuple[list[tuple[str, int]], list[str]]:
    """Send each chosen session's trace (one request per session); (sent (id, spans), lines
    saying which were skipped and why). OtlpError at the first send the collector refuses."""
    import aiohttp

    from recorder.stats.otlp import encode_traces, send_traces
    from recorder.stats.sender import facts_of
    from recorder.stats.trace import conversation_texts, session_trace
    from recorder.store import open_log

    figures_of = figures_of or fold_figures
    sent: list[tuple[str, int]] = []
    skipped: list[str] = []
    async with await open_log(db, create=False) as log, aiohttp.ClientSession() as http:
        if session_id is not None:
            sessions = [await log.get_session(session_id)]
        else:
            sessions = [info for info in await log.list_sessions()]
            if not sessions:
                raise RtrecError(f"{log.display} has no sessions: record one with rtrec record")
        for info in sessions:
            if info.status == "recording":
                skipped.append(f"session {info.id} is still being recorded: trace it once it "
                               "has ended (rtrec record sends it then with --otlp)")
                continue
            facts = facts_of(info)
            if facts is None:
                skipped.append(f"session {info.id} has no start time (imported from a file "
                               "that does not say): its spans cannot be placed in time")
                continue
            figures = await figures_of(log, info)
            texts = None
            if with_text:
                from recorder.conversation import fold_log

                texts = conversation_texts((await fold_log(log, info)).conversation)
            spans = session_trace(figures, facts, texts=texts, with_text=with_text)
            rejected, why = await send_traces(target, encode_traces([spans]), http)
            if rejected:
                raise RtrecError(
                    f"the collector at {target.display} rejected {rejected} of the "
                    f"{len(spans)} spans of session {info.id}" + (f": {why}" if why else "")
                )
            sent.append((info.id, len(spans)))
    return sent, skipped
