"""Divergence detectors: published ARLs, invariants of the stream bookkeeping, the seed's rules.

What every chart must do (JSON round trip, batching, validation, in-control ARL by simulation)
is tests/test_detector_conformance.py, run on each registered chart; this file keeps the checks
against published values and independent implementations, and the streams."""

import json
import math
import random
from dataclasses import replace

import msgspec
import numpy as np
import pytest

from meta_supervisor.core import detectors
from meta_supervisor.core.detectors import BernoulliCusum, MeanCusum, calibrate, cusum_arl, mean_increment_cdf
from meta_supervisor.core.divergence import (
    DivergenceSettings,
    Observed,
    PeerMoves,
    autocorrelation_warning,
    charting_from,
    detect,
    error_autocorrelation,
    new_detectors,
    seed_rule_detections,
)
from meta_supervisor.core.stats import normal_cdf
from meta_supervisor.core.timeutil import format_ts
from meta_supervisor.files import evaluate_state
from tests.rows import rows as as_rows

INF = math.inf


# --- ARL against published values -------------------------------------------------------------
# Montgomery (Introduction to SQC, table "ARL performance of the tabular CUSUM with k = 1/2") and
# Lucas & Crosier give, for the *two-sided* tabular CUSUM (upper and lower charts, alarm when either
# exceeds h): h = 4: ARL0 168, ARL(1 sigma) 8.38; h = 5: ARL0 465, ARL(1 sigma) 10.4. A one-sided
# chart has about twice the in-control ARL (336 / 930) and the same ARL at a 1-sigma shift, since the
# other side practically never fires then. We check both, by Brook-Evans and by Monte-Carlo.
PUBLISHED = [(4.0, 168.0, 8.38), (5.0, 465.0, 10.4)]


def _two_sided_run_lengths(h, mu, runs, seed):
    """Vectorized simulation of the two-sided k = 0.5 tabular CUSUM; run lengths of `runs` charts."""
    rng = np.random.default_rng(seed)
    hi = np.zeros(runs)
    lo = np.zeros(runs)
    length = np.zeros(runs, dtype=np.int64)
    active = np.arange(runs)
    t = 0
    while active.size:
        t += 1
        z = rng.standard_normal(active.size) + mu
        hi[active] = np.maximum(0.0, hi[active] + z - 0.5)
        lo[active] = np.maximum(0.0, lo[active] - z - 0.5)
        done = (hi[active] > h) | (lo[active] > h)
        length[active[done]] = t
        active = active[~done]
    return length


@pytest.mark.parametrize("h, arl0, arl1", PUBLISHED)
def test_brook_evans_matches_published_two_sided_arl(h, arl0, arl1):
    one_sided0 = cusum_arl(mean_increment_cdf(0.5, INF), h)
    one_sided1 = cusum_arl(mean_increment_cdf(0.5, INF, mu=1.0), h)
    # Two symmetric one-sided charts: 1/ARL = 1/ARL+ + 1/ARL- (Lucas & Crosier 1982).
    assert one_sided0 / 2 == pytest.approx(arl0, rel=0.01)
    assert one_sided1 == pytest.approx(arl1, rel=0.01)


@pytest.mark.parametrize("h, arl0, arl1", PUBLISHED)
def test_monte_carlo_matches_published_two_sided_arl(h, arl0, arl1):
    # Seeded; standard error of the mean is ARL0 / sqrt(runs) ~ 1 %, so 4 % is > 3.5 SE yet tight.
    assert _two_sided_run_lengths(h, 0.0, 12000, seed=1).mean() == pytest.approx(arl0, rel=0.04)
    assert _two_sided_run_lengths(h, 1.0, 4000, seed=2).mean() == pytest.approx(arl1, rel=0.03)


def test_calibrated_threshold_hits_the_target_arl_and_siegmund():
    k, h, arl1 = calibrate("mean", 1.0, INF, 40000.0)
    assert cusum_arl(mean_increment_cdf(k, INF), h) == pytest.approx(40000, rel=1e-3)
    # Siegmund: ARL0 ~ (exp(2 k b) - 2 k b - 1) / (2 k^2), b = h + 1.166 (an independent estimate).
    b = h + 1.166
    assert (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k) == pytest.approx(40000, rel=0.03)
    assert 10 < arl1 < 25


# --- detector classes ----------------------------------------------------------------------------
def test_mean_cusum_equals_the_textbook_recursion():
    rng = np.random.default_rng(5)
    z = rng.standard_normal(3000) * 1.3 + 0.2
    det = MeanCusum(k=0.5, h=4.0, direction=-1, cap=4.0, clear_hours=10.0)
    s, alarms = 0.0, []
    for t, x in enumerate(z):
        s = max(0.0, s - min(4.0, max(-4.0, x)) - 0.5)
        if s > 4.0:
            alarms.append(t)
            s = 0.0
        assert det.update(float(x), t).statistic == pytest.approx(s, abs=1e-12)
        assert det.drift_detected == (bool(alarms) and alarms[-1] == t)
    assert alarms


