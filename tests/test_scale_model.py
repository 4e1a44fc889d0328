"""The scale model against oracles: known sigmas recovered, shifts tracked, shrinkage exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from meta_supervisor.core.scale_model import DAY, ScaleModel, calibration, fit_level, fit_scale


def _world(sigmas: dict, n_per: int, days: float, seed: int, regime_sigma=None):
    """Rows interleaved in time over `days`, each symbol's residuals N(0, sigma^2), times the
    regime's multiplier when `regime_sigma` ({regime: multiplier}) is given (regimes alternate)."""
    rng = np.random.default_rng(seed)
    names = list(sigmas)
    n = n_per * len(names)
    ts = np.linspace(0, days * DAY, n)
    sym = [names[i % len(names)] for i in range(n)]
    reg = ["TREND" if (i // 7) % 3 == 0 else "RANGE" for i in range(n)]
    mult = np.array([(regime_sigma or {}).get(r, 1.0) for r in reg])
    e = rng.normal(0, 1, n) * np.array([sigmas[s] for s in sym]) * mult
    return ts, sym, reg, e


def test_recovers_known_per_symbol_sigmas_tenfold_apart():
    truth = {"EURUSD": 6.0, "SPY": 40.0, "BAC": 180.0}
    ts, sym, reg, e = _world(truth, 3000, 60, seed=1)
    m = fit_scale(ts, sym, reg, e, half_life_days=14, shrink_rows=5)
    for s, sigma in truth.items():
        assert m.sigma(s, "RANGE") == pytest.approx(sigma, rel=0.06), s
    # one sigma per horizon is off by a factor ~4 for the quiet and the loud symbol alike
    pooled = math.sqrt(np.mean(e**2))
    assert pooled / truth["EURUSD"] > 10 and truth["BAC"] / pooled > 1.5


def test_an_agent_with_noisy_fills_leaves_its_symbols_fit_and_the_card_says_so():
    """Five agents on EQ (sigma 50) and FX (sigma 5); agent a4's EQ errors are 3x wider (fills
    scattered: variance x9). It leaves EQ's fit, so EQ's sigma is the honest agents' (the pooled fit
    without agents reads it 1.6x too wide: sqrt((4 + 9) / 5)); it stays in FX, where it is honest."""
    rng = np.random.default_rng(11)
    n = 10_000
    ts = np.linspace(0, 30 * DAY, n)
    sym = ["EQ" if i % 2 else "FX" for i in range(n)]
    agents = [f"a{(i // 2) % 5}" for i in range(n)]
    scale = np.array([50.0 if s == "EQ" else 5.0 for s in sym])
    noisy = np.array([s == "EQ" and a == "a4" for s, a in zip(sym, agents)])
    e = rng.normal(0, 1, n) * scale * np.where(noisy, 3.0, 1.0)
    fit = fit_scale(ts, sym, ["R"] * n, e, half_life_days=1e9, shrink_rows=5, by_regime=False, agents=agents)
    assert fit.sigma("EQ", "R") == pytest.approx(50.0, rel=0.04)
    assert fit.sigma("FX", "R") == pytest.approx(5.0, rel=0.04)
    assert fit.to_card()["excluded_agents"] == {"EQ": ["a4"]}
    honest = fit_scale(ts[~noisy], np.array(sym)[~noisy], ["R"] * int((~noisy).sum()), e[~noisy], 1e9, 5, False)
    assert fit.sigma("EQ", "R") == pytest.approx(honest.sigma("EQ", "R"), rel=1e-9)
    pooled = fit_scale(ts, sym, ["R"] * n, e, half_life_days=1e9, shrink_rows=5, by_regime=False)
    assert pooled.sigma("EQ", "R") > 1.5 * 50.0 and "excluded_agents" not in pooled.to_card()


def test_a_regime_only_an_excluded_agent_saw_gets_the_factor_of_an_unseen_regime():
    rng = np.random.default_rng(13)
    n = 5000
    ts = np.linspace(0, 30 * DAY, n)
    agents = [f"a{i % 5}" for i in range(n)]
    reg = ["SHOCK" if a == "a4" else "R" for a in agents]
    e = rng.normal(0, 1, n) * 50.0 * np.where(np.array(agents) == "a4", 4.0, 1.0)
    fit = fit_scale(ts, ["EQ"] * n, reg, e, 1e9, 5, True, agents=agents)
    assert fit.to_card()["excluded_agents"] == {"EQ": ["a4"]}
    assert fit.regime_factor["SHOCK"] == 1.0 and fit.sigma("EQ", "SHOCK") == pytest.approx(50.0, rel=0.05)


@pytest.mark.parametrize("case", ["few rows", "within 3x"])
def test_no_agent_leaves_a_fit_without_enough_rows_or_a_clear_excess(case):
    """a0's errors 3x wider on 8 rows (under 10 fresh-row equivalents), or 1.6x on 800 (variance
    x2.6: the honest spread of the replay's agents reaches 1.65x)."""
    rng = np.random.default_rng(12)
    n_agents, n, wide = {"few rows": (5, 40, 3.0), "within 3x": (5, 4000, 1.6)}[case]
    ts = np.linspace(0, 30 * DAY, n)
    agents = [f"a{i % n_agents}" for i in range(n)]
    e = rng.normal(0, 1, n) * 50.0 * np.where(np.array(agents) == "a0", wide, 1.0)
    fit = fit_scale(ts, ["EQ"] * n, ["R"] * n, e, 1e9, 5, False, agents=agents)
    plain = fit_scale(ts, ["EQ"] * n, ["R"] * n, e, 1e9, 5, False)
    assert "excluded_agents" not in fit.to_card()
    assert fit.sigma("EQ", "R") == plain.sigma("EQ", "R")


def test_regime_factor_is_separated_from_the_symbols_own_scale():
    truth = {"FX": 10.0, "EQ": 80.0}
    ts, sym, reg, e = _world(truth, 6000, 60, seed=2, regime_sigma={"TREND": 2.0})
    m = fit_scale(ts, sym, reg, e, half_life_days=1e9, shrink_rows=5)
    assert m.sigma("FX", "TREND") / m.sigma("FX", "RANGE") == pytest.approx(2.0, rel=0.06)
    assert m.sigma("EQ", "RANGE") == pytest.approx(80.0, rel=0.06)
    assert m.sigma("EQ", "TREND") == pytest.approx(160.0, rel=0.06)
    flat = fit_scale(ts, sym, reg, e, half_life_days=1e9, shrink_rows=5, by_regime=False)
    assert flat.sigma("FX", "TREND") == flat.sigma("FX", "RANGE")


def test_volatility_shift_is_tracked_within_the_half_life():
    """sigma 10 for 60 days, then 40. The fit's variance is the EWMA of the truth's, and after one
    half-life at least half the way there (in variance); after four, within 10 % in sigma."""
    rng = np.random.default_rng(3)
    hl = 7.0
    ts = np.arange(0, 60 + 4 * hl, 1 / 48) * DAY  # a row every 30 minutes
    true_sigma = np.where(ts < 60 * DAY, 10.0, 40.0)
    e = rng.normal(0, 1, len(ts)) * true_sigma
    for after, lo in ((hl, None), (4 * hl, 36.0)):
        keep = ts <= (60 + after) * DAY
        m = fit_scale(ts[keep], ["X"] * keep.sum(), ["R"] * keep.sum(), e[keep], hl, 5, by_regime=False)
        w = np.exp2(-(ts[keep].max() - ts[keep]) / (hl * DAY))
        oracle = math.sqrt(w @ true_sigma[keep] ** 2 / w.sum())
        assert m.sigma("X", "R") == pytest.approx(oracle, rel=0.08)
        if lo is None:
            assert m.sigma("X", "R") ** 2 >= 0.9 * (10.0**2 + 40.0**2) / 2
        else:
            assert m.sigma("X", "R") >= lo
    # the equal-weight fit (today's one number per horizon, refreshed) is still far below 40
    keep = ts <= (60 + hl) * DAY
    flat = fit_scale(ts[keep], ["X"] * keep.sum(), ["R"] * keep.sum(), e[keep], 1e9, 5, by_regime=False)
    assert flat.sigma("X", "R") < 20.0


def test_shrinkage_is_the_stated_geometric_mean():
    """log V_s = (W_s log Vhat_s + k log V0) / (W_s + k), by hand, for a symbol with three rows."""
    ts = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]) * DAY
    sym = ["BIG", "BIG", "BIG", "RARE", "RARE", "RARE"]
    e = np.array([100.0, -80.0, 120.0, 2.0, -3.0, 1.0])
    hl, k = 2.0, 5.0
    m = fit_scale(ts, sym, ["R"] * 6, e, hl, k, by_regime=False)
    w = np.exp2(-(ts.max() - ts) / (hl * DAY))
    V0 = w @ e**2 / w.sum()
    rare = slice(3, 6)
    W = w[rare].sum()
    V_hat = w[rare] @ e[rare] ** 2 / W
    assert m.sigma("RARE", "R") ** 2 == pytest.approx(math.exp((W * math.log(V_hat) + k * math.log(V0)) / (W + k)))
    assert m.pooled_var == pytest.approx(V0)
    # more shrinkage pulls it toward the pool, monotonically; little shrinkage leaves its own RMS
    sigmas = [
        fit_scale(ts, sym, ["R"] * 6, e, hl, kk, by_regime=False).sigma("RARE", "R") for kk in (0.01, 1, 5, 50, 1e6)
    ]
    assert sigmas == sorted(sigmas)
    assert sigmas[0] == pytest.approx(math.sqrt(V_hat), rel=0.02) and sigmas[-1] == pytest.approx(
        math.sqrt(V0), rel=1e-3
    )


