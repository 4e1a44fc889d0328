"""The PR lifecycle's defaults (reenable_margin, reenable_after_hours, autoclose_after_hours), measured
on the calibrated fat-tailed sim of bench/tail_risk.py (docs/tail-risk.md states it).

    .venv/bin/python -m bench.lifecycle [--runs 6] [--seed 3]

Looks every 6 h over 30 days on the cell's last 1344 matured rows (real `risk.cell_stats`, the ES
interval of evaluate), one strategy, t3 errors scaled so the true ES is a given multiple of its limit:
- `recovered x0.6`: a strategy disabled at 1.6 x its limit (14 days of such rows in its window),
  fixed at the first look to 0.6 x: hours until a re-enable proposal (the whole interval under
  margin x limit for `after` hours without a break; the old rows must first leave the window);
- `still bad x1.0`, `x1.2`: a DISABLED strategy at / above its limit: runs with a (wrong) re-enable;
- `breach x1.6`: an open disable PR of a strategy at 1.6 x its limit: runs whose PR would be closed
  (cleared for `after` hours: a wrong autoclose), by two rules of "cleared": the point ES at or under
  the limit, or the interval's upper end under it; `breach x1.1` the same, nearer the limit.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench.tail_risk import DAYS, WINDOW, as_rows, true_es, world
from meta_supervisor.core import lifecycle, risk

STEP_H = 6
MARGINS, REENABLE_AFTER, AUTOCLOSE_AFTER = (0.7, 0.8, 0.9), (24, 72), (12, 24, 48)


def one_run(args):
    scenario, ratio, seed, limit = args
    rng = np.random.default_rng(seed)
    history = 14 * 24
    data = world(3, history + DAYS * 24 + 24, rng)
    data[1] *= ratio * limit / true_es(3, np.random.default_rng(1))[0]  # true ES = ratio x limit
    if scenario.startswith("recovered"):
        data[1, data[0] < history] *= 1.6 / ratio  # it was disabled at 1.6 x; fixed at the first look
    rows = as_rows(data)
    tail = risk.TailSettings()
    mature = data[0] + 24
    since_in = dict.fromkeys(MARGINS)  # margin -> first look of the current streak inside it
    since_clear = {"point": None, "upper": None}
    first_enable = {(m, a): None for m in MARGINS for a in REENABLE_AFTER}
    first_close = {(rule, a): None for rule in since_clear for a in AUTOCLOSE_AFTER}
    for look in range(history, history + DAYS * 24 + 1, STEP_H):
        hi = int(np.searchsorted(mature, look, side="right"))
        cell = risk.cell_stats(rows[max(0, hi - WINDOW) : hi], tail)["s"]["TREND"]
        cell["limit_bps"] = limit
        for m in MARGINS:
            inside = lifecycle.recovered(cell, limit, None, m)
            since_in[m] = (since_in[m] if since_in[m] is not None else look) if inside else None
            for a in REENABLE_AFTER:
                if since_in[m] is not None and look - since_in[m] >= a and first_enable[(m, a)] is None:
                    first_enable[(m, a)] = look - history
        cleared = {
            "point": cell["enough_data"] and cell["cvar95_error_bps"] <= limit,
            "upper": cell["enough_data"] and cell["cvar95_ci_bps"][1] < limit,
        }
        for rule, yes in cleared.items():
            since_clear[rule] = (since_clear[rule] if since_clear[rule] is not None else look) if yes else None
            for a in AUTOCLOSE_AFTER:
                if since_clear[rule] is not None and look - since_clear[rule] >= a and first_close[(rule, a)] is None:
                    first_close[(rule, a)] = look - history
    return scenario, first_enable, first_close


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    started = time.perf_counter()
    limit = 300.0
    scenarios = [
        ("recovered x0.6", 0.6),
        ("still bad x1.0", 1.0),
        ("still bad x1.2", 1.2),
        ("breach x1.1", 1.1),
        ("breach x1.6", 1.6),
    ]
    jobs = [
        (name, ratio, args.seed * 1000 + 17 * i + k, limit)
        for k, (name, ratio) in enumerate(scenarios)
        for i in range(args.runs)
    ]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(one_run, jobs))
    for name, _ in scenarios:
        mine = [(e, c) for s, e, c in results if s == name]
        if name.startswith(("recovered", "still")):
            cells = []
            for m in MARGINS:
                for a in REENABLE_AFTER:
                    hits = sorted(e[(m, a)] for e, _ in mine if e[(m, a)] is not None)
                    if name.startswith("recovered"):
                        med = f"{np.median(hits):.0f} h" if hits else "never"
                        cells.append(f"margin {m}, {a} h: {med} ({len(hits)}/{len(mine)})")
                    else:
                        cells.append(f"margin {m}, {a} h: {len(hits)}/{len(mine)} re-enabled")
            print(f"{name:<16} " + " | ".join(cells))
        else:
            for rule, what in (("point", "point ES <= limit"), ("upper", "upper bound < limit")):
                cells = [
                    f"{a} h: {sum(c[(rule, a)] is not None for _, c in mine)}/{len(mine)}" for a in AUTOCLOSE_AFTER
                ]
                print(f"{name:<16} closed when {what} for " + " | ".join(cells))
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