def test_latch_holds_while_shift_persists_and_clears_after_clear_hours_quiet():
    """Rows every 2 hours; clear_hours 80 = 40 rows of quiet. A slow stream (rows every 20 hours)
    clears after the same 80 hours, i.e. after 4 rows, not after 40 rows (= 800 hours)."""
    rng = random.Random(2)
    det = MeanCusum(0.5, 5.0, +1, 4.0, clear_hours=80.0)
    for t in range(300):
        det.update(rng.gauss(1.5 if 100 <= t < 200 else 0.0, 1.0), t, hour=2.0 * t)
        if 130 <= t < 200:
            assert det.alarm, t
    assert det.alarms > 3  # restarted after each crossing, kept measuring
    assert not det.alarm and det.report is None  # cleared within ~40 quiet rows after 200
    slow = MeanCusum(0.5, 5.0, +1, 4.0, clear_hours=80.0)
    for t in range(3):
        slow.update(3.0, t, hour=20.0 * t)  # crosses at t = 2 (S = 7.5 > 5)
    assert slow.alarm and slow.last_alarm_hour == 40.0
    quiet = [slow.update(0.0, t, hour=20.0 * t).alarm for t in range(3, 7)]
    assert quiet == [True, True, True, False]  # hour 100 < 40 + 80 <= hour 120


def test_registry_is_the_state_layout():
    """state/detectors.json keeps its bytes: the triggers, their order, kinds and keys."""
    assert list(detectors.TRIGGERS) == ["cusum_bias_up", "cusum_bias_down", "cusum_variance", "cusum_hit_rate"]
    dets = new_detectors(DivergenceSettings())
    assert {t: d.kind for t, d in dets.items()} == {
        "cusum_bias_up": "mean",
        "cusum_bias_down": "mean",
        "cusum_variance": "variance",
        "cusum_hit_rate": "hit_rate",
    }
    state = [
        "statistic",
        "n",
        "run_n",
        "run_sum",
        "run_sum2",
        "run_start_ts",
        "drift_detected",
        "alarm",
        "alarms",
        "change_ts",
        "ep_n",
        "ep_sum",
        "ep_sum2",
        "last_alarm_hour",
        "report",
    ]
    head = ["kind", "h", "clear_hours"]
    assert list(dets["cusum_bias_up"].to_dict()) == head + ["k", "direction", "cap"] + state
    assert list(dets["cusum_variance"].to_dict()) == head + ["k", "cap"] + state
    assert list(dets["cusum_hit_rate"].to_dict()) == head + ["odds_ratio"] + state
    assert (dets["cusum_bias_up"].direction, dets["cusum_bias_down"].direction) == (1, -1)
    # without a plan: chart ARL0 4 x 10,000 (interpolated on the grid, within 0.2 % of the solve),
    # clear_hours = 3 x ARL1 at one row an hour (at least a 24 h horizon, at most 336 h)
    # (bias: a fresh Brook-Evans solve of the default design, delta 0.75: k 0.375, ARL1 29.7)
    k, bias_h, arl1 = MeanCusum.solve_calibration(0.75, 3.0, 40000.0)
    assert (k, round(arl1, 1)) == (0.375, 29.7)
    solved = [bias_h, bias_h, 27.283203125, 6.50390625]
    assert [d.h for d in dets.values()] == pytest.approx(solved, rel=2e-3)
    assert [d.clear_hours for d in dets.values()] == pytest.approx([89.1, 89.1, 157.2, 336.0], abs=0.5)
    # error_autocorrelation phi: h = V h_1(ARL0 / V), V the chart's own long-run factor of phi
    wide = new_detectors(DivergenceSettings(error_autocorrelation=0.3))
    for trigger, v in (
        ("cusum_bias_up", 1.3 / 0.7),
        ("cusum_variance", (1 + 0.09) / (1 - 0.09)),
        ("cusum_hit_rate", (1 + 2 / math.pi * math.asin(0.3)) / (1 - 2 / math.pi * math.asin(0.3))),
    ):
        kind = dets[trigger].kind
        design = {"mean": 0.75, "variance": 2.0, "hit_rate": 0.67}[kind]
        assert wide[trigger].h == pytest.approx(v * calibrate(kind, design, 3.0, 40000.0 / v)[1], rel=1e-12)
        assert wide[trigger].k == dets[trigger].k if kind != "hit_rate" else True


# --- streams and detect() ---------------------------------------------------------------------
def _rows(*args, **kwargs):
    return as_rows(_row_dicts(*args, **kwargs))


