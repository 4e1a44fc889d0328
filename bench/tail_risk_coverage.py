"""Coverage of the ES lower bound, by the number of signal days in the cell, on the calibrated sim.

    .venv/bin/python -m bench.tail_risk_coverage [--runs 30] [--every 6] [--nu 3 4]

The world of bench/tail_risk.py (calibrated fat-tailed sim, 96 rows a day, strongly dependent
within a day), cold start, looks every `--every` hours over 30 days with the real
`risk.cell_stats`. A one-sided 95% lower bound should exceed the true ES (limits aside) at 5% of
looks; more means the bound is optimistic and a calibrated strategy is proposed more often than
the rule says. Printed per number of days in the cell (15 = 15 or more): looks, P(lower bound in bps
> true ES), the same in sigma units, and P(point ES > true ES) (the estimator's own bias: below
0.5 for heavy tails). Looks of the same run are dependent, so the per-row rates are rough.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from bench import tail_risk
from meta_supervisor.core import risk

DAYS = 30


def one_run(args) -> list[tuple[int, bool, bool, bool]]:
    nu, seed, es_bps, es_sigma, every = args
    data = tail_risk.world(nu, DAYS * 24 + 24, np.random.default_rng(seed))
    rows = tail_risk.as_rows(data)
    tail = risk.TailSettings(min_rows=1, min_days=1)
    mature = data[0] + 24
    out = []
    for look in range(48, DAYS * 24, every):
        hi = int(np.searchsorted(mature, look, side="right"))
        cell = risk.cell_stats(rows[max(0, hi - tail_risk.WINDOW) : hi], tail)["s"]["TREND"] if hi else None
        if cell is None or cell["cvar95_ci_bps"] is None:
            continue  # one day: no interval
        out.append(
            (
                cell["days"],
                cell["cvar95_ci_bps"][0] > es_bps,
                cell["cvar95_sigma_ci"][0] > es_sigma,
                cell["cvar95_error_bps"] > es_bps,
            )
        )
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--every", type=int, default=6, help="hours between looks")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--nu", type=int, nargs="+", default=[3, 4])
    args = ap.parse_args(argv)
    for nu in args.nu:
        es_bps, es_sigma = tail_risk.true_es(nu, np.random.default_rng(1))
        jobs = [(nu, args.seed * 1000 + i, es_bps, es_sigma, args.every) for i in range(args.runs)]
        with ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(one_run, jobs))
        by_days: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(4))
        for run in results:
            for days, *hits in run:
                by_days[min(days, 15)] += (1, *hits)
        print(f"\nt{nu} (true ES {es_bps:.1f} bps / {es_sigma:.3f} sigma), {args.runs} runs")
        print("| days | looks | P(lower bps > true) | P(lower sigma > true) | P(point > true) |")
        print("|---:|---:|---:|---:|---:|")
        for days in sorted(by_days):
            n, *hits = by_days[days]
            rates = " | ".join(f"{h / n:.3f}" for h in hits)
            print(f"| {days}{'+' if days == 15 else ''} | {int(n)} | {rates} |")


if __name__ == "__main__":
    main()
