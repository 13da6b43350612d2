"""The lines a person watching `rtrec record` reads.

Only this module formats them, and nothing it prints carries a secret: callers hand it redacted
values (endpoints from recorder.redact.redact_url), and it never sees headers or frames, only
event types.
"""

from __future__ import annotations

import sys
from typing import TextIO

from recorder.jsontext import readable_type


def event_type(data: bytes) -> str:
    """The event type of a frame, read by a scan of its head, not a decode ("?" if none)."""
    return readable_type(data[:4096]) or "?"


class Console:
    """Person-facing output: start banner and session lines on `out`, failures on `err`."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out
        self._err = err

    def _print(self, line: str) -> None:
        print(line, file=self._out or sys.stdout, flush=True)

    def started(self, *, listen_url: str, upstream: str, db: str, ca_file: str | None,
                live_upstream: str | None = None) -> None:
        """The banner: where rtrec listens and the exact setting each SDK needs."""
        http_url = listen_url.replace("ws", "http", 1)
        self._print(f"rtrec: recording to {db}, forwarding to {upstream}")
        self._print(f"rtrec: listening on {listen_url}/v1/realtime")
        self._print(f'  Python SDK: AsyncOpenAI(websocket_base_url="{listen_url}/v1")')
        if live_upstream is not None:
            self._print(
                f"  Live (client.live, the same setting): {listen_url}/v1/live/sessions, "
                f"forwarded to {live_upstream}"
            )
        if ca_file is None:
            self._print(
                "  JS SDK (openai on npm): OpenAIRealtimeWS always uses wss://, "
                "so start rtrec record with --tls"
            )
        else:
            self._print(f'  JS SDK (openai on npm): new OpenAI({{ baseURL: "{http_url}/v1" }})')
            self._print(f"  make Node trust the certificate: export NODE_EXTRA_CA_CERTS={ca_file}")
            self._print(f"  make Python trust it: export SSL_CERT_FILE={ca_file}")
        self._print(
            f"  environment form: OPENAI_BASE_URL={http_url}/v1 "
            "(other API calls are passed on, not recorded)"
        )
        self._print("  Ctrl-C stops: sessions are closed and everything recorded is kept")

    def session_opened(
        self, label: str, session_id: str | None, *, model: str | None, protocol: str | None,
        link: str | None = None,
    ) -> None:
        self._print(
            f"+ {label} session {session_id or '(not recorded)'} opened: "
            f"model {model or '?'}, protocol {protocol or '?'}"
            + (f", {link}" if link else "")
        )

    def live_without_start(self, label: str, first_type: str | None) -> None:
        self._print(
            f"! {label} Live session: the client's first frame is "
            f"{first_type or 'not an event'}, not session.start (recorded as it is)"
        )

    def session_closed(
        self,
        label: str,
        session_id: str | None,
        *,
        model: str | None,
        seconds: float,
        client_frames: int,
        server_frames: int,
        status: str,
        close_code: int | None,
        closed_by: str,
    ) -> None:
        self._print(
            f"- {label} session {session_id or '(not recorded)'} closed by {closed_by} "
            f"(code {close_code}, {status}): "
            f"model {model or '?'}, {seconds:.1f}s, "
            f"{client_frames} client frames, {server_frames} server frames"
        )

    def refused(self, status: int, endpoint: str) -> None:
        self._print(f"! upstream {endpoint} refused the handshake with HTTP {status}: passed on")

    def unreachable(self, endpoint: str, reason: str) -> None:
        self._print(f"! upstream {endpoint} unreachable ({reason}): client got HTTP 502")

    def rejected(self, reason: str) -> None:
        self._print(f"! connection rejected: {reason}")

    def event(self, label: str, direction: str, data: bytes) -> None:
        arrow = "->" if direction == "client" else "<-"
        self._print(f"  {label} {arrow} {event_type(data)}")

    def binary(self, label: str, direction: str, size: int) -> None:
        arrow = "->" if direction == "client" else "<-"
        self._print(f"  {label} {arrow} binary frame, {size} bytes")

    def _error(self, line: str) -> None:
        print(line, file=self._err or sys.stderr, flush=True)

    def log_paused(self, error: BaseException) -> None:
        """The store failed: said once per outage (the log keeps frames meanwhile)."""
        self._error(
            f"rtrec: ERROR: recording paused: {error}; calls go on, their frames wait in memory "
            "and are written when the store answers again (GET /rtrec/status shows the state)"
        )

    def log_dropping(self, error: BaseException) -> None:
        """Frames are being dropped into recorded gaps: once per outage (or per big frame)."""
        self._error(f"rtrec: ERROR: {error}")

    def log_journaling(self, error: BaseException) -> None:
        """Frames go to the journal while the store is down: once per outage (nothing lost)."""
        self._error(f"rtrec: {error}")

    def log_resumed(self, seconds: float, lost: int) -> None:
        """The store answers again: said once per outage."""
        kept = (
            "every frame waited in memory and is stored" if not lost else
            f"{lost} frame{'s' if lost != 1 else ''} could not be kept: they are recorded as "
            "gaps and those sessions are marked incomplete"
        )
        self._error(f"rtrec: recording resumed after {seconds:.1f}s: {kept}")

    def log_gave_up(self, seconds: float, lost: int, error: BaseException | None) -> None:
        why = f" ({error})" if error is not None else ""
        self._error(
            f"rtrec: ERROR: the store was still down {seconds:.1f}s after stopping began{why}: "
            f"{lost} frame{'s' if lost != 1 else ''} waiting in memory were not stored"
        )

    def not_recorded(self, frames: int, gaps: int, sessions_unrecorded: int) -> None:
        """The summary on exit when anything was lost (rtrec record then exits 3)."""
        unrecorded = (
            f", {sessions_unrecorded} session{'s' if sessions_unrecorded != 1 else ''} got no "
            "row at all" if sessions_unrecorded else ""
        )
        self._error(
            f"rtrec: {frames} frame{'s' if frames != 1 else ''} passed but "
            f"{'was' if frames == 1 else 'were'} not recorded "
            f"({gaps} gap{'s' if gaps != 1 else ''} recorded{unrecorded}): exit code 3"
        )

    def health(self, health: dict[str, object]) -> None:
        """The recorder's health, while it is unhealthy (the status endpoint has it always)."""
        store = str(health.get("store", "?"))
        if store == "down":
            store = f"down for {health.get('down_for_s', 0)}s"
        self._error(
            f"rtrec: status: store {store}, queue {health.get('queue_frames', 0)} frames "
            f"({_mib(health.get('queue_bytes', 0))} of "
            f"{_mib(health.get('queue_limit_bytes', 0))}), "
            f"lag {health.get('lag_s', 0)}s, {health.get('frames_lost', 0)} frames lost in "
            f"{health.get('gaps', 0)} gaps, {health.get('sessions_shed', 0)} sessions shed"
            + _journal_part(health)
        )

    def status_note(self, url: str) -> None:
        self._print(f"  recorder health: GET {url}")

    def frame_not_recorded(self, label: str, error: BaseException) -> None:
        # the error's type only: its text could quote the frame
        self._error(
            f"rtrec: ERROR: session {label}: a frame could not be recorded "
            f"({type(error).__name__}); the call goes on, the session is marked incomplete"
        )

    def recording_shed(self, label: str, sid: str | None, reason: str) -> None:
        name = " ".join(part for part in (label, sid) if part) or "?"
        self._error(
            f"rtrec: WARNING: session {name}: recording {reason}; the call goes "
            "on, its later frames are not stored and it will read incomplete: use a faster "
            "disk or spread the calls over more recorders"
        )

    def token_note(self, header: str, query: str) -> None:
        self._print(f"  clients must present the token: header {header} or query {query}")

    def listener_failed(self, label: str, error: BaseException) -> None:
        self._error(f"rtrec: ERROR: session {label}: after its end: {type(error).__name__}")

    def traces_note(self, endpoint: str) -> None:
        self._print(f"  traces: each session's trace goes to {endpoint} as it ends")

    def trace_dropping(self, sid: str, why: str) -> None:
        """The first trace not delivered (said once: GET /rtrec/status counts the rest)."""
        self._error(
            f"rtrec: WARNING: the trace of session {sid} was not sent: {why}; recording goes "
            "on, traces not sent are counted in GET /rtrec/status (traces_dropped)"
        )

    def traces_dropped(self, dropped: int, sent: int, endpoint: str) -> None:
        """At stop, when any trace was not delivered."""
        self._error(
            f"rtrec: {dropped} trace{'s' if dropped != 1 else ''} not sent to {endpoint} "
            f"({sent} sent): send them again with rtrec trace DB --otlp URL"
        )

    def figures_left(
        self, computed: int, failed: int, dropped: int, errors: dict[str, int]
    ) -> None:
        """At stop, when some sessions' figures were not computed as they ended (errors: by
        type, never their text)."""
        parts = []
        if failed:
            kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(errors.items()))
            parts.append(f"{failed} failed ({kinds})")
        if dropped:
            parts.append(f"{dropped} left waiting")
        self._error(
            f"rtrec: figures of {failed + dropped} session(s) not computed as they ended "
            f"({computed} computed; {', '.join(parts)}): rtrec stats computes them on first use"
        )

    def texts_left(self, failed: int, errors: dict[str, int]) -> None:
        """At stop, when some ended sessions' transcript text (view_text) could not be kept
        (errors: by type, never their text)."""
        kinds = ", ".join(f"{kind} x{count}" for kind, count in sorted(errors.items()))
        self._error(
            f"rtrec: transcript text of {failed} session(s) not kept as they ended ({kinds}): "
            "rtrec view indexes them on its first search"
        )

    def stopping(self, sessions: int) -> None:
        self._print(f"rtrec: stopping, closing {sessions} session(s) and flushing the log")


def _mib(value: object) -> str:
    return f"{int(value) / 2**20:.1f} MiB" if isinstance(value, int | float) else "?"


def _journal_part(health: dict[str, object]) -> str:
    """', journal N frames (X of Y)' when the recorder has a journal, else ''."""
    if "journal_frames" not in health:
        return ""
    return (
        f", journal {health.get('journal_frames', 0)} frames "
        f"({_mib(health.get('journal_bytes', 0))} of "
        f"{_mib(health.get('journal_limit_bytes', 0))})"
    )
