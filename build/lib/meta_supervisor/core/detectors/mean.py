"""Bias charts: a one-sided CUSUM for a shift of the mean of z (triggers cusum_bias_up / _down).

    w = d * clip(z, -c, c) - k,   d = +1 (bias up) or -1 (bias down),   k = delta / 2

z = pnl_error / sigma, c = winsor_sigma, delta = bias_shift_sigma (the designed shift, in sigma).
The shift reported is the mean of clipped z over the episode (sigma).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from meta_supervisor.core.detectors.base import Alarm, LatchedCusum, Trigger, Tuning
from meta_supervisor.core.detectors.calibration import cusum_arl, solve_threshold
from meta_supervisor.core.stats import normal_cdf


def mean_increment_cdf(k: float, cap: float, mu: float = 0.0):
    """CDF of X = clip(Z + mu, -cap, cap) - k, Z ~ N(0, 1)."""

    def cdf(x):
        y = x + k
        return 0.0 if y < -cap else 1.0 if y >= cap else normal_cdf(y - mu)

    return cdf


@lru_cache(maxsize=64)
def _solve(design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """k = delta / 2; h for the in-control ARL; the ARL at a shift of delta (same for either side)."""
    k = design / 2
    h = solve_threshold(mean_increment_cdf(k, cap), arl0)
    return k, h, cusum_arl(mean_increment_cdf(k, cap, design), h)


class MeanCusum(LatchedCusum):
    """One-sided CUSUM for a shift of the mean of z; `direction` +1 charts a rise, -1 a fall.

    >>> import random
    >>> rng = random.Random(7)
    >>> det = MeanCusum(k=0.5, h=5.0, direction=+1, cap=4.0, clear_hours=30)
    >>> for t in range(200):
    ...     _ = det.update(rng.gauss(0.0 if t < 100 else 1.5, 1.0), ts=t, hour=t)
    >>> det.alarm, det.change_ts >= 95, round(det.shift, 1)
    (True, True, 1.6)
    """

    kind = "mean"
    _params = ("k", "direction", "cap")
    settings = ("bias_shift_sigma",)
    triggers = (
        Trigger(
            "cusum_bias_up",
            "CUSUM on the PnL error: live PnL has drifted persistently above what "
            "the model expects (the model no longer describes the agent).",
            {"direction": +1},
        ),
        Trigger(
            "cusum_bias_down",
            "CUSUM on the PnL error: live PnL has drifted persistently below what the model expects.",
            {"direction": -1},
        ),
    )

    def __init__(self, k: float, h: float, direction: int = 1, cap: float = 4.0, clear_hours: float = 50.0):
        super().__init__(h, clear_hours)
        if not (k >= 0 and math.isfinite(k)):
            raise ValueError(f"k: must be >= 0, got {k!r}")
        if direction not in (1, -1):
            raise ValueError(f"direction: must be +1 or -1, got {direction!r}")
        if not cap > 0:
            raise ValueError(f"cap: must be > 0, got {cap!r}")
        self.k, self.direction, self.cap = float(k), int(direction), float(cap)

    def update(self, z: float, ts=None, hour=None) -> MeanCusum:
        x = min(self.cap, max(-self.cap, z))
        return self._feed((self.direction * x - self.k,), (x,), (0.0,), (ts,), (hour,))

    def update_many(self, zs, tss, hours=None) -> MeanCusum:
        """`update` over a sequence (numpy for the increments; the same numbers)."""
        x = np.clip(np.asarray(zs, dtype=np.float64), -self.cap, self.cap)
        return self._feed((self.direction * x - self.k).tolist(), x.tolist(), [0.0] * len(x), tss, hours)

    solve_calibration = staticmethod(_solve)

    @classmethod
    def for_stream(cls, s, arl0: float, tuning: Tuning = Tuning(), direction: int = 1) -> MeanCusum:
        """k = bias_shift_sigma / 2, h at ARL0 `arl0` widened for the dependence (`tuned`),
        clipped at winsor_sigma."""
        k, h, clear = cls.tuned(s, arl0, tuning)
        return cls(k, h, direction, s.winsor_sigma, clear)

    def observe(self, obs, ix, ts, s):
        """z itself (update_many clips it) and the rows' times in hours."""
        return obs.z[ix], ts, obs.hours[ix].tolist()

    @classmethod
    def charted(cls, obs, ix, s):
        """clip(z, -c, c): the values the chart sums."""
        return ix, np.clip(obs.z[ix], -s.winsor_sigma, s.winsor_sigma)

    def describe(self, s) -> Alarm:
        shift = self._alarm_report()["shift"]
        return Alarm(f"mean error {shift:+.2f} sigma", "sigma", abs(shift) >= s.high_bias_sigma)

    def simulate(self, rng, n, shifted=False):
        """z ~ N(0, 1); shifted: mean +-delta = 2k in this chart's direction."""
        z = rng.standard_normal(n)
        if shifted:
            z = z + self.direction * (2 * self.k or 1.0)
        return (z.tolist(),)
