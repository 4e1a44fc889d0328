"""Sequential change detectors (Page's CUSUM) and their calibration. Pure: stdlib + numpy.

Every chart is a one-sided CUSUM on a log-likelihood-ratio-like increment w_t:

    S_t = max(0, S_{t-1} + w_t),   alarm when S_t > h,   then S restarts at 0.

- `MeanCusum`:      w = d * clip(z, -c, c) - k, d = +1 (bias up) or -1 (bias down), k = delta / 2.
- `VarianceCusum`:  w = min(z^2, c^2) - k,  k = ln(r) / (1 - 1/r)  (normal LLR for variance x r).
- `BernoulliCusum`: w = y ln R - ln(1 - p + R p)  (Steiner et al. 2000, risk-adjusted; y = win,
                    p = the model's win probability, R = odds ratio of the alternative, R < 1 = drop).

Change time = the first row after the statistic was last 0; shift = the mean of the charted value
over the rows since then (MLE of the mean of z, of the variance ratio, or win rate vs expected).
An alarm latches an *episode*: the chart restarts and keeps measuring; each re-alarm refreshes the
episode's report, and the episode clears after `clear_rows` charted rows without a re-alarm.

Thresholds come from the in-control ARL by a Brook-Evans Markov chain (`cusum_arl`), solved for h.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

SQRT2 = math.sqrt(2.0)


def normal_cdf(x: float) -> float:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2.

    >>> round(normal_cdf(1.0), 4)
    0.8413
    """
    return 0.5 * (1.0 + math.erf(x / SQRT2))


