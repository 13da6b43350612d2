"""rtrec store commands: sessions, events, import, dump, delete, db upgrade (DB first)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from recorder.cli.app import run
from recorder.errors import RtrecError
from recorder.store import GapInfo, SessionInfo, StoredFrame, open_log
from recorder.store.cleanup import removed_on_failure
from recorder.store.transfer import check_file, dump_line, import_checked

_SESSION_OPTION = click.option(
    "--session", "session_id", metavar="ID", help="Session id or unique prefix (default: newest)."
)


def _when(moment: datetime | None, unknown: bool = False) -> str:
    if moment is None:
        return "unknown" if unknown else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _session_dict(info: SessionInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "started_at": info.started_at.isoformat() if info.started_at else None,
        "ended_at": info.ended_at.isoformat() if info.ended_at else None,
        "protocol": info.protocol,
        "model": info.model,
        "endpoint": info.endpoint,
        "status": info.status,
        "frames": info.frames,
        "client_frames": info.client_frames,
        "server_frames": info.server_frames,
        "close_code": info.close_code,
        "close_reason": info.close_reason,
        "closed_by": info.closed_by,
        "gaps": info.gaps,
        "frames_lost": info.frames_lost,
        "upstream_id": info.upstream_id,
        "connection": info.connection,
        "parent_id": info.parent_id,
    }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


@click.command("sessions")
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def sessions_command(db: str, as_json: bool) -> None:
    """List the sessions recorded in DB, oldest first, with the frames each could not keep."""

    async def work() -> list[tuple[SessionInfo, list[GapInfo]]]:
        async with await open_log(db, create=False) as log:
            return [(info, await log.gaps(info.id) if info.gaps else [])
                    for info in await log.list_sessions()]

    from recorder.protocol.live import together

    sessions = run(work())
    # a Live session's sidebands and forks right after it (each (info, gaps) by its info)
    by_info = {id(info): (info, gaps) for info, gaps in sessions}
    sessions = [by_info[id(info)] for info in together([info for info, _ in sessions])]
    if as_json:
        click.echo(json.dumps([
            {**_session_dict(info), "gap_list": [_gap_dict(gap) for gap in gaps]}
            for info, gaps in sessions
        ], indent=2))
        return
    if not sessions:
        click.echo("no sessions", err=True)
        return
    rows = [
        # unknown: an import whose file does not say when the session began or ended
        [s.id, _when(s.started_at, True), _when(s.ended_at, s.status != "recording"),
         s.protocol or "", s.model or "",
         str(s.frames), s.status, _lost(s)]
        for s, _ in sessions
    ]
    header = ["id", "started (UTC)", "ended (UTC)", "protocol", "model", "frames", "status",
              "not recorded"]
    links = [_link(s) for s, _ in sessions]
    if any(links):  # Live sessions: which API session each is, and what it belongs to
        header.insert(4, "session")
        for row, link in zip(rows, links, strict=True):
            row.insert(4, link)
    for line in _table(header, rows):
        click.echo(line)
    for info, gaps in sessions:
        for gap in gaps:
            click.echo(f"  gap in {info.id}: {gap.describe()}")


def _link(info: SessionInfo) -> str:
    """The API's session (Live), or what a sideband or fork belongs to; '' when unknown."""
    from recorder.protocol.live import link_words

    return link_words(info.upstream_id, info.connection, info.parent_id) or ""


def _lost(info: SessionInfo) -> str:
    if not info.gaps:
        return ""
    return f"{info.frames_lost} in {info.gaps} gap{'s' if info.gaps != 1 else ''}"


def _gap_dict(gap: GapInfo) -> dict[str, Any]:
    return {"first_seq": gap.first_seq, "last_seq": gap.last_seq,
            "first_t": gap.first_t_ns / 1e9, "last_t": gap.last_t_ns / 1e9,
            "frames": gap.frames, "reason": gap.reason}


async def _frames_of(db: str, session_id: str | None) -> AsyncIterator[StoredFrame]:
    async with await open_log(db, create=False) as log:
        info = await log.get_session(session_id)
        async for batch in log.read(info.id):
            for frame in batch:
                yield frame


def _stream(db: str, session_id: str | None, each: Callable[[StoredFrame], None]) -> None:
    async def work() -> None:
        async for frame in _frames_of(db, session_id):
            each(frame)

    run(work())


def _type_width() -> int:
    """The type column: as wide as the protocol's longest event type."""
    from recorder.events import CLIENT_TYPES, SERVER_TYPES

    return max(len(name) for name in CLIENT_TYPES | SERVER_TYPES)


TYPE_WIDTH = _type_width()


