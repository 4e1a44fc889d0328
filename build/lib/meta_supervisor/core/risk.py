"""Tail risk of the sim-vs-live error per (strategy_class, regime) cell (pure).

Cells are computed on the rows that carry a model prediction only (`sim_version != "fallback_zero"`
and a positive `expected_sigma_bps`): a row without a model has no simulation to diverge from, so it
is counted (`n_without_model`) and never enters a statistic. The uncertainty of the ES is a day-block
bootstrap (core/es_bootstrap.py); docs/tail-risk.md has the method and the measured false-breach rates.

The adverse error is a = expected - realized (positive = live did worse than the sim). Its expected
shortfall at level alpha (Acerbi & Tasche 2002, exact for any n, no interpolation of the sample):
    sort a descending; m = n * (1 - alpha); k = floor(m)
    ES = (a_1 + ... + a_k + (m - k) * a_{k+1}) / m
For n * (1 - alpha) < 1 this is the single worst value a_1 (the whole tail mass sits on it).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from meta_supervisor.core import es_bootstrap
from meta_supervisor.core.stats import gaussian_mixture_es, normal_cdf_array


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


@dataclass(frozen=True)
class TailSettings:
    """What `cell_stats` needs from `EvaluateSettings` (the core does not import the config)."""

    alpha: float = 0.95
    min_rows: int = 200
    min_days: int = 3
    bootstrap_reps: int = 1000
    confidence: float = 0.95
    block_days: int = 2  # days per bootstrap block: ceil(horizon / 24) + 1 (core/es_bootstrap.py)


_CELL_FIELDS = (
    "strategy_class",
    "regime",
    "realized_pnl_bps",
    "expected_pnl_bps",
    "expected_sigma_bps",
    "ts",
    "sim_version",
)


def has_model(sim_version, sigma) -> bool:
    """A row carries a model prediction: a named model and a positive, finite predictive sigma."""
    return sim_version != "fallback_zero" and sigma is not None and math.isfinite(sigma) and sigma > 0


def cell_stats(rows, tail: TailSettings) -> dict:
    """{strategy_class: {regime: cell}} over `rows` (`records.Row`, read column-wise, once).

    Every statistic uses the cell's model rows only (`has_model`); the others are counted in
    `n_without_model`. An empty strategy or regime is "unknown". A cell with no model row has
    n = 0 and None for every statistic (never 0.0, which would pass every limit).
    """
    cols = list(zip(*map(attrgetter(*_CELL_FIELDS), rows)))
    if not cols:
        return {}
    strategies, regimes, realized_col, expected_col, sigmas, ts, versions = cols
    model = np.array([has_model(v, s) for v, s in zip(versions, sigmas)], dtype=bool)
    realized_all = np.array(realized_col, dtype=np.float64)
    expected_all = np.array(expected_col, dtype=np.float64)
    sigma_all = np.array([s if m else 1.0 for s, m in zip(sigmas, model.tolist())], dtype=np.float64)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, key in enumerate(zip(strategies, regimes)):
        groups[(key[0] or "unknown", key[1] or "unknown")].append(i)  # may merge None and ""
    out: dict[str, dict] = {}
    for (strategy, regime), members in sorted(groups.items()):
        ix = np.array(members)
        mx = ix[model[ix]]
        cell: dict = {"n": int(mx.size), "n_without_model": int(ix.size - mx.size)}
        if mx.size:
            cell_ts = [ts[i] for i in mx.tolist()]
            cell.update(_model_cell(strategy, regime, realized_all[mx], expected_all[mx], sigma_all[mx], cell_ts, tail))
        else:
            cell.update(dict.fromkeys(_STAT_FIELDS), enough_data=False)
        out.setdefault(strategy, {})[regime] = cell
    return out


_STAT_FIELDS = (
    "days",
    "cvar95_error_bps",
    "cvar95_ci_bps",
    "cvar95_error_sigma",
    "cvar95_sigma_ci",
    "calibrated_cvar95_bps",
    "mean_error_bps",
    "hit_rate",
    "expected_hit_rate",
    "mean_pnl_bps",
    "sum_pnl_bps",
    "first_ts",
    "last_ts",
)


def _model_cell(strategy, regime, realized, expected, sigma, cell_ts, tail: TailSettings) -> dict:
    adverse = expected - realized
    adverse_sigma = adverse / sigma
    day_names, day_index = np.unique(np.array([t[:10] for t in cell_ts]), return_inverse=True)
    es_bps = expected_shortfall(adverse, tail.alpha)
    es_sigma = expected_shortfall(adverse_sigma, tail.alpha)
    ci_bps = ci_sigma = None
    if day_names.size >= 2:  # one day resampled is always that day: no spread to measure
        seed = es_bootstrap.content_seed(strategy, regime, adverse, sigma, day_index)
        counts = es_bootstrap.block_counts(
            day_names.size, tail.bootstrap_reps, np.random.default_rng(seed), tail.block_days
        )
        ci_bps = _rounded(es_bootstrap.replicate_es(adverse, day_index, counts, tail.alpha), tail.confidence)
        ci_sigma = _rounded(es_bootstrap.replicate_es(adverse_sigma, day_index, counts, tail.alpha), tail.confidence)
    return {
        "days": int(day_names.size),
        "cvar95_error_bps": round(es_bps, 4),
        "cvar95_ci_bps": ci_bps,
        "ci_confidence": tail.confidence,  # each bound is one-sided at this level
        "cvar95_error_sigma": round(es_sigma, 4),
        "cvar95_sigma_ci": ci_sigma,
        "calibrated_cvar95_bps": round(gaussian_mixture_es(sigma, tail.alpha), 4),
        "mean_error_bps": round(float(-adverse.mean()), 4),
        "hit_rate": round(float(np.mean(realized > 0)), 6),
        # P(realized > 0) = Phi(expected / sigma) under the model, on the very same rows as hit_rate
        "expected_hit_rate": round(float(np.mean(normal_cdf_array(expected / sigma))), 6),
        "mean_pnl_bps": round(float(realized.mean()), 4),
        "sum_pnl_bps": round(float(realized.sum()), 4),
        "enough_data": bool(realized.size >= tail.min_rows and day_names.size >= tail.min_days),
        "first_ts": min(cell_ts),
        "last_ts": max(cell_ts),
    }


def _rounded(replicates, confidence: float) -> list[float]:
    low, high = es_bootstrap.percentile_bounds(replicates, confidence)
    return [round(low, 4), round(high, 4)]
