"""Benchmark: the real `divergence.detect` on a dependent, heavy-tailed fleet, old vs new defaults.

World: 8 symbols with per-symbol 24 h volatility 40-200 bps and a daily log-normal volatility regime
(sd 0.5: heavy tails at the 24 h scale; sigma is the symbol's unconditional sd, so var(z) ~ 1 per
symbol). Hourly returns. Each agent signals every 3 h (offset per agent) on 2 random symbols, 24 h
horizon: same-symbol rows of an agent overlap in time. Honest agent: realized = edge + side x r24,
expected = edge (edge = 0.5 sigma), so z = side x r24 / sigma. Agent 0 is a coin flip (edge 0).
Faults at day 30 of a 90-day run on agents 1-3: sign flip (realized = -edge + side r: mean -1 sigma),
edge decay (realized = side r: -0.5 sigma), variance blow-up (side x 2 r: variance x4).
Evaluate every 6 h: rows are reconciled 24 h after their signal; detect(state, new, window) with
the last 8000 rows, `now` the evaluation time. Onset = a (non-info) alert key active now and not at
the previous evaluation. Old = DivergenceSettings(fleet_false_alerts_per_month=0,
estimate_dependence=False, seed_rules_alert=True) (the former defaults); new = the defaults.

Run: `.venv/bin/python bench/detection_fleet.py [--new-only] [--set bias_shift_sigma=0.5 ...]`
(fixed seeds; ~5 min on 2 cores). `--faults-only --fault-seeds 5`: the faulted world alone, five
seeds, median delays, and a same-world baseline (the old chart on the faulted agent's own rows).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import replace

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from meta_supervisor.core import divergence
from meta_supervisor.core.records import Row
from meta_supervisor.core.timeutil import format_ts, parse_ts

SYMBOLS = 8
T0 = 1767225600  # 2026-01-01
OLD = divergence.DivergenceSettings(
    fleet_false_alerts_per_month=0, estimate_dependence=False, seed_rules_alert=True, fleet_wide=False
)
NEW = divergence.DivergenceSettings()


def world(n_agents: int, days: int, seed: int, faults: bool):
    rng = np.random.default_rng(seed)
    hours = days * 24 + 48
    sig = np.linspace(40.0, 200.0, SYMBOLS)
    regime = np.exp(rng.normal(0, 0.5, (SYMBOLS, hours // 24 + 2)) - 0.125)  # E regime^2 = 1
    hourly = rng.standard_t(4, (SYMBOLS, hours)) / math.sqrt(2.0)
    hourly *= regime[:, np.arange(hours) // 24] * (sig[:, None] / math.sqrt(24))
    cum = np.concatenate([np.zeros((SYMBOLS, 1)), np.cumsum(hourly, axis=1)], axis=1)
    rows = []
    fault_hour = 30 * 24
    for a in range(n_agents):
        for t in range(a % 3, days * 24, 3):
            for sym in rng.choice(SYMBOLS, 2, replace=False):
                side = 1 if rng.random() < 0.5 else -1
                r = cum[sym, t + 24] - cum[sym, t]
                edge = 0.0 if a == 0 else 0.5 * sig[sym]
                realized = edge + side * r
                if faults and t >= fault_hour and a in (1, 2, 3):
                    realized = {1: -edge + side * r, 2: side * r, 3: edge + 2 * side * r}[a]
                rows.append((t, a, int(sym), side, edge, realized, sig[sym]))
    rows.sort()
    out = []
    for i, (t, a, sym, side, edge, realized, sigma) in enumerate(rows):
        ts = format_ts(T0 + 3600 * t)
        out.append(
            Row(
                f"e{i:07d}",
                ts,
                f"ag-{a}",
                f"class-{a % 5}",
                f"S{sym}",
                "long" if side > 0 else "short",
                "TREND",
                24,
                0.5,
                0.8,
                1.0,
                1.0,
                realized,
                edge,
                sigma,
                realized - edge,
                abs(realized - edge),
                "ridge_h24@x",
                format_ts(T0 + 3600 * (t + 24)),
            )
        )
    return out


def replay(rows, settings, days: int, step: int = 6):
    """[(hour, {alert key})] at every evaluation; detections exclude info notices."""
    avail = [(parse_ts(r.ts) - T0) // 3600 + 24 for r in rows]  # reconciled when the horizon ends
    state, seen, out = None, 0, []
    for h in range(48, days * 24 + 1, step):
        upto = seen
        while upto < len(rows) and avail[upto] <= h:
            upto += 1
        window = rows[max(0, upto - 8000) : upto]
        new = rows[seen:upto]
        seen = upto
        if not window:
            continue
        state, dets = divergence.detect(state, new, window, settings, now=format_ts(T0 + 3600 * h))
        out.append((h, {d["key"] for d in dets if d["severity"] != "info"}, state))
    return out


def onsets(steps):
    prev, events = set(), []
    for h, keys, _ in steps:
        events += [(h, k) for k in keys - prev]
        prev = keys
    return events


def summarize(label, rows, settings, n_agents, days, faults):
    t = time.time()
    steps = replay(rows, settings, days)
    ev = onsets(steps)
    months = (days - 2) / 30.44
    honest = [(h, k) for h, k in ev if not (faults and k.split(":")[1] in ("ag-1", "ag-2", "ag-3") and h >= 30 * 24)]
    honest = [
        (h, k)
        for h, k in honest
        if not (
            faults
            and k.startswith("strategy:class-")
            and h >= 30 * 24
            and k.split(":")[1] in ("class-1", "class-2", "class-3")
        )
    ]
    agent_on = [e for e in honest if e[1].startswith("agent:")]
    seed_share = sum(1 for _, k in honest if k.endswith(("mean_abs_error", "mean_error"))) / max(1, len(honest))
    coin_days = len({h // 24 for h, keys, _ in steps if any(k.startswith("agent:ag-0:") for k in keys)})
    res = {
        "label": label,
        "agents": n_agents,
        "false_onsets_per_agent_month": len(agent_on) / (n_agents * months),
        "fleet_false_alerts_per_month": len(honest) / months,
        "seed_share_of_false_onsets": seed_share,
        "coin_share_of_days_alerted": coin_days / (days - 2),
        "seconds": time.time() - t,
    }
    if faults:
        for a, name in ((1, "sign flip"), (2, "edge decay"), (3, "variance x4")):
            first = [h for h, k in ev if k.startswith(f"agent:ag-{a}:") and h >= 30 * 24]
            res[f"delay_days {name}"] = (min(first) - 30 * 24) / 24 if first else math.inf
        last = steps[-1][2]["streams"]["agent:ag-1"]
        res["plan ag-1"] = last.get("plan")
    return res


def baseline_delay_days(shift: float, var: float = 1.0, rows_per_day: float = 16.0, n: int = 2000, seed: int = 5):
    """Median delay (days, + the 1 day reconcile lag) of ONE iid-calibrated bias-down chart at the OLD
    default (k 0.5, h 8.651) or the variance chart (k 1.386, h 27.28), iid Gaussian z."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s, t, hit = 0.0, 0, False
        while not hit:
            z = rng.standard_normal() * math.sqrt(var) + shift
            t += 1
            s, hit = old_chart_step(s, z, var != 1.0)
        out.append(t)
    return float(np.median(out)) / rows_per_day + 1.0


