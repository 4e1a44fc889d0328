"""Dependence where it lives: the long-run variance factor of a stream's charted values. Pure (numpy).

Rows whose horizons overlap in time share part of the same price move, so their errors are
correlated: rows of one symbol always, rows of different symbols as far as those symbols move
together (equities in a sell-off) and the agent's sides line up (a momentum book is long what
rose); rows further apart than a horizon are (to first order) not. A CUSUM sums its increments,
and the variance of a sum of n rows is n gamma0 V with

    V = 1 + (2 / n) sum_{overlap pairs i < j} rho_ij      (the long-run variance factor)

An *overlap pair* is two rows of the stream with t_j - t_i < horizon_i and, for a chart that takes
only the same symbol's dependence (`across_symbols` false), the same symbol. The estimate is the
truncated-kernel (HAC) sum over exactly those pairs: the dependence the horizon overlap creates is
zero beyond the horizon, so no kernel taper (which would bias it low) is needed.

Demeaning. x is demeaned per block of `block` rows (stream order, whole blocks from the newest), so
a real shift of the mean, which the charts exist to catch, is not read as dependence. Removing a
block mean biases the moments: E d_i^2 = g (1 - V / b) and E d_i d_j = g (rho_ij - V / b) for a
pair inside a block of b rows (g = gamma0). With r = sum_pairs d_i d_j / sum d_i^2, K = number of
blocks and P = sum over within-block pairs of 1 / b, solving both equations for V gives

    V = (1 + 2 r) / (1 - 2 P / n + 2 r K / n)            (= 1 + 2 r with no demeaning)

Robustness: V is shrunk toward a prior (the pooled estimate of the streams of the same scope) with
weight n / (n + SHRINK_ROWS), and bounded to [1, V_MAX]: a stream is never charted tighter than
independent rows, nor widened without limit by a noisy estimate. (stream_plan takes the part
across symbols from a pool: ten times the pairs, ten times the leak of a straddled shift.) Cost: one sort and at most
MAX_PARTNERS vectorized passes per stream.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

BLOCK = 50  # rows per demeaning block, at least ...
BLOCK_PER_PARTNER = 10  # ... this many times the overlap partners per row (the correction stays small)
# Later rows looked at per row: bounds the cost. 64 covers every overlap of one symbol, and every
# overlap across symbols of a stream with fewer than 64 rows per horizon (an agent, a class); a
# denser stream (the fleet of a large fleet) is estimated over its nearest 64 partners, low.
MAX_PARTNERS = 64
SHRINK_ROWS = 200.0  # rows at which a stream's own estimate and its prior weigh the same
V_MAX = 10.0  # the factor is bounded: beyond this the estimate is not trusted (and evaluate warns)


class Moments(NamedTuple):
    """Sufficient sums of one stream's estimate; moments of several streams add (the pool)."""

    n: int  # rows
    q: float  # sum of d_i^2
    a: float  # sum over overlap pairs of d_i d_j
    k: int  # blocks
    p: float  # sum over within-block overlap pairs of 1 / (rows of the block)

    def __add__(self, other):
        return Moments(*(x + y for x, y in zip(self, other)))

    def __sub__(self, other):  # a pool less one of its streams
        return Moments(*(x - y for x, y in zip(self, other)))


NO_MOMENTS = Moments(0, 0.0, 0.0, 0, 0.0)


