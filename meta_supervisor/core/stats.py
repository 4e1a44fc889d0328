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
