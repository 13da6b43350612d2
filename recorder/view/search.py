"""Full-text search of the transcripts, for the sessions page: view_text, a derived table.

A session's text is what its transcripts say, user and assistant, in the order they were
spoken (SessionIndex.lanes: the conversation fold's). SQLite searches it with FTS5
(view_text_fts, unicode61: case and diacritics folded), PostgreSQL with to_tsvector('simple')
over a GIN index: no stemming on either (a transcript may be in any language); each word of a
query matches the words it begins (`book` finds "booking"), and every word must match.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from recorder.store import EventLog, SessionInfo
from recorder.view import derived

TABLE = "view_text"
TEXT_VERSION = 1  # a change to what transcript_text keeps makes every stored text stale
MAX_TERMS = 16
_WORD = re.compile(r"[^\W_]+")


def transcript_text(lanes: dict[str, Any]) -> str:
    """The user's and the assistant's transcripts, one a line, by when they were said."""
    spoken = [entry for side in ("user", "assistant") for entry in lanes.get(side, [])
              if entry.get("text")]
    spoken.sort(key=lambda entry: entry.get("start_ms") or 0.0)
    return "\n".join(str(entry["text"]) for entry in spoken)


def terms(query: str) -> list[str]:
    """The words of a search, lowercased (punctuation and operators are not words)."""
    return [word.lower() for word in _WORD.findall(query)][:MAX_TERMS]


def match_sql(sqlite: bool, words: list[str]) -> tuple[str, tuple[object, ...]]:
    """A condition on sessions.pk: the sessions whose text has every word (as a prefix)."""
    if sqlite:
        expression = " AND ".join(f'"{word}"*' for word in words)
        return ("pk IN (SELECT rowid FROM view_text_fts WHERE view_text_fts MATCH ?)",
                (expression,))
    expression = " & ".join(f"{word}:*" for word in words)
    return ("pk IN (SELECT session FROM view_text WHERE to_tsvector('simple', body) @@ "
            "to_tsquery('simple', ?))", (expression,))


async def stale(log: EventLog) -> list[SessionInfo]:
    """The sessions whose text is not kept, or was kept before they changed."""
    return await derived.stale(log, TABLE, TEXT_VERSION)


async def store(log: EventLog, info: SessionInfo, lanes: dict[str, Any]) -> bool:
    """Keep the session's text (from the lanes of its index, or of its stats fold:
    recorder.view.ended); False when it changed since `info` was read."""
    return await derived.store(log, TABLE, TEXT_VERSION, info,
                               [{"body": transcript_text(lanes)}])


async def ensure(log: EventLog, infos: list[SessionInfo],
                 lanes_of: Callable[[SessionInfo], Awaitable[dict[str, Any]]]) -> int:
    """Compute and keep the text of each of `infos` (lanes_of: a session's lanes); how many
    were kept."""
    kept = 0
    for info in infos:
        if await store(log, info, await lanes_of(info)):
            kept += 1
    return kept
