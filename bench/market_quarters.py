"""Benchmark: the detectors over several real-market quarters, pooled, with intervals.

One `bench/market_world.py` replay is one quarter: 19 charted honest agent-months, one planted
fault of each kind. A false-onset rate of 0.05 per agent-month is one onset in such a quarter, so
one replay cannot tell 0.03 from 0.1, nor a detection delay's luck from its design. This pools
finished replays of different quarters (each `market_world.py --start ... --out X.json`), replays
their 24 h rows through the real `divergence.detect` for the defaults and each `--candidate`
(`bench/detector_replay.py`: evaluate's windows and steps, the same onsets as the full cycle), and
reports
- honest false onsets per charted agent-month, pooled, with an exact 95% Poisson interval;
- the coin-flip agent's share of steps under an alert;
- per planted fault, each quarter's delay (days to the first onset on the faulted agent) and the
  baseline's: one bias-down (or variance) chart at the OLD threshold on iid Gaussian z with the
  shift (or variance ratio) the fault really caused in that quarter (mean z after - before, or
  (RMS after / before)^2, of the faulted agent's 24 h rows) at the agent's own pace of charted
  rows, + 1 day of reconcile lag (`detection_fleet.baseline_delay_days`); then the median delay
  over the quarters against the median baseline.

Run:  .venv/bin/python bench/market_quarters.py bench/out/quarters/q_*.json
      [--candidate bias_shift_sigma=0.875 --candidate "variance_ratio=3,clear_multiple=1.5"]
Out:  a markdown table on stdout, bench/out/market_quarters-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from detection_fleet import baseline_delay_days, old_chart_step
from detector_replay import load_rows, run_candidate, span

from meta_supervisor.core.divergence import DivergenceSettings, charting_from
from meta_supervisor.core.timeutil import parse_ts

REPO = Path(__file__).resolve().parents[1]
DAY = 86400


def poisson_interval(k: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) interval for a Poisson rate: k events over `exposure`, by bisection on the
    Poisson CDF (no scipy)."""

    def cdf(k: int, mu: float) -> float:
        term = total = math.exp(-mu)
        for i in range(1, k + 1):
            term *= mu / i
            total += term
        return total

    def solve(f, lo: float, hi: float) -> float:
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
        return (lo + hi) / 2

    a = (1 - level) / 2
    lower = 0.0 if k == 0 else solve(lambda mu: a - (1 - cdf(k - 1, mu)), 0.0, k + 50.0)
    upper = solve(lambda mu: cdf(k, mu) - a, 0.0, 2 * k + 50.0)
    return lower / exposure, upper / exposure


def quarter_inputs(result_path: Path) -> dict:
    """What one finished replay needs: its rows, faults and the faults' real effect on z."""
    result = json.loads(result_path.read_text())
    root = Path(result["meta"]["root"])
    faults = json.loads((root.parent / "faults.json").read_text())
    rows = load_rows(root, 24)
    start, end = span(rows)
    effects = {}
    for agent, f in faults.items():
        fault_at = parse_ts(f["start"])
        mine = [r for r in rows if r.agent == agent and r.expected_sigma_bps and parse_ts(r.ts) >= fault_at]
        before, after = result["summary"]["fault_detection"][agent]["mean_z_before_after"]
        rms_before, rms_after = result["summary"]["fault_detection"][agent]["rms_z_before_after"]
        effects[agent] = {
            "shift": after - before,
            "var_ratio": (rms_after / rms_before) ** 2,
            "rows_per_day": len(mine) / max((end - fault_at) / DAY, 1e-9),
            "same_world_days": same_world_delay_days(mine, fault_at, f["fault"] == "variance_blowup"),
        }
    return {
        "name": result["meta"]["start"][:10],
        "start": start,
        "end": end,
        "rows": rows,
        "faults": faults,
        "effects": effects,
        "rms_z": honest_rms_z(rows, faults, charting_from(rows[0].ts, DivergenceSettings()) or rows[0].ts),
        "regime_flaps_per_day": result["summary"]["regime_flaps_per_day"],
    }


