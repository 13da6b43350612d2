"""Exact percentiles of a group's voice-to-voice latencies without reading every turn.

Each session's measured turns are counted into BUCKETS fixed buckets (stats_sessions'
v2v_b00 ... v2v_b15: one integer column each, so a group's histogram is a few more sum()s in
the scan of stats_sessions the summary makes anyway). Bucket 0 holds latencies below 64 ms,
bucket i (1-14) [EDGES[i-1], EDGES[i]), bucket 15 from EDGES[14] (8,192 ms) up; the edges are
half-octaves (each 41% wider than the one below), whole milliseconds.

A percentile needs the values at ranks lo and lo + 1 of the group's sorted latencies (linear
between them: numpy's default, percentile_cont). The group's histogram says which bucket holds
each rank and how many values lie below it, so one ranked lookup reads the values from the
group's voice-to-voice index starting at that bucket's edge (upwards from its lower edge, or
downwards from the upper edge of the bucket holding lo + 1, whichever is nearer): it walks at
most half a bucket, not half the group. The result is exact: the same values, the same
interpolation. Both sides must agree on which bucket a value is in: bucket_of() here, and SQL's
`>=` / `<` against the same edges (whole numbers, exact as doubles) there.

PostgreSQL reads the histogram. There each bucket column costs a sum over every session
(10,000 sessions: 32 columns added 4.3 ms to the scan, 16 about 2 ms) and each index entry
walked about 0.13 us (by model, 3 groups of ~31,000 turns: the lookups took 0.6 ms with 32
quarter-octave buckets, about 1 ms with 16): 16 half-octaves cost less than they walk more.
SQLite does not: there a sum costs about 0.4 ms a column per 10,000 sessions and a walk 0.03 us
an entry (16 sums, ~6 ms, cost more than walking half of 100,000 turns, 1.6 ms), so its
lookups walk from the nearer end of the group's index (lookup() of the group as one bucket).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

import msgspec

BUCKETS = 16
# lower edges of buckets 1 .. BUCKETS - 1, in ms: 64 * 2 ** (n / 2), rounded
EDGES: tuple[float, ...] = tuple(float(round(64 * 2 ** (n / 2))) for n in range(BUCKETS - 1))
COLUMNS: tuple[str, ...] = tuple(f"v2v_b{n:02d}" for n in range(BUCKETS))


def bucket_of(value: float) -> int:
    """The bucket a latency (ms) is counted in."""
    return bisect_right(EDGES, value)


def histogram(values: Iterable[float]) -> list[int]:
    """How many of values fall in each bucket (BUCKETS counts)."""
    counts = [0] * BUCKETS
    for value in values:
        counts[bucket_of(value)] += 1
    return counts


class Lookup(msgspec.Struct, frozen=True):
    """Read `count` values (1 or 2) of a group's sorted latencies, the first at rank `first`:
    skip `offset` values from `edge` (ascending: values from edge up; descending: values
    below edge, largest first; None: from the lowest or the highest value)."""

    first: int
    count: int
    edge: float | None
    ascending: bool
    offset: int

    def values(self, read: Sequence[float]) -> list[float]:
        """The values the lookup read, in rank order."""
        return list(read) if self.ascending else list(reversed(read))


def _bucket_holding(counts: Sequence[int], rank: int) -> tuple[int, int]:
    """(bucket, values below it) of the value at `rank` (0-based) of the histogram."""
    below = 0
    for bucket, count in enumerate(counts):
        if rank < below + count:
            return bucket, below
        below += count
    raise ValueError(f"rank {rank} is past the {below} values of the histogram")


def lookup(counts: Sequence[int], h: float, edges: Sequence[float] = EDGES) -> Lookup:
    """The lookup for fractional rank h (0-based, (n - 1) * q) of a histogram of n values over
    `edges` (len(counts) == len(edges) + 1; one count and no edges: the whole group, read from
    its nearer end): the value at floor(h), and the next one when h is not a whole rank."""
    first = int(h)
    last = first + 1 if h > first else first
    low, below_low = _bucket_holding(counts, first)
    high, below_high = _bucket_holding(counts, last)
    up = first - below_low
    down = below_high + counts[high] - 1 - last
    count = last - first + 1
    if up <= down:
        return Lookup(first, count, edges[low - 1] if low > 0 else None, True, up)
    return Lookup(first, count, edges[high] if high < len(edges) else None, False, down)


def interpolate(values: Sequence[float], h: float) -> float:
    """The value at fractional rank h from the values at floor(h) and floor(h) + 1 (numpy's
    and percentile_cont's linear interpolation)."""
    low = values[0]
    fraction = h - int(h)
    if fraction == 0 or len(values) < 2:
        return low
    return low + (values[1] - low) * fraction
