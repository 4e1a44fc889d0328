"""Per-horizon ridge model of expected PnL (pure: numpy only).

Fit, on standardized features z = (x - mean) / scale with an unpenalized intercept:
    w = solve(Z^T Z + alpha * I, Z^T (y - ybar)),  b = ybar      (Z is centered, so b is just ybar)
alpha = 0 is ordinary least squares, solved with lstsq (Z^T Z may be singular). Never `inv`.

The penalty comes from walk-forward validation: rows (time ordered) are cut into `folds + 1`
blocks; for each k the model is fit on blocks[:k] and scored on block k. The grid is scored on
blocks 1..folds-1 and the chosen penalty is then scored once on the last block, which played no
part in the choice: that is the reported out-of-sample RMSE (`rmse_bps`), the honest number.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass

import numpy as np

from meta_supervisor.core.scale_model import ScaleModel


@dataclass(frozen=True)
class RidgeFit:
    coef: np.ndarray  # on standardized features
    intercept: float
    mean: np.ndarray
    scale: np.ndarray
    alpha: float

    def predict(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.mean) / self.scale) @ self.coef + self.intercept

    def raw_weights(self) -> list[float]:
        """The seed's layout: `[w_feature..., bias]` applied to raw features as sum(x_i w_i) + bias."""
        w = self.coef / self.scale
        return [float(v) for v in w] + [float(self.intercept - self.mean @ w)]


def fit_ridge(X: np.ndarray, y: np.ndarray, alpha: float) -> RidgeFit:
    """Ridge with an unpenalized intercept. Needs >= 2 rows; a constant column gets scale 1
    (it standardizes to zeros, so its coefficient is 0 for alpha > 0 and lstsq's minimum-norm 0
    for alpha = 0).

    >>> X = np.array([[0.0], [1.0], [2.0], [3.0]]); y = 2 * X[:, 0] + 1
    >>> fit = fit_ridge(X, y, 0.0); [round(v, 6) for v in fit.raw_weights()]
    [2.0, 1.0]
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2 or len(X) != len(y) or len(y) < 2:
        raise ValueError("fit_ridge needs a 2-D X with >= 2 rows matching y")
    return _Standardized(X, y).fit(alpha)


class _Standardized:
    """One training set, standardized once; `fit` solves it for any penalty (the walk-forward
    grid reuses Z, Z^T Z and Z^T y across penalties: the same numbers as separate fits)."""

    def __init__(self, X: np.ndarray, y: np.ndarray):
        self.mean = X.mean(axis=0)
        self.scale = X.std(axis=0)
        self.scale[self.scale == 0] = 1.0
        self.Z = (X - self.mean) / self.scale
        self.ybar = float(y.mean())
        self.yc = y - self.ybar
        self._normal: tuple[np.ndarray, np.ndarray] | None = None  # (Z^T Z, Z^T y), built on first use

    def fit(self, alpha: float) -> RidgeFit:
        if alpha == 0:
            coef = np.linalg.lstsq(self.Z, self.yc, rcond=None)[0]
        else:
            if self._normal is None:
                self._normal = (self.Z.T @ self.Z, self.Z.T @ self.yc)
            gram, zy = self._normal
            coef = np.linalg.solve(gram + alpha * np.eye(self.Z.shape[1]), zy)
        return RidgeFit(coef, self.ybar, self.mean, self.scale, float(alpha))


def rmse(residuals: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(residuals)))) if len(residuals) else float("nan")


@dataclass(frozen=True)
class Selection:
    alpha: float
    grid_rmse: dict  # alpha -> walk-forward RMSE on the selection blocks
    holdout_rmse: float  # chosen alpha, fit on everything before the last block
    holdout_zero_rmse: float  # the zero baseline (predict 0 bps) on the same block
    holdout_pred: np.ndarray
    holdout_index: slice

    @property
    def skill(self) -> float:
        """1 - MSE_model / MSE_zero on the holdout: > 0 means better than predicting 0 bps."""
        if not self.holdout_zero_rmse:
            return 0.0
        return 1.0 - (self.holdout_rmse / self.holdout_zero_rmse) ** 2


def walk_forward_select(X: np.ndarray, y: np.ndarray, grid, folds: int) -> Selection:
    """Choose the ridge penalty by expanding-window validation; score it on an untouched block.

    Needs len(y) >= 2 * (folds + 1). Ties go to the larger penalty (the simpler model)."""
    n = len(y)
    if n < 2 * (folds + 1):
        raise ValueError(f"walk-forward needs at least {2 * (folds + 1)} rows, got {n}")
    bounds = np.linspace(0, n, folds + 2).astype(int)
    grid = sorted(set(float(a) for a in grid))
    residuals: dict[float, list] = {alpha: [] for alpha in grid}
    for k in range(1, folds):  # selection blocks 1..folds-1
        train = _Standardized(X[: bounds[k]], y[: bounds[k]])
        block = slice(bounds[k], bounds[k + 1])
        for alpha in grid:
            residuals[alpha].append(y[block] - train.fit(alpha).predict(X[block]))
    # RMSE over all selection blocks' residuals (not of their squares: that scored sqrt(mean(e^4))).
    scores = {alpha: rmse(np.concatenate(parts)) if parts else float("nan") for alpha, parts in residuals.items()}
    best = min(grid, key=lambda a: (scores[a] if not math.isnan(scores[a]) else math.inf, -a))
    hold = slice(bounds[folds], n)
    fit = fit_ridge(X[: bounds[folds]], y[: bounds[folds]], best)
    pred = fit.predict(X[hold])
    return Selection(best, scores, rmse(y[hold] - pred), rmse(y[hold]), pred, hold)


def model_hash(features, weights) -> str:
    blob = json.dumps({"features": list(features), "weights": [round(w, 12) for w in weights]}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:12]


def data_hash(X: np.ndarray, y: np.ndarray) -> str:
    h = hashlib.sha256(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    h.update(np.ascontiguousarray(y, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def predict_card(card: dict, X: np.ndarray) -> np.ndarray:
    """Predictions of a model card (raw weights: sum(x_i w_i) + bias, the seed's layout)."""
    w = np.asarray(card["weights"], dtype=np.float64)
    return np.asarray(X, dtype=np.float64) @ w[:-1] + w[-1]


def sim_version(card: dict) -> str:
    return f"ridge_h{card['horizon_hours']}@{card['model_hash']}"


def usable(card) -> bool:
    """A card that can predict: ok, weights matching its features, a positive finite RMSE, and a
    scale model that parses if it has one (null or absent: sigma is rmse_bps)."""
    try:
        return (
            bool(card.get("ok"))
            and len(card["weights"]) == len(card["features"]) + 1
            and all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in card["weights"])
            and all(isinstance(f, str) for f in card["features"])
            and math.isfinite(card["rmse_bps"])
            and card["rmse_bps"] > 0
            and "model_hash" in card
            and (scale_of(card) is not None or card.get("scale_model") is None)
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return False


def scale_of(card: dict) -> ScaleModel | None:
    """The card's scale model; None for a card without one. ValueError if it is malformed."""
    scale = card.get("scale_model")
    return None if scale is None else ScaleModel.from_card(scale)
