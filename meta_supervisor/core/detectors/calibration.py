"""Thresholds from the in-control ARL: a Brook-Evans Markov chain (`cusum_arl`), solved for h.

The charts bring their own increment CDFs (mean.py, variance.py, hit_rate.py); this module knows
only the recursion S_t = max(0, S_{t-1} + X_t) and the table of answers for the default settings.
"""

from __future__ import annotations

import numpy as np


def cusum_arl(cdf, h: float, n: int = 400) -> float:
    """Average run length from S_0 = 0 of S_t = max(0, S_{t-1} + X_t), alarm at S_t > h, X iid ~ cdf.

    Brook & Evans (1972): split [0, h] into n cells of width w = 2h / (2n - 1), cell j centred on j w
    (cell 0 holds the atom at 0); P[i, j] = F((j - i) w + w/2) - F((j - i) w - w/2), P[i, 0] =
    F(w/2 - i w); ARL = ((I - P)^-1 1)[0]. P is Toeplitz, so F is evaluated at 2n points only.

    >>> from meta_supervisor.core.stats import normal_cdf
    >>> round(cusum_arl(lambda x: normal_cdf(x + 0.5), 4.0, n=300))  # one-sided, k = 0.5, h = 4
    335
    """
    if h <= 0:
        return 1.0
    w = 2.0 * h / (2 * n - 1)
    g = np.array([cdf(d * w + w / 2) for d in range(-n, n)])  # g[d + n] = F(d w + w/2)
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    p = g[j - i + n] - g[j - i - 1 + n]
    p[:, 0] = g[n - np.arange(n)]
    return float(np.linalg.solve(np.eye(n) - p, np.ones(n))[0])


def solve_threshold(cdf, arl0: float, n: int = 400, rel_tol: float = 1e-4) -> float:
    """The smallest h (to rel_tol) with cusum_arl(cdf, h) >= arl0, by bisection: ARL is
    nondecreasing in h but a step function for lattice increments, so no secant steps."""
    lo, hi = 0.0, 1.0
    while cusum_arl(cdf, hi, n) < arl0:
        lo, hi = hi, hi * 2
    while hi - lo > rel_tol * hi:
        mid = (lo + hi) / 2
        if cusum_arl(cdf, mid, n) < arl0:
            lo = mid
        else:
            hi = mid
    return hi


# calibrate()'s answers for the default settings at stream ARL0 1,000 / 10,000 / 100,000 (chart
# ARL0 4x that), keyed (kind, design, cap, chart ARL0). Solving them takes ~0.2 s of 400x400
# Brook-Evans systems in every new process, which is most of a cold evaluate;
# tests/test_divergence.py recomputes this table so it cannot drift.
PRECOMPUTED = {
    ("mean", 1.0, 3.0, 4000.0): (0.5, 6.3828125, 13.30893583659868),
    ("variance", 2.0, 3.0, 4000.0): (1.3862943611198906, 19.2158203125, 36.11681865438269),
    ("hit_rate", 0.67, 3.0, 4000.0): (0.0, 4.2578125, 177.65296738721491),
    ("mean", 1.0, 3.0, 40000.0): (0.5, 8.6513671875, 17.92649375280372),
    ("variance", 2.0, 3.0, 40000.0): (1.3862943611198906, 27.283203125, 52.39757310369161),
    ("hit_rate", 0.67, 3.0, 40000.0): (0.0, 6.50390625, 292.9834995853464),
    ("mean", 1.0, 3.0, 400000.0): (0.5, 10.9228515625, 22.552018175551975),
    ("variance", 2.0, 3.0, 400000.0): (1.3862943611198906, 35.3203125, 68.7751026403806),
    ("hit_rate", 0.67, 3.0, 400000.0): (0.0, 8.8046875, 411.4520672675632),
}


def lookup(kind: str, design: float, cap: float, arl0: float, solve) -> tuple[float, float, float]:
    """(k, h, ARL at the designed change) of chart `kind`: PRECOMPUTED's entry, else
    `solve(design, cap, arl0)`. design = the chart's designed change (shift delta in sigma, variance
    ratio r, odds ratio R); cap = the winsorizing cap c (in the key even where the chart ignores it)."""
    hit = PRECOMPUTED.get((kind, float(design), float(cap), float(arl0)))
    return hit if hit is not None else solve(design, cap, arl0)
