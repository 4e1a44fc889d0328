"""Every state file a run reads back is checked against its layout: valid JSON of the wrong shape
stops the run with one line naming the file and the first wrong place (it gave a traceback deep
inside the run, exit 3), before any side effect."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_script
from tests.test_evaluate import _world

NOW = "2026-11-28T01:00:00Z"


def _set_chart_field(doc: dict) -> dict:
    stream = next(iter(doc["streams"].values()))
    chart = next(iter(stream["detectors"].values()))
    chart["n"] = "many"
    return doc


CASES = [
    ("state/reconcile_state.json", lambda d: {**d, "partitions": {"2026-11.jsonl": "big"}}, "$.partitions"),
    ("state/reconcile_state.json", lambda d: {**d, "events_cursor": {"data/a.jsonl": {"offset": 1}}}, "field `line`"),
    ("state/detectors.json", lambda d: {**d, "streams": {"agent:a": {"scope": "agent"}}}, "$.streams"),
    ("state/detectors.json", _set_chart_field, "field 'n' is str"),
    ("state/detectors.json", lambda d: {**d, "fleet_wide": {"agent:a:cusum_bias_up": [NOW, "maybe"]}}, "$.fleet_wide"),
    ("state/divergence_alerts.json", lambda d: {**d, "alerts": [{"key": 5}]}, "$.alerts[0].key"),
    ("state/strategy_cvar_regime.json", lambda d: {"macro": {"TREND": {"breach_since": 7}}}, "breach_since"),
    ("state/strategy_cvar_regime.json", lambda d: ["macro"], "Expected `object`"),
    ("state/market_regime.json", lambda d: {"regime": ["TREND"], "since": NOW}, "$.regime"),
]


@pytest.mark.parametrize(("rel", "damage", "where"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_a_wrongly_shaped_state_file_stops_evaluate_with_one_line(root, rel, damage, where):
    _world(root)
    (root / "state").mkdir(exist_ok=True)
    sizes = {f.name: f.stat().st_size for f in (root / "state/reconciled").glob("*.jsonl")}
    (root / "state/reconcile_state.json").write_text(json.dumps({"version": 1, "partitions": sizes}))
    assert run_script("evaluate", root, "--now", NOW).returncode == 0
    path = root / rel
    path.write_text(json.dumps(damage(json.loads(path.read_text()))))
    before = sorted(p.name for p in (root / "outbox").rglob("*"))
    proc = run_script("evaluate", root, "--now", "2026-11-28T02:00:00Z")
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"evaluate: error: {rel}: ") and where in last, last
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in (root / "outbox").rglob("*")) == before  # no side effect


def test_a_pending_event_that_is_not_an_event_stops_reconcile_with_one_line(root):
    (root / "state").mkdir(exist_ok=True)
    doc = {
        "version": 1,
        "partitions": {},
        "pending": [{"event": {"event_id": "x"}, "strategy_class": "m", "horizons_left": [1]}],
    }
    (root / "state/reconcile_state.json").write_text(json.dumps(doc))
    proc = run_script("reconcile", root)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "reconcile: error: state/reconcile_state.json: a pending event is not valid (missing field 'ts'); "
        "restore it from git"
    )


def test_a_model_card_with_wrong_types_is_skipped_with_a_warning(root):
    (root / "state/models").mkdir(parents=True)
    card = {
        "ok": True,
        "weights": ["a", "b", "c"],
        "features": ["score_final", "confidence"],
        "rmse_bps": 30.0,
        "model_hash": "abc",
        "horizon_hours": 1,
    }
    (root / "state/models/ridge_h1.json").write_text(json.dumps(card))
    proc = run_script("reconcile", root)
    assert proc.returncode == 0, proc.stderr
    assert "state/models/ridge_h1.json: not a usable model card" in proc.stderr
