"""What rtrec record's worker process keeps of each session as it ends, from ONE fold: its turn
figures (recorder.stats.table) and its transcript text (view_text, rtrec view's search), so a
fleet's sessions are searchable without a first-search pause.

The text comes from the conversation the stats fold already drives (Realtime: its
ConversationFold's conversation; Live: its LiveFold), through the same lanes the session page
shows, so it is the text rtrec view would keep itself (recorder.view.search.transcript_text).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recorder.stats.fold import log_fold
from recorder.stats.worker import Computed

if TYPE_CHECKING:
    from recorder.stats.fold import StatsFold
    from recorder.stats.live import LiveStatsFold
    from recorder.store import EventLog


def fold_lanes(fold: StatsFold | LiveStatsFold) -> dict[str, Any]:
    """The session page's lanes from a stats fold every step was applied to (times: Live's
    are from its first frame, which orders the text the same)."""
    from recorder.stats.fold import StatsFold

    if isinstance(fold, StatsFold):
        from recorder.view.index import lanes

        return lanes(fold.fold.conversation)
    from recorder.view.live_index import live_lanes

    fold.fold.finish()  # idempotent (result() did it)
    return live_lanes(fold.fold, {}, 0.0)


async def figures_and_text(log: EventLog, sid: str) -> Computed:
    """Session `sid`'s figures, and the keeping of its text from the same fold (run by the
    worker after the figures are kept: a failure there is counted apart)."""
    from recorder.view import search

    info = await log.get_session(sid)
    fold = await log_fold(log, info)
    figures = fold.result()

    async def keep_text(into: EventLog) -> bool:
        return await search.store(into, info, fold_lanes(fold))

    return Computed(figures, keep_text)
