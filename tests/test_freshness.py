"""A stopped feed is an alert (`stale_input`), not a quiet fleet; an empty window is a warning.
Real reconcile and evaluate runs (scripts/*.py) on files in a temp root; mail to the outbox."""

from __future__ import annotations

import json

from tests.conftest import run_script, write_jsonl
from tests.test_reconcile import ev, tick

NEWEST_EVENT = "2026-11-02T23:00:00Z"
NEWEST_PRICE = "2026-11-03T23:00:00Z"


def _feed(root, day_from=1, days=2):
    write_jsonl(
        root / "data/prices.jsonl",
        [
            tick(f"2026-11-{d:02d}T{h:02d}:00:00Z", 100.0 + h % 5)
            for d in range(day_from, day_from + days + 1)
            for h in range(24)
        ],
    )
    write_jsonl(
        root / "data/alpha_events.jsonl",
        [
            ev(f"e{d}-{h}", f"2026-11-{d:02d}T{h:02d}:00:00Z")
            for d in range(day_from, day_from + days)
            for h in range(24)
        ],
    )


def _alerts(root):
    return json.loads((root / "state/divergence_alerts.json").read_text())


def _stale(root):
    return {a["key"]: a for a in _alerts(root)["alerts"] if a["trigger"] == "stale_input"}


def test_a_stopped_feed_raises_one_stale_input_alert_that_clears_when_data_comes(root):
    _feed(root)
    run_script("reconcile", root, "--now", "2026-11-04T00:00:00Z", check=True)
    newest = json.loads((root / "state/reconcile_state.json").read_text())["newest_input_ts"]
    assert newest == {"alpha_events": NEWEST_EVENT, "prices": NEWEST_PRICE}

    run_script("evaluate", root, "--now", "2026-11-05T22:00:00Z", check=True)  # events 71 h old
    assert _stale(root) == {}
    run_script("evaluate", root, "--now", "2026-11-05T23:30:00Z", check=True)  # 72.5 h
    (alert,) = _stale(root).values()
    assert alert["key"] == "input:alpha_events:stale_input" and alert["agent"] is None
    assert alert["newest_ts"] == NEWEST_EVENT and alert["severity"] == "high" and alert["status"] == "new"
    (mail,) = (root / "outbox/mail").glob("*.eml")
    text = mail.read_bytes().decode()
    assert "Subject: DIVERGENCE ALERT: 1 new =?utf-8?b?4oCU?= input alpha_events" in text
    assert "Recommended: CHECK_INPUT_FEED" in text and alert["action"] == "CHECK_INPUT_FEED"

    # unchanged while the feed stays stopped: the same document, no second mail
    state = (root / "state/divergence_alerts.json").read_bytes()
    run_script("evaluate", root, "--now", "2026-11-06T00:30:00Z", check=True)
    assert (root / "state/divergence_alerts.json").read_bytes() == state
    assert len(list((root / "outbox/mail").glob("*.eml"))) == 1

    # a day later prices are stale too; new signals and prices clear both
    run_script("evaluate", root, "--now", "2026-11-07T00:30:00Z", check=True)
    assert sorted(_stale(root)) == ["input:alpha_events:stale_input", "input:prices:stale_input"]
    _feed(root, day_from=6, days=1)
    run_script("reconcile", root, "--now", "2026-11-07T00:30:00Z", check=True)
    run_script("evaluate", root, "--now", "2026-11-07T01:00:00Z", check=True)
    assert _stale(root) == {}
    cleared = [t for t in _alerts(root)["history"] if t["to"] == "cleared"]
    assert sorted(t["key"] for t in cleared) == ["input:alpha_events:stale_input", "input:prices:stale_input"]


def test_the_limit_is_a_setting(root):
    _feed(root)
    run_script("reconcile", root, "--now", "2026-11-04T00:00:00Z", check=True)
    (root / "policy/supervisor.yaml").write_text("evaluate:\n  max_input_age_hours: 120\n")
    run_script("evaluate", root, "--now", "2026-11-06T00:30:00Z", check=True)
    assert _stale(root) == {}
    (root / "policy/supervisor.yaml").write_text("evaluate:\n  max_input_age_hours: 0\n")
    proc = run_script("evaluate", root, "--now", "2026-11-06T00:30:00Z")
    assert proc.returncode == 1 and "max_input_age_hours must be > 0" in proc.stderr


def test_evaluate_on_an_empty_window_says_so(root):
    proc = run_script("evaluate", root, "--dry-run", check=True)
    assert "warning: no reconciled rows of horizon 24h: nothing to measure or judge" in proc.stderr
