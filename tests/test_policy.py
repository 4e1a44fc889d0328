"""The breach decision: evidence minimums, the lower-bound rule, sigma limits, fleet-wide, durations."""

from __future__ import annotations

import pytest

from meta_supervisor.core.errors import ConfigError
from meta_supervisor.core.policy import StrategyPolicy, carry_since, judge, parse_kill_list


def cell(es=130.0, ci=(125.0, 150.0), es_sigma=2.0, ci_sigma=(1.8, 2.3), n=400, enough=True):
    return {
        "n": n,
        "days": 8,
        "cvar95_error_bps": es,
        "cvar95_ci_bps": list(ci),
        "cvar95_error_sigma": es_sigma,
        "cvar95_sigma_ci": list(ci_sigma),
        "enough_data": enough,
    }


def outcome(c, limit=120.0, sigma_limit=None):
    pol = {
        "s": StrategyPolicy(
            "s",
            limits={} if limit is None else {"T": limit},
            sigma_limits={} if sigma_limit is None else {"T": sigma_limit},
        )
    }
    (v,) = judge(pol, {"s": {"T": c}}, "T")
    return v


def test_breach_needs_the_lower_bound_above_the_limit():
    assert outcome(cell(ci=(121.0, 150.0))).outcome == "breach"
    v = outcome(cell(ci=(119.0, 150.0)))  # point ES 130 > 120, but not with confidence
    assert v.outcome == "above_limit_unconfirmed" and not v.breach
    assert outcome(cell(es=110.0, ci=(90.0, 130.0))).outcome == "within_limit"


def test_breach_needs_enough_evidence():
    assert outcome(cell(ci=(200.0, 300.0), enough=False)).outcome == "insufficient_data"
    assert outcome({"n": 0, "enough_data": False}).outcome == "no_data"


def test_sigma_limit_alone_or_with_a_bps_limit():
    v = outcome(cell(ci=(100.0, 150.0), ci_sigma=(2.7, 3.0)), limit=None, sigma_limit=2.6)
    assert v.outcome == "breach" and v.exceeded == ("sigma",)
    v = outcome(cell(ci=(121.0, 150.0), ci_sigma=(2.7, 3.0)), limit=120.0, sigma_limit=2.6)
    assert v.exceeded == ("bps", "sigma")
    assert outcome(cell(ci=(100.0, 150.0), ci_sigma=(2.0, 3.0)), limit=None, sigma_limit=2.6).outcome == (
        "within_limit"
    )  # point 2.0 sigma, under 2.6


def test_fleet_wide_when_most_judged_strategies_are_above():
    pols = {name: StrategyPolicy(name, limits={"T": 120.0}) for name in "abcd"}
    cells = {
        "a": {"T": cell(ci=(121.0, 150.0))},
        "b": {"T": cell(ci=(100.0, 150.0))},  # above, unconfirmed
        "c": {"T": cell(ci=(100.0, 150.0))},
        "d": {"T": cell(es=90.0, ci=(80.0, 100.0))},
    }
    verdicts = judge(pols, cells, "T")
    assert [v.outcome for v in verdicts] == [
        "breach",
        "above_limit_unconfirmed",
        "above_limit_unconfirmed",
        "within_limit",
    ]
    assert all(v.fleet_wide and (v.fleet_above, v.fleet_judged) == (3, 4) for v in verdicts)
    cells["b"]["T"] = cells["c"]["T"] = cell(es=90.0, ci=(80.0, 100.0))
    assert not judge(pols, cells, "T")[0].fleet_wide  # 1 of 4: specific to a
    assert not outcome(cell(ci=(121.0, 150.0))).fleet_wide  # a fleet of one is never "fleet-wide"


def test_since_is_carried_while_the_streak_lasts():
    def stamped(c, previous, now):
        cells = {"s": {"T": {**c, "limit_bps": 120.0, "limit_sigma": None}}}
        carry_since(previous, cells, now)
        return cells

    first = stamped(cell(ci=(100.0, 150.0)), None, "2026-11-01T00:00:00Z")
    assert first["s"]["T"]["above_limit_since"] == "2026-11-01T00:00:00Z" and first["s"]["T"]["breach_since"] is None
    second = stamped(cell(ci=(121.0, 150.0)), first, "2026-11-01T01:00:00Z")
    assert second["s"]["T"]["above_limit_since"] == "2026-11-01T00:00:00Z"
    assert second["s"]["T"]["breach_since"] == "2026-11-01T01:00:00Z"
    third = stamped(cell(es=100.0, ci=(90.0, 110.0)), second, "2026-11-01T02:00:00Z")
    assert third["s"]["T"]["above_limit_since"] is None and third["s"]["T"]["breach_since"] is None


def test_kill_list_accepts_either_limit_or_both():
    pols = parse_kill_list(
        {
            "m": {
                "by_regime": {
                    "T": {"max_cvar_error_bps": 120, "max_cvar_error_sigma": 2.6},
                    "R": {"max_cvar_error_sigma": 3},
                }
            }
        }
    )
    assert pols["m"].limits == {"T": 120.0} and pols["m"].sigma_limits == {"T": 2.6, "R": 3.0}
    with pytest.raises(ConfigError, match="max_cvar_error_sigma: expected a positive number"):
        parse_kill_list({"m": {"by_regime": {"T": {"max_cvar_error_sigma": -1}}}})
    with pytest.raises(ConfigError, match="and/or max_cvar_error_sigma"):
        parse_kill_list({"m": {"by_regime": {"T": {}}}})
