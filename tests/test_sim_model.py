"""Ridge regression and training: oracles, out-of-sample honesty, champion/challenger."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meta_supervisor.core import sim_model as sm
from meta_supervisor.core.config import TrainSettings
from meta_supervisor.core.training import train_horizon
from tests.rows import row


def _rows(X, y, start=0):
    return [
        row(
            ts=f"2026-{1 + (start + i) // 40000:02d}-01T00:00:00Z",
            event_id=f"e{start + i:07d}",
            score_final=float(x[0]),
            confidence=float(x[1]),
            realized_pnl_bps=float(t),
        )
        for i, (x, t) in enumerate(zip(X, y))
    ]


def _data(n, seed, w=(40.0, 5.0), noise=30.0):
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(0, 1, n), rng.uniform(0.3, 0.9, n)])
    y = X @ np.array(w) - 10.0 + rng.normal(0, noise, n)
    return X, y


def test_penalty_zero_equals_least_squares():
    X, y = _data(500, 1)
    fit = sm.fit_ridge(X, y, 0.0)
    A = np.column_stack([X, np.ones(len(y))])
    w = np.linalg.lstsq(A, y, rcond=None)[0]
    assert fit.raw_weights() == pytest.approx(list(w), rel=1e-9, abs=1e-9)
    assert fit.predict(X) == pytest.approx(A @ w)


def test_ridge_equals_augmented_least_squares_with_unpenalized_intercept():
    # Ridge on standardized Z with intercept == OLS on rows [Z; sqrt(a) I] with targets [yc; 0].
    X, y = _data(300, 2)
    a = 50.0
    fit = sm.fit_ridge(X, y, a)
    Z = (X - X.mean(0)) / X.std(0)
    aug = np.vstack([Z, np.sqrt(a) * np.eye(2)])
    coef = np.linalg.lstsq(aug, np.concatenate([y - y.mean(), [0, 0]]), rcond=None)[0]
    assert fit.coef == pytest.approx(coef, rel=1e-9)
    assert fit.intercept == pytest.approx(y.mean())


def test_constant_feature_does_not_break_the_fit():
    X, y = _data(100, 3)
    X[:, 1] = 0.5
    fit = sm.fit_ridge(X, y, 0.0)
    assert np.all(np.isfinite(fit.raw_weights()))


def test_reported_rmse_is_out_of_sample_on_the_untouched_last_block():
    # The last block is noisier than the rest: an in-sample figure would hide it.
    X, y = _data(1200, 4)
    rng = np.random.default_rng(5)
    y[1000:] += rng.normal(0, 120, 200)
    s = TrainSettings(validation_folds=5)
    card = train_horizon(_rows(X, y), 24, s, None, "2026-11-25T00:00:00Z").challenger
    bounds = np.linspace(0, 1200, 7).astype(int)
    held = sm.fit_ridge(X[: bounds[5]], y[: bounds[5]], card["ridge"])
    expected = sm.rmse(y[bounds[5] :] - held.predict(X[bounds[5] :]))
    assert card["rmse_bps"] == pytest.approx(expected, rel=1e-6)
    assert card["rmse_out_of_sample_bps"] > 1.5 * card["rmse_in_sample_bps"]


def test_model_beats_zero_baseline_on_data_with_signal_and_not_on_noise():
    X, y = _data(3000, 6, w=(80.0, 0.0), noise=20.0)
    signal = train_horizon(_rows(X, y), 24, TrainSettings(), None, "t").challenger
    assert signal["skill_vs_zero"] > 0.3
    assert signal["rmse_bps"] < signal["rmse_zero_baseline_bps"]
    rng = np.random.default_rng(7)
    noise = train_horizon(_rows(X, rng.normal(0, 20, 3000)), 24, TrainSettings(), None, "t").challenger
    assert noise["skill_vs_zero"] < 0.01


def test_card_keeps_seed_keys_and_predicts_like_the_seed():
    X, y = _data(600, 8)
    out = train_horizon(_rows(X, y), 4, TrainSettings(), None, "2026-11-25T00:00:00Z")
    card = out.card
    for key in ("ok", "model", "horizon_hours", "features", "weights", "rmse_bps", "n", "ridge"):
        assert key in card
    assert out.decision["decision"] == "promoted" and card["horizon_hours"] == 4
    # The seed predicted sum(feats[i] * w[i]) with feats = [score, confidence, 1.0].
    seed_pred = [sum(f * w for f, w in zip([x[0], x[1], 1.0], card["weights"])) for x in X[:5]]
    assert sm.predict_card(card, X[:5]) == pytest.approx(seed_pred)
    assert card["sim_version"] == f"ridge_h4@{card['model_hash']}"


def test_too_few_rows_trains_nothing():
    X, y = _data(249, 9)
    out = train_horizon(_rows(X, y), 24, TrainSettings(), None, "t")
    assert out.card is None and out.decision["decision"] == "not_trained"


def _truth_card(w, b, rmse):
    card = {
        "ok": True,
        "model": "ridge",
        "horizon_hours": 24,
        "features": ["score_final", "confidence"],
        "weights": [w[0], w[1], b],
        "rmse_bps": rmse,
        "n": 1000,
        "ridge": 0.0,
    }
    card["model_hash"] = sm.model_hash(card["features"], card["weights"])
    card["sim_version"] = sm.sim_version(card)
    return card


def test_worse_challenger_is_not_promoted_and_better_one_is():
    X, y = _data(1200, 10, w=(40.0, 5.0))
    y[:1000] = -y[:1000]  # the challenger learns from a regime that no longer holds
    truth = _truth_card((40.0, 5.0), -10.0, 30.0)
    kept = train_horizon(_rows(X, y), 24, TrainSettings(), truth, "t")
    # a kept champion's card is rewritten (fresh rmse_bps and scale model), its weights are not
    assert kept.decision["decision"] == "kept_champion" and kept.card["weights"] == truth["weights"]
    assert kept.decision["challenger_rmse_bps"] > kept.decision["champion_rmse_bps"]
    garbage = _truth_card((-300.0, 90.0), 50.0, 30.0)
    X2, y2 = _data(1200, 11)
    better = train_horizon(_rows(X2, y2), 24, TrainSettings(), garbage, "t")
    assert better.decision["decision"] == "promoted" and better.card is not None
    forced = train_horizon(_rows(X, y), 24, TrainSettings(), truth, "t", force=True)
    assert forced.decision["decision"] == "promoted" and "forced" in forced.decision["reason"]


def test_retraining_on_the_same_rows_keeps_the_champion():
    X, y = _data(800, 12)
    first = train_horizon(_rows(X, y), 24, TrainSettings(), None, "t").card
    again = train_horizon(_rows(X, y), 24, TrainSettings(), first, "t2")
    assert again.decision["decision"] == "kept_champion" and "identical" in again.decision["reason"]


def test_walk_forward_grid_equals_separate_fits_for_every_penalty():
    """The grid reuses each fold's standardization across penalties: it must score exactly what
    fitting every (penalty, fold) from scratch scores."""
    X, y = _data(900, 6)
    grid, folds = (0.0, 0.1, 5.0, 1000.0), 4
    sel = sm.walk_forward_select(X, y, grid, folds)
    bounds = np.linspace(0, len(y), folds + 2).astype(int)
    for alpha in grid:
        residuals = [
            y[bounds[k] : bounds[k + 1]]
            - sm.fit_ridge(X[: bounds[k]], y[: bounds[k]], alpha).predict(X[bounds[k] : bounds[k + 1]])
            for k in range(1, folds)
        ]
        assert sel.grid_rmse[alpha] == sm.rmse(np.concatenate(residuals))  # exact, not approx


def test_walk_forward_grid_rmse_is_a_root_mean_squared_error_in_bps():
    """Oracle: each grid score equals sqrt(mean(e^2)) of expanding-window predictions computed
    independently (augmented least squares, penalty 0), and sits at the noise level in bps. It once
    scored sqrt(mean(e^4)) (RMSE of squared errors): 1,000s of bps where the truth is ~30."""
    X, y = _data(1200, 9, noise=30.0)
    folds = 5
    sel = sm.walk_forward_select(X, y, (0.0,), folds)
    bounds = np.linspace(0, len(y), folds + 2).astype(int)
    errors = []
    for k in range(1, folds):
        A = np.column_stack([X[: bounds[k]], np.ones(bounds[k])])
        w = np.linalg.lstsq(A, y[: bounds[k]], rcond=None)[0]
        block = slice(bounds[k], bounds[k + 1])
        errors.append(y[block] - np.column_stack([X[block], np.ones(block.stop - block.start)]) @ w)
    oracle = math.sqrt(float(np.mean(np.concatenate(errors) ** 2)))
    assert sel.grid_rmse[0.0] == pytest.approx(oracle, rel=1e-9)
    assert 25.0 < sel.grid_rmse[0.0] < 36.0 and abs(sel.grid_rmse[0.0] - sel.holdout_rmse) < 6.0


def test_design_matrix_is_the_rows_features_and_realized_pnl():
    from meta_supervisor.core.training import design_matrix

    X, y = _data(50, 7)
    rows = _rows(X, y)
    for features, cols in ((("score_final", "confidence"), [0, 1]), (("confidence",), [1])):
        got_X, got_y = design_matrix(rows, features)
        assert np.array_equal(got_X, X[:, cols]) and np.array_equal(got_y, y)
    assert design_matrix([], ("score_final",))[0].shape == (0, 1)
