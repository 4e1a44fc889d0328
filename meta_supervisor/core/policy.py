"""The kill list's rules and the breach decision (pure).

A regime carries `max_cvar_error_bps`, `max_cvar_error_sigma` (the same ES in units of each row's
predictive sigma), or both. A strategy breaches when it is ENABLED, its current-regime cell has
enough evidence (`enough_data`: at least `cvar_min_rows` model rows over `cvar_min_days` signal
days) and the one-sided lower confidence bound of an ES is above its limit:
    breach  <=>  enough_data and (ci_bps[0] > max_bps or ci_sigma[0] > max_sigma)
A point ES above a limit whose lower bound is not is `above_limit_unconfirmed`: shown, not acted on.
A regime without a limit is not enforced; a cell below the evidence minimum never breaches.
Fleet-wide: when more than `fleet_wide_share` of the ENABLED strategies with a limit and enough data
in the current regime are above a limit at once (point ES), the verdicts say so: one strategy's sim
diverging is a strategy problem; most of them at once is a market (volatility) event.
"""

from __future__ import annotations

import math
import typing
from dataclasses import dataclass, field
from typing import Literal, TypedDict

from meta_supervisor.core.errors import ConfigError


# The layout of policy/strategy_kill_list.yaml, as types: the loader below takes its key names and
# statuses from them, and the JSON Schema shipped for editors and pre-commit is generated from them
# (files/schemas.py), so the two cannot drift.
class RegimeLimits(TypedDict, total=False):
    """At least one; each a positive number."""

    max_cvar_error_bps: float
    max_cvar_error_sigma: float


class StrategyEntry(TypedDict, total=False):
    status: Literal["ENABLED", "DISABLED"]  # default ENABLED
    by_regime: dict[str, RegimeLimits] | None
    disabled_at: str
    disabled_reason: str
    enabled_at: str
    notes: str
    owner: str


KillListLayout = dict[str, StrategyEntry | None]
AgentsLayout = dict[str, str]  # agent: strategy_class

STATUSES = typing.get_args(typing.get_type_hints(StrategyEntry)["status"])  # ("ENABLED", "DISABLED")
LIMIT_KEYS = tuple(RegimeLimits.__annotations__)
_STRATEGY_KEYS = set(StrategyEntry.__annotations__)


@dataclass(frozen=True)
class StrategyPolicy:
    name: str
    status: str = "ENABLED"
    limits: dict = field(default_factory=dict)  # regime -> max_cvar_error_bps
    sigma_limits: dict = field(default_factory=dict)  # regime -> max_cvar_error_sigma
    # set by meta-supervisor's disable edit: only such a strategy is ever proposed for re-enabling
    disabled_by_supervisor: bool = field(default=False, compare=False, repr=False)

    def limited(self, regime: str) -> bool:
        return regime in self.limits or regime in self.sigma_limits


def parse_kill_list(data) -> dict[str, StrategyPolicy]:
    """Validate the parsed kill list. Raises ConfigError with the key path of the first problem.

    >>> parse_kill_list({"macro": {"by_regime": {"TREND": {"max_cvar_error_bps": 120}}}})["macro"]
    StrategyPolicy(name='macro', status='ENABLED', limits={'TREND': 120.0}, sigma_limits={})
    >>> parse_kill_list({"macro": {"status": "OFF"}})
    Traceback (most recent call last):
    ...
    meta_supervisor.core.errors.ConfigError: macro.status: status must be ENABLED or DISABLED, got 'OFF'
    """
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError((), "the kill list must be a mapping of strategy -> settings")
    out = {}
    for name, body in data.items():
        if not isinstance(name, str):
            raise ConfigError((name,), "strategy names must be strings")
        body = {} if body is None else body
        if not isinstance(body, dict):
            raise ConfigError((name,), "expected a mapping with status / by_regime")
        unknown = sorted(set(body) - _STRATEGY_KEYS)
        if unknown:
            raise ConfigError((name, unknown[0]), f"unknown key (known: {', '.join(sorted(_STRATEGY_KEYS))})")
        status = body.get("status", "ENABLED")
        if status not in STATUSES:
            raise ConfigError((name, "status"), f"status must be ENABLED or DISABLED, got {status!r}")
        regimes = body.get("by_regime") or {}
        if not isinstance(regimes, dict):
            raise ConfigError((name, "by_regime"), "expected a mapping of regime -> limits")
        limits: dict[str, float] = {}
        sigma_limits: dict[str, float] = {}
        for regime, spec in regimes.items():
            where = (name, "by_regime", regime)
            if not isinstance(spec, dict) or not set(spec) & set(LIMIT_KEYS):
                raise ConfigError(where, "expected a mapping with max_cvar_error_bps and/or max_cvar_error_sigma")
            if set(spec) - set(LIMIT_KEYS):
                raise ConfigError(where + (sorted(set(spec) - set(LIMIT_KEYS))[0],), "unknown key")
            for key, into in zip(LIMIT_KEYS, (limits, sigma_limits)):
                if key in spec:
                    into[str(regime)] = _positive(spec[key], where + (key,))
        auto = status == "DISABLED" and bool(body.get("disabled_at"))
        out[name] = StrategyPolicy(name, status, limits, sigma_limits, disabled_by_supervisor=auto)
    return out


