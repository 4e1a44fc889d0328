"""Evaluate end to end on disk: breach rules, the dry-run outbox, policy errors."""

from __future__ import annotations

import json
import re

import msgspec
import numpy as np
import pytest

from meta_supervisor.files.policy_yaml.edit import disable_strategy
from meta_supervisor.jobs import evaluate
from tests.conftest import KILL_LIST, make_root, run_script

NOW = "2026-11-28T01:00:00Z"  # the day after the market rows of _world


def rows_for(strategy, regime, n, *, tail_bps=0.0, start=0, seed=0, agent=None, every_minutes=1):
    """n rows, one every `every_minutes`, where realized ~ N(expected, 20) and 6% of rows lose an
    extra `tail_bps`. A breach needs cvar_min_days signal days: worlds that breach use every_minutes=30."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        realized = float(rng.normal(5.0, 20.0)) - (tail_bps if i % 50 < 3 else 0.0)
        t = (start + i) * every_minutes
        out.append(
            {
                "event_id": f"{strategy}-{regime}-{t:06d}",
                "ts": f"2026-11-{1 + t // 1440 % 28:02d}T{t // 60 % 24:02d}:{t % 60:02d}:00Z",
                "agent": agent or f"{strategy}-1",
                "strategy_class": strategy,
                "symbol": "BTC",
                "side": "long",
                "regime": regime,
                "horizon_hours": 24,
                "score_final": 0.5,
                "confidence": 0.5,
                "entry_price": 100.0,
                "exit_price": 100.0,
                "realized_pnl_bps": realized,
                "expected_pnl_bps": 5.0,
                "expected_sigma_bps": 20.0,
                "pnl_error_bps": realized - 5.0,
                "abs_error_bps": abs(realized - 5.0),
                "sim_version": "ridge_h24@test",
                "reconciled_at": "x",
            }
        )
    return out


def put_rows(root, rows):
    path = root / "state/reconciled/2026-11.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(b"".join(msgspec.json.encode(r) + b"\n" for r in rows))


def _world(root, *, macro_trend_tail=400.0, n=400, current="TREND"):
    put_rows(
        root,
        rows_for("macro", "TREND", n, tail_bps=macro_trend_tail, seed=1, every_minutes=30)
        + rows_for("macro", "RANGE", n, start=500, seed=2, every_minutes=30)
        + rows_for("arb", "RANGE", n, tail_bps=900.0, start=100, seed=3, every_minutes=30)
        + rows_for("arb", "TREND", n, start=50, seed=4, every_minutes=30),
    )
    # The market's regime: signals of the last day on three symbols, as the 1 h rows show them.
    put_rows(root, [market_row(symbol, current, hour) for symbol in ("BTC", "ETH", "SOL") for hour in (20, 23)])


def market_row(symbol, regime, hour, day="2026-11-27"):
    base = rows_for("market", regime, 1, seed=5)[0]
    return dict(base, event_id=f"m-{symbol}-{hour}", symbol=symbol, horizon_hours=1, ts=f"{day}T{hour:02d}:00:00Z")


def test_breach_in_current_regime_goes_to_outbox_and_policy_is_untouched(root):
    _world(root)
    before = (root / "policy/strategy_kill_list.yaml").read_bytes()
    result = evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    assert result.regime == "TREND"
    assert [s for s, _ in result.proposals] == ["macro"]
    md = (root / "outbox/pulls/macro.md").read_text()
    assert md.splitlines()[0] == "[AUTO] Disable strategy: macro"
    cells = json.loads((root / "state/strategy_cvar_regime.json").read_text())
    cvar = cells["macro"]["TREND"]["cvar95_error_bps"]
    assert cvar > 120 and f"{cvar:.1f} bps" in md and "limit 120 bps" in md
    edited = (root / "outbox/pulls/macro.yaml").read_text()
    reason = next(line for line in edited.splitlines() if "disabled_reason" in line)
    assert edited == disable_strategy(
        before.decode(), "macro", "2026-11-28T01:00:00Z", json.loads(reason.split(": ", 1)[1])
    )
    assert (root / "policy/strategy_kill_list.yaml").read_bytes() == before
    for name in ("strategy_cvar_regime.json", "divergence_alerts.json", "detectors.json"):
        assert (root / "state" / name).exists()


def test_only_the_current_regime_is_enforced(root):
    # arb breaches badly in RANGE, macro in TREND; with RANGE current only arb... but arb has
    # no RANGE limit in this kill list, and macro RANGE is within its limit: nothing.
    _world(root, current="RANGE")
    result = evaluate.run(root, dry_run=True, now=NOW)
    assert result.regime == "RANGE" and result.proposals == []
    outcome = {v.strategy: v.outcome for v in result.verdicts}
    assert outcome == {"macro": "within_limit", "arb": "no_limit"}
    assert not (root / "outbox/pulls").exists()


def test_current_regime_override_from_supervisor_yaml(tmp_path):
    root = make_root(tmp_path / "r", supervisor="evaluate:\n  current_regime: RANGE\n")
    _world(root, current="TREND")
    assert evaluate.run(root, dry_run=True, now=NOW).regime == "RANGE"


def test_never_below_the_minimum_cell_size(root):
    _world(root, n=199)  # 199 rows over 5 days: one row short of cvar_min_rows
    result = evaluate.run(root, dry_run=True, now=NOW)
    assert {v.strategy: v.outcome for v in result.verdicts}["macro"] == "insufficient_data"
    assert result.proposals == []


def test_already_disabled_strategy_gets_no_proposal(tmp_path):
    root = make_root(tmp_path / "r", kill_list=KILL_LIST.replace("status: ENABLED", "status: DISABLED"))
    _world(root)
    result = evaluate.run(root, dry_run=True, now=NOW)
    assert {v.strategy: v.outcome for v in result.verdicts}["macro"] == "disabled"
    assert result.proposals == []


def test_evaluate_runs_on_state_and_policy_alone(root):
    put_rows(root, rows_for("macro", "TREND", 400, tail_bps=500.0, every_minutes=30))
    assert not (root / "data").exists()
    result = evaluate.run(root, dry_run=True, now=NOW)
    assert result.regime == "TREND"  # from the newest reconciled row
    assert [s for s, _ in result.proposals] == ["macro"]


@pytest.mark.parametrize(
    "text, line, words",
    [
        (
            "macro:\n  status: ENABLED\n  by_regime:\n    TREND:\n      max_cvar_error_bps: lots\n",
            5,
            "macro.by_regime.TREND.max_cvar_error_bps: expected a positive number",
        ),
        ("macro:\n  status: MAYBE\n", 2, "status must be ENABLED or DISABLED"),
        ("macro:\n  status: ENABLED\n  by_regime: [TREND]\n", 3, "by_regime"),
        ("macro:\n  status: ENABLED\n   bad indent: 1\n", 3, ""),
        ("macro:\n  status: ENABLED\nmacro:\n  status: DISABLED\n", 3, ""),
    ],
)
def test_malformed_kill_list_stops_before_anything_is_proposed(tmp_path, text, line, words):
    root = make_root(tmp_path / "r", kill_list=text)
    _world(root)
    proc = run_script("evaluate", root, "--dry-run")
    assert proc.returncode == 1, proc.stderr
    err = proc.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert err.startswith(f"evaluate: error: policy/strategy_kill_list.yaml:{line}: "), err
    assert words in err
    assert not (root / "outbox").exists()
    assert not (root / "state/strategy_cvar_regime.json").exists()


def test_malformed_supervisor_yaml_names_file_and_line(tmp_path):
    root = make_root(tmp_path / "r", supervisor="# settings\nevaluate:\n  widow_rows: 10\n")
    proc = run_script("evaluate", root, "--dry-run")
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith(
        "evaluate: error: policy/supervisor.yaml:3: evaluate.widow_rows: unknown setting"
    )


def test_missing_kill_list_is_one_line(root):
    (root / "policy/strategy_kill_list.yaml").unlink()
    proc = run_script("evaluate", root, "--dry-run")
    assert proc.returncode == 1 and "policy/strategy_kill_list.yaml: file not found" in proc.stderr
    assert "\n" not in proc.stderr.strip()


def _ar1_rows(phi=0.6):
    rows = rows_for("macro", "TREND", 600, seed=7, every_minutes=30)
    rng, z = np.random.default_rng(8), 0.0
    for row in rows:  # AR(1), phi 0.6, sigma 20
        z = phi * z + 0.8 * rng.standard_normal()
        row.update(realized_pnl_bps=5.0 + 20.0 * z, pnl_error_bps=20.0 * z, abs_error_bps=abs(20.0 * z))
    return rows


def test_autocorrelated_errors_widen_the_charts_by_the_measured_factor(root):
    """With dependence estimated (the default), the charts are widened by the stream's measured
    long-run variance factor: AR(1) with phi 0.6 has V = 1.6 / 0.4 = 4."""
    put_rows(root, _ar1_rows())
    evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    streams = json.loads((root / "state/detectors.json").read_text())["streams"]
    factor = streams["agent:macro-1"]["plan"]["long_run_factor"]["mean"]
    assert 2.5 < factor < 6.0, factor


def test_autocorrelated_errors_are_flagged_when_the_charts_assume_none(root, tmp_path):
    """With estimation switched off the charts assume independent errors (error_autocorrelation 0):
    a window whose errors are clearly more autocorrelated gets a warning in the log and summary."""
    import io

    from meta_supervisor.adapters.actions import Actions

    (root / "policy/supervisor.yaml").write_text("divergence:\n  estimate_dependence: false\n")
    put_rows(root, _ar1_rows())
    out, summary = io.StringIO(), tmp_path / "summary.md"
    evaluate.run(
        root,
        dry_run=True,
        now="2026-11-28T01:00:00Z",
        actions=Actions(env={"GITHUB_STEP_SUMMARY": str(summary)}, out=out),
    )
    assert re.search(r"^warning: errors are autocorrelated", out.getvalue(), re.M), out.getvalue()
    assert "> Detector calibration: errors are autocorrelated" in summary.read_text()

    other = make_root(tmp_path / "iid")
    put_rows(other, rows_for("macro", "TREND", 600, seed=7))
    quiet = io.StringIO()
    evaluate.run(other, dry_run=True, now="2026-11-28T01:00:00Z", actions=Actions(env={}, out=quiet))
    assert "autocorrelated" not in quiet.getvalue()


def test_pr_shows_interval_evidence_and_breach_duration_and_fallback_rows_are_not_used(root):
    _world(root)
    fallback = rows_for("macro", "TREND", 500, tail_bps=5000.0, start=20, seed=5, every_minutes=30)
    for r in fallback:  # no model: whatever they lost must not enter the ES
        r.update(sim_version="fallback_zero", expected_sigma_bps=None, expected_pnl_bps=0.0)
    put_rows(root, fallback)
    evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    cells = json.loads((root / "state/strategy_cvar_regime.json").read_text())
    c = cells["macro"]["TREND"]
    assert c["n"] == 400 and c["n_without_model"] == 500 and c["cvar95_error_bps"] < 1000
    low, high = c["cvar95_ci_bps"]
    assert low > 120 and low <= c["cvar95_error_bps"] <= high
    assert c["above_limit_since"] == c["breach_since"] == "2026-11-28T01:00:00Z"
    md = (root / "outbox/pulls/macro.md").read_text()
    assert f"90% interval [{low:.1f}, {high:.1f}]" in md and "500 rows without a model" in md
    assert f"{c['calibrated_cvar95_bps']:.1f} bps (Gaussian errors" in md and "specific: 1 of 2" in md
    assert f"confirmed (lower bound above) since {c['breach_since']}" in md
    reason = next(line for line in (root / "outbox/pulls/macro.yaml").read_text().splitlines() if "reason" in line)
    assert f"(95% lower bound {low:.1f} bps) > limit 120 bps" in reason
    evaluate.run(root, dry_run=True, now="2026-11-28T02:00:00Z")
    again = json.loads((root / "state/strategy_cvar_regime.json").read_text())["macro"]["TREND"]
    assert again["breach_since"] == "2026-11-28T01:00:00Z"  # the streak's start is carried


def test_above_the_limit_without_confidence_is_shown_not_proposed(root, tmp_path):
    # one terrible day among seven: the point ES is far above the limit, the day-block lower bound is not
    _world(root, macro_trend_tail=0.0)
    put_rows(
        root,
        [
            dict(r, realized_pnl_bps=-600.0, event_id=r["event_id"] + "x")
            for r in rows_for("macro", "TREND", 30, start=0, seed=9, every_minutes=30)
        ],
    )
    result = evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    assert {v.strategy: v.outcome for v in result.verdicts}["macro"] == "above_limit_unconfirmed"
    assert result.proposals == []


def test_too_few_days_never_breach(tmp_path):
    root = make_root(tmp_path / "r")
    put_rows(root, rows_for("macro", "TREND", 1000, tail_bps=500.0, every_minutes=2))  # 1000 rows over 2 days
    result = evaluate.run(root, dry_run=True, now=NOW)
    assert {v.strategy: v.outcome for v in result.verdicts}["macro"] == "insufficient_data"


def test_a_first_run_with_no_model_rows_proposes_nothing_however_large_the_losses(root):
    import io

    from meta_supervisor.adapters.actions import Actions

    fallback = rows_for("macro", "TREND", 600, tail_bps=5000.0, seed=5, every_minutes=30)
    for r in fallback:  # a first deployment: every row reconciled before any model existed
        r.update(sim_version="fallback_zero", expected_sigma_bps=None, expected_pnl_bps=0.0)
    put_rows(root, fallback)
    result = evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z", actions=Actions(env={}, out=io.StringIO()))
    (macro,) = [v for v in result.verdicts if v.strategy == "macro"]
    assert macro.outcome == "no_data" and result.proposals == []
    assert not (root / "outbox/pulls").exists() or not list((root / "outbox/pulls").glob("*.md"))
