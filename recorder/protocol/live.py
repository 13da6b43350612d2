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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import msgspec

from recorder import jsontext
from recorder.protocol import names

PROTOCOL = names.LIVE_PROTOCOL
START = names.LIVE_SESSION_START  # client: the first frame of a primary or fork socket
STARTED = names.LIVE_SESSION_STARTED  # server: the first frame answering it (a sideband's too)


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


def link_words(upstream_id: str | None, connection: str | None, parent_id: str | None
               ) -> str | None:
    """How a Live session's identity reads: 'live_u0_x' (a primary socket), 'sideband of
    live_u0_x', 'fork of live_u0_x, now live_u0_y'; None when nothing is known."""
    if connection == "attach" and parent_id:
        return f"sideband of {parent_id}"
    if connection == "fork" and parent_id:
        return f"fork of {parent_id}" + (f", now {upstream_id}" if upstream_id else "")
    return upstream_id


class Linked(Protocol):
    @property
    def upstream_id(self) -> str | None: ...

    @property
    def connection(self) -> str | None: ...

    @property
    def parent_id(self) -> str | None: ...


L = TypeVar("L", bound=Linked)


def together(sessions: Sequence[L]) -> list[L]:
    """`sessions` (in start order) with each sideband and fork moved right after the session it
    belongs to (its parent_id is that session's upstream_id), in start order among themselves;
    one whose session is not in the list stays where it was."""
    owners: dict[str, int] = {}
    for index, session in enumerate(sessions):
        if session.upstream_id and session.connection != "attach":
            owners.setdefault(session.upstream_id, index)
    children: dict[int, list[int]] = {}
    roots: list[int] = []
    for index, session in enumerate(sessions):
        owner = owners.get(session.parent_id or "")
        if owner is not None and owner != index:
            children.setdefault(owner, []).append(index)
        else:
            roots.append(index)
    ordered: list[L] = []
    seen: set[int] = set()

    def visit(index: int) -> None:
        if index in seen:  # a cycle of made-up ids cannot loop
            return
        seen.add(index)
        ordered.append(sessions[index])
        for child in children.get(index, ()):
            visit(child)

    for index in roots:
        visit(index)
    for index in range(len(sessions)):  # only in a cycle: kept, in start order
        visit(index)
    return ordered
