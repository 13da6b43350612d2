"""rtrec store commands: sessions, events, import, dump, delete, db upgrade (DB first)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from recorder.cli.app import cli, run
from recorder.store import GapInfo, SessionInfo, StoredFrame, open_log
from recorder.store.migrate import head_revision
from recorder.store.transfer import dump_line, import_file

_SESSION_OPTION = click.option(
    "--session", "session_id", metavar="ID", help="Session id or unique prefix (default: newest)."
)


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


def _session_dict(info: SessionInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "started_at": info.started_at.isoformat(),
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
    }


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


@cli.command("sessions")
@click.argument("db")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def sessions_command(db: str, as_json: bool) -> None:
    """List the sessions recorded in DB, oldest first, with the frames each could not keep."""

    async def work() -> list[tuple[SessionInfo, list[GapInfo]]]:
        async with await open_log(db, create=False) as log:
            return [(info, await log.gaps(info.id) if info.gaps else [])
                    for info in await log.list_sessions()]

    sessions = run(work())
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
        [s.id, _when(s.started_at), _when(s.ended_at), s.protocol or "", s.model or "",
         str(s.frames), s.status, _lost(s)]
        for s, _ in sessions
    ]
    header = ["id", "started (UTC)", "ended (UTC)", "protocol", "model", "frames", "status",
              "not recorded"]
    for line in _table(header, rows):
        click.echo(line)
    for info, gaps in sessions:
        for gap in gaps:
            click.echo(f"  gap in {info.id}: {gap.describe()}")


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


EVENTS_HEADER = f"{'seq':>6}  {'t':>11}  {'dir':<6}  {'type':<45}  {'size':>8}  event_id"


@cli.command("events")
@click.argument("db")
@_SESSION_OPTION
@click.option("--type", "types", multiple=True, metavar="T", help="Only events of this type.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
def events_command(db: str, session_id: str | None, types: tuple[str, ...], as_json: bool) -> None:
    """List the frames of a session of DB (the newest by default)."""
    wanted = set(types)
    first = True

    def each(frame: StoredFrame) -> None:
        nonlocal first
        if wanted and frame.type not in wanted:
            return
        if as_json:
            record = {
                "seq": frame.seq, "t": frame.t_ns / 1e9, "direction": str(frame.direction),
                "opcode": int(frame.opcode), "type": frame.type, "event_id": frame.event_id,
                "item_id": frame.item_id, "response_id": frame.response_id,
                "bytes": len(frame.data),
            }
            click.echo(("[" if first else ",") + "\n  " + json.dumps(record), nl=False)
        else:
            if first:
                click.echo(EVENTS_HEADER)
            kind = frame.type or ("(binary)" if frame.opcode == 2 else "(unknown)")
            click.echo(
                f"{frame.seq:>6}  {frame.t_ns / 1e9:>10.3f}s  {frame.direction:<6}  "
                f"{kind:<45}  {len(frame.data):>7}B  {frame.event_id or ''}".rstrip()
            )
        first = False

    _stream(db, session_id, each)
    if as_json:
        click.echo("[]" if first else "\n]")


@cli.command("dump")
@click.argument("db")
@_SESSION_OPTION
def dump_command(db: str, session_id: str | None) -> None:
    """Print a session of DB as JSONL: seq, t, t_ns, direction, type and the exact frame."""

    def each(frame: StoredFrame) -> None:
        click.echo(dump_line(frame))  # bytes go to the binary stream as they are

    _stream(db, session_id, each)


@cli.command("import")
@click.argument("db")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
def import_command(db: str, files: tuple[Path, ...]) -> None:
    """Import event files into DB, one new session each; prints each new session id.

    A FILE is JSONL (one event per line, stored as is), a JSON array of events, or the output
    of `rtrec dump`.
    """

    async def work() -> None:
        async with await open_log(db) as log:
            for path in files:
                info = await import_file(log, path)
                click.echo(info.id)
                click.echo(
                    f"imported {info.frames} frames from {path} "
                    f"({info.client_frames} client, {info.server_frames} server)",
                    err=True,
                )

    run(work())


@cli.command("delete")
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


@cli.group("db")
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
    click.echo(f"{display}: schema at revision {head_revision()}")
