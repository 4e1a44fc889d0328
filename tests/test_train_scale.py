"""Train refits the scale model on every run (the stale-sigma bug), and reconcile stamps it."""

from __future__ import annotations

import math

import msgspec
import numpy as np
import pytest

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.core import sim_model as sm
from meta_supervisor.core.config import TrainSettings
from meta_supervisor.core.scale_model import ScaleModel
from meta_supervisor.core.timeutil import format_ts
from meta_supervisor.core.training import design_matrix, train_horizon
from meta_supervisor.files.jsonio import read_json, write_json
from meta_supervisor.jobs import reconcile, train
from tests.conftest import read_rows, write_jsonl
from tests.rows import row
from tests.test_reconcile import ev

T0 = 1_700_000_000
SIGMAS = {"EURUSD": 8.0, "SPY": 40.0, "BAC": 160.0}


def _rows(n, seed, scale=1.0, start=0, w=(40.0, 5.0), b=-10.0):
    """A fleet over three symbols whose residual sigmas are SIGMAS x `scale`, a row every 10 min."""
    rng = np.random.default_rng(seed)
    names = list(SIGMAS)
    out = []
    for i in range(n):
        s = names[i % 3]
        x = (rng.uniform(0, 1), rng.uniform(0.3, 0.9))
        y = w[0] * x[0] + w[1] * x[1] + b + rng.normal(0, SIGMAS[s] * scale)
        out.append(
            row(
                event_id=f"e{start + i}",
                ts=format_ts(T0 + (start + i) * 600),
                agent=f"a{i % 4}",
                symbol=s,
                regime="TREND" if i % 5 == 0 else "RANGE",
                score_final=float(x[0]),
                confidence=float(x[1]),
                realized_pnl_bps=float(y),
            )
        )
    return out


# Volatility tripled; the champion holds the true weights, and on this seed the challenger's
# estimation error makes it (slightly) worse on the holdout, so train keeps the champion.
SHIFTED = dict(scale=3.0, w=(400.0, 50.0), b=-100.0)
SEED = 6


def _truth_card(rmse, w=(40.0, 5.0), b=-10.0):
    card = {
        "ok": True,
        "model": "ridge",
        "horizon_hours": 24,
        "features": ["score_final", "confidence"],
        "weights": [*w, b],
        "rmse_bps": rmse,
        "n": 1000,
        "ridge": 0.0,
    }
    card["model_hash"] = sm.model_hash(card["features"], card["weights"])
    card["sim_version"] = sm.sim_version(card)
    return card


def test_promoted_card_carries_per_symbol_sigmas_and_calibration():
    out = train_horizon(_rows(6000, 1), 24, TrainSettings(), None, "t")
    assert out.decision["decision"] == "promoted"
    scale = ScaleModel.from_card(out.card["scale_model"])
    for s, sigma in SIGMAS.items():
        assert scale.sigma(s, "RANGE") == pytest.approx(sigma, rel=0.12), s
    cal = out.card["calibration"]
    for s in SIGMAS:  # out of sample, per symbol: calibrated with the scale model...
        assert 0.8 < cal["symbol"][s]["var_z"] < 1.25, s
    assert set(cal["agent"]) == {"a0", "a1", "a2", "a3"} and set(cal["regime"]) == {"TREND", "RANGE"}
    # ... and one sigma per horizon makes the quiet symbol's z far too small
    quiet = [r for r in _rows(6000, 1)[5000:] if r.symbol == "EURUSD"]
    X, y = design_matrix(quiet, out.card["features"])
    assert np.var((y - sm.predict_card(out.card, X)) / out.card["rmse_bps"]) < 0.1