def same_world_delay_days(mine: list, fault_at: int, variance: bool, step_hours: int = 6) -> float | None:
    """The baseline's chart (one stream, OLD h, no budget, no widening for dependence) started at 0
    at the fault and fed the faulted agent's real rows as they were reconciled, read every
    `step_hours`: what this quarter's real errors (their dependence, their tails) cost the old chart,
    apart from the new calibration. Days from the fault to the first read that sees the alarm."""
    stat = 0.0
    for r in sorted(mine, key=lambda r: (r.reconciled_at, r.ts, r.event_id)):
        stat, hit = old_chart_step(stat, r.pnl_error_bps / r.expected_sigma_bps, variance)
        if hit:
            step = step_hours * 3600
            return round(math.ceil((parse_ts(r.reconciled_at) - fault_at) / step) * step / DAY, 2)
    return None


def honest_rms_z(rows, faults: dict, charted_from: str) -> dict[str, float]:
    """RMS of z per symbol over the charted 24 h model rows (signalled after the detectors' warm-up,
    when the replay's young sigma has settled) of honest agents (unfaulted, or before their fault):
    the sigma the charts divide by, judged where it should hold."""
    sums: dict[str, list[float]] = {}
    for r in rows:
        if not r.expected_sigma_bps or r.ts < charted_from or (r.agent in faults and r.ts >= faults[r.agent]["start"]):
            continue
        z = r.pnl_error_bps / r.expected_sigma_bps
        for key in (r.symbol, "(all)"):
            acc = sums.setdefault(key, [0.0, 0])
            acc[0] += z * z
            acc[1] += 1
    return {k: round(math.sqrt(v[0] / v[1]), 3) for k, v in sorted(sums.items())}


def run_quarter(args: tuple[Path, dict[str, dict]]) -> dict:
    """Every candidate on one quarter (one process: the rows are loaded once)."""
    path, candidates = args
    q = quarter_inputs(path)
    out = {k: v for k, v in q.items() if k != "rows"}
    out["candidates"] = {name: run_candidate(q["rows"], q["faults"], c, 6) for name, c in candidates.items()}
    return out


