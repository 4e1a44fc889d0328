"""Alert lifecycle: transitions, notify-once, idempotent re-runs, bounded history."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from meta_supervisor.core.alerts import ACTION, AlertSettings, mark_notified, update_alerts

S = AlertSettings()


def det(key="agent:a1:cusum_bias_down", severity="medium", last="2026-11-24T10:00:00Z", shift=-1.2):
    agent = key.split(":")[1]
    return {
        "key": key,
        "scope": "agent",
        "agent": agent,
        "strategy_class": "macro",
        "trigger": key.split(":")[2],
        "severity": severity,
        "change_ts": "2026-11-23T18:00:00Z",
        "shift": shift,
        "shift_unit": "sigma",
        "statistic": 9.1,
        "threshold": 8.7,
        "rows": 30,
        "detail": "mean error",
        "last_row_ts": last,
    }


def run(prev, dets, now, notify=True, s=S):
    up = update_alerts(prev, dets, now, s)
    doc = mark_notified(up.doc, [a["key"] for a in up.to_notify], now) if notify else up.doc
    return up, doc


def test_new_ongoing_escalated_cleared():
    up1, doc = run(None, [det()], "2026-11-24T11:00:00Z")
    (a,) = up1.doc["alerts"]
    assert a["status"] == "new" and a["action"] == ACTION and a["last_notified"] is None
    assert a["first_seen"] == "2026-11-24T11:00:00Z" and a["last_seen"] == "2026-11-24T10:00:00Z"
    assert [t["to"] for t in up1.transitions] == ["new"] and len(up1.to_notify) == 1

    up2, doc = run(doc, [det(last="2026-11-24T11:00:00Z", shift=-1.3)], "2026-11-24T12:00:00Z")
    assert up2.doc["alerts"][0]["status"] == "ongoing" and up2.to_notify == []
    assert up2.transitions == [
        {"key": "agent:a1:cusum_bias_down", "from": "new", "to": "ongoing", "at": "2026-11-24T12:00:00Z"}
    ]
    assert up2.doc["alerts"][0]["first_seen"] == "2026-11-24T11:00:00Z"

    up3, doc = run(doc, [det(severity="high", last="2026-11-24T12:00:00Z")], "2026-11-24T13:00:00Z")
    assert up3.doc["alerts"][0]["status"] == "escalated"
    assert [a["key"] for a in up3.to_notify] == ["agent:a1:cusum_bias_down"]
    assert doc["alerts"][0]["last_notified"] == "2026-11-24T13:00:00Z"

    up4, doc = run(doc, [], "2026-11-24T14:00:00Z")
    assert doc["alerts"] == [] and up4.to_notify == []
    assert up4.transitions == [
        {"key": "agent:a1:cusum_bias_down", "from": "escalated", "to": "cleared", "at": "2026-11-24T14:00:00Z"}
    ]
    assert [t["to"] for t in doc["history"]] == ["new", "ongoing", "escalated", "cleared"]


def test_de_escalation_is_recorded_but_not_notified():
    _, doc = run(None, [det(severity="high")], "2026-11-24T11:00:00Z")
    up, _ = run(doc, [det(severity="medium", last="2026-11-24T12:00:00Z")], "2026-11-24T12:00:00Z")
    assert up.doc["alerts"][0]["severity"] == "medium" and up.to_notify == []


def test_identical_rerun_gives_identical_doc_and_nothing_to_notify():
    _, doc = run(None, [det(), det("strategy:macro:cusum_variance")], "2026-11-24T11:00:00Z")
    before = json.dumps(doc, sort_keys=True)
    up, doc2 = run(json.loads(before), [det(), det("strategy:macro:cusum_variance")], "2026-11-24T12:00:00Z")
    assert up.to_notify == [] and up.transitions == []
    assert json.dumps(doc2, sort_keys=True) == before  # generated_at kept


def test_unnotified_alert_stays_due_until_marked():
    _, doc = run(None, [det()], "2026-11-24T11:00:00Z", notify=False)
    up2, _ = run(doc, [det(last="2026-11-24T11:00:00Z")], "2026-11-24T12:00:00Z", notify=False)
    assert up2.doc["alerts"][0]["status"] == "ongoing" and len(up2.to_notify) == 1


def test_renotify_after_renotify_hours_only():
    _, doc = run(None, [det()], "2026-11-24T11:00:00Z")
    up, doc = run(doc, [det(last="2026-11-24T12:00:00Z")], "2026-11-25T10:59:00Z")
    assert up.to_notify == []
    up, doc = run(doc, [det(last="2026-11-24T13:00:00Z")], "2026-11-25T11:00:00Z")
    assert [a["status"] for a in up.to_notify] == ["ongoing"]
    assert doc["alerts"][0]["last_notified"] == "2026-11-25T11:00:00Z"


def test_a_new_trigger_on_the_same_agent_is_new_not_an_escalation():
    _, doc = run(None, [det()], "2026-11-24T11:00:00Z")
    up, _ = run(doc, [det(), det("agent:a1:cusum_variance")], "2026-11-24T12:00:00Z")
    statuses = {a["key"]: a["status"] for a in up.doc["alerts"]}
    assert statuses == {"agent:a1:cusum_bias_down": "new", "agent:a1:cusum_variance": "new"}
    assert [a["key"] for a in up.to_notify] == ["agent:a1:cusum_variance"]


def test_history_is_bounded_newest_last():
    s = AlertSettings(history_limit=5)
    doc = None
    for hour in range(10, 20):
        dets = [det()] if hour % 2 == 0 else []
        _, doc = run(doc, dets, f"2026-11-24T{hour}:00:00Z", s=s)
    assert len(doc["history"]) == 5 and doc["history"][-1]["at"] == "2026-11-24T19:00:00Z"


def test_mark_notified_ignores_unknown_keys_and_keeps_generated_at():
    up = update_alerts(None, [det()], "2026-11-24T11:00:00Z", S)
    same = mark_notified(up.doc, ["agent:zz:mean_error"], "2026-11-24T12:00:00Z")
    assert same == up.doc


def test_settings_are_validated():
    with pytest.raises(ValueError, match="^renotify_hours: "):
        AlertSettings(renotify_hours=0)
    with pytest.raises(ValueError, match="^history_limit: "):
        AlertSettings(history_limit=-1)


KEYS = st.sampled_from(["agent:a:mean_error", "agent:b:cusum_bias_up", "strategy:m:cusum_variance"])
DETS = st.lists(st.tuples(KEYS, st.sampled_from(["medium", "high"]), st.integers(0, 3)), max_size=3)


@settings(max_examples=60, deadline=None)
@given(st.lists(DETS, min_size=1, max_size=6))
def test_any_sequence_then_a_repeat_is_a_no_op(sequence):
    doc = None
    for hour, batch in enumerate(sequence):
        dets = [det(k, sev, f"2026-11-24T0{v}:00:00Z") for k, sev, v in batch]
        _, doc = run(doc, dets, f"2026-11-25T{hour:02d}:00:00Z")
        up, again = run(doc, dets, f"2026-11-25T{hour:02d}:30:00Z")
        assert again == doc and up.to_notify == [] and up.transitions == []
        assert {a["key"] for a in doc["alerts"]} == {d["key"] for d in dets}