def test_unseen_symbol_gets_the_pool_and_unseen_regime_factor_one():
    ts, sym, reg, e = _world({"A": 5.0, "B": 50.0}, 500, 10, seed=4, regime_sigma={"TREND": 1.5})
    m = fit_scale(ts, sym, reg, e, 14, 5)
    assert m.sigma("NEVER", "RANGE") == pytest.approx(math.sqrt(m.pooled_var * m.regime_factor["RANGE"]))
    assert m.sigma("A", "NEW_REGIME") == pytest.approx(math.sqrt(m.symbol_var["A"]))


def test_degenerate_inputs():
    assert fit_scale(np.array([]), [], [], np.array([]), 14, 5) is None
    assert fit_scale(np.arange(3.0), ["A"] * 3, ["R"] * 3, np.zeros(3), 14, 5) is None
    with pytest.raises(ValueError):
        fit_scale(np.arange(3.0), ["A"] * 3, ["R"] * 3, np.array([1.0, math.nan, 2.0]), 14, 5)
    with pytest.raises(ValueError):
        fit_scale(np.arange(3.0), ["A"] * 3, ["R"] * 3, np.ones(3), 14, 0)
    # a symbol that never moved keeps a positive sigma (floored, then shrunk toward the pool)
    m = fit_scale(np.arange(6.0), ["A"] * 3 + ["FLAT"] * 3, ["R"] * 6, np.array([5.0, -5, 5, 0, 0, 0]), 14, 5)
    assert 0 < m.sigma("FLAT", "R") < m.sigma("A", "R")


