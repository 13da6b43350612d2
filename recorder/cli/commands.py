"""The commands of rtrec: where each lives and its one-line help, known without importing it.

A command's module (and what it pulls in: the proxy, numpy, ...) is imported only when the
command runs or its own help is asked for; `rtrec --help` lists them from this table. The help
here is the first paragraph of the command's docstring: a test keeps the two equal.
"""

from __future__ import annotations

from typing import NamedTuple


class CommandEntry(NamedTuple):
    target: str  # "module:attribute" of the click command
    help: str  # the first paragraph of its help, whitespace collapsed


COMMANDS: dict[str, CommandEntry] = {
    "db": CommandEntry("recorder.cli.store:db_group", "Database maintenance."),
    "delete": CommandEntry(
        "recorder.cli.store:delete_command", "Delete a session and its frames from DB."
    ),
    "dump": CommandEntry(
        "recorder.cli.store:dump_command",
        "Print a session of DB as JSONL: seq, t, t_ns, direction, type and the exact frame (the "
        "first line also the session's started_at and ended_at, unix seconds).",
    ),
    "events": CommandEntry(
        "recorder.cli.store:events_command",
        "List the frames of a session of DB (the newest by default).",
    ),
    "export": CommandEntry(
        "recorder.cli.export:export_command",
        "Export a session as user/assistant/conversation WAV files and transcripts.",
    ),
    "import": CommandEntry(
        "recorder.cli.store:import_command",
        "Import event files into DB, one new session each; prints each new session id.",
    ),
    "record": CommandEntry(
        "recorder.cli.record:record_command",
        "Record Realtime sessions: point the app's Realtime base URL at rtrec.",
    ),
    "replay": CommandEntry(
        "recorder.cli.replay:replay_command",
        "Replay a session of RECORDING (a database or an event file): print the conversation.",
    ),
    "serve": CommandEntry(
        "recorder.cli.serve:serve_command",
        "Serve a recorded session to Realtime or Live clients (the SDKs, a browser, ...) on the "
        "API's path.",
    ),
    "stats": CommandEntry(
        "recorder.cli.stats:stats_command",
        "What each turn cost in time, measured on the wire: one session's turns, or every "
        "session of DB summarised.",
    ),
    "trace": CommandEntry(
        "recorder.cli.trace:trace_command",
        "Send sessions of DB as OpenTelemetry traces over OTLP/HTTP: a span per turn, response "
        "and tool call.",
    ),
    "sessions": CommandEntry(
        "recorder.cli.store:sessions_command",
        "List the sessions recorded in DB, oldest first, with the frames each could not keep.",
    ),
    "view": CommandEntry(
        "recorder.cli.view:view_command",
        "See and hear the sessions of DB in a browser: lanes on one timeline, audio, frames.",
    ),
}