def test_kept_champion_gets_a_fresh_sigma_after_a_volatility_shift():
    """The stale-sigma bug: the champion's card said 30 bps, volatility tripled, train kept the
    weights and left rmse_bps and every row's sigma at the old value for weeks."""
    old = _truth_card(rmse=30.0, w=SHIFTED["w"], b=SHIFTED["b"])
    rows = _rows(3000, SEED, **SHIFTED)
    out = train_horizon(rows, 24, TrainSettings(), old, "2026-01-01T00:00:00Z")
    assert out.decision["decision"] == "kept_champion"
    card = out.card
    assert card is not None, "a kept champion must still be rewritten with a fresh scale model"
    assert card["model_hash"] == old["model_hash"] and card["weights"] == old["weights"]
    assert card["sim_version"] == old["sim_version"]
    hold = slice(3000 - 3000 // 6, 3000)
    truth_rmse = math.sqrt(np.mean([SIGMAS[r.symbol] ** 2 * 9 for r in rows[hold]]))
    assert card["rmse_bps"] == pytest.approx(truth_rmse, rel=0.1)
    assert card["refreshed"]["rmse_bps_before"] == 30.0
    scale = ScaleModel.from_card(card["scale_model"])
    for s, sigma in SIGMAS.items():  # the new volatility, per symbol (the card said 30 bps for all)
        assert scale.sigma(s, "RANGE") == pytest.approx(3 * sigma, rel=0.12), s
    assert out.challenger is not None and out.challenger["model_hash"] != old["model_hash"]


def test_too_few_rows_still_refreshes_a_usable_champions_scale():
    old = _truth_card(rmse=30.0)
    out = train_horizon(_rows(120, 3), 24, TrainSettings(), old, "t")
    assert out.decision["decision"] == "not_trained" and out.decision["scale_refreshed"]
    assert out.card is not None and out.card["rmse_bps"] == 30.0 and out.card["scale_model"]["rows"] == 120
    assert train_horizon(_rows(120, 3), 24, TrainSettings(), None, "t").card is None


def _short_rows(n, seed, shocked="BAC", last_hours=48.0, factor=3.0, slipping_agent=None):
    """1 h rows over the same span as `_rows(n)`: each symbol's exits (every 30 min) follow a
    random walk of SIGMAS / sqrt(24) bps an hour, `factor` x faster for `shocked` in the last
    `last_hours`; errors are the move. `slipping_agent`'s rows (a third of them) get fills 200 bps
    worse: their entry prices and errors move, the market (the exits) does not."""
    rng = np.random.default_rng(seed)
    names, end = list(SIGMAS), T0 + n * 600
    log_price = dict.fromkeys(names, math.log(100.0))
    out = []
    for i in range(n):
        s, t = names[i % 3], T0 + i * 600
        sd = SIGMAS[s] / math.sqrt(24) * (factor if s == shocked and t > end - last_hours * 3600 else 1.0)
        move = float(rng.normal(0, sd / math.sqrt(2)))  # 30 min between a symbol's exits
        entry = math.exp(log_price[s])
        log_price[s] += move / 1e4
        agent = "slip" if slipping_agent and i % 9 < 3 else "a1"
        slip = 200.0 if agent == "slip" else 0.0
        out.append(
            row(
                event_id=f"s{i}",
                ts=format_ts(t),
                agent=agent,
                symbol=s,
                horizon_hours=1,
                entry_price=entry * (1 + slip / 1e4),
                exit_price=math.exp(log_price[s]),
                pnl_error_bps=move - slip,
            )
        )
    return out


def test_longer_horizon_sigma_follows_the_short_horizons_recent_level():
    """A 24 h scale model (half-life 12 days) has not seen yesterday's volatility shock; the 1 h
    errors have, and move only the shocked symbol's sigma (TrainSettings.scale_level_half_life_days)."""
    rows, short = _rows(3000, 1), _short_rows(3000, 2)
    plain = train_horizon(rows, 24, TrainSettings(), None, "t").card
    leveled = train_horizon(rows, 24, TrainSettings(), None, "t", level_rows=short).card
    off = train_horizon(rows, 24, TrainSettings(scale_level_half_life_days=0), None, "t", level_rows=short).card
    assert plain and leveled and off
    before, after = ScaleModel.from_card(plain["scale_model"]), ScaleModel.from_card(leveled["scale_model"])
    assert after.sigma("BAC", "RANGE") > 1.5 * before.sigma("BAC", "RANGE")
    for s in ("EURUSD", "SPY"):
        assert after.sigma(s, "RANGE") == pytest.approx(before.sigma(s, "RANGE"), rel=0.25), s
    assert leveled["scale_model"]["level"]["fast_half_life_days"] == 1.5
    assert off["scale_model"] == plain["scale_model"] and "level" not in plain["scale_model"]
    assert leveled["calibration"]["rows"] == plain["calibration"]["rows"]


def test_a_slipping_agent_does_not_move_the_level_the_others_are_judged_by():
    """The level is the market's (exit prices), not the errors': an agent whose fills are 200 bps
    worse leaves every sigma as it was, so its own z shows the slippage undiluted."""
    rows = _rows(3000, 1)
    honest = train_horizon(rows, 24, TrainSettings(), None, "t", level_rows=_short_rows(3000, 2)).card
    slipping = _short_rows(3000, 2, slipping_agent=True)
    assert {r.agent for r in slipping} == {"a1", "slip"}
    faulty = train_horizon(rows, 24, TrainSettings(), None, "t", level_rows=slipping).card
    assert honest and faulty and honest["scale_model"]["level"] == faulty["scale_model"]["level"]


def test_an_agent_with_noisy_fills_leaves_the_sigma_the_others_are_judged_by():
    """a3's residuals get 3x the symbol's sigma of extra noise (variance x10): train leaves it out of
    every symbol's scale fit and says so on the card; `scale_outlier_ratio: 0` keeps it in."""
    rng = np.random.default_rng(4)
    rows = [
        msgspec.structs.replace(r, realized_pnl_bps=r.realized_pnl_bps + float(rng.normal(0, 3 * SIGMAS[r.symbol])))
        if r.agent == "a3"
        else r
        for r in _rows(3000, 9)
    ]
    card = train_horizon(rows, 24, TrainSettings(), None, "t").card
    kept = train_horizon(rows, 24, TrainSettings(scale_outlier_ratio=0), None, "t").card
    assert card and kept
    assert card["scale_model"]["excluded_agents"] == {s: ["a3"] for s in sorted(SIGMAS)}
    assert "excluded_agents" not in kept["scale_model"]
    fit, pooled = ScaleModel.from_card(card["scale_model"]), ScaleModel.from_card(kept["scale_model"])
    for s in SIGMAS:
        assert pooled.sigma(s, "RANGE") > 1.5 * fit.sigma(s, "RANGE"), s
    # the ridge model itself is still fitted on a3's rows: its prediction error is a few bps, which
    # only the quiet EURUSD (8 bps) feels (10.5 here against 8.5 with a3's rows left out entirely)
    for s in ("SPY", "BAC"):
        assert fit.sigma(s, "RANGE") == pytest.approx(SIGMAS[s], rel=0.05), s


@pytest.mark.parametrize("ratio", [0.5, 1.0, -1.0, math.inf, math.nan])
def test_an_outlier_ratio_that_would_leave_out_honest_agents_is_refused(ratio):
    """At or below 1, every agent above the median (half the fleet or more) would leave the fit."""
    with pytest.raises(ValueError, match="scale_outlier_ratio"):
        TrainSettings(scale_outlier_ratio=ratio)
    assert TrainSettings(scale_outlier_ratio=0).scale_outlier_ratio == 0


def test_train_job_asked_for_24_h_reads_the_1_h_rows_for_the_level(tmp_path):
    """`--horizons 24` alone still loads the shortest horizon's window from the history: the
    24 h card's scale model carries the level the 1 h errors set."""
    root = tmp_path / "repo"
    by_month: dict[str, list] = {}
    for r in _rows(3000, 1) + _short_rows(3000, 2):
        by_month.setdefault(r.ts[:7], []).append(r)
    for month, rows in by_month.items():
        path = root / f"state/reconciled/{month}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in sorted(rows, key=lambda r: r.ts)))
    train.run(root, horizons=[24], actions=Actions(env={}), now="2026-01-01T00:00:00Z")
    level = read_json(root / "state/models/ridge_h24.json")["scale_model"]["level"]
    assert level["symbol_sigma_ratio"]["BAC"] > 1.2 and not (root / "state/models/ridge_h1.json").exists()


def test_train_job_rewrites_the_kept_champion_and_summarizes_calibration(tmp_path):
    root = tmp_path / "repo"
    old = _truth_card(rmse=30.0, w=SHIFTED["w"], b=SHIFTED["b"])
    write_json(root / "state/models/ridge_h24.json", old)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    train.run(
        root,
        horizons=[24],
        actions=Actions(env=env),
        now="2026-01-01T00:00:00Z",
        windows={24: _rows(3000, SEED, **SHIFTED)},
    )
    card = read_json(root / "state/models/ridge_h24.json")
    assert card["model_hash"] == old["model_hash"] and card["rmse_bps"] > 100
    assert card["scale_model"]["symbol_sigma_bps"]["BAC"] > 400
    text = summary.read_text()
    assert "kept_champion" in text and "### Calibration h=24" in text and "| symbol | EURUSD |" in text
    report = read_json(root / "state/models/train_report.json")
    assert sum(c["n"] for c in report["calibration"]["24"]["symbol"].values()) == 500


def _tick(ts, price, symbol):
    return {"ts": format_ts(ts), "symbol": symbol, "price": price}


def test_reconcile_stamps_each_rows_sigma_from_the_scale_model(root):
    scale = ScaleModel(900.0, {"EURUSD": 16.0, "BAC": 10000.0}, {"TREND": 1.44, "RANGE": 1.0}, 14.0, 5.0)
    card = {**_truth_card(rmse=30.0), "horizon_hours": 1, "scale_model": scale.to_card()}
    card["model_hash"] = "abc123"
    write_json(root / "state/models/ridge_h1.json", card)
    events = [
        {
            "event_id": f"e{s}{g}",
            "ts": format_ts(T0),
            "agent": "a1",
            "symbol": s,
            "side": "long",
            "score_final": 0.5,
            "confidence": 0.8,
            "regime": g,
        }
        for s in ("EURUSD", "BAC", "NEWSYM")
        for g in ("TREND", "RANGE")
    ]
    write_jsonl(root / "data/alpha_events.jsonl", events)
    write_jsonl(
        root / "data/prices.jsonl", [_tick(T0 + dt, 100.0, s) for s in ("EURUSD", "BAC", "NEWSYM") for dt in (0, 3600)]
    )
    reconcile.run(root)
    got = {(r["symbol"], r["regime"]): r["expected_sigma_bps"] for r in read_rows(root) if r["horizon_hours"] == 1}
    assert got == {
        ("EURUSD", "TREND"): 4.8,
        ("EURUSD", "RANGE"): 4.0,
        ("BAC", "TREND"): 120.0,
        ("BAC", "RANGE"): 100.0,
        ("NEWSYM", "TREND"): 36.0,
        ("NEWSYM", "RANGE"): 30.0,  # never seen: the pooled sigma
    }


def test_a_malformed_scale_model_makes_the_card_unusable_not_half_trusted(root):
    card = {**_truth_card(rmse=30.0), "horizon_hours": 1, "scale_model": {"pooled_sigma_bps": -1}}
    write_json(root / "state/models/ridge_h1.json", card)
    write_jsonl(
        root / "data/alpha_events.jsonl",
        [ev("e1", format_ts(T0))],
    )
    write_jsonl(root / "data/prices.jsonl", [_tick(T0, 100.0, "BTC"), _tick(T0 + 3600, 101.0, "BTC")])
    reconcile.run(root)
    (r,) = [x for x in read_rows(root) if x["horizon_hours"] == 1]
    assert r["sim_version"] == "fallback_zero" and r["expected_sigma_bps"] is None