def test_card_round_trip_and_malformed_cards():
    ts, sym, reg, e = _world({"A": 5.0, "B": 50.0}, 300, 10, seed=5)
    m = fit_scale(ts, sym, reg, e, 14, 5)
    back = ScaleModel.from_card(m.to_card())
    for s in ("A", "B", "C"):
        for r in ("TREND", "RANGE", "X"):
            assert back.sigma(s, r) == pytest.approx(m.sigma(s, r), rel=1e-4)
    for bad in ({}, {"pooled_sigma_bps": 0.0}, [], {**m.to_card(), "symbol_sigma_bps": {"A": -1.0}}):
        with pytest.raises(ValueError):
            ScaleModel.from_card(bad)  # type: ignore[arg-type]


def test_calibration_of_honest_z_is_one_and_of_a_wrong_scale_is_its_square():
    rng = np.random.default_rng(6)
    z = rng.normal(0, 1, 20000)
    keys = ["A" if i % 2 else "B" for i in range(len(z))]
    z[np.array(keys) == "B"] *= 2.0
    cal = calibration(z, {"symbol": keys})["symbol"]
    assert cal["A"]["var_z"] == pytest.approx(1.0, rel=0.05) and cal["B"]["var_z"] == pytest.approx(4.0, rel=0.05)


