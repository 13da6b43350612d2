"""One recorded session, wherever it is kept: its facts, its steps and the notes about it.

A recording is a session of an event log (a SQLite path or a database URL) or a file that
`rtrec import` reads (JSONL of events, a JSON array, an `rtrec dump` file), read with no
database. Replay, the receiver replay of recorder.testing and `rtrec replay` open one with
`open_recording` and read its steps in batches; what they print about the session (its gaps,
its frames redacted by a byte scan) comes from `notes`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from recorder.protocol import names
from recorder.redact import Redaction
from recorder.store.log import EventLog, SessionInfo
from recorder.stream import Step, file_steps, is_file_of_events, log_steps

Source = str | os.PathLike[str]

if TYPE_CHECKING:
    from recorder.conversation import ConversationFold
    from recorder.live.fold import LiveFold


def is_live(info: SessionInfo) -> bool:
    """Whether the session speaks the Live API (its steps are Live steps: stream.step_class)."""
    return info.protocol == names.LIVE_PROTOCOL


def new_fold(info: SessionInfo) -> ConversationFold | LiveFold:
    """The fold that reconstructs a session of this protocol: the one place replay and its
    views choose between Realtime's conversation and Live's timeline."""
    if is_live(info):
        from recorder.live.fold import LiveFold

        return LiveFold()
    from recorder.conversation import ConversationFold

    return ConversationFold()


@dataclass
class Recording:
    """A session to read: `info` says what it is, `batches` yields its steps in seq order."""

    info: SessionInfo
    notes: list[str] = field(default_factory=list)  # one line each, for stderr
    _log: EventLog | None = None
    _path: Path | None = None

    @property
    def log(self) -> EventLog | None:
        """The event log the session is in (None: a file of events)."""
        return self._log

    async def batches(
        self, *, until: int | None = None, batch_size: int = 5000
    ) -> AsyncIterator[list[Step]]:
        """The session's steps up to and including seq `until`, in batches."""
        if self._log is not None:
            async for batch in log_steps(self._log, self.info, until=until,
                                         batch_size=batch_size):
                yield batch
            return
        assert self._path is not None
        for batch in _batched(file_steps(self._path, until=until, protocol=self.info.protocol),
                              batch_size):
            yield batch


@contextlib.asynccontextmanager
async def open_recording(source: Source, session: str | None = None) -> AsyncIterator[Recording]:
    """The session (id or unique prefix; the newest when None) of a database, or the one
    session of a file of events. Errors are the log's and import's one-line RtrecErrors."""
    if is_file_of_events(source):
        yield _file_recording(Path(source), session)
        return
    from recorder.store import gaps_line, open_log
    from recorder.store.log import scanned_line

    log = await open_log(os.fspath(source), create=False)  # a mistyped path is an error
    try:
        info = await log.get_session(session)
        scanned = [seq for seq, how in await log.redacted(info.id) if how is Redaction.SCANNED]
        notes = [line for line in (
            gaps_line(info.id, await log.gaps(info.id)) if info.gaps else None,
            scanned_line(scanned),
        ) if line is not None]
        yield Recording(info, notes, _log=log)
    finally:
        await log.close()


def _file_recording(path: Path, session: str | None) -> Recording:
    from recorder.store.transfer import check_file

    if session is not None:
        next(file_steps(path, session), None)  # raises: a file holds one session, no id
    checked = check_file(path, purpose="read")
    info = SessionInfo(
        id=path.name, started_at=_when(checked.started_at), ended_at=_when(checked.ended_at),
        protocol=checked.protocol, model=checked.model,
        endpoint=None, status="complete",
        close_code=None, close_reason=None, closed_by=None, frames=checked.frames,
        client_frames=checked.client_frames, server_frames=checked.frames - checked.client_frames,
    )
    return Recording(info, _path=path)


def _when(unix: float | None) -> datetime | None:
    return None if unix is None else datetime.fromtimestamp(unix, UTC)


def _batched(steps: Iterator[Step], size: int) -> Iterator[list[Step]]:
    batch: list[Step] = []
    for step in steps:
        batch.append(step)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
