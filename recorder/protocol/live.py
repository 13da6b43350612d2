"""What the recorder reads of a Live session's first frames (LIVE.md §1, §2c, §2d, §2h).

The protocol tag of a Live session is "live": known from the handshake's path
(recorder.protocol.paths.split_live_path) and confirmed by the client's first frame, which
must be `session.start` (its `session.model` names the model; the URL never does). The
server's `session.started` gives the session's own id (`session.id`, live_...) and the
resolved model. A sideband (/attach) sends no `session.start`: its replay starts with
`session.started`.

Only these few fields are read here, with minimal Structs (a frame of any other shape reads as
nothing); the full Live event types are recorder.live's.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from recorder import jsontext

PROTOCOL = "live"
START = "session.start"  # client: must be the first frame of a primary or fork socket
STARTED = "session.started"  # server: the first frame answering it (a sideband's too)


class _Session(msgspec.Struct):
    id: str | None = None
    model: str | None = None


class _First(msgspec.Struct):
    type: str | None = None
    # Raw: an odd `session` (not an object) must not make the type unreadable
    session: msgspec.Raw = msgspec.Raw()


_first_decoder = msgspec.json.Decoder(_First)
_session_decoder = msgspec.json.Decoder(_Session)


@dataclass(frozen=True, slots=True)
class SessionFacts:
    """What a session.start or session.started frame says (None: it does not say)."""

    type: str | None
    session_id: str | None = None
    model: str | None = None


def facts_of(data: bytes) -> SessionFacts:
    """The type of a frame and, for session.start / session.started, its session's id and
    model; SessionFacts(None) for a frame that is not a JSON object with a string type."""
    try:
        first = _first_decoder.decode(data)
    except jsontext.FAILURES:  # ValidationError is a DecodeError
        return SessionFacts(None)
    if first.type not in (START, STARTED) or not first.session:
        return SessionFacts(first.type)
    try:
        session = _session_decoder.decode(first.session)
    except jsontext.FAILURES:  # ValidationError is a DecodeError
        return SessionFacts(first.type)
    session_id = session.id if first.type == STARTED else None
    return SessionFacts(first.type, session_id, session.model)


def is_live_start(frames: list[tuple[bool, bytes]]) -> bool:
    """Whether a session's first frames ((from the client?, data), in order) are Live's: the
    client's first frame is session.start, or (a sideband) the server's first is
    session.started."""
    seen_client = seen_server = False
    for from_client, data in frames:
        if from_client and not seen_client:
            if facts_of(data).type == START:
                return True
            seen_client = True
        elif not from_client and not seen_server:
            if facts_of(data).type == STARTED:
                return True
            seen_server = True
        if seen_client and seen_server:
            return False
    return False
