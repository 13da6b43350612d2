"""rtrec view: a local web page to see and hear the sessions of a store, wired to the CLI."""

from __future__ import annotations

import contextlib
import sys

import click

from recorder.cli.app import run

DEFAULT_VIEW_LISTEN = "127.0.0.1:8767"


@click.command("view")
@click.argument("db")
@click.option("--session", "session_id", default=None, metavar="ID",
              help="Open this session's page (an id or unique prefix). Default: the sessions page.")
@click.option("--listen", default=DEFAULT_VIEW_LISTEN, show_default=True, metavar="HOST:PORT",
              help="Where the page is served (port 0 picks a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in a browser.")
@click.option("--rebuild", is_flag=True,
              help="Empty the view's derived tables of DB first (each session's index, peaks "
                   "and text: computed again from its frames when it is opened or searched).")
@click.option("--token", envvar="RTREC_TOKEN", default=None, metavar="SECRET",
              help="Required to listen beyond loopback (recordings hold people's voices): the "
                   "printed URL carries it once, the page keeps it in a cookie. [env: RTREC_TOKEN]")
def view_command(db: str, session_id: str | None, listen: str, open_browser: bool,
                 rebuild: bool, token: str | None) -> None:
    """See and hear the sessions of DB in a browser: lanes on one timeline, audio, frames."""
    from recorder.proxy import parse_listen
    from recorder.store.urls import parse_db
    from recorder.view.server import view

    host, port = parse_listen(listen)

    def announce(url: str) -> None:
        click.echo(f"rtrec: viewing {parse_db(db).display} at {url}")
        click.echo("  Ctrl-C stops")
        sys.stdout.flush()
        if open_browser:
            import webbrowser

            webbrowser.open(url)

    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the server closed, the log too
        run(view(db, session=session_id, host=host, port=port, token=token, on_ready=announce,
                 rebuild=rebuild))