def cusum_arl(cdf, h: float, n: int = 400) -> float:
    """Average run length from S_0 = 0 of S_t = max(0, S_{t-1} + X_t), alarm at S_t > h, X iid ~ cdf.

    Brook & Evans (1972): split [0, h] into n cells of width w = 2h / (2n - 1), cell j centred on j w
    (cell 0 holds the atom at 0); P[i, j] = F((j - i) w + w/2) - F((j - i) w - w/2), P[i, 0] =
    F(w/2 - i w); ARL = ((I - P)^-1 1)[0]. P is Toeplitz, so F is evaluated at 2n points only.

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


def mean_increment_cdf(k: float, cap: float, mu: float = 0.0):
    """CDF of X = clip(Z + mu, -cap, cap) - k, Z ~ N(0, 1)."""
    def cdf(x):
        y = x + k
        return 0.0 if y < -cap else 1.0 if y >= cap else normal_cdf(y - mu)
    return cdf


def variance_increment_cdf(k: float, cap: float, ratio: float = 1.0):
    """CDF of X = min(ratio * Z^2, cap^2) - k, Z ~ N(0, 1)."""
    def cdf(x):
        y = x + k
        return 0.0 if y < 0 else 1.0 if y >= cap * cap else math.erf(math.sqrt(y / (2 * ratio)))
    return cdf


def bernoulli_increment_cdf(odds_ratio: float, p: float, p_true: float | None = None):
    """CDF of the two-point risk-adjusted Bernoulli increment at model win probability p."""
    lose = -math.log(1 - p + odds_ratio * p)
    win = math.log(odds_ratio) + lose
    q = p if p_true is None else p_true
    return lambda x: 0.0 if x < win else q if x < lose else 1.0


def bernoulli_mixture_cdf(odds_ratio: float, alternative: bool = False, m_sd: float | None = None):
    """CDF of the risk-adjusted increment when the model's p = Phi(m), m ~ N(0, m_sd^2) (default
    HIT_RATE_M_SD); under the alternative the true win odds are odds_ratio x the model's.

    Both branches, w_lose(p) = -ln(1 - p (1 - R)) and w_win(p) = ln R + w_lose(p), increase with m,
    so F(x) = sum_j wt_j [q_j 1{w_win(p_j) <= x} + (1 - q_j) 1{w_lose(p_j) <= x}] on a 4001-point
    m grid is two searchsorted look-ups. A varying p makes the increment (nearly) continuous, which
    Brook-Evans needs; one fixed p gives a lattice walk whose ARL steps in h.
    """
    sd = HIT_RATE_M_SD if m_sd is None else m_sd
    m = np.linspace(-6.0, 6.0, 4001) * sd
    wt = np.exp(-0.5 * (m / sd) ** 2)
    wt /= wt.sum()
    p = np.array([normal_cdf(v) for v in m])
    q = odds_ratio * p / (1 - p + odds_ratio * p) if alternative else p
    lose = -np.log(1 - p + odds_ratio * p)
    win = math.log(odds_ratio) + lose
    cum_win = np.concatenate([[0.0], np.cumsum(wt * q)])
    cum_lose = np.concatenate([[0.0], np.cumsum(wt * (1 - q))])
    return lambda x: float(cum_win[np.searchsorted(win, x, "right")]
                           + cum_lose[np.searchsorted(lose, x, "right")])


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


# The hit-rate chart is calibrated for model win probabilities p = Phi(m), m ~ N(0, 0.15^2)
# (p in about 0.38-0.62); docs/detection.md shows its in-control ARL at other fixed p.
HIT_RATE_M_SD = 0.15


# calibrate()'s answers for the default settings at stream ARL0 1,000 / 10,000 / 100,000 (chart
# ARL0 4x that). Solving them takes ~0.2 s of 400x400 Brook-Evans systems in every new process,
# which is most of a cold evaluate; tests/test_divergence.py recomputes this table so it cannot drift.
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


def calibrate(kind: str, design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """(k, h, ARL at the designed change) for a chart; kind is "mean", "variance" or "hit_rate".

    design = the shift delta in sigma (mean), variance ratio r (variance) or odds ratio R (hit_rate;
    cap is ignored). Default settings are answered from PRECOMPUTED.
    """
    hit = PRECOMPUTED.get((kind, float(design), float(cap), float(arl0)))
    return hit if hit is not None else solve_calibration(kind, design, cap, arl0)


@lru_cache(maxsize=64)
def solve_calibration(kind: str, design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """calibrate() without the table: the Brook-Evans solve."""
    if kind == "mean":
        k = design / 2
        h = solve_threshold(mean_increment_cdf(k, cap), arl0)
        return k, h, cusum_arl(mean_increment_cdf(k, cap, design), h)
    if kind == "variance":
        k = math.log(design) / (1 - 1 / design)
        h = solve_threshold(variance_increment_cdf(k, cap), arl0)
        return k, h, cusum_arl(variance_increment_cdf(k, cap, design), h)
    h = solve_threshold(bernoulli_mixture_cdf(design), arl0, n=600, rel_tol=1e-3)
    return 0.0, h, cusum_arl(bernoulli_mixture_cdf(design, alternative=True), h, n=600)


class _LatchedCusum:
    """Shared mechanics: the recursion, change-time bookkeeping and the alarm latch."""

    kind = ""
    _params: tuple = ()
    _state = ("statistic", "n", "run_n", "run_sum", "run_sum2", "run_start_ts", "drift_detected",
              "alarm", "alarms", "change_ts", "ep_n", "ep_sum", "ep_sum2", "rows_since_alarm",
              "report")

    def __init__(self, h: float, clear_rows: int):
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"h: must be a positive number, got {h!r}")
        if int(clear_rows) != clear_rows or clear_rows < 1:
            raise ValueError(f"clear_rows: must be a whole number >= 1, got {clear_rows!r}")
        self.h, self.clear_rows = float(h), int(clear_rows)
        self.statistic = 0.0
        self.n = 0                    # rows charted
        self.run_n = 0                # rows since the statistic was last 0
        self.run_sum = self.run_sum2 = 0.0
        self.run_start_ts = None
        self.drift_detected = False   # True only on the row that crossed h
        self.alarm = False            # latched episode
        self.alarms = 0               # crossings in this episode
        self.change_ts = None
        self.ep_n, self.ep_sum, self.ep_sum2 = 0, 0.0, 0.0
        self.rows_since_alarm = 0
        self.report = None            # snapshot at the latest crossing

    def _feed(self, ws, vs, v2s, tss) -> "_LatchedCusum":
        """Advance over rows with increments `ws`, charted values `vs`, `v2s` and times `tss`.

        One tight loop on local variables: a method call per row and chart was most of a cold
        evaluate. Rows are processed one after another with the same float operations in the same
        order whatever the batching, so feeding rows in two calls equals feeding them in one."""
        h, clear = self.h, self.clear_rows
        s, n, crossed = self.statistic, self.n, self.drift_detected
        run_n, run_sum, run_sum2, run_start = self.run_n, self.run_sum, self.run_sum2, self.run_start_ts
        alarm, alarms, change_ts, report = self.alarm, self.alarms, self.change_ts, self.report
        ep_n, ep_sum, ep_sum2, since = self.ep_n, self.ep_sum, self.ep_sum2, self.rows_since_alarm
        for w, v, v2, ts in zip(ws, vs, v2s, tss):
            n += 1
            crossed = False
            s += w
            if s > 0.0:
                if run_n == 0:
                    run_start = ts
                run_n += 1
                run_sum += v
                run_sum2 += v2
            else:                       # max(0, S + w); also maps a NaN statistic to 0
                s, run_n, run_sum, run_sum2, run_start = 0.0, 0, 0.0, 0.0, None
            if alarm:
                ep_n += 1
                ep_sum += v
                ep_sum2 += v2
                since += 1
            if s > h:
                if not alarm:  # a new episode starts at this run's change time
                    alarm, alarms, change_ts = True, 0, run_start
                    ep_n, ep_sum, ep_sum2 = run_n, run_sum, run_sum2
                crossed = True
                alarms += 1
                since = 0
                report = {"statistic": s, "rows": ep_n, "shift": self._shift(ep_n, ep_sum, ep_sum2),
                          "aux": ep_sum2 / ep_n, "last_row_ts": ts}
                s, run_n, run_sum, run_sum2, run_start = 0.0, 0, 0.0, 0.0, None
            elif alarm and since >= clear:
                alarm, change_ts, report = False, None, None
                ep_n, ep_sum, ep_sum2 = 0, 0.0, 0.0
        self.statistic, self.n, self.drift_detected = s, n, crossed
        self.run_n, self.run_sum, self.run_sum2, self.run_start_ts = run_n, run_sum, run_sum2, run_start
        self.alarm, self.alarms, self.change_ts, self.report = alarm, alarms, change_ts, report
        self.ep_n, self.ep_sum, self.ep_sum2, self.rows_since_alarm = ep_n, ep_sum, ep_sum2, since
        return self

    @staticmethod
    def _shift(ep_n: int, ep_sum: float, ep_sum2: float) -> float:
        return ep_sum / ep_n

    @property
    def shift(self):
        """The episode's shift estimate at its latest alarm (None when not firing)."""
        return None if self.report is None else self.report["shift"]

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "h": self.h, "clear_rows": self.clear_rows}
        out.update({name: getattr(self, name) for name in self._params})
        out.update({name: getattr(self, name) for name in self._state})
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "_LatchedCusum":
        kinds = {c.kind: c for c in (MeanCusum, VarianceCusum, BernoulliCusum)}
        if cls is _LatchedCusum:
            cls = kinds[data["kind"]]
        obj = cls(h=data["h"], clear_rows=data["clear_rows"],
                  **{name: data[name] for name in cls._params})
        for name in cls._state:
            value = data[name]
            setattr(obj, name, dict(value) if isinstance(value, dict) else value)
        return obj

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()


