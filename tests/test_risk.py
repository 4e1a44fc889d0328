"""Expected shortfall against an obviously-correct oracle, its invariants, and a normal benchmark."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meta_supervisor.core.risk import cell_stats, expected_shortfall
from tests.rows import row
from tests.rows import rows as as_rows


def slow_es(values, alpha):
    """Average of the worst (1 - alpha) share of the sample, atom by atom: each sorted value
    carries weight 1 until the tail mass m = n (1 - alpha) is used up."""
    xs = sorted(values, reverse=True)
    m = len(xs) * (1 - alpha)
    if abs(m - round(m)) < 1e-9:
        m = float(round(m))
    total, remaining = 0.0, m
    for x in xs:
        w = min(1.0, remaining)
        if w <= 0:
            break
        total += w * x
        remaining -= w
    return total / m


finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(finite, min_size=1, max_size=400), st.sampled_from([0.9, 0.95, 0.975, 0.99, 0.5]))
def test_matches_slow_oracle(values, alpha):
    assert expected_shortfall(values, alpha) == pytest.approx(slow_es(values, alpha), rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.lists(finite, min_size=1, max_size=300), st.floats(min_value=-1e4, max_value=1e4))
def test_shift_equivariant(values, c):
    shifted = [v + c for v in values]
    assert expected_shortfall(shifted) == pytest.approx(expected_shortfall(values) + c, rel=1e-9, abs=1e-6)


@settings(max_examples=100, deadline=None)
@given(st.lists(finite, min_size=2, max_size=300))
def test_es_is_at_least_the_mean_and_at_most_the_max(values):
    es = expected_shortfall(values)
    assert np.mean(values) - 1e-6 <= es <= max(values) + 1e-6


def test_large_normal_sample_matches_closed_form():
    sigma = 37.0
    a = np.random.default_rng(1).normal(0.0, sigma, 1_000_000)
    phi = math.exp(-(1.6448536269514722**2) / 2) / math.sqrt(2 * math.pi)
    closed = sigma * phi / 0.05  # ES95 of N(0, sigma): sigma * pdf(z_0.95) / 0.05
    assert expected_shortfall(a, 0.95) == pytest.approx(closed, rel=0.02)


def test_empty_is_nan_and_small_sample_is_worst_value():
    assert math.isnan(expected_shortfall([]))
    assert expected_shortfall([3.0, -1.0, 7.0]) == 7.0  # n * 0.05 < 1: all tail mass on the worst


def _row(strategy, regime, realized, expected, sigma=None):
    return row(
        strategy_class=strategy,
        regime=regime,
        realized_pnl_bps=realized,
        expected_pnl_bps=expected,
        expected_sigma_bps=sigma,
        ts="2026-11-24T10:00:00Z",
    )


def test_cell_cvar_measures_where_live_did_worse_than_the_sim():
    # 95 rows where live matches the sim, 5 where live lost 200 bps the sim did not expect,
    # and 5 where live beat the sim by 500: the seed measured the wrong tail (the +500s).
    rows = (
        [_row("macro", "TREND", 10.0, 10.0, 20.0)] * 90
        + [_row("macro", "TREND", -190.0, 10.0, 20.0)] * 5
        + [_row("macro", "TREND", 510.0, 10.0, 20.0)] * 5
    )
    cell = cell_stats(rows, 0.95, 100)["macro"]["TREND"]
    assert cell["cvar95_error_bps"] == pytest.approx(200.0)
    assert cell["n"] == 100 and cell["enough_data"]
    assert cell["hit_rate"] == pytest.approx(0.95)
    assert cell["expected_hit_rate"] == pytest.approx(0.5 * (1 + math.erf(0.5 / math.sqrt(2))))
    assert cell["mean_pnl_bps"] == pytest.approx((90 * 10 - 5 * 190 + 5 * 510) / 100)


def test_cell_without_model_rows_has_no_expected_hit_rate():
    cell = cell_stats([_row("arb", "RANGE", 5.0, 0.0)] * 3, 0.95, 100)["arb"]["RANGE"]
    assert cell["expected_hit_rate"] is None and not cell["enough_data"] and cell["n_with_model"] == 0


def test_cells_equal_a_row_by_row_oracle():
    """Column-wise cells equal the obvious computation per group, with an empty strategy or regime
    counted as "unknown" (rows kept in order)."""
    import random

    rng = random.Random(3)
    dicts = []
    for t in range(600):
        realized, expected = rng.gauss(2, 30), rng.gauss(1, 3)
        sigma = rng.choice([None, 25.0, 40.0])
        dicts.append(
            {
                "event_id": f"e{t}",
                "ts": f"2026-11-{1 + t // 30:02d}T{t % 24:02d}:00:00Z",
                "strategy_class": rng.choice(["macro", "arb", ""]),
                "regime": rng.choice(["TREND", "RANGE", ""]),
                "realized_pnl_bps": realized,
                "expected_pnl_bps": expected,
                "expected_sigma_bps": sigma,
                "pnl_error_bps": realized - expected,
                "abs_error_bps": abs(realized - expected),
                "sim_version": "fallback_zero" if sigma is None else "ridge_h24@x",
            }
        )
    rows = dicts
    groups = {}
    for r in rows:
        groups.setdefault((r["strategy_class"] or "unknown", r["regime"] or "unknown"), []).append(r)
    got = cell_stats(as_rows(rows), 0.95, 50)
    assert len(groups) == sum(len(v) for v in got.values()) > 6
    for (strategy, regime), rs in groups.items():
        cell = got[strategy][regime]
        adverse = [r["expected_pnl_bps"] - r["realized_pnl_bps"] for r in rs]
        sig = [r for r in rs if r["expected_sigma_bps"]]
        assert cell["n"] == len(rs) and cell["n_with_model"] == len(sig)
        assert cell["cvar95_error_bps"] == pytest.approx(slow_es(adverse, 0.95), abs=1e-4)
        assert cell["mean_error_bps"] == pytest.approx(-sum(adverse) / len(rs), abs=1e-4)
        assert cell["hit_rate"] == pytest.approx(sum(r["realized_pnl_bps"] > 0 for r in rs) / len(rs), abs=1e-6)
        assert cell["expected_hit_rate"] == pytest.approx(
            sum(0.5 * (1 + math.erf(r["expected_pnl_bps"] / r["expected_sigma_bps"] / math.sqrt(2))) for r in sig)
            / len(sig),
            abs=1e-6,
        )
        assert (cell["first_ts"], cell["last_ts"]) == (min(r["ts"] for r in rs), max(r["ts"] for r in rs))
        assert cell["enough_data"] == (len(rs) >= 50)