def test_level_from_the_short_horizon_moves_only_the_symbol_whose_volatility_moved():
    """24 h sigmas fitted on 12 days of half-life lag a shock by a week; the 1 h rows' exits of the
    last days say how far the market's level moved, per symbol (fit_level / Level.apply)."""
    rng = np.random.default_rng(3)
    hours = np.arange(24 * 30) * 3600.0
    late = hours > hours[-1] - 2 * DAY  # the last two days: SHOCK's volatility x3
    shock = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(hours)) * np.where(late, 3.0, 1.0)))
    calm = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, len(hours))))
    t = np.concatenate([hours, hours])
    sym = ["SHOCK"] * len(hours) + ["CALM"] * len(hours)
    level = fit_level(t, sym, np.concatenate([shock, calm]), 1.0, 12.2, 2.0)
    assert level is not None and level.at == hours[-1]
    assert 2.5 < level.ratio["SHOCK"] < 9.0 and 0.7 < level.ratio["CALM"] < 1.4
    slow = ScaleModel(400.0, {"SHOCK": 100.0, "CALM": 100.0, "UNSEEN": 2500.0}, {"TREND": 1.5}, 12.2, 2.0)
    moved = level.apply(slow)
    assert moved.sigma("SHOCK", "TREND") == pytest.approx(
        slow.sigma("SHOCK", "TREND") * math.sqrt(level.ratio["SHOCK"])
    )
    assert moved.sigma("UNSEEN", "TREND") == slow.sigma("UNSEEN", "TREND")  # no exits: as fitted
    assert moved.regime_factor == slow.regime_factor
    card = moved.to_card()
    assert card["level"]["symbol_sigma_ratio"]["SHOCK"] > 1.7 and ScaleModel.from_card(card).meta["level"]
    # the order the exits come in does not matter, only their times
    back = fit_level(t[::-1], sym[::-1], np.concatenate([shock, calm])[::-1], 1.0, 12.2, 2.0)
    assert back is not None and back.ratio == pytest.approx(level.ratio)


def test_level_ratio_is_shrunk_toward_one_when_the_short_horizon_has_few_recent_exits():
    t = np.array([0.0, 3600.0, 10 * DAY, 10 * DAY + 3600.0])  # an old 1 % move, a fresh 10 % one
    prices = np.array([100.0, 101.0, 100.0, 110.0])
    few = fit_level(t, ["A"] * 4, prices, 1.0, 12.2, 2.0)
    many = fit_level(t, ["A"] * 4, prices, 1.0, 12.2, 1e-9)
    assert few is not None and many is not None
    assert 1.0 < few.ratio["A"] < many.ratio["A"]
    assert math.log(few.ratio["A"]) == pytest.approx(math.log(many.ratio["A"]) * 1.0 / (1.0 + 2.0), rel=0.01)
    assert fit_level(np.array([]), [], np.array([]), 1.0, 12.2, 2.0) is None
    assert fit_level(t, ["A"] * 4, np.full(4, 100.0), 1.0, 12.2, 2.0) is None  # a price that never moved
    apart = np.array([0.0, 7 * 3600.0])  # one return over a gap longer than MAX_GAP_HOURS (a night)
    assert fit_level(apart, ["A", "A"], np.array([100.0, 120.0]), 1.0, 12.2, 2.0) is None
    assert fit_level(t[:2], ["A", "B"], prices[:2], 1.0, 12.2, 2.0) is None  # one exit per symbol