def _positive(value, keypath) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(keypath, f"expected a positive number, got {value!r}")
    return float(value)


def parse_agents(data) -> dict[str, str]:
    """`agent: strategy_class` pairs, both non-empty strings."""
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError((), "agents.yaml must be a mapping of agent -> strategy_class")
    for agent, cls in data.items():
        if not isinstance(agent, str) or not isinstance(cls, str) or not cls:
            raise ConfigError((agent,), f"expected agent: strategy_class (strings), got {cls!r}")
    return dict(data)


OUTCOMES = ("breach", "above_limit_unconfirmed", "within_limit", "insufficient_data", "no_data", "no_limit", "disabled")


@dataclass(frozen=True)
class Verdict:
    strategy: str
    regime: str
    outcome: str  # one of OUTCOMES
    cell: dict | None
    limit: float | None  # max_cvar_error_bps of the regime
    sigma_limit: float | None = None  # max_cvar_error_sigma of the regime
    exceeded: tuple = ()  # the limits whose lower bound is above: ("bps",), ("sigma",) or both
    fleet_above: int = 0  # ENABLED strategies with a limit and enough data whose point ES is above it
    fleet_judged: int = 0  # ENABLED strategies with a limit and enough data in this regime
    fleet_wide_share: float = 0.5

    @property
    def breach(self) -> bool:
        return self.outcome == "breach"

    @property
    def fleet_wide(self) -> bool:
        """Most of the judged fleet is above its limit at once (needs at least two judged strategies)."""
        return self.fleet_judged >= 2 and self.fleet_above > self.fleet_wide_share * self.fleet_judged


def above(cell: dict | None, limit: float | None, sigma_limit: float | None, bound: int | None = None) -> tuple:
    """Which limits the cell is above: by its point ES (`bound` None) or by a CI end (0 = lower bound).

    >>> above({"n": 300, "cvar95_error_bps": 130.0, "cvar95_ci_bps": [110.0, 150.0]}, 120.0, None)
    ('bps',)
    >>> above({"n": 300, "cvar95_error_bps": 130.0, "cvar95_ci_bps": [110.0, 150.0]}, 120.0, None, bound=0)
    ()
    """
    if not cell or not cell.get("n"):
        return ()
    out = []
    for unit, lim, point, ci in (
        ("bps", limit, "cvar95_error_bps", "cvar95_ci_bps"),
        ("sigma", sigma_limit, "cvar95_error_sigma", "cvar95_sigma_ci"),
    ):
        value = cell.get(point) if bound is None else (cell.get(ci) or [None, None])[bound]
        if lim is not None and value is not None and value > lim:
            out.append(unit)
    return tuple(out)


def judge(
    policies: dict[str, StrategyPolicy], cells: dict, regime: str, fleet_wide_share: float = 0.5
) -> list[Verdict]:
    """One verdict per strategy named in the kill list or present in the data, sorted by name."""
    rows = []
    for name in sorted(set(policies) | set(cells)):
        pol = policies.get(name)
        cell = cells.get(name, {}).get(regime)
        limit = pol.limits.get(regime) if pol else None
        sigma_limit = pol.sigma_limits.get(regime) if pol else None
        confirmed = above(cell, limit, sigma_limit, bound=0)
        if pol and pol.status == "DISABLED":
            outcome = "disabled"
        elif limit is None and sigma_limit is None:
            outcome = "no_limit"
        elif cell is None or not cell["n"]:
            outcome = "no_data"
        elif not cell["enough_data"]:
            outcome = "insufficient_data"
        elif confirmed:
            outcome = "breach"
        elif above(cell, limit, sigma_limit):
            outcome = "above_limit_unconfirmed"
        else:
            outcome = "within_limit"
        rows.append((name, outcome, cell, limit, sigma_limit, confirmed if outcome == "breach" else ()))
    judged = [r for r in rows if r[1] in ("breach", "above_limit_unconfirmed", "within_limit")]
    n_above = sum(1 for r in judged if r[1] != "within_limit")
    return [
        Verdict(name, regime, outcome, cell, lim, slim, exc, n_above, len(judged), fleet_wide_share)
        for name, outcome, cell, lim, slim, exc in rows
    ]


def carry_since(previous: dict | None, cells: dict, now: str) -> None:
    """Stamp every cell that has a limit with `above_limit_since` (point ES above a limit) and
    `breach_since` (enough evidence and the lower bound above), each the `now` of the first run of
    the current unbroken streak, carried from the previous run's cells; None when not above.
    Reads `limit_bps` / `limit_sigma` from the cells (set by the caller). Mutates `cells`."""
    previous = previous or {}
    for strategy, by_regime in cells.items():
        for regime, cell in by_regime.items():
            lim, slim = cell.get("limit_bps"), cell.get("limit_sigma")
            if lim is None and slim is None:
                continue
            old = (previous.get(strategy) or {}).get(regime) or {}
            now_above = bool(above(cell, lim, slim))
            now_breach = bool(cell.get("enough_data") and above(cell, lim, slim, bound=0))
            cell["above_limit_since"] = (old.get("above_limit_since") or now) if now_above else None
            cell["breach_since"] = (old.get("breach_since") or now) if now_breach else None
