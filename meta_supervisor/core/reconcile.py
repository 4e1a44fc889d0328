"""The join of alpha signals with what the market did (pure).

For an event at `ts` and a horizon `h` (hours):
    entry  = event.price if given, else the last tick of its symbol at or before ts
    exit   = the last tick of its symbol at or before ts + h
    mature = the symbol has a tick at or after ts + h   (only then is the pair final)
    realized_pnl_bps = sign * (exit / entry - 1) * 1e4
    pnl_error_bps    = realized - expected;  abs_error_bps = |pnl_error_bps|
Ticks with equal timestamps keep their input order, so "last" is the later line.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from meta_supervisor.core.records import Event, Row
from meta_supervisor.core.timeutil import HOUR, format_ts


class PriceBook:
    """Per-symbol sorted tick lists with O(log n) "last at or before" and "any at or after".

    >>> book = PriceBook.from_ticks([("X", 10, 100.0), ("X", 20, 101.0), ("X", 20, 102.0)])
    >>> book.last_at_or_before("X", 19), book.last_at_or_before("X", 20), book.has_at_or_after("X", 21)
    (100.0, 102.0, False)
    """

    def __init__(self, series: dict[str, tuple[list[int], list[float]]]):
        # {symbol: (times ascending, prices)} as lists: lookups come one at a time (~100k an hourly
        # run at fleet scale), and `bisect` on a list costs a tenth of a scalar `np.searchsorted`.
        self._series = series
        self._last = {symbol: times[-1] for symbol, (times, _) in series.items() if times}

    @classmethod
    def from_ticks(cls, ticks) -> PriceBook:
        by_symbol: dict[str, tuple[list, list]] = {}
        for symbol, ts, price in ticks:
            times, prices = by_symbol.setdefault(symbol, ([], []))
            times.append(ts)
            prices.append(price)
        series = {}
        for symbol, (times, prices) in by_symbol.items():
            order = sorted(range(len(times)), key=times.__getitem__)  # stable: equal ts keep line order
            series[symbol] = ([times[i] for i in order], [prices[i] for i in order])
        return cls(series)

    def last_at_or_before(self, symbol: str, ts: int) -> float | None:
        series = self._series.get(symbol)
        if series is None:
            return None
        times, prices = series
        i = bisect.bisect_right(times, ts) - 1
        return prices[i] if i >= 0 else None

    def has_at_or_after(self, symbol: str, ts: int) -> bool:
        last = self._last.get(symbol)
        return last is not None and last >= ts

    def latest_ts(self) -> int | None:
        return max(self._last.values(), default=None)


@dataclass
class Pending:
    """An accepted event with the horizons still waiting to mature."""

    event: Event
    strategy_class: str
    horizons_left: list[int]


@dataclass(frozen=True)
class Prediction:
    expected_pnl_bps: float
    expected_sigma_bps: float | None
    sim_version: str


FALLBACK = Prediction(0.0, None, "fallback_zero")


def realized_pnl_bps(sign: int, entry: float, exit_: float) -> float:
    """Signed return in basis points: a short gains when the price falls.

    >>> round(realized_pnl_bps(-1, 100.0, 99.0), 6)
    100.0
    """
    return sign * (exit_ / entry - 1.0) * 1e4


def reconcile(pending: list[Pending], book: PriceBook, predict, reconciled_at: str, stale_after_s: int | None = None):
    """Mature what can be matured.

    `predict(event, horizon) -> Prediction` supplies the model's expectation (FALLBACK without one).
    Returns (rows, still_pending, dropped) where dropped holds (pending, reason) for events that
    can never be reconciled: no entry price, or (with `stale_after_s`) no tick of the symbol
    for that long past maturity while the rest of the market moved on.
    """
    rows, still, dropped = [], [], []
    latest = book.latest_ts()

    def stale(e: Event, horizons) -> bool:
        return (
            latest is not None and stale_after_s is not None and latest - (e.ts + max(horizons) * HOUR) > stale_after_s
        )

    for item in pending:
        e = item.event
        entry = e.price if e.price is not None else book.last_at_or_before(e.symbol, e.ts)
        if entry is None:
            # No tick before the signal in the loaded history: the symbol may simply not have
            # traded yet, so wait while any horizon is immature; give up once all are stale.
            if stale(e, item.horizons_left):
                dropped.append((item, "no entry price: no tick of the symbol at or before ts"))
            else:
                still.append(item)
            continue
        left = []
        for h in item.horizons_left:
            due = e.ts + h * HOUR
            if not book.has_at_or_after(e.symbol, due):
                left.append(h)
                continue
            exit_ = book.last_at_or_before(e.symbol, due)
            if exit_ is None:
                # Every tick of the symbol is after ts + h (the entry came with the event): the
                # exit is unknown. It waits like an immature pair and is dropped once stale.
                left.append(h)
                continue
            rows.append(make_row(item, h, entry, exit_, predict(e, h), reconciled_at))
        if not left:
            continue
        if stale(e, left):
            dropped.append((Pending(e, item.strategy_class, left), "stale: no tick after maturity"))
        else:
            still.append(Pending(e, item.strategy_class, left))
    # ISO 8601 "Z" text of four-digit years sorts as time
    rows.sort(key=lambda r: (r.ts, r.event_id, r.horizon_hours))
    return rows, still, dropped


def make_row(item: Pending, h: int, entry: float, exit_: float, pred: Prediction, reconciled_at: str) -> Row:
    e = item.event
    realized = realized_pnl_bps(e.sign, entry, exit_)
    error = realized - pred.expected_pnl_bps
    return Row(
        event_id=e.event_id,
        ts=format_ts(e.ts),
        agent=e.agent,
        strategy_class=item.strategy_class,
        symbol=e.symbol,
        side=e.side,
        regime=e.regime,
        horizon_hours=h,
        score_final=e.score_final,
        confidence=e.confidence,
        entry_price=entry,
        exit_price=exit_,
        realized_pnl_bps=round(realized, 4),
        expected_pnl_bps=round(pred.expected_pnl_bps, 4),
        expected_sigma_bps=None if pred.expected_sigma_bps is None else round(pred.expected_sigma_bps, 4),
        pnl_error_bps=round(error, 4),
        abs_error_bps=round(abs(error), 4),
        sim_version=pred.sim_version,
        reconciled_at=reconciled_at,
    )


def partition_of(row: Row, layout: str = "month") -> str:
    """The partition a row is appended to: `YYYY-MM`, the month of the signal, or with layout
    `day`, `YYYY-MM-DD`, its UTC day (history.partition, files/history.py).

    >>> row = make_row(Pending(Event("e", 1795514400, "", "a", "X", "long", 1, 0.5, 0.5, "R", None),
    ...     "macro", [1]), 1, 100.0, 101.0, FALLBACK, "now")
    >>> partition_of(row), partition_of(row, "day")
    ('2026-11', '2026-11-24')
    """
    return row.ts[:10] if layout == "day" else row.ts[:7]