def _row_dicts(n, agent="a1", cls="macro", shift_at=None, shift=0.0, seed=0, start=0, sigma=60.0):
    rng = random.Random(seed)
    out = []
    for t in range(start, start + n):
        err = rng.gauss(shift * sigma if shift_at is not None and t >= shift_at else 0.0, sigma)
        out.append(
            {
                "event_id": f"{agent}-{t:05d}",
                "ts": _ts(t),
                "agent": agent,
                "strategy_class": cls,
                "realized_pnl_bps": 5.0 + err,
                "expected_pnl_bps": 5.0,
                "expected_sigma_bps": sigma,
                "pnl_error_bps": err,
                "abs_error_bps": abs(err),
                "sim_version": "ridge_h24@abc",
                "horizon_hours": 24,
            }
        )
    return out


def _ts(t):
    """Row t at hour t (an hourly agent): the clearing time is measured on these."""
    return format_ts(1767225600 + 3600 * t)  # 2026-01-01T00:00:00Z


S = DivergenceSettings(arl0_rows=2000)


def test_incremental_equals_cold_start_and_is_deterministic():
    rows = _rows(700, shift_at=500, shift=-1.2)
    whole = detect(None, [], rows, S)
    state, _ = detect(None, [], rows[:400], S)
    state = json.loads(json.dumps(state))
    inc = detect(state, rows[400:], rows, S)
    assert inc == whole
    assert detect(None, [], rows, S) == whole
    assert any(d["trigger"] == "cusum_bias_down" for d in whole[1])


def test_unchanged_rerun_returns_same_state_and_detections():
    rows = _rows(700, shift_at=500, shift=-1.2)
    state, dets = detect(None, [], rows, S)
    stored = json.loads(json.dumps(state))
    again_state, again_dets = detect(stored, [], rows, S)
    assert again_state == stored and again_dets == dets


def test_cold_start_replays_window_only():
    history, window = _rows(200, shift=3.0, shift_at=0, seed=1), _rows(300, seed=2, start=200)
    assert detect(None, history, window, S) == detect(None, [], window, S)
    assert not any(d["trigger"].startswith("cusum") for d in detect(None, [], window, S)[1])


def test_rows_of_the_warm_up_are_not_charted():
    """A shift inside the history's first warmup_days is not charted (the sigmas are immature then);
    the same shift after it is, and the state and detections equal a run on the later rows only."""
    rows = _rows(700, shift_at=0, shift=-1.5, seed=3)  # hour t: 700 h = 29 days, all shifted
    off = DivergenceSettings(arl0_rows=2000, seed_rules=False, strategy_streams=False)
    start = rows[0].ts
    warm_end = 14 * 24  # the first 336 rows are the warm-up
    early = detect(None, [], rows[:warm_end], off, history_start=start)
    assert early[1] == [] and all(d["n"] == 0 for d in early[0]["streams"]["agent:a1"]["detectors"].values())
    whole = detect(None, [], rows, off, history_start=start)
    late = detect(None, [], rows, off, history_start=None)
    assert any(d["trigger"] == "cusum_bias_down" for d in whole[1])
    charted = whole[0]["streams"]["agent:a1"]["detectors"]["cusum_bias_down"]["n"]
    assert charted == 700 - warm_end and late[0]["streams"]["agent:a1"]["detectors"]["cusum_bias_down"]["n"] == 700
    assert charting_from(start, off) == rows[warm_end].ts and charting_from(None, off) is None
    assert charting_from(start, DivergenceSettings(warmup_days=0)) is None
    # incremental: the warm-up boundary is the same for rows arriving later
    state, _ = detect(None, [], rows[:500], off, history_start=start)
    inc, _ = detect(json.loads(json.dumps(state)), rows[500:], rows, off, history_start=start)
    assert {t: d["n"] for t, d in inc["streams"]["agent:a1"]["detectors"].items()} == dict.fromkeys(
        whole[0]["streams"]["agent:a1"]["detectors"], 700 - warm_end
    )


def test_changed_cusum_settings_mean_a_cold_start():
    rows = _rows(300, seed=4)
    state, _ = detect(None, [], rows[:100], S)
    other = DivergenceSettings(arl0_rows=3000)
    assert detect(state, rows[100:], rows, other) == detect(None, [], rows, other)


def test_rows_without_a_prediction_are_ignored_by_the_cusums():
    rows = _rows(400, shift_at=300, shift=1.5, seed=6)
    noise = []
    for i, r in enumerate(_rows(400, seed=7, shift=5.0, shift_at=0)):
        bad = [
            {"sim_version": "fallback_zero"},
            {"expected_sigma_bps": None},
            {"expected_sigma_bps": 0.0},
            {"pnl_error_bps": float("nan")},
        ][i % 4]
        noise.append(msgspec.structs.replace(r, **bad))
    mixed = sorted(rows + noise, key=lambda r: (r.ts, r.event_id))
    off = DivergenceSettings(arl0_rows=2000, seed_rules=False)
    assert detect(None, [], mixed, off) == detect(None, [], rows, off)


