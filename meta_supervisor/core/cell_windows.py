"""Evidence windows per (strategy, regime) cell, bounded whatever the fleet's size (pure).

A cell's window is its rows of its last `window_days` UTC signal days (ending with the cell's own
newest signal day: a regime that returns after weeks finds its cell's last evidence, as a window
of the last N rows did; a feed that stops leaves the evidence standing and the `stale_input`
alert says so), at most `per_day` of them
per day: the rows whose event_id hashes lowest (a bottom-k sample, Cohen & Kaplan 2007). So
- a small cell keeps every row (fewer than `per_day` a day), as before;
- a big one keeps a uniform sample of every day, so it still spans `window_days` days (a window of
  "the last N rows" of a cell with 10,000 rows a day would hold a few hours: too few days for the
  day-block interval, core/es_bootstrap.py) while its cost stays `window_days * per_day` rows;
- the sample is a function of the set of rows only, not of the order they arrive in, the run that
  saw them, or the store they were read from: merging the same rows in any batches gives the same
  windows, so every job gives the same results on either history store.

Rows with and without a model prediction are sampled separately (`has_model`), so fallback rows
never crowd model rows out of a window. Defaults (evaluate.window_days 14, cell_window_rows 1344,
i.e. 96 a day) are the window bench/tail_risk.py measured the false-breach rates on
(docs/tail-risk.md).
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass

from meta_supervisor.core.records import Row
from meta_supervisor.core.risk import has_model
from meta_supervisor.core.timeutil import format_ts, parse_ts

DAY = 86400


@dataclass(frozen=True)
class WindowShape:
    horizon: int
    window_days: int
    per_day: int

    @classmethod
    def of(cls, horizon: int, window_days: int, cell_window_rows: int) -> WindowShape:
        return cls(horizon, window_days, math.ceil(cell_window_rows / window_days))


def rank(event_id: str) -> bytes:
    """The row's place in its day's sample: a hash, so the kept rows are a uniform draw that does
    not depend on when or in which order rows arrived."""
    return hashlib.blake2b(event_id.encode(), digest_size=8).digest()


def _key(row: Row) -> tuple:
    return (
        row.strategy_class or "unknown",
        row.regime or "unknown",
        has_model(row.sim_version, row.expected_sigma_bps),
    )


def first_day(newest: str, window_days: int) -> str:
    """The oldest signal day (YYYY-MM-DD) inside the window that ends with the day `newest`.

    >>> first_day("2026-11-20", 14)
    '2026-11-07'
    """
    return format_ts(parse_ts(newest + "T00:00:00Z") - (window_days - 1) * DAY)[:10]


def merge(days: dict[str, list[Row]], rows, shape: WindowShape) -> set[str]:
    """Merge `rows` (of `shape.horizon`; others ignored) into `days` ({day: sampled rows}, edited in
    place), keeping each cell's last `window_days` days; returns the days whose sample changed (to
    write) or went (to delete). A row already held (same event_id) is kept once."""
    groups: dict[tuple, dict[str, Row]] = defaultdict(dict)  # (day, cell, has_model) -> rows
    for row in [r for held in days.values() for r in held] + [r for r in rows if r.horizon_hours == shape.horizon]:
        groups[(row.ts[:10], *_key(row))].setdefault(row.event_id, row)
    newest: dict[tuple, str] = {}
    for day, strategy, regime, _ in groups:
        newest[strategy, regime] = max(day, newest.get((strategy, regime), day))
    kept: dict[str, list[Row]] = defaultdict(list)
    for (day, strategy, regime, _), members in groups.items():
        if day >= first_day(newest[strategy, regime], shape.window_days):
            kept[day] += sorted(members.values(), key=lambda r: (rank(r.event_id), r.event_id))[: shape.per_day]
    for rows_of_day in kept.values():
        rows_of_day.sort(key=lambda r: (r.ts, r.event_id))
    changed = {d for d in days if d not in kept} | {d for d in kept if kept[d] != days.get(d)}
    days.clear()
    days.update(kept)
    return changed


def window(days: dict[str, list[Row]]) -> list[Row]:
    """Every cell's window, together, oldest first (by ts, then event_id); `days` as `merge` left it."""
    rows = [r for d in sorted(days) for r in days[d]]
    rows.sort(key=lambda r: (r.ts, r.event_id))
    return rows
