"""Hit-rate chart: a risk-adjusted Bernoulli CUSUM for a drop of the win rate (trigger cusum_hit_rate).

    w = y ln R - ln(1 - p + R p)      (Steiner et al. 2000)

y = win (realized > 0), p = the model's win probability Phi(expected / sigma), R = the odds ratio
of the alternative (hit_rate_odds_ratio; R < 1 = a drop). The shift reported is the observed minus
the expected win rate since the change.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from meta_supervisor.core.detectors.base import Alarm, LatchedCusum, Trigger, Tuning, long_run_factor
from meta_supervisor.core.detectors.calibration import cusum_arl, solve_threshold
from meta_supervisor.core.stats import normal_cdf, normal_cdf_array

# The hit-rate chart is calibrated for model win probabilities p = Phi(m), m ~ N(0, 0.15^2)
# (p in about 0.38-0.62); docs/detection.md shows its in-control ARL at other fixed p.
HIT_RATE_M_SD = 0.15


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
    return lambda x: float(cum_win[np.searchsorted(win, x, "right")] + cum_lose[np.searchsorted(lose, x, "right")])


@lru_cache(maxsize=64)
def _solve(design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """k is 0 (the increment is an LLR already); h on the p mixture (600 cells); cap is ignored."""
    h = solve_threshold(bernoulli_mixture_cdf(design), arl0, n=600, rel_tol=1e-3)
    return 0.0, h, cusum_arl(bernoulli_mixture_cdf(design, alternative=True), h, n=600)


class BernoulliCusum(LatchedCusum):
    """Risk-adjusted Bernoulli CUSUM for a drop of the win rate (Steiner et al. 2000).

    shift = observed - expected win rate since the change (the episode's rows).

    >>> det = BernoulliCusum(odds_ratio=0.5, h=2.0)
    >>> round(det.update(False, 0.5).statistic, 4)      # -ln(0.75)
    0.2877
    """

    kind = "hit_rate"
    _params = ("odds_ratio",)
    settings = ("hit_rate_odds_ratio",)
    triggers = (
        Trigger(
            "cusum_hit_rate",
            "CUSUM on hits: the share of profitable signals has fallen below the model's expected hit rate.",
        ),
    )

    def __init__(self, odds_ratio: float, h: float, clear_hours: float = 50.0):
        super().__init__(h, clear_hours)
        if not 0 < odds_ratio < 1:
            raise ValueError(f"odds_ratio: must be in (0, 1) to detect a drop, got {odds_ratio!r}")
        self.odds_ratio = float(odds_ratio)

    def update(self, win: bool, p: float, ts=None, hour=None) -> BernoulliCusum:
        return self.update_many([win], [p], [ts], [hour])

    def update_many(self, wins, ps, tss, hours=None) -> BernoulliCusum:
        """`update` over a sequence."""
        r, log_r = self.odds_ratio, math.log(self.odds_ratio)
        # a model certain of the outcome would make one row decisive: p is kept in [0.01, 0.99]
        ps = [min(0.99, max(0.01, p)) for p in ps]
        loses = [-math.log(1 - p + r * p) for p in ps]
        ws = [log_r + lose if win else lose for win, lose in zip(wins, loses)]
        return self._feed(ws, [1.0 if win else 0.0 for win in wins], ps, tss, hours)

    @staticmethod
    def _shift(ep_n: int, ep_sum: float, ep_sum2: float) -> float:
        return (ep_sum - ep_sum2) / ep_n

    @property
    def expected_win_rate(self):
        return None if not self.ep_n else self.ep_sum2 / self.ep_n

    solve_calibration = staticmethod(_solve)

    @classmethod
    def for_stream(cls, s, arl0: float, tuning: Tuning = Tuning()) -> BernoulliCusum:
        """h for hit_rate_odds_ratio at ARL0 `arl0` (`tuned`)."""
        _, h, clear = cls.tuned(s, arl0, tuning)
        return cls(s.hit_rate_odds_ratio, h, clear)

    @staticmethod
    def phi_factor(phi: float) -> float:
        """V(rho), rho = (2/pi) asin(phi): the lag-1 correlation of the signs of a Gaussian AR(1)."""
        return long_run_factor(2 / math.pi * math.asin(phi))

    def observe(self, obs, ix, ts, s):
        """(win, p) of the rows with a realized and an expected PnL (p is None on the others)."""
        hit = [i for i in ix if obs.p[i] is not None]
        if not hit:
            return None
        return obs.win[hit].tolist(), [obs.p[i] for i in hit], [obs.ts[i] for i in hit], obs.hours[hit].tolist()

    @classmethod
    def charted(cls, obs, ix, s):
        """win - p on the rows with a p: the surprise the log-likelihood ratio sums."""
        hit = [i for i in ix if obs.p[i] is not None]
        return hit, obs.win[hit].astype(np.float64) - np.array([obs.p[i] for i in hit], dtype=np.float64)

    def describe(self, s) -> Alarm:
        rep = self._alarm_report()
        shift, expected = rep["shift"], rep["aux"]
        return Alarm(
            f"win rate {expected + shift:.2f} vs expected {expected:.2f}", "hit_rate", -shift >= s.high_hit_rate_drop
        )

    def simulate(self, rng, n, shifted=False):
        """p = Phi(m), m ~ N(0, HIT_RATE_M_SD^2), win ~ Bernoulli(p); shifted: win odds x R."""
        p = normal_cdf_array(rng.normal(0.0, HIT_RATE_M_SD, n))
        r = self.odds_ratio
        q = r * p / (1 - p + r * p) if shifted else p
        return (rng.random(n) < q).tolist(), p.tolist()
