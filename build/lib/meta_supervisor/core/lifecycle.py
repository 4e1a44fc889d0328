"""The life of an automatic proposal after it is opened (pure, stdlib): when a disable PR has gone
stale, when a disabled strategy has recovered, and when a re-enable PR has gone stale.

Two clocks per strategy, carried from run to run (state/lifecycle.json, files/lifecycle_state.py),
each the `--now` of the first run of the current unbroken streak:
- `cleared_since`: the strategy no longer breaches: in the current regime the whole ES interval is
  under the limit (`within_limit` with the upper end below every limit), or the regime has no limit,
  or the regime changed since the breach and the new regime's cell cannot be judged (`no_data`,
  `insufficient_data`). A point ES under the limit with the interval reaching over it does not count,
  nor does missing data in the breach's own regime.
  An open disable PR whose `cleared_since` is `autoclose_after_hours` old is closed.
- `recovered_since` (DISABLED strategies that meta-supervisor disabled: they carry `disabled_at`):
  the current-regime cell has enough data and the *upper* end of every ES interval is below
  `reenable_margin` x its limit. After `reenable_after_hours` a re-enable PR is proposed; an open
  re-enable PR whose strategy has not been recovered for `autoclose_after_hours` is closed.
Hysteresis: entering needs the whole interval under a margin below the limit for a duration;
leaving (a disable) needs a confirmed breach, so a strategy near its limit does not flap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from meta_supervisor.core.timeutil import hours_between


@dataclass(frozen=True)
class LifecycleSettings:
    autoclose_after_hours: float = 24.0
    reenable_after_hours: float = 72.0
    reenable_margin: float = 0.8

    def __post_init__(self):
        if not self.autoclose_after_hours >= 0 or not self.reenable_after_hours >= 0:
            raise ValueError("autoclose_after_hours and reenable_after_hours must be >= 0")
        if not 0 < self.reenable_margin <= 1:
            raise ValueError("reenable_margin must be in (0, 1]")


@dataclass
class LifecycleUpdate:
    state: dict  # the new state/lifecycle.json: {strategy: {...clocks}}
    stale_disable: dict[str, str] = field(default_factory=dict)  # strategy -> since when its breach has cleared
    stale_enable: dict[str, str] = field(default_factory=dict)  # strategy -> since when it is out of the margin
    recovered: dict[str, str] = field(default_factory=dict)  # strategy -> since when it is within the margin


def recovered(cell: dict | None, limit: float | None, sigma_limit: float | None, margin: float) -> bool:
    """Enough data and every limit's ES interval entirely below `margin` x the limit.

    >>> recovered({"enough_data": True, "cvar95_ci_bps": [20.0, 40.0]}, 60.0, None, 0.8)
    True
    >>> recovered({"enough_data": True, "cvar95_ci_bps": [20.0, 50.0]}, 60.0, None, 0.8)
    False
    """
    if not cell or not cell.get("enough_data") or (limit is None and sigma_limit is None):
        return False
    for bound, lim in ((cell.get("cvar95_ci_bps"), limit), (cell.get("cvar95_sigma_ci"), sigma_limit)):
        if lim is None:
            continue
        if not bound or bound[1] is None or not bound[1] < margin * lim:
            return False
    return True


def _cleared(verdict, breach_regime: str | None) -> bool:
    """The breach is over: the ES interval lies entirely under the limit (not only the point ES: on the
    fat-tailed sim a strategy at 1.6 x its limit had its point ES under the limit for 24 h in 2 of 12
    30-day runs, its upper bound in none; bench/lifecycle.py), the regime has no limit, or the regime
    changed and the new cell cannot be judged."""
    if verdict is None:
        return False
    if verdict.outcome == "no_limit":
        return True
    if verdict.outcome == "within_limit":
        return recovered(verdict.cell, verdict.limit, verdict.sigma_limit, 1.0)
    return verdict.outcome in ("no_data", "insufficient_data") and verdict.regime != breach_regime


def update(
    previous: dict | None,
    policies: dict,
    verdicts: list,
    cells: dict,
    regime: str | None,
    now: str,
    s: LifecycleSettings,
) -> LifecycleUpdate:
    """This run's clocks and what is due. `verdicts`: this run's (core/policy.judge), one per
    strategy with a policy; `cells`: {strategy: {regime: cell}} with limits; `regime`: current."""
    previous = previous or {}
    by_strategy = {v.strategy: v for v in verdicts}
    out = LifecycleUpdate(state={})
    for name in sorted(policies):
        pol, before, v = policies[name], previous.get(name, {}), by_strategy.get(name)
        rec: dict = {"cleared_since": None, "breach_regime": before.get("breach_regime"), "recovered_since": None}
        if v is not None and v.breach:
            rec["breach_regime"] = v.regime
        elif _cleared(v, rec["breach_regime"]):
            rec["cleared_since"] = before.get("cleared_since") or now
        if pol.status == "DISABLED" and pol.disabled_by_supervisor and regime is not None:
            cell = cells.get(name, {}).get(regime)
            if recovered(cell, pol.limits.get(regime), pol.sigma_limits.get(regime), s.reenable_margin):
                rec["recovered_since"] = before.get("recovered_since") or now
        out.state[name] = rec
        if rec["cleared_since"] and hours_between(rec["cleared_since"], now) >= s.autoclose_after_hours:
            out.stale_disable[name] = rec["cleared_since"]
        if rec["recovered_since"] is None:
            lost = before.get("not_recovered_since") or now
            rec["not_recovered_since"] = lost
            if hours_between(lost, now) >= s.autoclose_after_hours:
                out.stale_enable[name] = lost
        else:
            rec["not_recovered_since"] = None
            if hours_between(rec["recovered_since"], now) >= s.reenable_after_hours:
                out.recovered[name] = rec["recovered_since"]
    return out
