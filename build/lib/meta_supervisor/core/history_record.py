"""One evaluate run as a compact history record (pure): every cell's ES with its interval and limit,
and every detector stream's statistics against their thresholds. `files/eval_history.py` appends
the records; the PR body and the report read them to show how a number moved.

Record (one JSON line):
    {"at": "<now>", "regime": "<current>",
     "cells": {strategy: {regime: [n, es_bps, ci_low, ci_high, limit_bps, es_sigma, limit_sigma]}},
     "streams": {stream: {kind: [statistic, h, alarm 0|1]}}}
plus `"actions"` ([{"kind", "strategy", "result"}]) when the run opened, updated or closed a PR.
Numbers are rounded (ES to 0.1 bps, sigma to 0.001, statistics to 0.01) so a record is small and an
unchanged fleet gives an identical record, which is not appended again (unless the run took an action).
"""

from __future__ import annotations


def _r(value, digits: int):
    return None if value is None else round(float(value), digits)


def record(now: str, regime: str | None, cells: dict, detectors: dict | None) -> dict:
    out_cells: dict = {}
    for strategy, by_regime in sorted(cells.items()):
        out_cells[strategy] = {
            r: [
                c.get("n"),
                _r(c.get("cvar95_error_bps"), 1),
                _r((c.get("cvar95_ci_bps") or [None, None])[0], 1),
                _r((c.get("cvar95_ci_bps") or [None, None])[1], 1),
                c.get("limit_bps"),
                _r(c.get("cvar95_error_sigma"), 3),
                c.get("limit_sigma"),
            ]
            for r, c in sorted(by_regime.items())
        }
    streams: dict = {}
    for key, st in sorted(((detectors or {}).get("streams") or {}).items()):
        streams[key] = {
            kind: [_r(d.get("statistic"), 2), _r(d.get("h"), 2), int(bool(d.get("alarm")))]
            for kind, d in sorted(st.get("detectors", {}).items())
        }
    return {"at": now, "regime": regime, "cells": out_cells, "streams": streams}


def same_evidence(a: dict | None, b: dict) -> bool:
    """Whether two records hold the same evidence (they may differ in time and in the actions taken)."""
    keep = lambda r: {k: v for k, v in r.items() if k not in ("at", "actions")}
    return a is not None and keep(a) == keep(b)


def es_series(records: list[dict], strategy: str, regime: str) -> list[tuple[str, float, float | None, float | None]]:
    """[(at, es_bps, ci_low, limit_bps)] of one cell over the records, oldest first."""
    out: list = []
    for rec in records:
        cell = rec.get("cells", {}).get(strategy, {}).get(regime)
        if cell and cell[1] is not None and (not out or out[-1][1:] != (cell[1], cell[2], cell[4])):
            out.append((rec["at"], cell[1], cell[2], cell[4]))  # a repeat (a record kept for its actions) adds nothing
    return out
