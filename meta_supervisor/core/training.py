"""Train one horizon and decide champion vs challenger (pure).

The challenger is scored on the most recent block of rows, which it never saw (walk-forward
holdout). The champion is scored on the same rows; it may have seen some of them in its own
training window, which only makes the test harder for the challenger. A challenger is promoted
when there is no usable champion, the feature set changed, it is not worse by more than
`promotion_tolerance`, or a human forces it.

Whichever model stays current, its card gets a fresh scale model (core/scale_model.py) on every
run: the per-symbol sigma reconcile stamps on rows must follow this month's volatility, not the
month the weights were fitted in. A kept champion's card is rewritten with that scale model and
with `rmse_bps` re-measured on the recent rows (its weights, `model_hash` and `sim_version` stay);
with too few rows to train, a usable champion still gets the scale model refitted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter

import numpy as np

from meta_supervisor.core import sim_model as sm
from meta_supervisor.core.records import ROW_FIELDS, Row
from meta_supervisor.core.scale_model import ScaleModel, calibration, fit_level, fit_scale
from meta_supervisor.core.stats import normal_cdf_array
from meta_supervisor.core.timeutil import parse_ts_array


@dataclass
class TrainOutcome:
    horizon: int
    card: dict | None  # the card to write as the current model (None: leave the file alone)
    challenger: dict | None  # the trained candidate, kept for the record
    decision: dict  # {"decision": ..., "reason": ..., numbers}


def design_matrix(rows, features) -> tuple[np.ndarray, np.ndarray]:
    """X (features) and y (realized PnL) of `rows`.

    One pass over the rows, each read once, at C level (getters, fromiter over a flat chain): the
    rows of three windows do not fit in the CPU caches, and a pass per column cost 3x as much."""
    if not rows:
        return np.empty((0, len(features))), np.empty(0)
    names = (*features, "realized_pnl_bps")
    get = attrgetter(*names)
    A = np.fromiter(chain.from_iterable(map(get, rows)), dtype=np.float64, count=len(rows) * len(names)).reshape(
        len(rows), len(names)
    )
    return A[:, :-1], A[:, -1]


def train_horizon(
    rows: list[Row],
    horizon: int,
    settings,
    champion: dict | None,
    now: str,
    force: bool = False,
    level_rows: list[Row] | None = None,
) -> TrainOutcome:
    """`rows`: the horizon's reconciled rows in time order (already cut to `max_rows`).
    `level_rows`: the shortest horizon's rows, when it is shorter than this one (the level of the
    scale model, `scale_fields`)."""
    level = _Level(level_rows, settings) if level_rows else None
    features = tuple(settings.features)
    n = len(rows)
    if n < settings.min_rows:
        decision = {
            "decision": "not_trained",
            "reason": f"insufficient_rows: {n} < min_rows {settings.min_rows}",
            "n": n,
        }
        kept = None
        if champion and sm.usable(champion) and n and set(champion["features"]) <= set(ROW_FIELDS):
            Xc, yc = design_matrix(rows, champion["features"])
            kept = {
                **champion,
                **scale_fields(
                    champion, rows, Xc, yc, settings, n - n // (settings.validation_folds + 1), horizon, level
                ),
            }
            kept["refreshed"] = {"at": now, "rows": n, "rmse_bps": "kept (too few rows to re-measure)"}
            decision["scale_refreshed"] = kept.get("scale_model") is not None
        return TrainOutcome(horizon, kept, None, decision)
    X, y = design_matrix(rows, features)
    sel = sm.walk_forward_select(X, y, settings.ridge_grid, settings.validation_folds)
    fit = sm.fit_ridge(X, y, sel.alpha)
    weights = fit.raw_weights()
    in_sample = sm.rmse(y - fit.predict(X))
    hold = sel.holdout_index
    card = {
        "ok": True,
        "model": "ridge",
        "horizon_hours": horizon,
        "features": list(features),
        "weights": weights,
        "rmse_bps": round(sel.holdout_rmse, 4),
        "n": n,
        "ridge": sel.alpha,
        "model_hash": sm.model_hash(features, weights),
        "intercept": fit.intercept,
        "coef_standardized": [float(c) for c in fit.coef],
        "standardization": {"mean": [float(v) for v in fit.mean], "scale": [float(v) for v in fit.scale]},
        "training_window": {"start": rows[0].ts, "end": rows[-1].ts, "rows": n},
        "data_hash": sm.data_hash(X, y),
        "rmse_in_sample_bps": round(in_sample, 4),
        "rmse_out_of_sample_bps": round(sel.holdout_rmse, 4),
        "rmse_zero_baseline_bps": round(sel.holdout_zero_rmse, 4),
        "skill_vs_zero": round(sel.skill, 6),
        "expected_hit_rate": round(float(np.mean(normal_cdf_array(sel.holdout_pred / sel.holdout_rmse))), 6)
        if sel.holdout_rmse > 0
        else None,
        "validation": {
            "method": "walk-forward (expanding window); penalty chosen on blocks 1..folds-1, scored on the last block",
            "folds": settings.validation_folds,
            "grid_rmse_bps": {str(a): round(v, 4) for a, v in sel.grid_rmse.items()},
            "holdout_rows": hold.stop - hold.start,
            "holdout_start": rows[hold.start].ts,
        },
        "trained_at": now,
    }
    card["sim_version"] = sm.sim_version(card)
    decision = decide(card, champion, X[hold], y[hold], settings.promotion_tolerance, force)
    card["promotion"] = decision
    if decision["decision"] == "promoted":
        card.update(scale_fields(card, rows, X, y, settings, hold.start, horizon, level))
        return TrainOutcome(horizon, card, card, decision)
    assert champion is not None  # only a usable champion is ever kept
    kept = {**champion, **scale_fields(champion, rows, X, y, settings, hold.start, horizon, level)}
    refreshed = round(sm.rmse(y[hold] - sm.predict_card(champion, X[hold])), 4)  # decide's champion_rmse_bps
    if refreshed > 0:  # 0 only if it fits the holdout exactly: never write an unusable card
        kept["rmse_bps"] = refreshed
    kept["refreshed"] = {
        "at": now,
        "rmse_bps_before": champion["rmse_bps"],
        "rmse_measured_on_rows": hold.stop - hold.start,
        "rmse_measured_from": rows[hold.start].ts,
        "reason": "champion kept: rmse_bps and scale_model re-measured on the recent rows",
    }
    return TrainOutcome(horizon, kept, card, decision)


class _Level:
    """The shortest horizon's exits (time, symbol, market price), for `fit_level` up to a time."""

    def __init__(self, rows: list[Row], settings):
        ts = parse_ts_array([r.ts for r in rows]).astype(np.float64)
        self.matured = ts + np.array([r.horizon_hours * 3600.0 for r in rows], dtype=np.float64)
        self.symbols = np.array([r.symbol for r in rows], dtype=str)
        self.exits = np.array([r.exit_price for r in rows], dtype=np.float64)
        self.settings = settings

    def rescale(self, model: ScaleModel | None, before: float = math.inf) -> ScaleModel | None:
        """`model` rescaled by the level of the exits at or before `before` (epoch s)."""
        s = self.settings
        if model is None or not s.scale_level_half_life_days > 0:
            return model
        ok = self.matured <= before
        level = fit_level(
            self.matured[ok],
            self.symbols[ok],
            self.exits[ok],
            s.scale_level_half_life_days,
            model.half_life_days,
            s.scale_shrink_rows,
        )
        return level.apply(model) if level is not None else model