def overlap_pairs(
    symbols, hours, horizons, max_partners: int = MAX_PARTNERS, *, across_symbols: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) positions of the overlap pairs of rows: 0 <= t_j - t_i < horizon_i, i before j in
    (time, position) order, and the same symbol unless `across_symbols`. `hours`: each row's time
    in hours; `horizons`: in hours.

    >>> i, j = overlap_pairs(["A", "B", "A", "A"], [0.0, 1.0, 5.0, 28.0], [24, 24, 24, 24])
    >>> i.tolist(), j.tolist()
    ([0, 2], [2, 3])
    >>> i, j = overlap_pairs(["A", "B", "A", "A"], [0.0, 1.0, 5.0, 28.0], [24, 24, 24, 24], across_symbols=True)
    >>> sorted(zip(i.tolist(), j.tolist()))
    [(0, 1), (0, 2), (1, 2), (2, 3)]
    """
    n = len(symbols)
    if across_symbols:
        symbols = [""] * n
    if n < 2:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    _, codes = np.unique(np.asarray(symbols, dtype=object).astype(str), return_inverse=True)
    t = np.asarray(hours, dtype=np.float64)
    hz = np.asarray(horizons, dtype=np.float64)
    order = np.lexsort((np.arange(n), t, codes))
    c, ts, hs = codes[order], t[order], hz[order]
    left, right = [], []
    for lag in range(1, min(max_partners, n - 1) + 1):
        ok = (c[:-lag] == c[lag:]) & (ts[lag:] - ts[:-lag] < hs[:-lag])
        if not ok.any():
            break  # sorted by time within a symbol: no pair at this lag means none further
        left.append(order[:-lag][ok])
        right.append(order[lag:][ok])
    if not left:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(left), np.concatenate(right)


class BlockedPairs(NamedTuple):
    """Overlap pairs of n values cut into `moments`' demeaning blocks: what `moments` needs of the
    pairs whatever the values, worked out once per pair set (a stream's charts share their rows'
    pairs, and this was most of the cost of `moments`: a cold 300k evaluate has 5.4M pairs)."""

    block: int
    blk: np.ndarray  # each value's block, -1 in the oldest, partial block (dropped)
    i: np.ndarray  # the pairs with both values in whole blocks, in the order given
    j: np.ndarray
    within: np.ndarray  # pairs inside each whole block


def blocked_pairs(pairs: tuple[np.ndarray, np.ndarray], n: int, block: int | None = None) -> BlockedPairs | None:
    """`pairs` of n values cut into blocks of `block` rows from the newest back; None with no whole
    block. Default block: max(BLOCK, BLOCK_PER_PARTNER x ceil(pairs per row)): with many partners
    per row (an hourly single-symbol stream has 23) the demeaning correction would dominate a
    50-row block."""
    if block is None:
        block = max(BLOCK, BLOCK_PER_PARTNER * math.ceil(len(pairs[0]) / max(n, 1)))
    whole = n // block
    if whole == 0:
        return None
    blk = (np.arange(n) - (n - whole * block)) // block
    i, j = pairs
    bi, bj = blk[i], blk[j]
    kept = (bi >= 0) & (bj >= 0)
    within = np.bincount(bi[kept & (bi == bj)], minlength=whole)
    if not kept.all():
        i, j = i[kept], j[kept]
    return BlockedPairs(block, blk, i, j, within)


def moments(x, pairs: tuple[np.ndarray, np.ndarray], block: int | None = None) -> Moments:
    """The sums of the estimate for values `x` (stream order) and their overlap `pairs`. Blocks
    are cut from the newest row back; the oldest, partial block is dropped with its pairs (a
    block of one row has no mean to remove). NaN values are dropped with their pairs. Block:
    `blocked_pairs`."""
    x = np.asarray(x, dtype=np.float64)
    return blocked_moments(x, blocked_pairs(pairs, len(x), block))


def blocked_moments(x, blocked: BlockedPairs | None) -> Moments:
    """`moments` of values `x` over pairs already cut into blocks (`blocked_pairs` of len(x)
    values); NO_MOMENTS for None (no whole block)."""
    if blocked is None:
        return NO_MOMENTS
    x = np.asarray(x, dtype=np.float64)
    blk, i, j, within = blocked.blk, blocked.i, blocked.j, blocked.within
    whole = len(within)
    keep = blk >= 0
    nan = np.isnan(x)
    if nan.any():  # drop NaN values with their pairs: the pairs inside blocks are counted again
        keep &= ~nan
        ok = ~nan[i] & ~nan[j]
        i, j = i[ok], j[ok]
        bi = blk[i]
        within = np.bincount(bi[bi == blk[j]], minlength=whole)
    d = np.zeros(len(x))
    kept_blk = blk[keep]
    sums = np.bincount(kept_blk, weights=x[keep], minlength=whole)
    counts = np.bincount(kept_blk, minlength=whole)
    d[keep] = x[keep] - (sums / np.maximum(counts, 1))[kept_blk]
    size = counts.astype(np.float64)
    return Moments(
        n=int(keep.sum()),
        q=float(d @ d),
        a=float(d[i] @ d[j]),
        k=int((size > 0).sum()),
        p=float(np.sum(within[size > 0] / size[size > 0])),
    )


def raw_factor(m: Moments) -> float | None:
    """V from the moments, bias-corrected for the block demeaning (module docstring); None when
    there is nothing to estimate from (no rows, no spread, or a degenerate correction)."""
    if m.n < 2 or m.q <= 0:
        return None
    r = m.a / m.q
    denominator = 1 - 2 * m.p / m.n + 2 * r * m.k / m.n
    if denominator <= 0:
        return None
    return (1 + 2 * r) / denominator


def shrunk_factor(m: Moments, prior: float = 1.0, shrink_rows: float = SHRINK_ROWS) -> float:
    """V = w raw + (1 - w) prior, w = n / (n + shrink_rows), bounded to [1, V_MAX]; the prior alone
    when the raw estimate is undefined."""
    raw = raw_factor(m)
    if raw is None:
        v = prior
    else:
        w = m.n / (m.n + shrink_rows)
        v = w * raw + (1 - w) * prior
    return float(min(V_MAX, max(1.0, v)))


def across_symbols_increment(same: Moments, wide: Moments) -> float:
    """What overlap pairs of different symbols add to V: V over every overlap pair less V over the
    same-symbol ones, of the same rows (a pool's), at least 0; 0 when either is undefined."""
    a, b = raw_factor(wide), raw_factor(same)
    return 0.0 if a is None or b is None else max(0.0, a - b)


def lag1_equivalent(v: float) -> float:
    """The AR(1) coefficient phi with the same long-run factor, (1 + phi) / (1 - phi) = V."""
    return (v - 1) / (v + 1)