def test_change_time_and_shift_estimates_near_the_planted_change():
    rows = _rows(800, shift_at=500, shift=-1.5, seed=8)
    _, dets = detect(None, [], rows, DivergenceSettings(arl0_rows=2000, strategy_streams=False, seed_rules=False))
    bias = next(d for d in dets if d["trigger"] == "cusum_bias_down")
    change = next(i for i, r in enumerate(rows) if r.ts == bias["change_ts"])
    assert abs(change - 500) <= 10
    assert bias["shift"] == pytest.approx(-1.5, abs=0.35)
    assert bias["shift_unit"] == "sigma" and bias["statistic"] > bias["threshold"]
    assert bias["key"] == "agent:a1:cusum_bias_down" and bias["strategy_class"] == "macro"


def test_strategy_streams_pool_agents():
    rows = sorted(
        _rows(300, "a1", seed=1, shift_at=150, shift=1.5) + _rows(300, "a2", seed=2, shift_at=150, shift=1.5),
        key=lambda r: r.ts,
    )
    _, dets = detect(None, [], rows, DivergenceSettings(arl0_rows=2000, seed_rules=False))
    strat = [d for d in dets if d["scope"] == "strategy" and d["trigger"] == "cusum_bias_up"]
    assert strat and strat[0]["agent"] is None and strat[0]["key"] == "strategy:macro:cusum_bias_up"


def test_hit_rate_collapse_is_detected_against_the_models_own_p():
    rows = _row_dicts(1500, seed=3)
    for r in rows[600:]:  # same error scale, but live loses: realized pushed below zero often
        r["realized_pnl_bps"] = (
            -abs(r["realized_pnl_bps"]) if random.Random(r["event_id"]).random() < 0.5 else r["realized_pnl_bps"]
        )
    rows = as_rows(rows)
    _, dets = detect(None, [], rows, DivergenceSettings(arl0_rows=2000, seed_rules=False, strategy_streams=False))
    hit = next(d for d in dets if d["trigger"] == "cusum_hit_rate")
    expected = normal_cdf(5.0 / 60.0)
    assert hit["shift"] < -0.1 and hit["shift_unit"] == "hit_rate"
    assert f"{expected:.2f}" in hit["detail"]


# --- the seed's rules ----------------------------------------------------------------------------
def _seed_rows(errors, agent="a1"):
    return as_rows(
        {**r, "pnl_error_bps": e, "abs_error_bps": abs(e)} for r, e in zip(_row_dicts(len(errors), agent=agent), errors)
    )


def test_seed_rules_fire_exactly_as_the_seed_formula():
    s = DivergenceSettings()
    # 10 x +100 and 10 x -80: mean |e| = 90 (>= 90 fires, medium < 117), mean e = 10 (< 40).
    s = DivergenceSettings(seed_rules_alert=True)
    dets = seed_rule_detections(_seed_rows([100.0] * 10 + [-80.0] * 10), s)
    assert [(d["trigger"], d["severity"], d["statistic"], d["rows"]) for d in dets] == [
        ("mean_abs_error", "medium", 90.0, 20)
    ]
    # 20 x +60: mean e = 60 >= 40, and >= 1.3 * 40 = 52: high; mean |e| 60 < 90.
    dets = seed_rule_detections(_seed_rows([60.0] * 20), s)
    assert [(d["trigger"], d["severity"], d["shift"]) for d in dets] == [("mean_error", "high", 60.0)]
    # One row short of min_rows = max(10, 80 // 4) = 20: silent.
    assert seed_rule_detections(_seed_rows([500.0] * 19), s) == []
    # Only the last 80 rows count; fallback rows are not rows of the window.
    rows = _seed_rows([4000.0] + [0.0] * 80)
    assert seed_rule_detections(rows, s) == []
    rows[-1] = msgspec.structs.replace(
        rows[-1], sim_version="fallback_zero"
    )  # now the window is 4000 + 79 x 0: mean 50 >= 40
    assert [(d["trigger"], d["severity"], d["statistic"]) for d in seed_rule_detections(rows, s)] == [
        ("mean_error", "medium", 50.0)
    ]
    # 39.9 just below: mean_error silent.
    assert seed_rule_detections(_seed_rows([39.9] * 20), s) == []
    # by default they are notices: severity "info", which alerts.py keeps out of alerts and mail
    info = seed_rule_detections(_seed_rows([60.0] * 20), DivergenceSettings())
    assert [(d["trigger"], d["severity"]) for d in info] == [("mean_error", "info")]


# --- settings and purity -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "field, value",
    [
        ("window", 0),
        ("min_rows", 81),
        ("arl0_rows", 1),
        ("hit_rate_odds_ratio", 1.2),
        ("variance_ratio", 1.0),
        ("error_autocorrelation", -0.1),
    ],
)
def test_settings_are_validated(field, value):
    with pytest.raises(ValueError, match=f"^{field}: "):
        DivergenceSettings(**{field: value})


