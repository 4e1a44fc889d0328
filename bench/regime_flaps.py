"""Benchmark: how often the current regime flips, by rule, on the real-market world of market_world.py.

The signals of bench/market_world.py's fleet (per-symbol causal regime labels on real hourly
bars) are generated for the period; then, for every hour `now`, each rule names the current
regime from the signals evaluate would see by then (the shortest horizon's reconciled rows: signals
at least `--lag-hours` old, 1 h by default):

- last_event: the label of the latest signal (the old rule);
- vote(L, m): core.regime (one vote per symbol over the last L hours, switch margin m).

Measured per rule: flips per day, the median and 10th percentile time between flips (hours) and
the share of hours in TREND.

Run:  .venv/bin/python bench/regime_flaps.py --data PATH/TO/hourly_bars.csv.gz
Out:  a markdown table on stdout (docs/detection.md, "Current regime").
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ runs from a checkout

from bench.market_world import epoch, generate, iso, load_bars
from meta_supervisor.core.regime import current_regime, symbol_votes

H = 3600


def replay(events, hours: list[int], rule) -> list[str | None]:
    out, previous, lo = [], None, 0
    for t in hours:
        while lo < len(events) and events[lo]["_t"] <= t:
            lo += 1
        previous = rule(events[:lo], t, previous)
        out.append(previous)
    return out


def last_event(seen, t, previous):
    return seen[-1]["regime"] if seen else previous


def vote(lookback: float, margin: float, lag_h: float):
    def rule(seen, t, previous):
        cut = t - lag_h * H
        recent = [
            SimpleNamespace(symbol=e["symbol"], regime=e["regime"], ts=e["ts"])
            for e in seen[-2000:]
            if cut - lookback * H < e["_t"] <= cut
        ]
        return current_regime(symbol_votes(recent, iso(cut), lookback), previous, margin).regime

    return rule


def flips(labels: list) -> tuple[float, float, float, float]:
    changes = [i for i in range(1, len(labels)) if labels[i] != labels[i - 1] and labels[i - 1] is not None]
    days = len(labels) / 24
    gaps = np.diff(changes) if len(changes) > 1 else np.array([len(labels)])
    trend = float(np.mean([lab == "TREND" for lab in labels if lab]))
    return len(changes) / days, float(np.median(gaps)), float(np.percentile(gaps, 10)), trend


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    env_data = os.environ.get("MARKET_DATA")
    ap.add_argument("--data", type=Path, default=Path(env_data) if env_data else None, help="hourly bars CSV(.gz)")
    ap.add_argument("--start", default="2011-07-01")
    ap.add_argument("--months", type=float, default=6.0)
    ap.add_argument("--lag-hours", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    if args.data is None:
        ap.error("pass --data PATH (or set MARKET_DATA) to the hourly bars CSV")
    bars = load_bars(args.data)
    start = epoch(args.start + "T00:00:00Z")
    end = start + int(args.months * 30.4375 * 86400) // H * H
    events = generate(bars, start - 3 * 86400, end, args.seed, 1, {})
    hours = list(range(start, end, H))
    rules = {"last_event (old)": last_event}
    for lookback in (12, 24, 48):
        for margin in (0.0, 0.1, 0.2, 0.3):
            rules[f"vote({lookback} h, margin {margin:g})"] = vote(lookback, margin, args.lag_hours)
    print(f"{args.start} + {args.months:g} months, {len(hours)} hourly runs, {len(events)} signals\n")
    print("| rule | flips / day | median h between flips | 10th pct h | TREND share |\n|---|---:|---:|---:|---:|")
    for name, rule in rules.items():
        per_day, median, p10, trend = flips(replay(events, hours, rule))
        print(f"| {name} | {per_day:.2f} | {median:.0f} | {p10:.0f} | {trend:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