def scale_fields(
    card: dict,
    rows: list[Row],
    X: np.ndarray,
    y: np.ndarray,
    settings,
    hold_start: int,
    horizon: int,
    level: _Level | None = None,
) -> dict:
    """`scale_model` (fitted on all `rows`) and `calibration` (var(z) on rows[hold_start:] with a
    scale model fitted on rows[:hold_start] only: out of sample, as reconcile will use it) of
    `card`'s residuals e = y - card's prediction. A fit that is degenerate (every residual 0)
    leaves `scale_model` None: reconcile then uses rmse_bps for every row. The half-life grows as
    sqrt(horizon): a 24 h error is one of few independent draws a day, a 1 h error one of many.
    With `level`, the sigmas are rescaled by the market level of the shortest horizon's exits
    (fit_level); for the calibration only exits before the first recent row's signal are used."""
    e = y - sm.predict_card(card, X)
    ts = parse_ts_array([r.ts for r in rows]).astype(np.float64)
    symbols = [r.symbol for r in rows]
    regimes = [r.regime for r in rows]
    agents = [r.agent for r in rows]

    def fit(stop: int) -> ScaleModel | None:
        model = fit_scale(
            ts[:stop],
            symbols[:stop],
            regimes[:stop],
            e[:stop],
            settings.scale_half_life_days_1h * math.sqrt(horizon),
            settings.scale_shrink_rows,
            settings.scale_by_regime,
            agents[:stop],
            settings.scale_outlier_ratio,
        )
        if level is None:
            return model
        return level.rescale(model, ts[stop] if stop < len(rows) else math.inf)

    model = fit(len(rows))
    out: dict = {"scale_model": model.to_card() if model else None, "calibration": None}
    before = fit(hold_start) if 0 < hold_start < len(rows) else None
    if model is not None and before is not None:
        recent = slice(hold_start, len(rows))
        z = e[recent] / before.sigma_bps(symbols[recent], regimes[recent])
        z_constant = e[recent] / card["rmse_bps"]
        out["calibration"] = {
            "method": "z = residual / sigma on the recent rows, sigma from a scale model fitted on earlier rows",
            "rows": len(z),
            "from": rows[hold_start].ts,
            "var_z": round(float(np.var(z)), 4),
            "var_z_constant_sigma": round(float(np.var(z_constant)), 4),
            **calibration(
                z,
                {
                    "symbol": symbols[recent],
                    "regime": regimes[recent],
                    "agent": [r.agent for r in rows[recent]],
                },
            ),
        }
    return out


