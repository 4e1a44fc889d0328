"""The seed's rolling-window rules, and the detection record every trigger produces. Pure.

Per agent, over its last `window` predicted rows (needs >= min_rows):

    mean_abs_error: mean(abs_error_bps) >= abs_error_threshold_bps       (90)
    mean_error:     |mean(pnl_error_bps)| >= mean_error_threshold_bps    (40)

each "high" at statistic >= high_severity_factor x threshold (the seed's 1.3). The thresholds are
in bps, blind to each instrument's volatility: an agent trading a 150 bps-sigma symbol has mean
|error| ~ 0.8 x 150 = 120 bps with a perfect model. So by default (`seed_rules_alert: false`) they
are reported with severity "info": alerts.py keeps them as notices (shown, never mailed, never an
alert onset); `seed_rules_alert: true` makes them alerts again, at the seed's severities.
"""

from __future__ import annotations


def detection(key, stream, trigger, high, change_ts, shift, unit, statistic, threshold, rows, detail, last_row_ts):
    """The detection record (docs/detection.md): one firing condition of one stream."""
    scope = stream["scope"]
    return {
        "key": f"{key}:{trigger}",
        "scope": scope,
        "agent": stream["name"] if scope == "agent" else None,
        "strategy_class": stream["strategy_class"]
        if scope == "agent"
        else None
        if scope == "fleet"
        else stream["name"],
        "trigger": trigger,
        "severity": high if isinstance(high, str) else "high" if high else "medium",
        "change_ts": change_ts,
        "shift": None if shift is None else round(shift, 6),
        "shift_unit": unit,
        "statistic": round(statistic, 6),
        "threshold": round(threshold, 6),
        "rows": rows,
        "detail": detail,
        "last_row_ts": last_row_ts,
    }


def seed_rule_detections(obs, positions: dict[str, list[int]], s) -> list[dict]:
    """The seed's rules for each agent's rows `positions[agent]` of the Observed `obs`."""
    out = []
    for agent, ix in sorted(positions.items()):
        tail = ix[-s.window :]
        if len(tail) < s.min_rows:
            continue
        errors = obs.error[tail].tolist()
        m_abs = sum(abs(e) for e in errors) / len(errors)
        m_err = sum(errors) / len(errors)
        last = tail[-1]
        stream = {"scope": "agent", "name": agent, "strategy_class": obs.strategy[last]}
        since = f"over the last {len(tail)} rows to {short_ts(obs.ts[last])}"
        for trigger, stat, thr, detail in (
            (
                "mean_abs_error",
                m_abs,
                s.abs_error_threshold_bps,
                f"mean |error| {m_abs:.1f} bps >= {s.abs_error_threshold_bps:g} {since}",
            ),
            (
                "mean_error",
                m_err,
                s.mean_error_threshold_bps,
                f"mean error {m_err:+.1f} bps, |.| >= {s.mean_error_threshold_bps:g} {since}",
            ),
        ):
            if abs(stat) >= thr:
                high = abs(stat) >= s.high_severity_factor * thr
                severity = high if s.seed_rules_alert else "info"
                out.append(
                    detection(
                        f"agent:{agent}",
                        stream,
                        trigger,
                        severity,
                        None,
                        stat,
                        "bps",
                        stat,
                        thr,
                        len(tail),
                        detail,
                        obs.ts[last],
                    )
                )
    return out


def short_ts(ts) -> str:
    """'2026-11-23T18:00:00Z' -> '2026-11-23T18:00Z' (for one-line details)."""
    if isinstance(ts, str) and len(ts) == 20 and ts.endswith(":00Z"):
        return ts[:16] + "Z"
    return str(ts)
