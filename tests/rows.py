"""Reconciled rows for tests: `row(**fields)` is a `records.Row` with every field not given at a
plain default (no model, zero PnL), so a test names only what it is about."""

from __future__ import annotations

from meta_supervisor.core.records import Row

DEFAULTS = dict(
    event_id="e-0",
    ts="2026-01-01T00:00:00Z",
    agent="a1",
    strategy_class="macro",
    symbol="BTC",
    side="long",
    regime="TREND",
    horizon_hours=24,
    score_final=0.5,
    confidence=0.9,
    entry_price=1.0,
    exit_price=1.0,
    realized_pnl_bps=0.0,
    expected_pnl_bps=0.0,
    expected_sigma_bps=None,
    pnl_error_bps=0.0,
    abs_error_bps=0.0,
    sim_version="fallback_zero",
    reconciled_at="2026-01-01T00:00:00Z",
)


def row(**fields) -> Row:
    return Row(**{**DEFAULTS, **fields})


def rows(dicts) -> list[Row]:
    return [row(**d) for d in dicts]
