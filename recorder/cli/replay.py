"""rtrec replay: a recorded session as a conversation, or into your own receiver."""

from __future__ import annotations

import json
from typing import Any

import click

from recorder.cli.app import run
from recorder.errors import RtrecError


@click.command("replay")
@click.argument("db", metavar="RECORDING")
@click.option("--session", "session_id", metavar="ID", help="Session id (default: the newest).")
@click.option(
    "--receiver", "receiver_path", metavar="MODULE:CLASS",
    help="Replay into this RealtimeEventReceiver (or, for a Live session, LiveEventReceiver) "
         "subclass instead of printing the conversation.",
)
@click.option("--until", type=click.IntRange(min=0), metavar="SEQ",
              help="Stop after this event seq: the state at that point of the session.")
@click.option("--speed", type=click.FloatRange(min=0, min_open=True), metavar="N",
              help="Pace by the recorded timing (1 = real time); default: as fast as possible.")
@click.option("--json", "as_json", is_flag=True, help="Print the conversation as JSON.")
def replay_command(
    db: str,
    session_id: str | None,
    receiver_path: str | None,
    until: int | None,
    speed: float | None,
    as_json: bool,
) -> None:
    """Replay a session of RECORDING (a database or an event file): print the conversation."""
    from recorder.conversation import ConversationFold
    from recorder.render import render_lines, render_text
    from recorder.replay import fold_recording, load_receiver, pace_lines, until_note
    from recorder.sendcheck import DivergenceError, areplay_checked
    from recorder.timeline import turns
    from recorder.transcripts import turn_dict

    if receiver_path is not None:
        receiver = load_receiver(receiver_path)
        try:  # what the receiver sends is checked against the recorded client events
            checked = run(areplay_checked(db, receiver, session_id, until=until,
                                          speed=speed, wrap_assertions=True))
        except DivergenceError as divergence:
            raise RtrecError(divergence.one_line()) from divergence
        summary = {
            "session": checked.session.id, "frames": checked.frames, "last_seq": checked.last_seq,
            "receiver": receiver_path, "matched_sends": checked.matched_sends,
        }
        for line in checked.notes:
            click.echo(line, err=True)
        if as_json:
            click.echo(json.dumps(summary))
        else:
            click.echo(
                f"Replayed {checked.frames} frames of session {checked.session.id} "
                f"into {receiver_path} (last seq {checked.last_seq}; "
                f"{checked.matched_sends} sent events matched the recording)"
            )
        return

    # the conversation is known at once; with --speed its lines come out when their time comes
    result, builder, notes = run(fold_recording(db, session=session_id, until=until))
    if not isinstance(builder, ConversationFold):  # a Live session: its own timeline
        _print_live(builder, result, notes, until, speed, as_json)
        return
    conversation = builder.conversation
    for line in builder.warnings:  # e.g. an audio format rtrec cannot read: the text still shows
        click.echo(f"Warning: session {result.session.id} {line}", err=True)
    for line in notes:  # gaps, frames redacted by a byte scan
        click.echo(line, err=True)
    note = until_note(until, result)
    if as_json:
        payload: dict[str, object] = {
            "session": _session_dict(result.session), "last_seq": result.last_seq,
            "until": until, "note": note,
        }
        payload.update(conversation.to_dict())
        payload["timeline"] = [turn_dict(entry) for entry in turns(conversation)]
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif speed is not None:
        run(pace_lines(render_lines(conversation, result.session, note), speed, click.echo))
    else:
        click.echo(render_text(conversation, result.session, note), nl=False)


def _print_live(fold: Any, result: Any, notes: list[str], until: int | None,
                speed: float | None, as_json: bool) -> None:
    from recorder.live.render import render_live_lines, render_live_text
    from recorder.replay import pace_lines, until_note

    for line in notes:  # gaps, frames redacted by a byte scan
        click.echo(line, err=True)
    note = until_note(until, result)
    if as_json:
        payload: dict[str, object] = {
            "session": _session_dict(result.session), "last_seq": result.last_seq,
            "until": until, "note": note,
        }
        payload.update(fold.to_dict())
        click.echo(json.dumps(payload, ensure_ascii=False))
    elif speed is not None:
        run(pace_lines(render_live_lines(fold, result.session, note), speed, click.echo))
    else:
        click.echo(render_live_text(fold, result.session, note), nl=False)


def _session_dict(session: object) -> dict[str, object]:
    fields = ("id", "protocol", "model", "endpoint", "status", "close_code", "close_reason",
              "closed_by", "frames", "client_frames", "server_frames")
    out: dict[str, object] = {name: getattr(session, name, None) for name in fields}
    for name in ("started_at", "ended_at"):
        value = getattr(session, name, None)
        out[name] = value.isoformat() if value is not None else None
    return out
