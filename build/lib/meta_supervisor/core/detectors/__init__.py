"""Sequential change detectors (Page's CUSUM) as plugins, and the registry of a stream's charts.

One chart a module, river-style: base.py (the shared recursion, latch and JSON round trip),
calibration.py (Brook-Evans ARL, thresholds, the precomputed table), then mean.py (bias up/down),
variance.py and hit_rate.py. Each chart owns its kind, its triggers and their meanings, what it
observes of a stream's rows, its calibration and how it describes an alarm; divergence.py loops
over `TRIGGERS` with no per-chart code, and tests/test_detector_conformance.py runs one battery on
every trigger listed here.

Adding a chart: a module with a LatchedCusum subclass (see base.LatchedCusum for the hooks), its
import below and its entry in CHARTS. The order of CHARTS (then of each chart's `triggers`) is the
order of a stream's charts in state/detectors.json.
"""

from __future__ import annotations

from meta_supervisor.core.detectors.base import KINDS, Alarm, LatchedCusum, Trigger, Tuning
from meta_supervisor.core.detectors.calibration import PRECOMPUTED, cusum_arl, solve_threshold
from meta_supervisor.core.detectors.hit_rate import (
    HIT_RATE_M_SD,
    BernoulliCusum,
    bernoulli_increment_cdf,
    bernoulli_mixture_cdf,
)
from meta_supervisor.core.detectors.mean import MeanCusum, mean_increment_cdf
from meta_supervisor.core.detectors.variance import VarianceCusum, variance_increment_cdf

CHARTS = (MeanCusum, VarianceCusum, BernoulliCusum)

# trigger name -> Trigger (its chart, options and meaning), in the stream's order:
# cusum_bias_up, cusum_bias_down, cusum_variance, cusum_hit_rate.
TRIGGERS: dict[str, Trigger] = {t.name: t for chart in CHARTS for t in chart.triggers}
MEANINGS: dict[str, str] = {name: t.meaning for name, t in TRIGGERS.items()}

__all__ = [
    "CHARTS",
    "HIT_RATE_M_SD",
    "KINDS",
    "MEANINGS",
    "PRECOMPUTED",
    "TRIGGERS",
    "Alarm",
    "BernoulliCusum",
    "LatchedCusum",
    "MeanCusum",
    "Trigger",
    "Tuning",
    "VarianceCusum",
    "bernoulli_increment_cdf",
    "bernoulli_mixture_cdf",
    "calibrate",
    "cusum_arl",
    "mean_increment_cdf",
    "solve_calibration",
    "solve_threshold",
    "variance_increment_cdf",
]


def calibrate(kind: str, design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """(k, h, ARL at the designed change) of the chart registered as `kind` ("mean", "variance",
    "hit_rate"): design = the shift delta in sigma, variance ratio r or odds ratio R (cap ignored).
    Default designs are answered from PRECOMPUTED (interpolated in ln ARL0 between grid points)."""
    return KINDS[kind].calibrate(design, cap, arl0)


def solve_calibration(kind: str, design: float, cap: float, arl0: float) -> tuple[float, float, float]:
    """calibrate() without the table: the chart's Brook-Evans solve."""
    return KINDS[kind].solve_calibration(design, cap, arl0)
