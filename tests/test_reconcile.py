"""Reconcile against hand computations, idempotence, crash safety and input validation."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from meta_supervisor.core.records import ROW_FIELDS
from meta_supervisor.files import reconcile_state
from meta_supervisor.files.jsonio import write_json
from meta_supervisor.jobs import reconcile
from tests.conftest import REPO, read_rows, run_script, write_jsonl


def ev(event_id, ts, **kw):
    base = {
        "event_id": event_id,
        "ts": ts,
        "agent": "a1",
        "symbol": "BTC",
        "side": "long",
        "score_final": 0.5,
        "confidence": 0.8,
        "regime": "TREND",
    }
    base.update(kw)
    return base


def tick(ts, price, symbol="BTC"):
    return {"ts": ts, "symbol": symbol, "price": price}


def test_realized_pnl_matches_hand_computation(root):
    # Ticks at 10:00 (100), 10:30 (101), 11:00 (102), 13:00 (99), 14:30 (98). A signal at 10:10
    # sits between ticks: entry is the 10:00 tick. Its 1h exit is the last tick at or before
    # 11:10 (102, 11:00); it matured because 13:00 >= 11:10. Its 4h horizon (14:10) is matured by
    # the 14:30 tick: exit = last at or before 14:10 = 99. 24h is not matured.
    write_jsonl(
        root / "data/prices.jsonl",
        [
            tick("2026-11-24T10:00:00Z", 100.0),
            tick("2026-11-24T10:30:00Z", 101.0),
            tick("2026-11-24T11:00:00Z", 102.0),
            tick("2026-11-24T13:00:00Z", 99.0),
            tick("2026-11-24T14:30:00Z", 98.0),
        ],
    )
    write_jsonl(
        root / "data/alpha_events.jsonl",
        [
            ev("e1", "2026-11-24T10:10:00Z"),
            ev("e2", "2026-11-24T10:10:00Z", side="sell", price=100.5, agent="a2"),
            ev("e3", "2026-11-24T10:10:00Z", agent="ghost"),
        ],
    )
    result = reconcile.run(root, now="2026-11-25T00:00:00Z")
    rows = {(r["event_id"], r["horizon_hours"]): r for r in read_rows(root)}
    assert set(rows) == {(e, h) for e in ("e1", "e2", "e3") for h in (1, 4)}
    assert result.pending == 3  # every event still waits for its 24h horizon
    r = rows[("e1", 1)]
    assert r["entry_price"] == 100.0 and r["exit_price"] == 102.0
    assert r["realized_pnl_bps"] == pytest.approx((102 / 100 - 1) * 1e4)
    assert rows[("e1", 4)]["realized_pnl_bps"] == pytest.approx((99 / 100 - 1) * 1e4)
    # short with an explicit entry price
    assert rows[("e2", 4)]["entry_price"] == 100.5
    assert rows[("e2", 4)]["realized_pnl_bps"] == pytest.approx(-(99 / 100.5 - 1) * 1e4)
    assert rows[("e2", 1)]["strategy_class"] == "arb"
    assert rows[("e3", 1)]["strategy_class"] == "unknown"
    # no model yet: fallback
    assert r["sim_version"] == "fallback_zero" and r["expected_pnl_bps"] == 0 and r["expected_sigma_bps"] is None
    assert r["pnl_error_bps"] == pytest.approx(r["realized_pnl_bps"])
    assert r["abs_error_bps"] == pytest.approx(abs(r["pnl_error_bps"]))
    assert r["ts"] == "2026-11-24T10:10:00Z" and r["reconciled_at"] == "2026-11-25T00:00:00Z"
    assert list(r) == list(ROW_FIELDS)
    assert (root / "state/reconciled/2026-11-24.jsonl").exists()  # the UTC day of the signal


def test_pair_written_once_when_it_matures(root):
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T10:00:00Z", 100.0)])
    write_jsonl(root / "data/alpha_events.jsonl", [ev("e1", "2026-11-24T10:00:00Z")])
    reconcile.run(root)
    assert read_rows(root) == []
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T11:00:00Z", 110.0)])
    reconcile.run(root)
    reconcile.run(root)
    rows = read_rows(root)
    assert [(r["event_id"], r["horizon_hours"]) for r in rows] == [("e1", 1)]
    assert rows[0]["realized_pnl_bps"] == pytest.approx(1000.0)


def test_second_run_writes_nothing(root):
    write_jsonl(
        root / "data/prices.jsonl", [tick(f"2026-11-2{d}T{h:02d}:00:00Z", 100 + h) for d in (4, 5) for h in range(24)]
    )
    write_jsonl(root / "data/alpha_events.jsonl", [ev(f"e{i}", f"2026-11-24T{i:02d}:00:00Z") for i in range(10)])
    reconcile.run(root, now="2026-11-26T00:00:00Z")
    before = {
        p: p.read_bytes() for p in (root / "state").rglob("*") if p.is_file() and p.name != "reconcile_report.json"
    }
    reconcile.run(root, now="2026-11-26T01:00:00Z")
    after = {
        p: p.read_bytes() for p in (root / "state").rglob("*") if p.is_file() and p.name != "reconcile_report.json"
    }
    assert before == after
    report = json.loads((root / "state/reconcile_report.json").read_text())
    assert report["rows_written"] == 0 and report["events_read"] == 0


def _world(root, n_events=3000):
    prices = [
        tick(f"2026-10-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", 100 + (i % 7), s)
        for i in range(24 * 30)
        for s in ("BTC", "ETH")
    ]
    write_jsonl(root / "data/prices.jsonl", prices)
    events = [
        ev(
            f"e{i:05d}",
            f"2026-10-{1 + (i * 13 // 60) // 24 % 27:02d}T{(i * 13 // 60) % 24:02d}:{i % 60:02d}:00Z",
            symbol=("BTC", "ETH")[i % 2],
        )
        for i in range(n_events)
    ]
    write_jsonl(root / "data/alpha_events.jsonl", events)


@pytest.mark.parametrize("partition", ["day", "month"])
def test_failpoint_after_append_leaves_no_torn_or_duplicate_rows(root, tmp_path, partition):
    (root / "policy/supervisor.yaml").write_text(f"history:\n  partition: {partition}\n")
    _world(root)
    clean = tmp_path / "clean"
    import shutil

    shutil.copytree(root, clean)
    run_script("reconcile", clean, check=True)
    proc = run_script("reconcile", root, env={"META_SUPERVISOR_FAILPOINT": "after_append"})
    assert proc.returncode == -signal.SIGKILL
    # The crashed run appended rows but never committed them.
    run_script("reconcile", root, check=True)
    key = lambda r: (r["event_id"], r["horizon_hours"])
    got, want = read_rows(root), read_rows(clean)
    assert len(got) == len({key(r) for r in got})  # no duplicates
    assert sorted(map(key, got)) == sorted(map(key, want))  # nothing lost
    names = [p.name for p in (root / "state/reconciled").glob("*.jsonl")]
    assert names and all(len(n.split(".")[0]) == (10 if partition == "day" else 7) for n in names)


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_sigkill_at_any_moment_is_survived(root, tmp_path, delay):
    """Kill a real reconcile at an arbitrary moment (wherever it is), then finish: the result
    equals an uninterrupted run. The assertion holds whatever point the kill lands on."""
    _world(root, n_events=4000)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "scripts/reconcile.py"), "--root", str(root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(delay * random.uniform(0.8, 1.2))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # whatever is on disk now, the next run must repair it
    run_script("reconcile", root, check=True)
    rows = read_rows(root)  # every line parses (a torn line would raise here)
    keys = [(r["event_id"], r["horizon_hours"]) for r in rows]
    assert len(keys) == len(set(keys))
    fresh = tmp_path / "fresh"
    import shutil

    shutil.copytree(root / "data", fresh / "data")
    shutil.copytree(root / "policy", fresh / "policy")
    run_script("reconcile", fresh, check=True)
    assert sorted(keys) == sorted((r["event_id"], r["horizon_hours"]) for r in read_rows(fresh))


GOOD = ev("good", "2026-11-24T10:00:00Z")
BAD_EVENTS = {
    "bad JSON": '{"event_id": "x", ',
    "not an object": '["event_id", "x"]',
    "missing field": json.dumps({k: v for k, v in GOOD.items() if k != "agent"}),
    "wrong type": json.dumps({**GOOD, "score_final": "0.5"}),
    "bool as number": json.dumps({**GOOD, "confidence": True}),
    "NaN": json.dumps({**GOOD, "score_final": float("nan")}),
    "Infinity": json.dumps({**GOOD, "confidence": float("inf")}),
    "overflow to inf": json.dumps(GOOD).replace('"confidence": 0.8', '"confidence": 1e999'),
    "non-positive price": json.dumps({**GOOD, "price": 0}),
    "unknown side": json.dumps({**GOOD, "side": "flat"}),
    "unparseable ts": json.dumps({**GOOD, "ts": "yesterday"}),
    "naive ts": json.dumps({**GOOD, "ts": "2026-11-24T10:00:00"}),
}
REASONS = {
    "bad JSON": "not valid JSON",
    "not an object": "expected a JSON object",
    "missing field": "missing field 'agent'",
    "wrong type": "'score_final' must be a number",
    "bool as number": "'confidence' must be a number",
    "NaN": "NaN and Infinity are not JSON numbers",
    "Infinity": "NaN and Infinity are not JSON numbers",
    "overflow to inf": "not valid JSON (Number out of range)",
    "non-positive price": "'price' must be > 0",
    "unknown side": "field 'side'",
    "unparseable ts": "field 'ts'",
    "naive ts": "no timezone",
}


@pytest.mark.parametrize("kind", sorted(BAD_EVENTS))
def test_each_malformed_event_is_rejected_and_reported(root, kind):
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T09:00:00Z", 100.0), tick("2026-11-24T12:00:00Z", 101.0)])
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD], raw_lines=[BAD_EVENTS[kind]])
    proc = run_script("reconcile", root, check=True)
    assert "data/alpha_events.jsonl:2: rejected: " in proc.stderr
    assert REASONS[kind] in proc.stderr
    report = json.loads((root / "state/reconcile_report.json").read_text())
    assert report["rejected_count"] == 1
    assert report["rejected"][0]["file"] == "data/alpha_events.jsonl" and report["rejected"][0]["line"] == 2
    assert REASONS[kind] in report["rejected"][0]["reason"]
    # The good line is still processed, and nothing was coerced into a row.
    assert [r["event_id"] for r in read_rows(root)] == ["good"]


BAD_PRICES = {
    "bad JSON": "{oops",
    "not an object": "42",
    "missing field": json.dumps({"ts": "2026-11-24T11:00:00Z", "symbol": "BTC"}),
    "wrong type": json.dumps({"ts": "2026-11-24T11:00:00Z", "symbol": "BTC", "price": "101"}),
    "NaN": '{"ts": "2026-11-24T11:00:00Z", "symbol": "BTC", "price": NaN}',
    "inf": '{"ts": "2026-11-24T11:00:00Z", "symbol": "BTC", "price": 1e999}',
    "non-positive price": json.dumps({"ts": "2026-11-24T11:00:00Z", "symbol": "BTC", "price": -3}),
    "unparseable ts": json.dumps({"ts": "24/11/2026", "symbol": "BTC", "price": 101}),
}


@pytest.mark.parametrize("kind", sorted(BAD_PRICES))
def test_each_malformed_price_is_rejected_never_coerced(root, kind):
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T09:00:00Z", 100.0)], raw_lines=[BAD_PRICES[kind]])
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T12:00:00Z", 102.0)])
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD])
    proc = run_script("reconcile", root, check=True)
    assert "data/prices.jsonl:2: rejected: " in proc.stderr
    rows = read_rows(root)
    # the 1h exit must be the 09:00 tick (the bad 11:00 line never became a price)
    assert [(r["horizon_hours"], r["exit_price"]) for r in rows] == [(1, 100.0)]


def test_duplicate_event_id_is_rejected(root):
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD, GOOD])
    proc = run_script("reconcile", root, check=True)
    assert "data/alpha_events.jsonl:2: rejected: duplicate event_id 'good'" in proc.stderr


def test_rewritten_input_is_refused_with_one_line(root):
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD, ev("e2", "2026-11-24T10:00:00Z")])
    run_script("reconcile", root, check=True)
    (root / "data/alpha_events.jsonl").write_text(json.dumps(GOOD) + "\n")
    proc = run_script("reconcile", root)
    assert proc.returncode == 1
    assert proc.stderr.strip().count("\n") == 0 and "append-only" in proc.stderr and "Traceback" not in proc.stderr


def test_uses_the_current_model_and_names_it(root):
    write_json(
        root / "state/models/ridge_h1.json",
        {
            "ok": True,
            "model": "ridge",
            "horizon_hours": 1,
            "features": ["score_final", "confidence"],
            "weights": [10.0, 0.0, 2.0],
            "rmse_bps": 25.0,
            "n": 300,
            "ridge": 1.0,
            "model_hash": "abc123",
        },
    )
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T10:00:00Z", 100.0), tick("2026-11-24T11:00:00Z", 100.5)])
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD])
    reconcile.run(root)
    (row,) = read_rows(root)
    assert row["sim_version"] == "ridge_h1@abc123"
    assert row["expected_pnl_bps"] == pytest.approx(10 * 0.5 + 2.0)
    assert row["expected_sigma_bps"] == 25.0
    assert row["pnl_error_bps"] == pytest.approx(50.0 - 7.0)


def test_unusable_model_card_is_reported_not_silently_ignored(root):
    write_json(root / "state/models/ridge_h1.json", {"ok": True, "weights": [1.0]})
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T10:00:00Z", 100.0), tick("2026-11-24T11:00:00Z", 100.5)])
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD])
    proc = run_script("reconcile", root, check=True)
    assert "state/models/ridge_h1.json: not a usable model card" in proc.stderr
    assert read_rows(root)[0]["sim_version"] == "fallback_zero"


def test_an_event_priced_before_the_symbols_first_tick_waits_for_an_exit(root):
    """Entry from the event's price, but every tick comes after ts + 1h: the 1h exit is unknown
    (it used to crash the run with a TypeError); later horizons reconcile normally."""
    write_jsonl(root / "data/alpha_events.jsonl", [ev("e1", "2026-11-24T10:00:00Z", price=100.0)])
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T12:00:00Z", 101.0), tick("2026-11-25T12:00:00Z", 102.0)])
    run_script("reconcile", root, "--now", "2026-11-25T13:00:00Z", check=True)
    rows = {r["horizon_hours"]: r for r in read_rows(root)}
    assert set(rows) == {4, 24} and rows[4]["exit_price"] == rows[24]["exit_price"] == 101.0
    assert [p.horizons_left for p in reconcile_state.load(root).pending] == [[1]]
