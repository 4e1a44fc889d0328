"""The scale model: each row's expected sigma, following its symbol's recent volatility (pure).

A constant sigma per horizon is wrong by a factor of ten between an FX pair and a volatile equity,
and stale after a volatility shift; every z = pnl_error / sigma the detectors chart inherits that
error, and a 10 % error in sigma multiplies their false-alarm rate about tenfold (docs/sigma.md).

Fit, for one horizon, from the current model's residuals e_i (bps) at signal times t_i:

    w_i     = 2 ** (-(T - t_i) / half_life),  T = the latest t_i     (weight 1 = a fresh row)
    u_i     = e_i^2 / F_{r(i)}                                       (regime taken out)
    V0      = sum_i w_i u_i / sum_i w_i                              pooled variance (bps^2)
    Vhat_s  = sum_{i in s} w_i u_i / W_s,  W_s = sum_{i in s} w_i    a symbol's own EWMA
    log V_s = (W_s log Vhat_s + k log V0) / (W_s + k)                shrunk toward the pool
    Fhat_r  = sum_{i in r} w_i e_i^2 / V_{s(i)} / W_r
    log F_r = W_r log Fhat_r / (W_r + k)                             shrunk toward 1
    sigma(s, r) = sqrt(V_s * F_r)

The shrinkage is geometric (in log variance) because scale errors are multiplicative: pulled
linearly, a quiet FX pair with plenty of rows is dragged far up by a pool that volatile equities
dominate. V and F are fitted by alternating (backfitting, `ITERATIONS` rounds from F = 1): one
pass would count a volatile symbol's regime twice, in V_s and again in F_r. `k` (`shrink_rows`,
in fresh-row equivalents) pulls a symbol with little recent weight toward the pool and a regime's
factor toward 1; a symbol that stopped trading drifts back to the pool as its rows age. A symbol
never seen gets V0; a regime never seen gets F = 1.

One agent does not set a symbol's sigma for everyone (`agents` given): before the fit, each
(symbol, agent) gets its weighted mean square m_sa = sum w_i e_i^2 / W_sa; an agent whose m_sa is
more than `outlier_ratio` (3) x the median of the symbol's agents, on at least `OUTLIER_MIN_WEIGHT`
fresh-row equivalents, leaves the whole fit (V, F and the pool) for that symbol. It takes three
agents on a symbol: of two, neither can exceed twice their median (their mean). An agent whose
fills went noisy would otherwise widen every agent's sigma on its symbols and hide its own fault
and theirs (docs/sigma.md: the real-market replay with a variance blow-up in one agent's fills).
The card lists who was left out (`excluded_agents`).

Degenerate cases: no rows, or every residual 0 -> `fit_scale` returns None (the caller keeps the
card's rmse_bps); a non-finite residual or time is a ValueError; half_life = inf weighs every row
equally; k must be > 0; a symbol (or regime) whose residuals are all 0, a price that never moved,
has its Vhat floored at FLOOR x V0 (FLOOR for Fhat), so no sigma is 0 and no log fails;
`by_regime=False` fixes F = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

ITERATIONS = 5  # backfitting rounds: on the replay the factors stop moving (< 1e-3) after three
FLOOR = 1e-4  # floor of Vhat_s / V0 and of Fhat_r (see "Degenerate cases")
# The default of `train.scale_outlier_ratio`: an agent leaves a symbol's fit above this multiple of
# the median agent's mean square. Honest agents of the real-market replay reach 1.65x at the 95th
# percentile (docs/sigma.md); slippage of half a day's sigma 2.6-3x, a variance blow-up in the
# fills 4-15x.
OUTLIER_RATIO = 3.0
OUTLIER_MIN_WEIGHT = 10.0  # fresh-row equivalents: fewer rows are too noisy to call an outlier
DAY = 86400.0


@dataclass(frozen=True)
class ScaleModel:
    pooled_var: float  # V0, bps^2
    symbol_var: dict[str, float]  # V_s, bps^2
    regime_factor: dict[str, float]  # F_r, a variance ratio (sigma scales by its square root)
    half_life_days: float
    shrink_rows: float
    meta: dict = field(default_factory=dict)  # rows, weight and window: for the reader, not the math

    def sigma(self, symbol: str, regime: str) -> float:
        """sqrt(V_s * F_r), with V0 for an unseen symbol and F = 1 for an unseen regime.

        >>> m = ScaleModel(100.0, {"FX": 4.0}, {"TREND": 2.25}, 14.0, 50.0)
        >>> m.sigma("FX", "TREND"), m.sigma("NEW", "RANGE")
        (3.0, 10.0)
        """
        return math.sqrt(self.symbol_var.get(symbol, self.pooled_var) * self.regime_factor.get(regime, 1.0))

    def sigma_bps(self, symbols: Sequence[str], regimes: Sequence[str]) -> np.ndarray:
        return np.array([self.sigma(s, r) for s, r in zip(symbols, regimes)], dtype=np.float64)

    def to_card(self) -> dict:
        """The JSON a model card carries (`scale_model`): sigmas in bps and regime factors on the
        sigma scale (sqrt F), so a reader sees the numbers reconcile multiplies."""
        return {
            "method": "ewma_rms_of_residuals_shrunk_to_pooled_times_regime_factor",
            "half_life_days": self.half_life_days,
            "shrink_rows": self.shrink_rows,
            "pooled_sigma_bps": round(math.sqrt(self.pooled_var), 4),
            "symbol_sigma_bps": {s: round(math.sqrt(v), 4) for s, v in sorted(self.symbol_var.items())},
            "regime_factor": {r: round(math.sqrt(f), 4) for r, f in sorted(self.regime_factor.items())},
            **self.meta,
        }

    @classmethod
    def from_card(cls, card: dict) -> ScaleModel:
        """Inverse of `to_card` (to its rounding). ValueError unless every sigma and factor is > 0 and finite."""
        try:
            pooled = _positive(card["pooled_sigma_bps"])
            symbols = {str(s): _positive(v) ** 2 for s, v in card["symbol_sigma_bps"].items()}
            regimes = {str(r): _positive(f) ** 2 for r, f in card["regime_factor"].items()}
            meta = {k: v for k, v in card.items() if k not in _CORE_KEYS}
            return cls(pooled**2, symbols, regimes, float(card["half_life_days"]), float(card["shrink_rows"]), meta)
        except (AttributeError, KeyError, TypeError) as err:
            raise ValueError(f"not a scale model: {err!r}") from None


_CORE_KEYS = {"method", "half_life_days", "shrink_rows", "pooled_sigma_bps", "symbol_sigma_bps", "regime_factor"}


def _positive(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
        raise ValueError(f"not a positive finite number: {value!r}")
    return float(value)


def fit_scale(
    ts: np.ndarray,
    symbols: Sequence[str],
    regimes: Sequence[str],
    residuals: np.ndarray,
    half_life_days: float,
    shrink_rows: float,
    by_regime: bool = True,
    agents: Sequence[str] | None = None,
    outlier_ratio: float = OUTLIER_RATIO,
) -> ScaleModel | None:
    """Fit the scale model (module docstring) on residuals (bps) at signal times `ts` (epoch s);
    with `agents` (one per row), an outlying agent leaves its symbol's fit (`outlier_ratio` 0: none).

    >>> rng = np.random.default_rng(0); n = 4000
    >>> sym = ["FX", "EQ"] * (n // 2); e = rng.normal(0, 1, n) * np.where(np.arange(n) % 2, 100.0, 10.0)
    >>> m = fit_scale(np.arange(n) * 600.0, sym, ["R"] * n, e, 14.0, 10.0)
    >>> round(m.sigma("FX", "R")), round(m.sigma("EQ", "R"))
    (10, 99)
    """
    t = np.asarray(ts, dtype=np.float64)
    e2 = np.square(np.asarray(residuals, dtype=np.float64))
    if not (len(t) == len(e2) == len(symbols) == len(regimes)):
        raise ValueError("fit_scale needs ts, symbols, regimes and residuals of one length")
    if not (np.all(np.isfinite(t)) and np.all(np.isfinite(e2))):
        raise ValueError("fit_scale needs finite times and residuals")
    if not (half_life_days > 0 and shrink_rows > 0):
        raise ValueError("half_life_days and shrink_rows must be > 0")
    if len(t) == 0 or not np.any(e2 > 0):
        return None
    w = np.exp2(-(t.max() - t) / (half_life_days * DAY))
    s_names, s_idx = _factorize(symbols)
    excluded: dict[str, list[str]] = {}
    if agents is not None and outlier_ratio > 0:
        if len(agents) != len(t):
            raise ValueError("fit_scale needs one agent per row")
        w, excluded = _without_outlying_agents(w, e2, s_idx, s_names, agents, outlier_ratio)
        if not np.any(w * e2 > 0):
            return None
    r_names, r_idx = _factorize(regimes)
    w_s = np.bincount(s_idx, w, len(s_names))
    w_r = np.bincount(r_idx, w, len(r_names))
    F = np.ones(len(r_names))
    for _ in range(ITERATIONS):
        u = e2 / F[r_idx]
        V0 = float(w @ u / w.sum())
        V_hat = np.maximum(np.bincount(s_idx, w * u, len(s_names)) / w_s, FLOOR * V0)
        V = np.exp((w_s * np.log(V_hat) + shrink_rows * math.log(V0)) / (w_s + shrink_rows))
        if not by_regime:
            break
        # a regime whose rows all left the fit (one outlying agent's) has no weight: F = 1, as unseen
        seen_r = np.bincount(r_idx, w * e2 / V[s_idx], len(r_names))
        F_hat = np.maximum(np.divide(seen_r, w_r, out=np.ones_like(w_r), where=w_r > 0), FLOOR)
        F = np.exp(w_r * np.log(F_hat) / (w_r + shrink_rows))
    meta = {
        "rows": len(t),
        "weight": round(float(w.sum()), 3),  # fresh-row equivalents the fit rests on
        "symbol_weight": {str(s): round(float(x), 3) for s, x in zip(s_names, w_s)},
    }
    if excluded:
        meta["excluded_agents"] = excluded
    return ScaleModel(
        V0,
        {str(s): float(v) for s, v in zip(s_names, V)},
        {str(r): float(f) for r, f in zip(r_names, F)},
        float(half_life_days),
        float(shrink_rows),
        meta,
    )


def _factorize(keys: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(np.asarray(keys, dtype=str), return_inverse=True): the distinct keys, sorted, and
    each key's index in them. A list of a few distinct strings (the row fields fit_scale gets) is
    coded by a dict lookup per key: 2.5x faster than numpy's conversion and sort of the strings.

    >>> names, idx = _factorize(["EQ", "FX", "EQ"])
    >>> names.tolist(), idx.tolist()
    (['EQ', 'FX'], [0, 1, 0])
    """
    distinct = set(keys) if isinstance(keys, list) else set()
    # anything else (an array, a non-str key, a str numpy would cut at a trailing NUL) takes numpy's path
    if not distinct or not all(type(k) is str and not k.endswith("\0") for k in distinct):
        return np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    names = sorted(distinct)
    code = {name: i for i, name in enumerate(names)}
    return np.array(names, dtype=str), np.array([code[k] for k in keys], dtype=np.intp)


def _without_outlying_agents(w, e2, s_idx, s_names, agents, ratio) -> tuple[np.ndarray, dict[str, list[str]]]:
    """(weights with the outlying (symbol, agent) rows at 0, {symbol: [agents left out]})."""
    a_names, a_idx = _factorize(agents)
    cell = s_idx * len(a_names) + a_idx
    size = len(s_names) * len(a_names)
    weight = np.bincount(cell, w, size).reshape(len(s_names), len(a_names))
    square = np.bincount(cell, w * e2, size).reshape(len(s_names), len(a_names))
    out = np.zeros_like(weight, dtype=bool)
    for s in range(len(s_names)):
        seen = weight[s] > 0
        mean_square = np.divide(square[s], weight[s], out=np.zeros_like(weight[s]), where=seen)
        median = float(np.median(mean_square[seen]))
        out[s] = seen & (weight[s] >= OUTLIER_MIN_WEIGHT) & (mean_square > ratio * median)
    if not out.any():
        return w, {}
    excluded = {str(s_names[s]): [str(a_names[a]) for a in np.flatnonzero(out[s])] for s in np.flatnonzero(out.any(1))}
    return np.where(out.ravel()[cell], 0.0, w), excluded


MAX_GAP_HOURS = 6.0  # returns over longer gaps (nights, weekends) are not intraday moves: left out


@dataclass(frozen=True)
class Level:
    """How the volatility of each symbol now compares with its average over a longer horizon's
    scale window, read off the market prices the shortest horizon's rows exited at: V_fast / V_slow
    per symbol (and pooled). A 24 h error matures a day late and few are independent, so the 24 h
    scale alone follows a volatility shock over a week or more (half-life 12 days); the 1 h rows'
    exits come every hour or so, and tell within a day or two how far the level has moved."""

    ratio: dict[str, float]  # V_fast / V_slow, shrunk toward 1 in log space
    pooled_ratio: float
    fast_half_life_days: float
    at: float  # epoch s of the newest exit used

    def apply(self, model: ScaleModel) -> ScaleModel:
        """`model` with each symbol's variance (and the pool) times the level ratio; a symbol the
        short horizon has not seen keeps its variance. The regime factors stay as fitted."""
        symbols = {s: v * self.ratio.get(s, 1.0) for s, v in model.symbol_var.items()}
        level = {
            "from_exits_until": self.at,
            "fast_half_life_days": self.fast_half_life_days,
            "pooled_sigma_ratio": round(math.sqrt(self.pooled_ratio), 4),
            "symbol_sigma_ratio": {s: round(math.sqrt(r), 4) for s, r in sorted(self.ratio.items())},
        }
        return ScaleModel(
            model.pooled_var * self.pooled_ratio,
            symbols,
            model.regime_factor,
            model.half_life_days,
            model.shrink_rows,
            {**model.meta, "level": level},
        )


def fit_level(
    exit_ts: np.ndarray,
    symbols: Sequence[str] | np.ndarray,
    exit_prices: np.ndarray,
    fast_half_life_days: float,
    slow_half_life_days: float,
    shrink_rows: float,
) -> Level | None:
    """The level ratio (see `Level`) from the exits of short-horizon rows: (time, symbol, price).

    Per symbol, the exits in time order give log returns r over gaps dt (hours, 0 < dt <=
    MAX_GAP_HOURS); v = r^2 / dt is one reading of the variance per hour. The ratio is the EWMA of
    v with the fast half-life over the EWMA with the slow one (the longer horizon's), both anchored
    at the newest exit; log ratio shrunk toward 0 with weight W_fast / (W_fast + k). None without
    two usable exits of a symbol.

    Exit prices, not the rows' errors: an exit is the market's last tick at signal + h, whoever
    signalled. Errors carry each agent's fills; one agent whose fills slipped raised the level from
    errors on its symbols, every agent's sigma there, and so diluted its own z (the market_world
    replay found the slippage in 11.75 days instead of ~5). Calibration is the same: docs/sigma.md.

    >>> t = np.arange(2000) * 3600.0
    >>> moves = np.where(t > t[-1] - 3 * DAY, 0.003, 0.001) * np.where(np.arange(2000) % 2, 1, -1)
    >>> lv = fit_level(t, ["A"] * 2000, 100 * np.exp(np.cumsum(moves)), 1.0, 12.0, 2.0)
    >>> round(lv.ratio["A"], 1)  # moves x3 for 3 days: EWMA of v 8.0e-6 fast, 2.3e-6 slow; shrunk
    3.3
    """
    t = np.asarray(exit_ts, dtype=np.float64)
    price = np.asarray(exit_prices, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(price) & (price > 0)
    t, price, names = t[ok], price[ok], np.asarray(symbols, dtype=str)[ok]
    s_all, idx = np.unique(names, return_inverse=True)
    order = np.lexsort((t, idx))
    t, price, idx = t[order], price[order], idx[order]
    dt = np.diff(t) / 3600.0
    keep = (idx[1:] == idx[:-1]) & (dt > 0) & (dt <= MAX_GAP_HOURS)
    r2, dt = np.square(np.diff(np.log(price)))[keep], dt[keep]
    t, idx = t[1:][keep], idx[1:][keep]
    if len(t) == 0 or not np.any(r2 > 0):
        return None
    at = float(t.max())
    w_f = np.exp2(-(at - t) / (fast_half_life_days * DAY))
    w_s = np.exp2(-(at - t) / (slow_half_life_days * DAY))
    n = len(s_all)
    W_f = np.bincount(idx, w_f, n)
    seen = W_f > 0
    # variance per hour as a ratio of sums (realized variance over elapsed time), not a mean of
    # r^2 / dt: an exit is stamped at signal + 1 h while its price is the last tick before that,
    # so two exits minutes apart can straddle a tick, and r^2 / dt of that pair is wild
    v_f = np.bincount(idx, w_f * r2, n)[seen] / np.bincount(idx, w_f * dt, n)[seen]
    v_s = np.bincount(idx, w_s * r2, n)[seen] / np.bincount(idx, w_s * dt, n)[seen]
    floor = FLOOR * float((w_s @ r2) / (w_s @ dt))
    log_r = np.log(np.maximum(v_f, floor) / np.maximum(v_s, floor))
    shrunk = np.exp(W_f[seen] * log_r / (W_f[seen] + shrink_rows))
    pooled = float(((w_f @ r2) / (w_f @ dt)) / ((w_s @ r2) / (w_s @ dt)))
    return Level(
        {str(s): float(r) for s, r in zip(s_all[seen], shrunk)},
        pooled,
        float(fast_half_life_days),
        at,
    )


def calibration(z: np.ndarray, groups: dict[str, Sequence[str]]) -> dict:
    """n, mean(z) and var(z) of `z` by each grouping (e.g. symbol, regime, agent): 1 is calibrated.

    >>> calibration(np.array([1.0, -1.0, 3.0, -3.0]), {"symbol": ["A", "A", "B", "B"]})["symbol"]["B"]
    {'n': 2, 'mean_z': 0.0, 'var_z': 9.0}
    """
    z = np.asarray(z, dtype=np.float64)
    out: dict[str, dict] = {}
    for name, keys in groups.items():
        names, idx = _factorize(keys)
        out[name] = {
            str(k): {"n": int(np.sum(idx == j)), "mean_z": _r(z[idx == j].mean()), "var_z": _r(z[idx == j].var())}
            for j, k in enumerate(names)
        }
    return out


def _r(x) -> float:
    return round(float(x), 4)
