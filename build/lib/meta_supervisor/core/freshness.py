"""Stale inputs: a stopped feed must not look like a quiet, healthy fleet. Pure (stdlib).

Reconcile records the newest `ts` it has accepted from each input (state/reconcile_state.json,
`newest_input_ts`); evaluate turns an input whose newest time is more than `max_input_age_hours`
before its `--now` into a detection with trigger `stale_input` and no agent, which goes through
the alert lifecycle and the mail like any other. The detection names the input and its newest time
only (not the age), so while the feed stays stopped the alert is unchanged run after run: no
re-notification storm and no state change every hour; it clears when a newer line arrives.
"""

from __future__ import annotations

from meta_supervisor.core.timeutil import HOUR, format_ts, parse_ts

INPUTS = ("alpha_events", "prices")


def stale_inputs(newest: dict[str, int], now: str, max_age_hours: float) -> list[dict]:
    """Detections for the inputs in `newest` ({input: epoch seconds}) older than the limit.

    >>> [d["key"] for d in stale_inputs({"alpha_events": 0, "prices": 3 * HOUR}, "1970-01-04T00:00:00Z", 70)]
    ['input:alpha_events:stale_input']
    """
    at = parse_ts(now)
    out = []
    for name in INPUTS:
        ts = newest.get(name)
        if ts is None or at - ts <= max_age_hours * HOUR:
            continue
        out.append(
            {
                "key": f"input:{name}:stale_input",
                "agent": None,
                "strategy_class": None,
                "trigger": "stale_input",
                "severity": "high",
                "action": "CHECK_INPUT_FEED",
                "input": name,
                "newest_ts": format_ts(ts),
                "max_input_age_hours": max_age_hours,
                "last_row_ts": format_ts(ts),
                "message": f"no {name.replace('_', ' ')} newer than {format_ts(ts)} (limit {max_age_hours:g} h)",
            }
        )
    return out