def same_world_delay_days(rows, agent: int, fault: str, step: int = 6) -> float:
    """The baseline's chart (one stream, old h, no budget, no dependence widening) started at 0 at
    the fault and fed the faulted agent's rows of THIS world as they are reconciled (24 h after the
    signal), read every `step` hours: what the world itself costs, apart from the detector's
    calibration. Days from the fault to the first evaluation that sees the alarm."""
    fault_hour, s = 30 * 24, 0.0
    mine = sorted(
        ((parse_ts(r.ts) - T0) // 3600 + 24, r.pnl_error_bps / r.expected_sigma_bps)
        for r in rows
        if r.agent == f"ag-{agent}" and (parse_ts(r.ts) - T0) // 3600 >= fault_hour
    )
    for avail, z in mine:
        s, hit = old_chart_step(s, z, fault == "variance x4")
        if hit:
            return (math.ceil(avail / step) * step - fault_hour) / 24
    return math.inf


def old_chart_step(s: float, z: float, variance: bool) -> tuple[float, bool]:
    """One row of the baseline chart at the OLD defaults: bias down (k 0.5, clip 3, h 8.651) or
    variance (k 1.386, cap 9, h 27.28). (statistic, alarm)."""
    if variance:
        s = max(0.0, s + min(z * z, 9.0) - 1.3863)
        return s, s > 27.283203125
    s = max(0.0, s - min(3, max(-3, z)) - 0.5)
    return s, s > 8.6513671875


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", action="append", default=[], help="a setting of the new candidate: key=json")
    ap.add_argument("--new-only", action="store_true", help="skip the old defaults (half the time)")
    ap.add_argument("--faults-only", action="store_true", help="skip the null worlds")
    ap.add_argument("--fault-seeds", type=int, default=1, help="faulted worlds (seeds 7, 8, ...): median delays")
    args = ap.parse_args()
    new = replace(NEW, **{k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)})
    candidates = (("new", new),) if args.new_only else (("old", OLD), ("new", new))
    days = int(os.environ.get("DAYS", "90"))
    results = []
    for n_agents, d in () if args.faults_only else ((10, days), (50, days // 3), (200, max(days // 9, 10))):
        rows = world(n_agents, d, seed=n_agents, faults=False)
        for label, s in candidates:
            results.append(summarize(f"{label} null", rows, s, n_agents, d, False))
            print(results[-1], flush=True)
    delays: dict = {}
    for seed in range(7, 7 + args.fault_seeds):
        rows = world(10, days, seed=seed, faults=True)
        for label, s in candidates:
            results.append(summarize(f"{label} faults", rows, s, 10, days, True))
            print(results[-1], flush=True)
            for fault in ("sign flip", "edge decay", "variance x4"):
                delays.setdefault((label, fault), []).append(results[-1][f"delay_days {fault}"])
        for agent, fault in ((1, "sign flip"), (2, "edge decay"), (3, "variance x4")):
            delays.setdefault(("same-world baseline", fault), []).append(same_world_delay_days(rows, agent, fault))
    for (label, fault), got in delays.items():
        print(f"{label} {fault}: median {np.median(got):.2f} d over {len(got)} seeds: {got}")
    print(
        "baseline (one chart, old h, iid, 16 rows/day, +1 day lag):",
        {
            "sign flip": baseline_delay_days(-1.0),
            "edge decay": baseline_delay_days(-0.5),
            "variance x4": baseline_delay_days(0.0, 4.0),
        },
    )
    t = time.time()
    rows = world(50, 12, seed=3, faults=False)[-8000:]
    divergence.detect(None, [], rows, NEW)
    print(f"cold detect, 8000 rows, 50 agents: {time.time() - t:.2f} s")


if __name__ == "__main__":
    main()