def baseline(fault: str, effect: dict) -> float | None:
    """The old chart on iid z with the fault's real effect; None when the fault did not move z the
    way its chart looks for (no baseline can find it either)."""
    if fault == "variance_blowup":
        var = effect["var_ratio"]
        return baseline_delay_days(0.0, var, effect["rows_per_day"]) if var > 1.5 else None
    shift = effect["shift"]
    return baseline_delay_days(shift, 1.0, effect["rows_per_day"]) if shift < -0.2 else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("results", nargs="+", type=Path, help="market_world result JSONs, one per quarter")
    ap.add_argument(
        "--candidate", action="append", default=[], help="settings changed from the defaults: k=v[,k=v] (repeatable)"
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = ap.parse_args(argv)
    candidates: dict[str, dict] = {"defaults": {}}
    for c in args.candidate:
        candidates[c] = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in c.split(","))}
    t0 = time.time()
    with ProcessPoolExecutor(args.jobs) as pool:
        quarters = list(pool.map(run_quarter, [(p, candidates) for p in args.results]))
    quarters.sort(key=lambda q: q["name"])
    summary = {}
    for name in candidates:
        false = sum(q["candidates"][name]["false_onsets"] for q in quarters)
        months = sum(q["candidates"][name]["charted_agent_months"] for q in quarters)
        lo, hi = poisson_interval(false, months)
        coin = [q["candidates"][name]["coin_share_alerted"] for q in quarters]
        per_fault = {}
        for agent, f in quarters[0]["faults"].items():
            delays, bases, worlds = [], [], []
            for q in quarters:
                d = q["candidates"][name]["fault_delays_days"][agent][1]
                b = baseline(f["fault"], q["effects"][agent])
                delays.append(d)
                bases.append(round(b, 2) if b is not None else None)
                worlds.append(q["effects"][agent]["same_world_days"] if b is not None else None)
            found = [d if d is not None else math.inf for d, b in zip(delays, bases) if b is not None]
            base = [b for b in bases if b is not None]
            same = [w if w is not None else math.inf for w, b in zip(worlds, bases) if b is not None]
            med = round(statistics.median(found), 2) if base else None
            med_base = round(statistics.median(base), 2) if base else None
            med_same = round(statistics.median(same), 2) if base else None
            per_fault[agent] = {
                "fault": f["fault"],
                "delays": delays,
                "baselines": bases,
                "median_delay_where_z_moved": med,
                "median_baseline": med_base,
                "ratio": round(med / med_base, 2) if med is not None and med_base else None,
                "same_world": worlds,
                "median_same_world": med_same,
                "ratio_same_world": round(med / med_same, 2) if med is not None and med_same else None,
            }
        span = sum((q["end"] - q["start"]) / (30.4375 * DAY) for q in quarters)
        per_month = {
            kind: round(sum(len(q["candidates"][name][f"{kind}_onsets"]) for q in quarters) / span, 2)
            for kind in ("fleet", "class")
        }
        summary[name] = {
            "fleet_alerts_per_month": per_month["fleet"],
            "class_alerts_per_month": per_month["class"],
            "false_onsets": false,
            "charted_agent_months": round(months, 1),
            "per_agent_month": round(false / months, 3),
            "interval_95": [round(lo, 3), round(hi, 3)],
            "coin_share_alerted_max": max(coin),
            "false_onset_times": [t for q in quarters for t in q["candidates"][name]["false_onset_times"]],
            "faults": per_fault,
        }
    print(f"{len(quarters)} quarters: {', '.join(q['name'] for q in quarters)} ({time.time() - t0:.0f} s)\n")
    print(
        "| candidate | false onsets / agent-months | per agent-month (95%) | coin alerted (worst quarter) "
        "| fleet alerts / month | class alerts / month |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in summary.items():
        lo, hi = s["interval_95"]
        print(
            f"| {name} | {s['false_onsets']} / {s['charted_agent_months']} | {s['per_agent_month']} ({lo}-{hi}) | "
            f"{s['coin_share_alerted_max']:.0%} | {s['fleet_alerts_per_month']} | {s['class_alerts_per_month']} |"
        )
    print(
        "\nPlanted faults: days to the first onset per quarter (in brackets the iid baseline; '-': z did not"
        " move), and the old chart on the same quarter's rows (same world)\n"
    )
    print(
        "| candidate | fault | " + " | ".join(q["name"] for q in quarters) + " | median / baseline | ratio "
        "| same world, median | ratio |"
    )
    print("|---|---|" + "---:|" * (len(quarters) + 4))
    for name, s in summary.items():
        for f in s["faults"].values():
            cells = []
            for d, b in zip(f["delays"], f["baselines"]):
                shown = "never" if d is None else f"{d}"
                cells.append(f"{shown} ({b})" if b is not None else f"{shown} (-)")
            med = f["median_delay_where_z_moved"]
            tail = (
                f"{med} / {f['median_baseline']} | {f['ratio']} | {f['median_same_world']} | {f['ratio_same_world']}"
                if med is not None
                else "- | - | - | -"
            )
            print(f"| {name} | {f['fault']} | " + " | ".join(cells) + f" | {tail} |")
    symbols = sorted(quarters[0]["rms_z"])
    print("\nRMS(z) of honest charted 24 h rows per symbol (target 0.8-1.25), and regime flips per day\n")
    print("| quarter | " + " | ".join(symbols) + " | regime flips / day |")
    print("|---|" + "---:|" * (len(symbols) + 1))
    for q in quarters:
        cells = [f"{q['rms_z'].get(sym, '-')}" for sym in symbols]
        print(f"| {q['name']} | " + " | ".join(cells) + f" | {q['regime_flaps_per_day']} |")
    out = REPO / "bench/out" / f"market_quarters-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps({"quarters": quarters, "summary": summary}, indent=1, default=str) + "\n")
    print(f"\nwritten: {out.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
