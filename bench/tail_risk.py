"""False breaches and time to proposal of the tail-risk rule, on a calibrated fat-tailed sim.

    .venv/bin/python -m bench.tail_risk [--runs 25] [--detect-runs 15] [--seed 1]

The world (docs/tail-risk.md states the assumptions): one strategy, 8 symbols whose sims predict a
per-row sigma (base 20 to 200 bps, times a slow +-15% volatility cycle the sim knows), each
symbol signalling every 2 h at a random minute (96 rows a day, the demo's density). The adverse error of a row is
sigma_i * z_i with z_i a unit-variance Student-t(nu), nu = 3 or 4, built as
    z = g * sqrt((nu - 2) / nu) / sqrt(chi2_nu / nu),   g = (e_t + ... + e_{t+23}) / sqrt(24)
from hourly N(0, 1) shocks e of the symbol (overlapping 24 h horizons share them) and one chi2 draw
per (symbol, signal day) (a volatile day is volatile for every signal of it): the marginal is exactly
t(nu), and rows of one day and symbol are strongly dependent. The sim is calibrated: its sigma is the
true standard deviation of the error.

Hourly looks over 30 days call the real `risk.cell_stats` and `policy.judge` on the matured rows
(signal + 24 h <= look) of the cell's window (its last 1344 rows, 14 days). Limits: max_cvar_error_bps and
max_cvar_error_sigma both 15% above the true ES (from 4M Monte Carlo draws of the same marginal).
"before" is the old rule: point ES (bps) > limit with n >= 100.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from meta_supervisor.core import policy, risk
from meta_supervisor.core.config import EvaluateSettings
from meta_supervisor.core.records import Row
from meta_supervisor.core.timeutil import format_ts

BASE_SIGMA = np.array([20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 150.0, 200.0])
EVERY_HOURS = 2
WINDOW = 1344
DAYS = 30
START = 1_790_000_000 - 1_790_000_000 % 86400  # a UTC midnight
CONFIGS = [(100, 3), (200, 3), (200, 4), (200, 5), (300, 5), (500, 5), (500, 7)]  # (cvar_min_rows, cvar_min_days)
MARGIN, SEVERITY = 1.15, 1.6
DEFAULT = (EvaluateSettings().cvar_min_rows, EvaluateSettings().cvar_min_days)  # the shipped minimums


def sigma_at(symbol: int, hours: np.ndarray) -> np.ndarray:
    """The sim's sigma: the symbol's base times a 7-day volatility cycle (+-15%)."""
    return BASE_SIGMA[symbol] * (1.0 + 0.15 * np.sin(2 * np.pi * hours / 168.0 + symbol))


def world(nu: int, hours: int, rng: np.random.Generator):
    """(signal hour, adverse bps, sigma) of every row over `hours` hours, sorted by signal time."""
    out = []
    for s in range(len(BASE_SIGMA)):
        shocks = rng.normal(size=hours + 25)
        path = np.concatenate([[0.0], np.cumsum(shocks)])
        chi = rng.chisquare(nu, size=hours // 24 + 2)
        t = np.arange(0, hours, EVERY_HOURS) + rng.uniform(0, EVERY_HOURS, size=hours // EVERY_HOURS)
        h = t.astype(int)
        g = (path[h + 24] - path[h]) / np.sqrt(24.0)
        z = g * np.sqrt((nu - 2) / nu) / np.sqrt(chi[h // 24] / nu)
        sig = sigma_at(s, t)
        out.append(np.stack([t, sig * z, sig]))
    rows = np.concatenate(out, axis=1)
    return rows[:, np.argsort(rows[0], kind="stable")]


def true_es(nu: int, rng: np.random.Generator) -> tuple[float, float]:
    """(ES bps, ES sigma units) of the calibrated marginal, by 4M Monte Carlo draws."""
    n = 4_000_000
    z = rng.standard_t(nu, size=n) * np.sqrt((nu - 2) / nu)
    sig = sigma_at(rng.integers(0, BASE_SIGMA.size, size=n), rng.uniform(0, 168, size=n))
    return risk.expected_shortfall(sig * z), risk.expected_shortfall(z)


def as_rows(data) -> list[Row]:
    t, adverse, sig = data
    return [
        Row(
            *("e", format_ts(int(START + 3600 * ti)), "a", "s", "X", "long", "TREND", 24, 0.5, 0.5, 1.0, 1.0),
            *(-float(a), 0.0, float(s), -float(a), abs(float(a)), "sim@bench", "x"),
        )
        for ti, a, s in zip(t, adverse, sig)
    ]


def looks(data, rows, limits, first_look: int, stop_at_first: bool, persist: tuple[int, ...], confidence: float = 0.95):
    """{config: first look hour with a proposal (or None)} over hourly looks from `first_look`.
    A key ("held", p) is the first look at which the DEFAULT config's breach had held for p hours
    (p + 1 consecutive hourly looks), the `breach_since` streak evaluate keeps."""
    pols = {"s": policy.StrategyPolicy("s", limits={"TREND": limits[0]}, sigma_limits={"TREND": limits[1]})}
    tail = risk.TailSettings(min_rows=1, min_days=1, confidence=confidence)
    first: dict = {c: None for c in CONFIGS + ["before"] + [("held", p) for p in persist]}
    streak_from = None
    mature = data[0] + 24
    for look in range(first_look, first_look + DAYS * 24 + 1):
        hi = int(np.searchsorted(mature, look, side="right"))
        if hi < 100:
            continue  # no rule can propose below 100 rows
        cells = risk.cell_stats(rows[max(0, hi - WINDOW) : hi], tail)
        cell = cells["s"]["TREND"]
        if first["before"] is None and cell["cvar95_error_bps"] > limits[0]:
            first["before"] = look - first_look
        for rows_min, days_min in CONFIGS:
            if first[(rows_min, days_min)] is None:
                cell["enough_data"] = cell["n"] >= rows_min and cell["days"] >= days_min
                if policy.judge(pols, cells, "TREND")[0].breach:
                    first[(rows_min, days_min)] = look - first_look
        cell["enough_data"] = cell["n"] >= DEFAULT[0] and cell["days"] >= DEFAULT[1]
        if policy.judge(pols, cells, "TREND")[0].breach:
            streak_from = look if streak_from is None else streak_from
            for p in persist:
                if first[("held", p)] is None and look - streak_from >= p:
                    first[("held", p)] = look - first_look
        else:
            streak_from = None
        if stop_at_first and all(v is not None for v in first.values()):
            break
    return first


def one_run(args):
    nu, scenario, seed, limits, persist, confidence = args
    rng = np.random.default_rng(seed)
    history = 0 if scenario.startswith("cold") else 14 * 24  # hours of rows before the first look
    data = world(nu, history + DAYS * 24 + 24, rng)
    scale = MARGIN * SEVERITY  # adverse x 1.84: ES = 1.6 x a limit set 15% above the calibrated ES
    if scenario == "cold_1.6x":
        data[1] *= scale
    elif scenario == "onset_1.6x":
        data[1, data[0] >= history] *= scale  # degrades at the first look's signal time
    return looks(
        data,
        as_rows(data),
        limits,
        history + (24 if scenario == "onset_1.6x" else 0),
        "1.6x" in scenario,
        persist,
        confidence,
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=25)
    ap.add_argument("--detect-runs", type=int, default=15)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--nu", type=int, nargs="+", default=[3, 4])
    ap.add_argument(
        "--persist", type=int, nargs="*", default=[], help="also: hours a breach must hold (default config)"
    )
    ap.add_argument(
        "--confidence", type=float, default=EvaluateSettings().cvar_confidence, help="of the ES lower bound"
    )
    ap.add_argument(
        "--scenarios", nargs="+", default=["cold_calibrated", "steady_calibrated", "cold_1.6x", "onset_1.6x"]
    )
    args = ap.parse_args(argv)
    started = time.perf_counter()
    for nu in args.nu:
        es_bps, es_sigma = true_es(nu, np.random.default_rng(args.seed))
        limits = (MARGIN * es_bps, MARGIN * es_sigma)
        print(f"\nt{nu}: true ES {es_bps:.1f} bps / {es_sigma:.3f} sigma; limits {limits[0]:.1f} bps / {limits[1]:.3f}")
        for scenario in args.scenarios:
            runs = args.runs if "calibrated" in scenario else args.detect_runs
            jobs = [
                (nu, scenario, args.seed * 1000 + i, limits, tuple(args.persist), args.confidence) for i in range(runs)
            ]
            with ProcessPoolExecutor(args.workers) as pool:
                results = list(pool.map(one_run, jobs))
            cells = []
            configs = ["before"] + CONFIGS + [("held", p) for p in args.persist]
            for config in configs:
                hits = [r[config] for r in results]
                if "calibrated" in scenario:
                    cells.append(f"{sum(h is not None for h in hits)}/{runs}")
                else:
                    got = sorted(h for h in hits if h is not None)
                    med = f"{np.median(got):.0f}h" if got else "-"
                    worst = "never" if len(got) < runs else f"{got[-1]:.0f}h"
                    cells.append(f"{med} (max {worst})")
            label = "P(any false proposal in 30 d)" if "calibrated" in scenario else "hours to proposal: median"
            print(f"  {scenario:<18} {label}: " + " | ".join(f"{c}: {v}" for c, v in zip(configs, cells)))
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
