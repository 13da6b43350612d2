"""rtrec serve: a recorded session as a stand-in Realtime server, wired to the command line."""

from __future__ import annotations

import logging
import sys
from typing import cast

import click

from recorder.cli.app import run
from recorder.matching import MatchRules, parse_tolerance
from recorder.proxy import DEFAULT_LISTEN, parse_listen
from recorder.serve import MATCH_MODES, MatchMode, ReplayServer, parse_speed, serve
from recorder.store.urls import parse_db


@click.command("serve")
@click.argument("db")
@click.option(
    "--session",
    "session_id",
    default=None,
    metavar="ID",
    help="The session to serve (an id or unique prefix). Default: the newest.",
)
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    metavar="HOST:PORT",
    help="Where clients connect (port 0 picks a free one).",
)
@click.option(
    "--match",
    type=click.Choice(MATCH_MODES),
    default="strict",
    show_default=True,
    help="strict: a client frame unlike the recording gets an error event (code "
    "rtrec_mismatch) and the socket closes with 4400; lenient: the difference is logged "
    "and playback goes on.",
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="FIELD",
    help="A client field not compared (a key at any depth, a dotted path, or a path with "
    "[*]); repeatable.",
)
@click.option(
    "--exact",
    multiple=True,
    metavar="FIELD",
    help="A measured field (audio_start_ms, audio_end_ms, elapsed_ms) compared exactly "
    "instead of within its tolerance; repeatable.",
)
@click.option(
    "--tolerance",
    multiple=True,
    metavar="FIELD=N",
    help="Accept FIELD within N of the recorded value (default: audio_start_ms, "
    "audio_end_ms and elapsed_ms within 50 ms); repeatable.",
)
@click.option(
    "--speed",
    default="1",
    show_default=True,
    metavar="asap|N",
    help="1 plays server frames at their recorded times; asap as fast as possible.",
)
@click.option(
    "--token",
    envvar="RTREC_TOKEN",
    default=None,
    metavar="SECRET",
    help="Required to listen beyond loopback or to serve web pages from other origins "
    "(recordings hold people's voices); clients send "
    "it as header X-Rtrec-Token or query rtrec_token. [env: RTREC_TOKEN]",
)
def serve_command(
    db: str,
    session_id: str | None,
    listen: str,
    match: str,
    ignore: tuple[str, ...],
    exact: tuple[str, ...],
    tolerance: tuple[str, ...],
    speed: str,
    token: str | None,
) -> None:
    """Serve a recorded session to Realtime or Live clients (the SDKs, a browser, ...) on the
    API's path."""
    host, port = parse_listen(listen)
    pace = parse_speed(speed)
    rules = MatchRules.build(
        ignore=ignore, exact=exact, tolerance=dict(map(parse_tolerance, tolerance))
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("rtrec serve: %(message)s"))
    logger = logging.getLogger("recorder.serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def announce(server: ReplayServer) -> None:
        recording = server.recording
        shown = parse_db(db).display  # a database URL without its password
        pacing = "as fast as possible" if pace is None else f"at speed {speed}"
        click.echo(
            f"rtrec: serving session {recording.session_id} from {shown} "
            f"({recording.server_frames} server frames, {recording.client_frames} client "
            f"frames), {pacing}, matching {match} ({rules.describe()})"
        )
        if recording.is_live:
            click.echo(f"rtrec: listening on {server.url}/live/sessions (a Live session)")
            click.echo(f'  Python SDK: AsyncOpenAI(websocket_base_url="{server.url}"), then '
                       "client.live.connect()")
        else:
            click.echo(f"rtrec: listening on {server.url}/realtime")
            click.echo(f'  Python SDK: AsyncOpenAI(websocket_base_url="{server.url}")')
        click.echo("  Ctrl-C stops")
        sys.stdout.flush()
        for note in recording.notes():  # gaps, a Live session's bad input: served as it is
            click.echo(note, err=True)

    try:
        run(
            serve(
                db,
                session_id=session_id,
                host=host,
                port=port,
                match=cast(MatchMode, match),
                speed=pace,
                token=token,
                on_ready=announce,
                rules=rules,
            )
        )
    finally:
        logger.removeHandler(handler)
