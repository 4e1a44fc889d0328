"""dependence.moments over pairs cut into blocks once (blocked_pairs) equals the direct sums."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meta_supervisor.core import dependence


def direct_moments(x, pairs, block):
    """The sums as `moments` defined them before the pairs were cut into blocks once."""
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    whole = n // block
    if whole == 0:
        return dependence.NO_MOMENTS
    blk = (np.arange(n) - (n - whole * block)) // block
    keep = (blk >= 0) & ~np.isnan(x)
    d = np.zeros(n)
    sums = np.bincount(blk[keep], weights=x[keep], minlength=whole)
    counts = np.bincount(blk[keep], minlength=whole)
    d[keep] = x[keep] - (sums / np.maximum(counts, 1))[blk[keep]]
    i, j = pairs
    ok = keep[i] & keep[j]
    i, j = i[ok], j[ok]
    size = counts.astype(np.float64)
    within = np.bincount(blk[i][blk[i] == blk[j]], minlength=whole)
    return dependence.Moments(
        int(keep.sum()),
        float(d @ d),
        float(d[i] @ d[j]),
        int((size > 0).sum()),
        float(np.sum(within[size > 0] / size[size > 0])),
    )


@pytest.mark.parametrize("n", [0, 49, 50, 173, 600, 1000])
@pytest.mark.parametrize("nan_share", [0.0, 0.05])
def test_moments_equal_the_direct_sums_bit_for_bit(n, nan_share):
    rng = np.random.default_rng(n)
    hours = np.sort(rng.uniform(0, n * 0.5, n))
    symbols = rng.choice(["A", "B", "C"], n).tolist()
    x = rng.standard_normal(n)
    x[rng.random(n) < nan_share] = math.nan
    for wide in (False, True):
        pairs = dependence.overlap_pairs(symbols, hours, np.full(n, 24.0), across_symbols=wide)
        block = max(dependence.BLOCK, dependence.BLOCK_PER_PARTNER * math.ceil(len(pairs[0]) / max(n, 1)))
        expected = direct_moments(x, pairs, block)
        assert dependence.moments(x, pairs) == expected
        blocked = dependence.blocked_pairs(pairs, n)
        assert (blocked is None) == (expected == dependence.NO_MOMENTS and n < block)
        if blocked is not None:
            assert dependence.blocked_moments(x, blocked) == expected
            assert dependence.blocked_moments(-x, blocked) == direct_moments(-x, pairs, block)
