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

import numpy as np

from .sim_model import normal_cdf


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
    k = int(math.floor(m + 1e-9))  # 1e-9: n * 0.05 is 1.0000000000000002 for n = 20 in floats
    if m - k < 1e-9:
        m = float(k)
    # Only the k+1 largest values matter: partition instead of a full sort.
    top = np.sort(np.partition(a, n - min(k + 1, n))[n - min(k + 1, n):])[::-1]
    tail = float(top[:k].sum())
    if k < n:
        tail += (m - k) * float(top[k])
    return tail / m


def cell_stats(rows: list[dict], alpha: float, min_rows: int) -> dict:
    """{strategy_class: {regime: stats}} over `rows` (reconciled row dicts).

    Rows without a model (`fallback_zero`) count with expected = 0; `expected_hit_rate` uses only
    rows that carry a sigma (P(realized > 0) = Phi(expected / sigma)) and is None when none do.
    """
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r.get("strategy_class") or "unknown", r.get("regime") or "unknown")].append(r)
    out: dict[str, dict] = {}
    for (strategy, regime), rs in sorted(groups.items()):
        realized = np.array([r["realized_pnl_bps"] for r in rs], dtype=np.float64)
        expected = np.array([r["expected_pnl_bps"] for r in rs], dtype=np.float64)
        error = realized - expected
        sig = [(r["expected_pnl_bps"], r["expected_sigma_bps"]) for r in rs
               if r.get("expected_sigma_bps")]
        exp_hit = float(np.mean(normal_cdf(np.array([e / s for e, s in sig])))) if sig else None
        out.setdefault(strategy, {})[regime] = {
            "n": len(rs),
            "n_with_model": len(sig),
            "cvar95_error_bps": round(expected_shortfall(-error, alpha), 4),
            "mean_error_bps": round(float(error.mean()), 4),
            "hit_rate": round(float(np.mean(realized > 0)), 6),
            "expected_hit_rate": None if exp_hit is None else round(exp_hit, 6),
            "mean_pnl_bps": round(float(realized.mean()), 4),
            "sum_pnl_bps": round(float(realized.sum()), 4),
            "enough_data": len(rs) >= min_rows,
            "first_ts": min(r["ts"] for r in rs),
            "last_ts": max(r["ts"] for r in rs),
        }
    return out
