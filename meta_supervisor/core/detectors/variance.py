"""Variance chart: a one-sided CUSUM for a rise of E[z^2], an RMSE spike (trigger cusum_variance).

    w = min(z^2, c^2) - k,   k = ln(r) / (1 - 1/r)   (normal LLR for variance x r)

c = winsor_sigma, r = variance_ratio (the designed change). E z^2 = bias^2 + variance, so a large
bias also raises it (by design). The shift reported is the mean of capped z^2 (a variance ratio).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from meta_supervisor.core.detectors.base import Alarm, LatchedCusum, Trigger, Tuning, long_run_factor
from meta_supervisor.core.detectors.calibration import cusum_arl, solve_threshold


def variance_increment_cdf(k: float, cap: float, ratio: float = 1.0):
    """CDF of X = min(ratio * Z^2, cap^2) - k, Z ~ N(0, 1)."""

    def cdf(x):
        y = x + k
        return 0.0 if y < 0 else 1.0 if y >= cap * cap else math.erf(math.sqrt(y / (2 * ratio)))

    return cdf


@lru_cache(maxsize=64)
def _solve(design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """k from the ratio r; h for the in-control ARL; the ARL at variance x r."""
    k = math.log(design) / (1 - 1 / design)
    h = solve_threshold(variance_increment_cdf(k, cap), arl0)
    return k, h, cusum_arl(variance_increment_cdf(k, cap, design), h)


class VarianceCusum(LatchedCusum):
    """One-sided CUSUM for a rise of E[z^2] (RMSE spike): w = min(z^2, cap^2) - k.

    >>> VarianceCusum(k=1.386, h=9.0).update(3.0).statistic
    7.614
    """

    kind = "variance"
    # z^2 of different symbols rise together when the whole market turns volatile: a common shock
    # that the fleet stream charts and the fleet-wide rule files as a notice. Widening every
    # agent's chart for it too made a variance blow-up 2.4x slower on seven real-market quarters
    # (1.30x -> 3.09x the baseline) and removed no false alert (docs/detection.md).
    dependence_across_symbols = False
    _params = ("k", "cap")
    settings = ("variance_ratio",)
    triggers = (
        Trigger(
            "cusum_variance", "CUSUM on the error's spread: live results are noisier than the model's own RMSE allows."
        ),
    )

    def __init__(self, k: float, h: float, cap: float = 4.0, clear_hours: float = 50.0):
        super().__init__(h, clear_hours)
        if not (k > 0 and math.isfinite(k)):
            raise ValueError(f"k: must be > 0, got {k!r}")
        if not cap > 0:
            raise ValueError(f"cap: must be > 0, got {cap!r}")
        self.k, self.cap = float(k), float(cap)

    def update(self, z: float, ts=None, hour=None) -> VarianceCusum:
        x = min(z * z, self.cap * self.cap)
        return self._feed((x - self.k,), (x,), (0.0,), (ts,), (hour,))

    def update_many(self, zs, tss, hours=None) -> VarianceCusum:
        """`update` over a sequence (numpy for the increments; the same numbers)."""
        z = np.asarray(zs, dtype=np.float64)
        x = np.minimum(z * z, self.cap * self.cap)
        return self._feed((x - self.k).tolist(), x.tolist(), [0.0] * len(x), tss, hours)

    solve_calibration = staticmethod(_solve)

    @classmethod
    def for_stream(cls, s, arl0: float, tuning: Tuning = Tuning()) -> VarianceCusum:
        """k, h for variance_ratio at ARL0 `arl0` (`tuned`), capped at winsor_sigma^2."""
        k, h, clear = cls.tuned(s, arl0, tuning)
        return cls(k, h, s.winsor_sigma, clear)

    @staticmethod
    def phi_factor(phi: float) -> float:
        """V(phi^2): for a Gaussian AR(1) z with coefficient phi, z^2 has lag-1 correlation phi^2."""
        return long_run_factor(phi * phi)

    def observe(self, obs, ix, ts, s):
        """z itself (update_many squares and caps it) and the rows' times in hours."""
        return obs.z[ix], ts, obs.hours[ix].tolist()

    @classmethod
    def charted(cls, obs, ix, s):
        """min(z^2, c^2): the values the chart sums."""
        z = obs.z[ix]
        return ix, np.minimum(z * z, s.winsor_sigma**2)

    def describe(self, s) -> Alarm:
        shift = self._alarm_report()["shift"]
        return Alarm(
            f"error variance x{shift:.2f} (RMSE x{math.sqrt(shift):.2f})", "ratio", shift >= s.high_variance_ratio
        )

    def simulate(self, rng, n, shifted=False):
        """z ~ N(0, 1); shifted: standard deviation x2 (variance x4)."""
        z = rng.standard_normal(n)
        return ((2.0 * z if shifted else z).tolist(),)
