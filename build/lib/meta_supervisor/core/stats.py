"""The standard normal CDF, once for the whole core. Pure: stdlib + numpy.

    Phi(x) = (1 + erf(x / sqrt 2)) / 2

Two spellings of the same formula, kept bit-identical to what each caller computed before they
shared it: `normal_cdf` on one float (the detectors' calibration, a row's win probability) and
`normal_cdf_array` elementwise on an array (the model's expected hit rate over a holdout). numpy
has no erf, so the array form applies math.erf per element: the very same double for every x.
"""

from __future__ import annotations

import math

import numpy as np

SQRT2 = math.sqrt(2.0)


def normal_cdf(x: float) -> float:
    """Phi(x) = (1 + erf(x / sqrt 2)) / 2 for one number.

    >>> round(normal_cdf(1.0), 4)
    0.8413
    """
    return 0.5 * (1.0 + math.erf(x / SQRT2))


def normal_cdf_array(x) -> np.ndarray:
    """Phi(x) elementwise (numpy array or float), via erf.

    >>> normal_cdf_array([0.0, 1.0]).round(4).tolist()
    [0.5, 0.8413]
    """
    x = np.asarray(x, dtype=np.float64)
    return 0.5 * (1.0 + _erf(x / SQRT2))


def _erf(x: np.ndarray) -> np.ndarray:
    """math.erf elementwise (numpy has no erf; a list comprehension is ~5x np.vectorize)."""
    erf = math.erf
    return np.array([erf(v) for v in x.ravel().tolist()], dtype=np.float64).reshape(x.shape)


def normal_pdf_array(x) -> np.ndarray:
    """phi(x) = exp(-x^2 / 2) / sqrt(2 pi) elementwise.

    >>> normal_pdf_array([0.0]).round(4).tolist()
    [0.3989]
    """
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def gaussian_mixture_es(sigmas, alpha: float = 0.95) -> float:
    """ES at `alpha` of an equal-weight mixture of N(0, s_i^2): what a perfectly calibrated Gaussian
    sim would show for rows with these predictive sigmas (adverse error a_i ~ N(0, s_i^2)).

    Solve for the VaR q:  mean_i (1 - Phi(q / s_i)) = 1 - alpha
    then                  ES = mean_i s_i phi(q / s_i) / (1 - alpha)
    (E[a 1{a > q}] = s phi(q / s) for a ~ N(0, s^2)). f(q) = mean_i(1 - Phi(q/s_i)) - (1 - alpha) is
    decreasing and convex for q >= 0, so Newton from q = 0 climbs monotonically to the root.
    Empty input or a non-positive sigma -> nan.

    >>> round(gaussian_mixture_es([10.0]), 4)        # one sigma: 10 * phi(1.6449) / 0.05
    20.6271
    >>> round(gaussian_mixture_es([10.0, 10.0, 10.0]), 4)
    20.6271
    """
    s = np.asarray(sigmas, dtype=np.float64)
    if s.size == 0 or not np.all(s > 0) or not np.all(np.isfinite(s)):
        return float("nan")
    tail = 1.0 - alpha
    q = 0.0
    for _ in range(100):
        f = float(np.mean(1.0 - normal_cdf_array(q / s))) - tail
        slope = float(np.mean(normal_pdf_array(q / s) / s))
        step = f / slope
        q += step
        if abs(step) <= 1e-12 * max(q, 1.0):
            break
    return float(np.mean(s * normal_pdf_array(q / s)) / tail)
