"""Issue 17: what keeping an ended session's transcript text costs rtrec record's worker.

A session of RTREC_BENCH_ENDED_MINUTES (default 10) minutes (recorder.fake.scenarios.long_session,
recorded as bench/export.py does) is computed, alternating for ROUNDS rounds (best of each kept):

- baseline: the worker's compute before (recorder.stats.fold:figures_of_session), figures only;
- one fold: recorder.view.ended:figures_and_text with its `also` (the text kept in view_text);
- two folds: the figures, then the text as rtrec view's first search computes it (fold_log,
  lanes, search.store): what a separate text pass in the worker would cost.

Printed: each one's best time and its ratio to the baseline measured in the same run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from export import _record

ROUNDS = int(os.environ.get("RTREC_BENCH_ROUNDS", "3"))
MINUTES = float(os.environ.get("RTREC_BENCH_ENDED_MINUTES", "10"))


async def _figures_only(log, sid):
    from recorder.stats.fold import figures_of_session

    await figures_of_session(log, sid)


async def _one_fold(log, sid):
    from recorder.view.ended import figures_and_text

    computed = await figures_and_text(log, sid)
    assert await computed.also(log)


async def _two_folds(log, sid):
    from recorder.conversation import fold_log
    from recorder.stats.fold import figures_of_session
    from recorder.view import search
    from recorder.view.index import lanes

    await figures_of_session(log, sid)
    info = await log.get_session(sid)
    assert await search.store(log, info, lanes((await fold_log(log, info)).conversation))


async def main() -> None:
    from recorder.store import open_log

    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "ended.db")
        await _record(db, MINUTES)
        async with await open_log(db, create=False) as log:
            sid = (await log.select_sessions())[0].id
            best = {"figures only": float("inf"), "one fold": float("inf"),
                    "two folds": float("inf")}
            work = {"figures only": _figures_only, "one fold": _one_fold,
                    "two folds": _two_folds}
            for _ in range(ROUNDS):
                for name, run in work.items():
                    start = time.perf_counter()
                    await run(log, sid)
                    best[name] = min(best[name], time.perf_counter() - start)
    base = best["figures only"]
    print(f"{MINUTES:g}-minute session, best of {ROUNDS}")
    for name, seconds in best.items():
        print(f"  {name}: {seconds:.3f} s ({seconds / base:.2f}x figures only)")


if __name__ == "__main__":
    asyncio.run(main())
