"""Exact percentiles from a histogram and a ranked lookup (recorder.stats.ranks), without SQL:
a lookup is played here on a sorted list as the index would give it."""

from __future__ import annotations

import random

import numpy as np
import pytest

from recorder.stats import ranks


def _read(values: list[float], one: ranks.Lookup) -> list[float]:
    """What the SQL of a lookup reads: the values from its edge in index order, offset, count."""
    ordered = sorted(values)
    if one.ascending:
        side = [v for v in ordered if one.edge is None or v >= one.edge]
    else:
        side = [v for v in reversed(ordered) if one.edge is None or v < one.edge]
    return side[one.offset:one.offset + one.count]


def _percentile(values: list[float], q: float, *, whole: bool = False) -> float:
    counts = [len(values)] if whole else ranks.histogram(values)
    h = (len(values) - 1) * q
    one = ranks.lookup(counts, h, () if whole else ranks.EDGES)
    return ranks.interpolate(one.values(_read(values, one)), h)


def test_the_buckets_are_half_octaves_of_whole_milliseconds_from_64() -> None:
    assert len(ranks.EDGES) == ranks.BUCKETS - 1 == len(ranks.COLUMNS) - 1
    assert ranks.EDGES[:5] == (64.0, 91.0, 128.0, 181.0, 256.0)
    assert ranks.EDGES[-1] == 8192.0
    assert all(high / low == pytest.approx(2 ** 0.5, rel=0.01)
               for low, high in zip(ranks.EDGES, ranks.EDGES[1:], strict=False))
    # an edge is the lowest value of its bucket
    assert [ranks.bucket_of(v) for v in (-5.0, 63.999, 64.0, 90.9, 91.0, 8191.9, 8192.0,
                                         1e9)] == [0, 0, 1, 1, 2, 14, 15, 15]
    assert ranks.histogram([1.0, 64.0, 100.0, 100.0, 1e6]) == (
        [1, 1, 2] + [0] * 12 + [1])


@pytest.mark.parametrize("seed", range(8))
def test_percentiles_from_the_histogram_are_numpys_exactly(seed: int) -> None:
    rng = random.Random(seed)
    values = [rng.lognormvariate(6.5, rng.choice([0.05, 0.35, 1.5]))
              for _ in range(rng.randrange(1, 3000))]
    values += [rng.choice(ranks.EDGES) for _ in range(rng.randrange(0, 50))]  # on the edges
    values += [rng.choice([0.0, -3.0, 50_000.0]) for _ in range(rng.randrange(0, 5))]
    for q in (0.0, 0.05, 0.5, 0.95, 1.0):
        expected = float(np.percentile(values, q * 100))
        assert _percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert _percentile(values, q, whole=True) == pytest.approx(expected, rel=1e-12,
                                                                   abs=1e-12)


def test_a_lookup_walks_at_most_half_of_the_bucket_it_starts_from() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(6.55, 0.35) for _ in range(50_000)]
    counts = ranks.histogram(values)
    for q in (0.5, 0.95):
        h = (len(values) - 1) * q
        one = ranks.lookup(counts, h)
        start = ranks.bucket_of(one.edge) - (0 if one.ascending else 1)
        assert one.offset <= counts[start] // 2 + 1
        assert one.offset < len(values) * 0.2  # not half the group
    # without a histogram: from the nearer end of the group
    whole = ranks.lookup([len(values)], (len(values) - 1) * 0.95, ())
    assert (whole.ascending, whole.edge) == (False, None)
    assert whole.offset == len(values) - 1 - int((len(values) - 1) * 0.95) - 1


def test_whole_ranks_read_one_value_and_a_rank_past_the_histogram_is_refused() -> None:
    assert ranks.lookup([0, 3], 1.0, (100.0,)) == ranks.Lookup(1, 1, 100.0, True, 1)
    assert ranks.lookup([5], 4.0, ()) == ranks.Lookup(4, 1, None, False, 0)
    assert ranks.lookup([2, 2], 1.5, (100.0,)).count == 2  # ranks 1 and 2, across the edge
    with pytest.raises(ValueError, match="rank 4 is past the 4 values"):
        ranks.lookup([2, 2], 4.0, (100.0,))
