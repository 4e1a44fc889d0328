"""The current market regime (core/regime.py) and its state file (files/regime_state.py)."""

from __future__ import annotations

import json
import random
from itertools import pairwise
from types import SimpleNamespace

import pytest

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.regime import RegimeSettings, current_regime, symbol_votes
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.files import regime_state

NOW = "2026-03-02T12:00:00Z"


def row(symbol, regime, hours_ago, now=NOW):
    return SimpleNamespace(symbol=symbol, regime=regime, ts=format_ts(parse_ts(now) - hours_ago * 3600))


def test_one_vote_per_symbol_however_many_signals():
    rows = [row("SPY", "TREND", h) for h in range(1, 20)] + [row("EUR", "RANGE", 2), row("GLD", "RANGE", 3)]
    call = current_regime(symbol_votes(rows, NOW, 24), None, 0.2)
    assert call.regime == "RANGE"
    assert call.shares == pytest.approx({"RANGE": 2 / 3, "TREND": 1 / 3})
    assert call.symbols == 3


def test_lookback_excludes_old_and_future_rows():
    rows = [row("SPY", "TREND", 30), row("SPY", "RANGE", 5), row("EUR", "TREND", -1)]
    assert symbol_votes(rows, NOW, 24) == {"SPY": {"RANGE": 1.0}}


def test_hysteresis_keeps_the_regime_until_the_margin_is_passed():
    split = {"A": {"TREND": 1.0}, "B": {"RANGE": 1.0}}
    assert current_regime(split, "RANGE", 0.2).regime == "RANGE"
    assert current_regime(split, "TREND", 0.2).regime == "TREND"
    # 3 of 5 = 60%: exactly the margin (60 - 40 = 20) is not more than it
    five = {s: {"TREND": 1.0} for s in "ABC"} | {s: {"RANGE": 1.0} for s in "DE"}
    assert current_regime(five, "RANGE", 0.2).regime == "RANGE"
    assert current_regime(five, "RANGE", 0.1).regime == "TREND"
    assert current_regime(five, "RANGE", 0.1).switched


def test_a_regime_without_votes_is_replaced_and_no_votes_keep_it():
    votes = {"A": {"TREND": 1.0}, "B": {"VOLATILE": 1.0}}
    call = current_regime(votes, "RANGE", 0.2)
    assert call.regime == "TREND" and call.switched  # tie broken alphabetically
    kept = current_regime({}, "RANGE", 0.2)
    assert (kept.regime, kept.switched) == ("RANGE", False)
    assert current_regime({}, None, 0.2).regime is None


def test_a_noisy_market_flaps_far_less_than_the_last_signal():
    """Each symbol's label is a coin flip around a 50/50 market: the last signal's label changes
    about every other signal; the vote with a margin almost never does."""
    rng = random.Random(3)
    symbols = [f"S{i}" for i in range(8)]
    t0 = parse_ts(NOW)
    rows, last, voted = [], [], []
    previous = None
    for hour in range(24 * 30):
        now = format_ts(t0 + hour * 3600)
        rows.append(SimpleNamespace(symbol=rng.choice(symbols), regime=rng.choice(["TREND", "RANGE"]), ts=now))
        rows = rows[-100:]
        last.append(rows[-1].regime)
        previous = current_regime(symbol_votes(rows, now, 24), previous, 0.2).regime
        voted.append(previous)
    flips = lambda xs: sum(a != b for a, b in pairwise(xs))
    assert flips(last) > 250
    assert flips(voted) < 30  # measured 17 (seed 3): ten times fewer


def test_settings_are_validated():
    with pytest.raises(ValueError, match="switch_margin"):
        RegimeSettings(switch_margin=1.0)
    with pytest.raises(ValueError, match="lookback_hours"):
        RegimeSettings(lookback_hours=0)


def test_state_round_trip_keeps_since_until_a_switch(tmp_path):
    assert regime_state.read_previous(tmp_path) == {}
    first = current_regime({"A": {"TREND": 1.0}}, None, 0.2)
    regime_state.write(tmp_path, first, {}, "2026-03-01T00:00:00Z")
    prev = regime_state.read_previous(tmp_path)
    assert (prev["regime"], prev["since"]) == ("TREND", "2026-03-01T00:00:00Z")
    same = current_regime({"A": {"TREND": 1.0}, "B": {"RANGE": 1.0}}, prev["regime"], 0.2)
    regime_state.write(tmp_path, same, prev, "2026-03-01T01:00:00Z")
    assert regime_state.read_previous(tmp_path)["since"] == "2026-03-01T00:00:00Z"
    flip = current_regime({"A": {"RANGE": 1.0}, "B": {"RANGE": 1.0}}, "TREND", 0.2)
    regime_state.write(tmp_path, flip, regime_state.read_previous(tmp_path), "2026-03-01T02:00:00Z")
    doc = json.loads((tmp_path / regime_state.PATH).read_text())
    assert (doc["regime"], doc["since"]) == ("RANGE", "2026-03-01T02:00:00Z")


@pytest.mark.parametrize("text", ['["TREND"]', '{"regime": 3, "since": "2026-11-28T00:00:00Z"}', '{"regime": "TREND"}'])
def test_a_malformed_state_file_is_refused_with_one_line(tmp_path, text):
    path = tmp_path / regime_state.PATH
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with pytest.raises(UserError, match=r"^state/market_regime.json: not a valid state file \(") as err:
        regime_state.read_previous(tmp_path)
    assert "\n" not in str(err.value)