class MeanCusum(_LatchedCusum):
    """One-sided CUSUM for a shift of the mean of z; `direction` +1 charts a rise, -1 a fall.

    >>> import random
    >>> rng = random.Random(7)
    >>> det = MeanCusum(k=0.5, h=5.0, direction=+1, cap=4.0, clear_rows=30)
    >>> for t in range(200):
    ...     _ = det.update(rng.gauss(0.0 if t < 100 else 1.5, 1.0), ts=t)
    >>> det.alarm, det.change_ts >= 95, round(det.shift, 1)
    (True, True, 1.6)
    """

    kind = "mean"
    _params = ("k", "direction", "cap")

    def __init__(self, k: float, h: float, direction: int = 1, cap: float = 4.0, clear_rows: int = 50):
        super().__init__(h, clear_rows)
        if not (k >= 0 and math.isfinite(k)):
            raise ValueError(f"k: must be >= 0, got {k!r}")
        if direction not in (1, -1):
            raise ValueError(f"direction: must be +1 or -1, got {direction!r}")
        if not cap > 0:
            raise ValueError(f"cap: must be > 0, got {cap!r}")
        self.k, self.direction, self.cap = float(k), int(direction), float(cap)

    def update(self, z: float, ts=None) -> "MeanCusum":
        x = min(self.cap, max(-self.cap, z))
        return self._feed((self.direction * x - self.k,), (x,), (0.0,), (ts,))

    def update_many(self, zs, tss) -> "MeanCusum":
        """`update` over a sequence (numpy for the increments; the same numbers)."""
        x = np.clip(np.asarray(zs, dtype=np.float64), -self.cap, self.cap)
        return self._feed((self.direction * x - self.k).tolist(), x.tolist(), [0.0] * len(x), tss)


