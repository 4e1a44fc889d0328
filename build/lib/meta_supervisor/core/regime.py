"""The market's current regime, stable from one hourly run to the next (pure).

The regime labels come with the signals (each agent labels the market of the symbol it trades).
The label of whichever signal came last is not a market regime: with per-symbol labels it flipped
1,419 times in 5,887 hourly runs of a real-data replay, so breaches appeared and vanished by the
hour. The rule here:

1. Votes: every symbol with a signal in the last `lookback_hours` before now casts one vote,
   split over the labels of its signals in that span (3 TREND and 1 RANGE: 0.75 and 0.25). One
   vote per symbol, so a busy symbol or a chatty agent does not outvote the market; a split vote,
   so one symbol's latest label does not swing the market on its own.
2. Shares: the mean of the symbols' votes per label. The leader is the label with the largest
   share (ties: the current regime if tied, else the alphabetically first label).
3. Hysteresis: the current regime is kept unless the leader's share exceeds the current regime's
   share by more than `switch_margin`; a regime with no vote at all is replaced by the leader.
   With no votes (market closed, feed stopped) the current regime is kept.

With two labels and margin m, a switch needs a share above (1 + m) / 2 (60% for m = 0.2): a market
split half and half keeps its regime instead of flapping with every symbol that changes its mind.
Measured on six months of real hourly bars (bench/regime_flaps.py, docs/detection.md "Current
regime"): 4.98 flips a day with the last signal's label, 0.30 with this rule at the defaults.
"""

from __future__ import annotations

from dataclasses import dataclass

from meta_supervisor.core.timeutil import parse_ts


@dataclass(frozen=True)
class RegimeSettings:
    lookback_hours: float = 24.0
    switch_margin: float = 0.2

    def __post_init__(self):
        if not 0 < self.lookback_hours <= 24 * 90:
            raise ValueError(f"lookback_hours: must be in (0, 2160], got {self.lookback_hours!r}")
        if not 0 <= self.switch_margin < 1:
            raise ValueError(f"switch_margin: must be in [0, 1), got {self.switch_margin!r}")


@dataclass(frozen=True)
class RegimeCall:
    regime: str | None
    shares: dict  # label -> mean vote of the voting symbols (sorted by label)
    symbols: int  # symbols that voted
    switched: bool  # the regime differs from the previous one
    reason: str  # one line for the log


def symbol_votes(rows, now: str, lookback_hours: float) -> dict[str, dict[str, float]]:
    """{symbol: {label: share of its rows with now - lookback < ts <= now}}; rows in any order.
    Rows without a regime or a symbol do not vote.

    >>> from types import SimpleNamespace as R
    >>> rows = [R(symbol="A", regime="TREND", ts="2026-01-01T10:00:00Z"),
    ...         R(symbol="A", regime="RANGE", ts="2026-01-01T11:00:00Z"),
    ...         R(symbol="B", regime="TREND", ts="2025-12-30T11:00:00Z")]
    >>> symbol_votes(rows, "2026-01-01T12:00:00Z", 24)
    {'A': {'RANGE': 0.5, 'TREND': 0.5}}
    """
    t_now = parse_ts(now)
    start = t_now - lookback_hours * 3600
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        if not row.symbol or not row.regime or not start < parse_ts(row.ts) <= t_now:
            continue
        mine = counts.setdefault(row.symbol, {})
        mine[row.regime] = mine.get(row.regime, 0) + 1
    return {sym: {label: c / sum(by.values()) for label, c in sorted(by.items())} for sym, by in sorted(counts.items())}


def current_regime(votes: dict[str, dict[str, float]], previous: str | None, switch_margin: float) -> RegimeCall:
    """The regime after this run's votes, given the previous run's regime.

    >>> T, R = {"TREND": 1.0}, {"RANGE": 1.0}
    >>> current_regime({"A": T, "B": T, "C": R}, "RANGE", 0.2).regime  # 2/3 vs 1/3
    'TREND'
    >>> current_regime({"A": T, "B": R}, "RANGE", 0.2).regime  # a split keeps it
    'RANGE'
    >>> current_regime({}, "RANGE", 0.2).reason
    'no signal in the lookback: kept RANGE'
    """
    n = len(votes)
    if n == 0:
        return RegimeCall(previous, {}, 0, False, f"no signal in the lookback: kept {previous or 'unknown'}")
    totals: dict[str, float] = {}
    for vote in votes.values():
        for label, part in vote.items():
            totals[label] = totals.get(label, 0.0) + part
    shares = {label: totals[label] / n for label in sorted(totals)}
    top = max(shares.values())
    tied = sorted(label for label, share in shares.items() if share == top)
    leader = previous if previous in tied else tied[0]
    held = shares.get(previous, 0.0) if previous else 0.0
    if previous is None or held == 0.0:
        regime, why = leader, f"{leader} leads with {top:.0%} of {n} symbols"
    elif leader != previous and top - held > switch_margin:
        regime, why = leader, f"{leader} {top:.0%} > {previous} {held:.0%} + margin {switch_margin:.0%} of {n} symbols"
    else:
        regime, why = previous, f"kept {previous} ({held:.0%} of {n} symbols; leader {leader} {top:.0%})"
    return RegimeCall(regime, shares, n, regime != previous, why)