def _fit(kind: str) -> str:
    """A type longer than any the protocol has (a stranger's) is cut in the middle with '~',
    so the columns stay in line; --json shows it whole."""
    if len(kind) <= TYPE_WIDTH:
        return kind
    keep = TYPE_WIDTH - 1
    return kind[: keep - keep // 2] + "~" + kind[len(kind) - keep // 2 :]


EVENTS_HEADER = f"{'seq':>6}  {'t':>11}  {'dir':<6}  {'type':<{TYPE_WIDTH}}  {'size':>8}  event_id"


def _events_heading(info: SessionInfo, chosen: bool, sessions: int) -> str:
    """Which session the table shows, and how to see another when there are several."""
    protocol = f" · {info.protocol}" if info.protocol else ""
    line = (f"Session {info.id}{protocol} · {info.frames} frames · started "
            f"{_when(info.started_at)} UTC")
    if not chosen and sessions > 1:
        line += f" (the newest of {sessions} sessions: choose one with --session ID)"
    return line


@click.command("events")
@click.argument("db")
@_SESSION_OPTION
@click.option("--type", "types", multiple=True, metavar="T", help="Only events of this type.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def events_command(db: str, session_id: str | None, types: tuple[str, ...], as_json: bool) -> None:
    """List the frames of a session of DB (the newest by default)."""
    wanted = set(types)
    first = True
    seen: set[str] = set()
    heading = ""

    def each(frame: StoredFrame) -> None:
        nonlocal first
        kind = frame.type or ("(binary)" if frame.opcode == 2 else "(unknown)")
        seen.add(kind)
        if wanted and frame.type not in wanted:
            return
        if as_json:
            record = {
                "seq": frame.seq, "t": frame.t_ns / 1e9, "direction": str(frame.direction),
                "opcode": int(frame.opcode), "type": frame.type, "event_id": frame.event_id,
                "item_id": frame.item_id, "response_id": frame.response_id,
                "bytes": len(frame.data),
            }
            if frame.redaction:  # only on a redacted frame: every other record as it was
                record["redacted"] = frame.redaction.word
            click.echo(("[" if first else ",") + "\n  " + json.dumps(record), nl=False)
        else:
            if first:
                click.echo(heading)
                click.echo(EVENTS_HEADER)
            line = (f"{frame.seq:>6}  {frame.t_ns / 1e9:>10.3f}s  {frame.direction:<6}  "
                    f"{_fit(kind):<{TYPE_WIDTH}}  {len(frame.data):>7}B  {frame.event_id or ''}")
            line = line.rstrip()
            if frame.redaction:  # e.g. "redacted (scan)"; an unredacted frame's line as it was
                line += f"  redacted ({frame.redaction.word})"
            click.echo(line)
        first = False

    async def work() -> SessionInfo:
        async with await open_log(db, create=False) as log:
            info = await log.get_session(session_id)
            if not as_json:
                nonlocal heading
                count = len(await log.list_sessions()) if session_id is None else 1
                heading = _events_heading(info, session_id is not None, count)
            async for batch in log.read(info.id):
                for frame in batch:
                    each(frame)
            return info

    info = run(work())
    if as_json:
        click.echo("[]" if first else "\n]")
    if wanted and first:
        present = ", ".join(sorted(seen)) or "none (the session has no frames)"
        asked = ", ".join(sorted(wanted))
        raise RtrecError(
            f"session {info.id} has no frame of type {asked}; types present: {present}"
        )


@click.command("dump")
@click.argument("db")
@_SESSION_OPTION
def dump_command(db: str, session_id: str | None) -> None:
    """Print a session of DB as JSONL: seq, t, t_ns, direction, type and the exact frame (the
    first line also the session's started_at and ended_at, unix seconds)."""

    async def work() -> None:
        async with await open_log(db, create=False) as log:
            info = await log.get_session(session_id)
            first: SessionInfo | None = info  # its times go on the first line only
            async for batch in log.read(info.id):
                for frame in batch:
                    click.echo(dump_line(frame, first))  # bytes go to stdout as they are
                    first = None

    run(work())


@click.command("import")
@click.argument("db")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_command(db: str, files: tuple[Path, ...]) -> None:
    """Import event files into DB, one new session each; prints each new session id.

    A FILE is JSONL (one event per line, stored as is), a JSON array of events, or the output
    of `rtrec dump`. All or nothing: every file is checked before DB is opened, and a failed
    import leaves DB as it was.
    """
    # Before the database is opened (or created): a bad file costs nothing.
    checked = [check_file(path) for path in files]

    async def work() -> list[SessionInfo]:
        async with await open_log(db) as log:
            return await import_checked(log, checked)

    with removed_on_failure(db):
        imported = run(work())
    for path, info in zip(files, imported, strict=True):
        click.echo(info.id)
        protocol = f", protocol {info.protocol}" if info.protocol else ""
        click.echo(
            f"imported {info.frames} frames from {path} "
            f"({info.client_frames} client, {info.server_frames} server){protocol}",
            err=True,
        )


@click.command("delete")
@click.argument("db")
@click.argument("session_id", metavar="SESSION")
def delete_command(db: str, session_id: str) -> None:
    """Delete a session and its frames from DB."""

    async def work() -> SessionInfo:
        async with await open_log(db, create=False) as log:
            info = await log.get_session(session_id)
            await log.delete_session(info.id)
            return info

    info = run(work())
    click.echo(f"deleted session {info.id} ({info.frames} frames)")


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.argument("db")
def upgrade_command(db: str) -> None:
    """Apply rtrec's schema migrations to DB (opening a database does this too)."""

    async def work() -> str:
        async with await open_log(db) as log:
            return log.display

    display = run(work())
    from recorder.store.migrate import head_revision

    click.echo(f"{display}: schema at revision {head_revision()}")