def test_precomputed_thresholds_equal_a_fresh_solve():
    """A seeded sample of the grid (a full recompute is ~90 s: `python -m ...detectors.calibration`)."""
    keys = sorted(detectors.PRECOMPUTED)
    assert len(keys) == 3 * 21
    # it holds the default designs (a changed default needs a regenerated table, or every cold
    # evaluate solves its thresholds afresh)
    d = DivergenceSettings()
    for kind, design in (
        ("mean", d.bias_shift_sigma),
        ("variance", d.variance_ratio),
        ("hit_rate", d.hit_rate_odds_ratio),
    ):
        assert all((kind, design, d.winsor_sigma, 2.0**e) in detectors.PRECOMPUTED for e in range(6, 27)), kind
    for key in random.Random(1).sample([k for k in keys if k[3] <= 2.0**18], 4):
        assert detectors.solve_calibration(*key) == pytest.approx(detectors.PRECOMPUTED[key], rel=1e-12), key


@pytest.mark.parametrize("kind, design", [("mean", 1.0), ("variance", 2.0), ("hit_rate", 0.67)])
def test_thresholds_between_grid_points_are_interpolated_within_half_a_percent(kind, design):
    k, h, arl1 = calibrate(kind, design, 3.0, 3000.0)  # between 2^11 and 2^12
    k2, h2, arl12 = detectors.solve_calibration(kind, design, 3.0, 3000.0)
    assert (k, h, arl1) == pytest.approx((k2, h2, arl12), rel=5e-3)


