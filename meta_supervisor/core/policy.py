"""The kill list's rules and the breach decision (pure).

A strategy breaches when it is ENABLED, its current-regime cell has at least `min_rows` rows,
and that cell's CVaR95 of the adverse error exceeds the regime's `max_cvar_error_bps`.
A regime without a limit is not enforced; a cell below the minimum size never breaches (its
tail estimate rests on too few losses to switch a strategy off).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from meta_supervisor.core.errors import ConfigError

STATUSES = ("ENABLED", "DISABLED")
_STRATEGY_KEYS = {"status", "by_regime", "disabled_at", "disabled_reason", "enabled_at", "notes", "owner"}


@dataclass(frozen=True)
class StrategyPolicy:
    name: str
    status: str = "ENABLED"
    limits: dict = field(default_factory=dict)  # regime -> max_cvar_error_bps


def parse_kill_list(data) -> dict[str, StrategyPolicy]:
    """Validate the parsed kill list. Raises ConfigError with the key path of the first problem.

    >>> parse_kill_list({"macro": {"by_regime": {"TREND": {"max_cvar_error_bps": 120}}}})["macro"]
    StrategyPolicy(name='macro', status='ENABLED', limits={'TREND': 120.0})
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
        limits = {}
        for regime, spec in regimes.items():
            where = (name, "by_regime", regime)
            if not isinstance(spec, dict) or "max_cvar_error_bps" not in spec:
                raise ConfigError(where, "expected a mapping with max_cvar_error_bps")
            if set(spec) - {"max_cvar_error_bps"}:
                raise ConfigError(where + (sorted(set(spec) - {"max_cvar_error_bps"})[0],), "unknown key")
            value = spec["max_cvar_error_bps"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ConfigError(where + ("max_cvar_error_bps",), f"expected a positive number, got {value!r}")
            limits[str(regime)] = float(value)
        out[name] = StrategyPolicy(name, status, limits)
    return out


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


@dataclass(frozen=True)
class Verdict:
    strategy: str
    regime: str
    outcome: str  # breach | within_limit | insufficient_data | no_data | no_limit | disabled
    cell: dict | None
    limit: float | None

    @property
    def breach(self) -> bool:
        return self.outcome == "breach"


def judge(policies: dict[str, StrategyPolicy], cells: dict, regime: str, min_rows: int) -> list[Verdict]:
    """One verdict per strategy named in the kill list or present in the data, sorted by name."""
    out = []
    for name in sorted(set(policies) | set(cells)):
        pol = policies.get(name)
        cell = cells.get(name, {}).get(regime)
        limit = pol.limits.get(regime) if pol else None
        if pol and pol.status == "DISABLED":
            outcome = "disabled"
        elif limit is None:
            outcome = "no_limit"
        elif cell is None:
            outcome = "no_data"
        elif cell["n"] < min_rows:
            outcome = "insufficient_data"
        elif cell["cvar95_error_bps"] > limit:
            outcome = "breach"
        else:
            outcome = "within_limit"
        out.append(Verdict(name, regime, outcome, cell, limit))
    return out