class VarianceCusum(_LatchedCusum):
    """One-sided CUSUM for a rise of E[z^2] (RMSE spike): w = min(z^2, cap^2) - k.

    >>> VarianceCusum(k=1.386, h=9.0).update(3.0).statistic
    7.614
    """

    kind = "variance"
    _params = ("k", "cap")

    def __init__(self, k: float, h: float, cap: float = 4.0, clear_rows: int = 50):
        super().__init__(h, clear_rows)
        if not (k > 0 and math.isfinite(k)):
            raise ValueError(f"k: must be > 0, got {k!r}")
        if not cap > 0:
            raise ValueError(f"cap: must be > 0, got {cap!r}")
        self.k, self.cap = float(k), float(cap)

    def update(self, z: float, ts=None) -> "VarianceCusum":
        x = min(z * z, self.cap * self.cap)
        return self._feed((x - self.k,), (x,), (0.0,), (ts,))

    def update_many(self, zs, tss) -> "VarianceCusum":
        """`update` over a sequence (numpy for the increments; the same numbers)."""
        z = np.asarray(zs, dtype=np.float64)
        x = np.minimum(z * z, self.cap * self.cap)
        return self._feed((x - self.k).tolist(), x.tolist(), [0.0] * len(x), tss)


class BernoulliCusum(_LatchedCusum):
    """Risk-adjusted Bernoulli CUSUM for a drop of the win rate (Steiner et al. 2000).

    shift = observed - expected win rate since the change (the episode's rows).

    >>> det = BernoulliCusum(odds_ratio=0.5, h=2.0)
    >>> round(det.update(False, 0.5).statistic, 4)      # -ln(0.75)
    0.2877
    """

    kind = "hit_rate"
    _params = ("odds_ratio",)

    def __init__(self, odds_ratio: float, h: float, clear_rows: int = 50):
        super().__init__(h, clear_rows)
        if not 0 < odds_ratio < 1:
            raise ValueError(f"odds_ratio: must be in (0, 1) to detect a drop, got {odds_ratio!r}")
        self.odds_ratio = float(odds_ratio)

    def update(self, win: bool, p: float, ts=None) -> "BernoulliCusum":
        return self.update_many([win], [p], [ts])

    def update_many(self, wins, ps, tss) -> "BernoulliCusum":
        """`update` over a sequence."""
        r, log_r = self.odds_ratio, math.log(self.odds_ratio)
        # a model certain of the outcome would make one row decisive: p is kept in [0.01, 0.99]
        ps = [min(0.99, max(0.01, p)) for p in ps]
        loses = [-math.log(1 - p + r * p) for p in ps]
        ws = [log_r + lose if win else lose for win, lose in zip(wins, loses)]
        return self._feed(ws, [1.0 if win else 0.0 for win in wins], ps, tss)

    @staticmethod
    def _shift(ep_n: int, ep_sum: float, ep_sum2: float) -> float:
        return (ep_sum - ep_sum2) / ep_n

    @property
    def expected_win_rate(self):
        return None if not self.ep_n else self.ep_sum2 / self.ep_n
