"""Tail risk of the sim-vs-live error per (strategy_class, regime) cell (pure).

The adverse error is a = expected - realized (positive = live did worse than the sim). Its expected
shortfall at level alpha (Acerbi & Tasche 2002, exact for any n, no interpolation of the sample):
    sort a descending; m = n * (1 - alpha); k = floor(m)
    ES = (a_1 + ... + a_k + (m - k) * a_{k+1}) / m
For n * (1 - alpha) < 1 this is the single worst value a_1 (the whole tail mass sits on it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from operator import attrgetter

import numpy as np

from meta_supervisor.core.stats import normal_cdf_array


def expected_shortfall(adverse, alpha: float = 0.95) -> float:
    """Acerbi–Tasche ES of `adverse` at level `alpha`. Empty input -> nan (never 0, which would
    pass every limit).

    >>> expected_shortfall([1.0] * 19 + [21.0])      # m = 1: the worst value
    21.0
    >>> expected_shortfall(list(range(40)))           # m = 2: mean of 39 and 38
    38.5
    >>> expected_shortfall([])
    nan
    """
    a = np.asarray(adverse, dtype=np.float64)
    n = a.size
    if n == 0:
        return float("nan")
    if not 0 < alpha < 1:
        raise ValueError("alpha must be in (0, 1)")
    m = n * (1.0 - alpha)
    k = math.floor(m + 1e-9)  # 1e-9: n * 0.05 is 1.0000000000000002 for n = 20 in floats
    if m - k < 1e-9:
        m = float(k)
    # Only the k+1 largest values matter: partition instead of a full sort.
    top = np.sort(np.partition(a, n - min(k + 1, n))[n - min(k + 1, n) :])[::-1]
    tail = float(top[:k].sum())
    if k < n:
        tail += (m - k) * float(top[k])
    return tail / m


_CELL_FIELDS = ("strategy_class", "regime", "realized_pnl_bps", "expected_pnl_bps", "expected_sigma_bps", "ts")


def cell_stats(rows, alpha: float, min_rows: int) -> dict:
    """{strategy_class: {regime: stats}} over `rows` (`records.Row`, read column-wise, once).

    Rows without a model (`fallback_zero`) count with expected = 0; `expected_hit_rate` uses only
    rows that carry a sigma (P(realized > 0) = Phi(expected / sigma)) and is None when none do.
    """
    cols = list(zip(*map(attrgetter(*_CELL_FIELDS), rows)))
    if not cols:
        return {}
    strategies, regimes, realized_col, expected_col, sigmas, ts = cols
    realized_all = np.array(realized_col, dtype=np.float64)
    expected_all = np.array(expected_col, dtype=np.float64)
    with_sigma = np.array([bool(v) for v in sigmas])
    sigma_all = np.array([v if v else 1.0 for v in sigmas], dtype=np.float64)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, key in enumerate(zip(strategies, regimes)):
        groups[key].append(i)
    cells: dict[tuple, np.ndarray] = {}
    for (strategy, regime), members in groups.items():  # None / "" -> "unknown" (may merge two groups)
        key = (strategy or "unknown", regime or "unknown")
        cells[key] = np.sort(np.concatenate([cells[key], members])) if key in cells else np.array(members)
    out: dict[str, dict] = {}
    for (strategy, regime), ix in sorted(cells.items()):
        realized, expected = realized_all[ix], expected_all[ix]
        error = realized - expected
        sig = ix[with_sigma[ix]]
        exp_hit = float(np.mean(normal_cdf_array(expected_all[sig] / sigma_all[sig]))) if len(sig) else None
        cell_ts = [ts[i] for i in ix.tolist()]
        out.setdefault(strategy, {})[regime] = {
            "n": len(ix),
            "n_with_model": len(sig),
            "cvar95_error_bps": round(expected_shortfall(-error, alpha), 4),
            "mean_error_bps": round(float(error.mean()), 4),
            "hit_rate": round(float(np.mean(realized > 0)), 6),
            "expected_hit_rate": None if exp_hit is None else round(exp_hit, 6),
            "mean_pnl_bps": round(float(realized.mean()), 4),
            "sum_pnl_bps": round(float(realized.sum()), 4),
            "enough_data": len(ix) >= min_rows,
            "first_ts": min(cell_ts),
            "last_ts": max(cell_ts),
        }
    return out
