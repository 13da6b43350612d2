"""The note replay and export print for a session the recorder could not keep whole."""

from __future__ import annotations

import click

from recorder.cli.app import run


def echo_gaps(db: str, session_id: str) -> None:
    """On stderr, one line naming the session's gaps (frames not recorded); nothing if none."""
    from recorder.store import gaps_line, open_log

    async def work() -> str | None:
        async with await open_log(db, create=False) as log:
            return gaps_line(session_id, await log.gaps(session_id))

    line = run(work())
    if line is not None:
        click.echo(line, err=True)