def decide(challenger: dict, champion: dict | None, X_recent, y_recent, tolerance: float, force: bool) -> dict:
    """Champion/challenger on the same recent rows (the challenger's holdout)."""
    base = {
        "challenger": challenger["sim_version"],
        "challenger_rmse_bps": challenger["rmse_bps"],
        "compared_on_rows": len(y_recent),
        "compared_from": challenger["validation"]["holdout_start"],
    }
    if force:
        return {**base, "decision": "promoted", "reason": "forced by workflow_dispatch"}
    if not champion or not sm.usable(champion):
        return {**base, "decision": "promoted", "reason": "no usable champion"}
    base["champion"] = champion.get("sim_version")
    if list(champion["features"]) != list(challenger["features"]):
        return {**base, "decision": "promoted", "reason": "feature set changed"}
    champ = sm.rmse(y_recent - sm.predict_card(champion, X_recent))
    base["champion_rmse_bps"] = round(champ, 4)
    if champion.get("model_hash") == challenger["model_hash"]:
        return {**base, "decision": "kept_champion", "reason": "challenger is identical to the champion"}
    if math.isfinite(champ) and challenger["rmse_bps"] > champ * (1 + tolerance):
        return {
            **base,
            "decision": "kept_champion",
            "reason": f"challenger out-of-sample RMSE {challenger['rmse_bps']:.2f} > champion {champ:.2f} bps",
        }
    return {
        **base,
        "decision": "promoted",
        "reason": f"challenger out-of-sample RMSE {challenger['rmse_bps']:.2f} <= champion {champ:.2f} bps",
    }