def test_batched_hit_rate_clamps_p_as_one_row_at_a_time_bit_for_bit():
    """The conformance battery draws p from the calibration's model; here p goes beyond the
    [0.01, 0.99] clamp too."""
    rng = random.Random(12)
    rows = [
        (rng.random() < (0.25 if t // 250 % 2 else 0.5), rng.uniform(0.0, 1.0))  # p beyond the clamp too
        for t in range(3000)
    ]
    one, crossings = BernoulliCusum(0.5, 2.5, 15), 0
    for t, (win, p) in enumerate(rows):
        crossings += one.update(win, p, t).drift_detected
    batched = BernoulliCusum(0.5, 2.5, 15)
    for start in range(0, 3000, 333):
        chunk = rows[start : start + 333]
        batched.update_many([w for w, _ in chunk], [p for _, p in chunk], list(range(start, start + len(chunk))))
    assert crossings > 10 and batched.to_dict() == one.to_dict()


def test_rows_read_back_from_the_history_give_the_same_detections(tmp_path):
    """Evaluate feeds the detectors rows decoded from the partitions: the round trip through the
    history store changes nothing they see."""
    from meta_supervisor.files.history import Partitions, recent_rows

    built = _rows(500, shift_at=350, shift=1.5, seed=8) + _rows(300, agent="a2", cls="arb", seed=9)
    built[3] = msgspec.structs.replace(built[3], expected_sigma_bps=None)
    built[4] = msgspec.structs.replace(built[4], sim_version="fallback_zero")
    built.sort(key=lambda r: (r.ts, r.event_id))
    commit = Partitions(tmp_path, None).append(built)
    typed = recent_rows(Partitions(tmp_path, commit), {24: 10_000})[24]
    assert typed == built
    assert detect(None, [], typed, S) == detect(None, [], built, S)
    assert any(d["trigger"].startswith("cusum") for d in detect(None, [], typed, S)[1])


def _ar_rows(n, phi, agent="a1", seed=0, shift_at=None, shift=0.0):
    """Rows every 3 hours (one symbol, 24 h horizon: 7 overlap partners a row) whose z follows an
    AR(1) with coefficient phi (unit variance), optionally shifted."""
    rows = _row_dicts(n, agent=agent, seed=seed)
    for t, row in enumerate(rows):
        row["ts"] = _ts(3 * t)
    rng = np.random.default_rng(seed)
    z = 0.0
    for t, row in enumerate(rows):
        z = phi * z + math.sqrt(1 - phi * phi) * rng.standard_normal()
        err = 60.0 * (z + (shift if shift_at is not None and t >= shift_at else 0.0))
        row.update(pnl_error_bps=err, realized_pnl_bps=5.0 + err, abs_error_bps=abs(err))
    return as_rows(rows)


def test_error_autocorrelation_is_measured_per_stream_and_not_fooled_by_a_shift():
    s = DivergenceSettings(strategy_streams=False, fleet_wide=False)
    phis = error_autocorrelation(
        _ar_rows(2000, 0.5, "ar", 1)
        + _ar_rows(2000, 0.0, "iid", 2)
        + _ar_rows(2000, 0.0, "shifted", 3, shift_at=1000, shift=2.0),
        s,
    )
    # V = 1 + 2 sum_{L<=7} 0.5^L = 2.98, phi equivalent 0.497
    assert phis["agent:ar"][0] == pytest.approx(0.5, abs=0.07) and phis["agent:ar"][1] == 1960
    assert abs(phis["agent:iid"][0]) < 0.07
    # a 2-sigma mean shift halfway: around the window's mean, neighbours look alike (about 0.5)
    z = np.array([r.pnl_error_bps for r in _ar_rows(2000, 0.0, "shifted", 3, shift_at=1000, shift=2.0)])
    d = z - z.mean()
    assert float(d[1:] @ d[:-1] / (d @ d)) > 0.4
    # demeaned per block: only the block that straddles the change leaks (documented limitation)
    assert abs(phis["agent:shifted"][0]) < 0.25
    # fewer rows than one block: no estimate of its own, the prior (the pool: itself) is 1 -> phi 0
    assert error_autocorrelation(_ar_rows(60, 0.5), s) == {"agent:a1": (0.0, 0)}


def test_a_book_on_symbols_that_move_together_widens_its_level_charts_not_its_variance_chart():
    """Every 30 h the agent signals on two symbols (24 h horizons: no same-symbol rows overlap)
    whose errors share one market move. The bias and hit-rate charts sum that move twice, so their
    dependence is measured across symbols (V = 1 + 2 rho = 2 for rho ~ 1), from the agent's
    classmates when it has any; the variance chart keeps to the same symbol (the common shock is the fleet
    stream's), so it stays at 1."""
    from meta_supervisor.core import stream_plan
    from meta_supervisor.core.divergence import Observed

    rng = np.random.default_rng(21)
    dicts = []
    for t in range(600):
        move = rng.standard_normal()
        for k, symbol in enumerate(("SPY", "QQQ")):
            err = 60.0 * (0.95 * move + 0.3 * rng.standard_normal())
            dicts.append(
                dict(
                    event_id=f"e-{t:04d}-{k}",
                    ts=format_ts(1767225600 + 30 * 3600 * t + 60 * k),
                    symbol=symbol,
                    realized_pnl_bps=err,
                    expected_pnl_bps=0.0,
                    expected_sigma_bps=60.0,
                    pnl_error_bps=err,
                    sim_version="ridge_h24@abc",
                )
            )
    s = DivergenceSettings(strategy_streams=False, fleet_wide=False)
    factors = stream_plan.measure(Observed(as_rows(dicts), s), s)["agent:a1"]
    assert factors["mean"][0] == pytest.approx(2.0, abs=0.15)
    assert factors["hit_rate"][0] == pytest.approx(1.8, abs=0.2)  # (2 / pi) asin(0.95): rho 0.8
    assert factors["variance"][0] == pytest.approx(1.0, abs=0.1)
    # the part across symbols is the classmates': a1's two classmates' symbols move apart, so a1
    # gets nothing across symbols (its own co-moving errors do not widen its own chart); each
    # classmate's pool is a1 and the other one, twice the rows with a1's correlated pairs,
    # V = 1 + (V_a1 - 1) / 2; an agent alone in its class keeps its own
    mates = [
        dict(d, event_id=f"{agent}-{d['event_id']}", agent=agent, pnl_error_bps=e, realized_pnl_bps=e)
        for agent, seed in (("a2", 1), ("a3", 2))
        for d, e in zip(dicts, 60.0 * np.random.default_rng(seed).standard_normal(len(dicts)))
    ]
    other = [dict(d, event_id=f"x-{d['event_id']}", agent="x1", strategy_class="arb") for d in dicts]
    pooled = stream_plan.measure(Observed(as_rows(dicts + mates + other), s), s)
    assert pooled["agent:a1"]["mean"][0] == pytest.approx(1.0, abs=0.05)
    assert pooled["agent:a2"]["mean"][0] == pytest.approx(1.0 + (factors["mean"][0] - 1.0) / 2, abs=0.05)
    assert pooled["agent:x1"]["mean"][0] == pytest.approx(2.0, abs=0.15)
    # a classmate with too few rows for an estimate (20 rows: less than one demeaning block) leaves
    # a1 with its class, which is a1
    sparse = stream_plan.measure(Observed(as_rows(dicts + [d for d in mates if d["agent"] == "a2"][:20]), s), s)
    assert sparse["agent:a1"]["mean"][0] == pytest.approx(factors["mean"][0], abs=0.01)
    # the same rows, one symbol each: no overlap anywhere, nothing to widen
    alone = [dict(d, ts=format_ts(1767225600 + 30 * 3600 * i)) for i, d in enumerate(dicts)]
    assert {k: v for k, (v, _) in stream_plan.measure(Observed(as_rows(alone), s), s)["agent:a1"].items()} == {
        "mean": 1.0,
        "variance": 1.0,
        "hit_rate": 1.0,
    }


def test_calibration_warning_only_when_errors_are_clearly_more_autocorrelated_than_assumed():
    rows = _ar_rows(1500, 0.4, "ar", 4) + _ar_rows(1500, 0.0, "iid", 5)
    auto = DivergenceSettings(strategy_streams=False, fleet_wide=False)
    assert autocorrelation_warning(error_autocorrelation(rows, auto), auto) is None  # measured and used
    s = DivergenceSettings(strategy_streams=False, fleet_wide=False, estimate_dependence=False)
    warning = autocorrelation_warning(error_autocorrelation(rows, s), s)
    assert (
        warning.startswith("errors are autocorrelated: lag-1 equivalent 0.")
        and "in agent:ar (1470 rows; 1 of 2 streams" in warning
    )
    assert "set divergence.error_autocorrelation" in warning
    assumed = DivergenceSettings(
        strategy_streams=False, fleet_wide=False, error_autocorrelation=0.4, estimate_dependence=False
    )
    assert autocorrelation_warning(error_autocorrelation(rows, assumed), assumed) is None
    iid = _ar_rows(1500, 0.0, "iid", 6)
    assert autocorrelation_warning(error_autocorrelation(iid, s), s) is None


@pytest.mark.parametrize("per_hour", [1, 4, 8])
def test_an_alarm_raised_by_rows_that_just_matured_survives_the_run(per_hour):
    """A 24 h row is charted a day after its signal; `now` must not clear, in the same run, the
    alarm those rows raised (with clear_hours of one horizon it did)."""
    from meta_supervisor.core.divergence import detect
    from meta_supervisor.core.timeutil import parse_ts

    rng, out = random.Random(0), []
    for t in range(3000):
        err = rng.gauss(120.0 if t >= 2900 else 0.0, 60.0)
        out.append(
            dict(
                event_id=f"a-{t:05d}",
                ts=format_ts(1767225600 + int(3600 * t / per_hour)),
                agent="a1",
                strategy_class="macro",
                symbol=f"S{t % per_hour}",
                realized_pnl_bps=5 + err,
                expected_pnl_bps=5.0,
                expected_sigma_bps=60.0,
                pnl_error_bps=err,
                abs_error_bps=abs(err),
                sim_version="ridge_h24@abc",
                horizon_hours=24,
            )
        )
    rows = as_rows(out)
    s = DivergenceSettings(seed_rules=False, strategy_streams=False)
    matured = format_ts(parse_ts(rows[-1].ts) + int(24.3 * 3600))
    _, firing = detect(None, [], rows, s, now=matured)
    assert "cusum_bias_up" in {d["trigger"] for d in firing}
    much_later = format_ts(parse_ts(rows[-1].ts) + 24 * 3600 + 400 * 3600)
    _, later = detect(None, [], rows, s, now=much_later)
    assert "cusum_bias_up" not in {d["trigger"] for d in later}  # past clear_max_hours: cleared


def _fleet(n_agents, shifted, factor=3.0, n=600, shift_at=400, seed=0):
    """n hourly rows per agent; agents in `shifted` have their error sd x `factor` from row shift_at."""
    out = []
    for a in range(n_agents):
        rows = _row_dicts(n, agent=f"ag{a}", seed=seed + a)
        rng = random.Random(1000 + a)
        for t, r in enumerate(rows):
            if a in shifted and t >= shift_at:
                err = rng.gauss(0.0, 60.0 * factor)
                r.update(pnl_error_bps=err, realized_pnl_bps=5.0 + err, abs_error_bps=abs(err))
        out += rows
    return as_rows(sorted(out, key=lambda r: (r["ts"], r["event_id"])))


FLEET_S = DivergenceSettings(arl0_rows=2000, seed_rules=False, strategy_streams=False)


def test_a_move_of_the_whole_fleet_is_one_fleet_alert_and_agent_notices():
    """Every agent's errors widen at once (a market event, or a sim whose sigma lags it): the
    agents' variance alarms are fleet-wide notices and the fleet stream raises the one alert."""
    rows = _fleet(6, shifted=set(range(6)))
    _, dets = detect(None, [], rows, FLEET_S)
    agents = [d for d in dets if d["scope"] == "agent" and d["trigger"] == "cusum_variance"]
    assert len(agents) >= 3 and all(d["severity"] == "info" and d["fleet_wide"] for d in agents)
    assert all("fleet-wide" in d["detail"] for d in agents)
    (fleet,) = [d for d in dets if d["key"] == "fleet:all:cusum_variance"]
    assert fleet["action"] == "CHECK_SIM_CALIBRATION" and fleet["severity"] != "info"
    assert fleet["agent"] is None and fleet["strategy_class"] is None
    off = detect(None, [], rows, replace(FLEET_S, fleet_wide=False))[1]
    assert not any(d["scope"] == "fleet" or d.get("fleet_wide") for d in off)
    assert all(d["severity"] != "info" for d in off if d["trigger"] == "cusum_variance")


def test_faulty_agents_that_do_not_move_the_median_agent_stay_alerts():
    """Two of six agents widen (a fault, not the market): the median agent did not move, so their
    alarms stay alerts however many rows they send."""
    rows = _fleet(6, shifted={0, 1}, factor=4.0)
    _, dets = detect(None, [], rows, FLEET_S)
    faulty = [d for d in dets if d["trigger"] == "cusum_variance" and d["agent"] in ("ag0", "ag1")]
    assert {d["agent"] for d in faulty} == {"ag0", "ag1"}
    assert all(d["severity"] != "info" and not d.get("fleet_wide") for d in faulty)


def test_an_episode_keeps_its_fleet_wide_verdict():
    rows = _fleet(6, shifted=set(range(6)))
    state, dets = detect(None, [], rows[: len(rows) - 600], FLEET_S)
    wide = {d["key"] for d in dets if d.get("fleet_wide")}
    assert wide and all(state["fleet_wide"][k][1] for k in wide)
    # the next rows are calm for everyone: the median is back, the running episodes stay fleet-wide
    calm = _fleet(6, shifted=set(), n=700, seed=50)[-600:]
    _, again = detect(json.loads(json.dumps(state)), calm, rows[-3000:] + calm, FLEET_S)
    kept = [d for d in again if d["key"] in wide and d["change_ts"] == state["fleet_wide"][d["key"]][0]]
    assert kept and all(d.get("fleet_wide") and d["severity"] == "info" for d in kept)


def _classes(shifted, shift=1.5, n=600, shift_at=400):
    """Nine hourly agents in three strategy classes of three (ag0-2 momentum, ag3-5 meanrev, ag6-8
    breakout); agents in `shifted` have their mean error moved by `shift` sigma from row shift_at."""
    out = []
    for a in range(9):
        cls = ("momentum", "meanrev", "breakout")[a // 3]
        out += _row_dicts(n, agent=f"ag{a}", cls=cls, seed=a, shift_at=shift_at if a in shifted else None, shift=shift)
    return as_rows(sorted(out, key=lambda r: (r["ts"], r["event_id"])))


CLASS_S = replace(FLEET_S, strategy_streams=True)


def test_a_move_of_one_strategy_class_is_its_class_alert_and_agent_notices():
    """A market move that helps one class (every momentum agent earns more than the sim says) does
    not move the fleet's median agent: the momentum agents' alarms are class-wide notices and the
    class's own stream raises the alert; without the rule they are three agent alerts."""
    rows = _classes(shifted={0, 1, 2})
    state, dets = detect(None, [], rows, CLASS_S)
    agents = [d for d in dets if d["scope"] == "agent" and d["trigger"] == "cusum_bias_up"]
    assert {d["agent"] for d in agents} == {"ag0", "ag1", "ag2"}
    assert all(d["severity"] == "info" and d["class_wide"] and not d.get("fleet_wide") for d in agents)
    assert all("class-wide: the median momentum agent" in d["detail"] for d in agents)
    (cls,) = [d for d in dets if d["key"] == "strategy:momentum:cusum_bias_up"]
    assert cls["severity"] != "info" and not cls.get("class_wide")
    assert {state["fleet_wide"][d["key"]][1] for d in agents} == {"class"}
    off = detect(None, [], rows, replace(CLASS_S, class_wide=False))[1]
    assert {d["agent"] for d in off if d["scope"] == "agent" and d["severity"] != "info"} == {"ag0", "ag1", "ag2"}


def test_one_faulty_agent_of_a_class_stays_an_alert():
    """One momentum agent of three drifts (a fault): its class's median agent did not move."""
    rows = _classes(shifted={1})
    _, dets = detect(None, [], rows, CLASS_S)
    (fault,) = [d for d in dets if d["key"] == "agent:ag1:cusum_bias_up"]
    assert fault["severity"] != "info" and not fault.get("class_wide")


def test_a_class_wide_verdict_survives_the_state_file(tmp_path):
    """The episode's verdict "class" is written to and read back from state/detectors.json."""
    rows = _classes(shifted={0, 1, 2})
    state, dets = detect(None, [], rows, CLASS_S)
    (tmp_path / "state").mkdir()
    evaluate_state.write_detectors(tmp_path, state, {"p": 1})
    read, _ = evaluate_state.read_detectors(tmp_path)
    _, again = detect(read, [], rows, CLASS_S)
    assert {d["key"] for d in again if d.get("class_wide")} == {d["key"] for d in dets if d.get("class_wide")} != set()


def test_peers_are_measured_over_the_alarms_span():
    """The momentum agents drifted up by 1 sigma from row 100 to row 400 and are back since: over an
    alarm's span (since row 100) their median agent moved about 0.6 sigma, over the last 48 h not
    at all; the fleet's median agent (six of nine never moved) did not move over either span."""
    out = []
    for a in range(9):
        rows = _row_dicts(600, agent=f"ag{a}", cls=("momentum", "meanrev", "breakout")[a // 3], seed=a)
        for t, r in enumerate(rows):
            if a < 3 and 100 <= t < 400:
                r.update(pnl_error_bps=r["pnl_error_bps"] + 60.0)
        out += rows
    peers = PeerMoves(Observed(as_rows(out), CLASS_S), CLASS_S)
    since = _ts(100)
    assert peers.move("cusum_bias_up", since, "momentum") == pytest.approx(0.6, abs=0.1)
    assert abs(peers.move("cusum_bias_up", None, "momentum")) < 0.3  # the last 48 h only
    assert abs(peers.move("cusum_bias_up", since)) < 0.15
    assert peers.move("cusum_bias_up", since, "nobody") is None  # no such class: nothing to compare with
