"""The divergence alert lifecycle: detections in, `state/divergence_alerts.json` out. Pure (stdlib).

An alert is one detection key ("agent:<agent>:<trigger>" / "strategy:<class>:<trigger>") while it
keeps firing. Its status changes only when the evidence changes, so an unchanged re-run is a no-op:

    (absent)  -> new         the key fires and was not active
    any       -> escalated   the detection changed and its severity rose medium -> high
    any       -> ongoing     the detection changed otherwise (new rows, a refreshed CUSUM alarm;
                             a severity drop high -> medium is recorded, never notified)
    unchanged                the detection equals the stored one: status and doc stay as they are
    any       -> cleared     the key no longer fires: it leaves `alerts`, the transition is in history

Detections with severity "info" (the seed's bps rules by default, seed_rules.py) are not alerts:
they go to the document's `notices` (the detection and its `first_seen`), are never mailed and have
no lifecycle, so a volatile instrument's permanent mean |error| >= 90 bps is shown, not paged.

A new trigger on an agent that already has an alert is its own key, hence "new" and notified; it does
not escalate the agent's other alerts. Notification: an alert is due when it was never notified
since it became new/escalated (`last_notified` is None; escalation resets it) or when its
`last_notified` is at least `renotify_hours` old. The caller sends the mail, then `mark_notified`.
"""

from __future__ import annotations

from dataclasses import dataclass

from meta_supervisor.core.timeutil import hours_between

ACTION = "REDUCE_ALLOC_AND_BLOCK_PROMOTION"
_LIFECYCLE = ("status", "first_seen", "last_seen", "last_notified", "action")


@dataclass(frozen=True)
class AlertSettings:
    renotify_hours: float = 24.0
    history_limit: int = 500

    def __post_init__(self):
        if not self.renotify_hours > 0:
            raise ValueError(f"renotify_hours: must be > 0, got {self.renotify_hours!r}")
        if self.history_limit < 0:
            raise ValueError(f"history_limit: must be >= 0, got {self.history_limit!r}")


@dataclass
class AlertUpdate:
    doc: dict  # the new state/divergence_alerts.json
    transitions: list[dict]  # this run's {"key", "from", "to", "at"} changes
    to_notify: list[dict]  # alerts to e-mail now


def _detection_part(alert: dict) -> dict:
    return {k: v for k, v in alert.items() if k not in _LIFECYCLE}


def update_alerts(previous: dict | None, detections: list[dict], now: str, settings: AlertSettings) -> AlertUpdate:
    """Merge this run's detections (the conditions firing now) into the previous alert document.

    `now` (ISO 8601 UTC) stamps transitions, first_seen and, only if the doc changed,
    generated_at. Detections with a repeated key: the last one wins.

    >>> d = {"key": "agent:a:mean_error", "severity": "medium", "last_row_ts": "2026-11-24T10:00:00Z"}
    >>> first = update_alerts(None, [d], "2026-11-24T11:00:00Z", AlertSettings())
    >>> [a["status"] for a in first.doc["alerts"]], len(first.to_notify)
    (['new'], 1)
    >>> sent = mark_notified(first.doc, ["agent:a:mean_error"], "2026-11-24T11:00:00Z")
    >>> again = update_alerts(sent, [d], "2026-11-24T12:00:00Z", AlertSettings())
    >>> again.doc == sent, again.transitions, again.to_notify
    (True, [], [])
    """
    previous = previous or {}
    old = {a["key"]: a for a in previous.get("alerts", [])}
    fresh = {d["key"]: d for d in detections if d.get("severity") != "info"}
    notices = _notices(previous, [d for d in detections if d.get("severity") == "info"], now)
    transitions, alerts = [], []
    for key in sorted(fresh):
        det = dict(fresh[key])
        before = old.get(key)
        if before is None:
            alert = {**det, "status": "new", "first_seen": now, "last_notified": None}
        elif _detection_part(before) == _detection_part(det):  # a detection may name its action
            alert = dict(before)
        else:
            rose = before.get("severity") != "high" and det.get("severity") == "high"
            alert = {
                **det,
                "status": "escalated" if rose else "ongoing",
                "first_seen": before.get("first_seen", now),
                "last_notified": None if rose else before.get("last_notified"),
            }
        alert["last_seen"] = det.get("last_row_ts")
        alert["action"] = det.get("action") or ACTION  # an input alert names its own (CHECK_INPUT_FEED)
        old_status = None if before is None else before.get("status")
        if alert["status"] != old_status:
            transitions.append({"key": key, "from": old_status, "to": alert["status"], "at": now})
        alerts.append(alert)
    for key in sorted(set(old) - set(fresh)):
        transitions.append({"key": key, "from": old[key].get("status"), "to": "cleared", "at": now})

    history = list(previous.get("history", [])) + transitions
    history = history[-settings.history_limit :] if settings.history_limit else []
    doc = {"generated_at": previous.get("generated_at"), "alerts": alerts, "history": history, "notices": notices}
    if any(doc[k] != previous.get(k) for k in ("alerts", "history", "notices")):
        doc["generated_at"] = now
    to_notify = [
        dict(a)
        for a in alerts
        if a["last_notified"] is None or hours_between(a["last_notified"], now) >= settings.renotify_hours
    ]
    return AlertUpdate(doc=doc, transitions=transitions, to_notify=to_notify)


def _notices(previous: dict, infos: list[dict], now: str) -> list[dict]:
    """The info detections, sorted by key, each with the first_seen of its unbroken run."""
    seen = {n["key"]: n.get("first_seen", now) for n in previous.get("notices", [])}
    fresh = {d["key"]: d for d in infos}
    return [{**fresh[k], "first_seen": seen.get(k, now)} for k in sorted(fresh)]


def mark_notified(doc: dict, keys: list[str], now: str) -> dict:
    """A copy of `doc` with last_notified = now on the alerts named by `keys` (unknown keys ignored);
    generated_at moves to now only if an alert changed."""
    wanted = set(keys)
    alerts = [dict(a, last_notified=now) if a["key"] in wanted else dict(a) for a in doc.get("alerts", [])]
    changed = alerts != doc.get("alerts", [])
    return {
        **doc,
        "alerts": alerts,
        "history": list(doc.get("history", [])),
        "notices": list(doc.get("notices", [])),
        "generated_at": now if changed else doc.get("generated_at"),
    }
