"""Benchmark: which scale model makes z = pnl_error / sigma calibrated per symbol, measured causally.

Input: the reconciled rows of a replay on real hourly bars (bench/market_world.py leaves them in
bench/out/market_world/<stamp>/root/state/reconciled/*.jsonl; the newest is the default).

Method, per horizon h and per candidate, for every day d after a warm-up:
- fit on the rows that had matured before d (ts + h <= d 00:00 UTC), the last `--max-rows` of them
  by signal time (train's window), using each row's residual e = pnl_error_bps as stamped by the
  model of its time (what the detectors chart);
- score the rows whose signal falls on day d: z = e / sigma(row), Gaussian log score
  log phi(e; 0, sigma) = -log(sigma) - log(2 pi) / 2 - z^2 / 2 (mean per row, nats; higher is better).
Candidates: "stamped" (the sigma the replay's rows carry: the model card's rmse_bps, today's
behaviour), "pooled" (one RMS per horizon, refreshed daily: today's behaviour without the stale
card bug) and the scale model of core/scale_model.py over a grid of half-lives (fixed, and
c x sqrt(h) days) and shrinkages, with and without the regime factor; DEFAULT is the one
TrainSettings ships. Every candidate is scored on the same rows (those that carry
a stamped sigma). Reported: RMS(z) per symbol (target 0.8-1.25), the share of (symbol, month)
cells in that band (tracking a volatility shift), RMS(z) per regime, and the mean log score.

Run:  .venv/bin/python bench/sigma_calibration.py [--rows DIR] [--horizons 24 4 1]   (~1 min)
Out:  markdown tables on stdout, bench/out/sigma_calibration-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from meta_supervisor.core.config import TrainSettings  # noqa: E402
from meta_supervisor.core.scale_model import fit_level, fit_scale  # noqa: E402
from meta_supervisor.core.timeutil import parse_ts  # noqa: E402

DAY = 86400
# Half-lives in days: fixed ones, and "c x sqrt(h)" ones (c days at 1 h), the shape a random-walk
# log-volatility gives the bias-variance optimum (sampling noise ~ h / half-life, drift ~ half-life).
HALF_LIVES = (3.0, 7.0, 14.0, math.inf)
SQRT_H = (1.0, 1.5, 2.0, 2.5, 3.0, 4.0)
SHRINKS = (1.0, 2.0, 5.0, 20.0)
BAND = (0.8, 1.25)
# The level from the shortest horizon (core/scale_model.fit_level): fast half-lives in days of the
# 1 h rows' exit prices that rescale a longer horizon's scale model (0 = the train setting, i.e. none).
LEVEL_HALF_LIVES = (0.5, 1.0, 1.5, 2.5, 4.0)
_T = TrainSettings()
DEFAULT = (
    f"hl={_T.scale_half_life_days_1h:g}d*sqrt(h) k={_T.scale_shrink_rows:g}{' +regime' if _T.scale_by_regime else ''}"
)


def _level_name(fast: float) -> str:
    return f"{DEFAULT} + level from 1 h, fast hl={fast:g}d"


def default_name(h: int) -> str:
    """The candidate TrainSettings ships at horizon h (the level applies above the shortest, 1 h)."""
    fast = _T.scale_level_half_life_days
    return _level_name(fast) if h > 1 and fast > 0 else DEFAULT


def newest_rows_dir() -> Path:
    roots = sorted((REPO / "bench/out/market_world").glob("*/root/state/reconciled"))
    if not roots:
        raise SystemExit("no replay found: run bench/market_world.py first, or pass --rows")
    return roots[-1]


def load(rows_dir: Path, horizon: int) -> dict:
    cols = defaultdict(list)
    for path in sorted(rows_dir.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if r["horizon_hours"] != horizon:
                continue
            cols["ts"].append(parse_ts(r["ts"]))
            cols["month"].append(r["ts"][:7])
            for k in ("symbol", "regime", "agent"):
                cols[k].append(r[k])
            cols["e"].append(r["pnl_error_bps"])
            cols["exit"].append(r["exit_price"])
            cols["stamped"].append(math.nan if r["expected_sigma_bps"] is None else r["expected_sigma_bps"])
    order = np.argsort(np.asarray(cols["ts"]), kind="stable")
    return {k: np.asarray(v)[order] for k, v in cols.items()}


def candidates(horizon: int, shortest: int = 1):
    yield "stamped", None
    yield "pooled", None
    if horizon > shortest:
        base = (_T.scale_half_life_days_1h * math.sqrt(horizon), _T.scale_shrink_rows, _T.scale_by_regime)
        for fast in LEVEL_HALF_LIVES:
            yield _level_name(fast), (*base, fast)
    for by_regime in (True, False):
        tag = " +regime" if by_regime else ""
        for k in SHRINKS:
            for hl in HALF_LIVES:
                yield f"hl={hl:g}d k={k:g}{tag}", (hl, k, by_regime, None)
            for c in SQRT_H:
                yield f"hl={c:g}d*sqrt(h) k={k:g}{tag}", (c * math.sqrt(horizon), k, by_regime, None)


def replay(d: dict, horizon: int, max_rows: int, warmup_days: int, short: dict | None = None) -> dict:
    """sigma of every scored row under every candidate (NaN where a row is not scored). `short`:
    the shortest horizon's rows (1 h), for the level candidates; their errors as matured by then."""
    n = len(d["ts"])
    mature = d["ts"] + horizon * 3600
    day0 = int(d["ts"][0]) // DAY * DAY + warmup_days * DAY
    sig = {name: np.full(n, np.nan) for name, _ in candidates(horizon)}
    for start in range(day0, int(d["ts"][-1]) + 1, DAY):
        test = np.flatnonzero((d["ts"] >= start) & (d["ts"] < start + DAY) & np.isfinite(d["stamped"]))
        train = np.flatnonzero(mature <= start)[-max_rows:]
        if len(test) == 0 or len(train) < 50:
            continue
        e, s, r, ts = d["e"][train], d["symbol"][train], d["regime"][train], d["ts"][train]
        level_rows = np.flatnonzero(short["ts"] + 3600 <= start)[-max_rows:] if short is not None else []
        for name, spec in candidates(horizon, 1 if short is not None else horizon):
            if spec is None:
                sig[name][test] = d["stamped"][test] if name == "stamped" else math.sqrt(np.mean(e * e))
                continue
            model = fit_scale(ts, s, r, e, spec[0], spec[1], by_regime=spec[2])
            assert model is not None
            if spec[3] is not None and short is not None and len(level_rows):
                level = fit_level(
                    short["ts"][level_rows] + 3600,  # the 1 h rows' exits
                    short["symbol"][level_rows],
                    short["exit"][level_rows],
                    spec[3],
                    spec[0],
                    spec[1],
                )
                model = level.apply(model) if level is not None else model
            sig[name][test] = model.sigma_bps(d["symbol"][test], d["regime"][test])
    return sig


def score(d: dict, sigma: np.ndarray) -> dict:
    ok = np.isfinite(sigma)
    z = d["e"][ok] / sigma[ok]
    rms = lambda mask: round(float(np.sqrt(np.mean(z[mask] ** 2))), 3)
    sym, reg, month = d["symbol"][ok], d["regime"][ok], d["month"][ok]
    by_symbol = {s: rms(sym == s) for s in np.unique(sym)}
    by_month = {
        f"{s} {m}": rms((sym == s) & (month == m))
        for s in np.unique(sym)
        for m in np.unique(month)
        if np.any((sym == s) & (month == m))
    }
    cells = list(by_month.values())
    return {
        "rows": int(ok.sum()),
        "rms_z_by_symbol": by_symbol,
        "rms_z_by_regime": {g: rms(reg == g) for g in np.unique(reg)},
        "rms_z_by_symbol_month": by_month,
        "worst_symbol_log_ratio": round(max(abs(math.log(v)) for v in by_symbol.values()), 3),
        "symbols_in_band": sum(BAND[0] <= v <= BAND[1] for v in by_symbol.values()),
        "symbol_months_in_band": round(sum(BAND[0] <= v <= BAND[1] for v in cells) / len(cells), 3),
        "log_score": round(float(np.mean(-np.log(sigma[ok]) - 0.5 * math.log(2 * math.pi) - z**2 / 2)), 4),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=Path, default=None, help="a reconciled/ folder (default: the newest replay)")
    ap.add_argument("--horizons", type=int, nargs="+", default=[24, 4, 1])
    ap.add_argument("--max-rows", type=int, default=12000, help="train's window (train.max_rows)")
    ap.add_argument("--warmup-days", type=int, default=14)
    ap.add_argument(
        "--score-without",
        default="",
        help="comma-separated agents whose rows are fitted on but not scored (e.g. the replay's faulted "
        "agents: calibration for the honest fleet, with the faults in the data as they would be)",
    )
    args = ap.parse_args(argv)
    skip = set(filter(None, args.score_without.split(",")))
    rows_dir = args.rows or newest_rows_dir()
    result: dict = {
        "rows_dir": str(rows_dir),
        "max_rows": args.max_rows,
        "warmup_days": args.warmup_days,
        "score_without": sorted(skip),
    }
    short = load(rows_dir, 1)
    for h in args.horizons:
        d = load(rows_dir, h)
        level_from = short if h > 1 and len(short["ts"]) else None
        sigmas = replay(d, h, args.max_rows, args.warmup_days, level_from)
        unscored = np.isin(d["agent"], sorted(skip))
        scores = {name: score(d, np.where(unscored, np.nan, s)) for name, s in sigmas.items()}
        result[f"h{h}"] = scores
        report(h, scores)
    out = REPO / "bench/out" / f"sigma_calibration-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    print(f"\nwritten: {out.relative_to(REPO)}")
    return 0


def report(h: int, scores: dict) -> None:
    symbols = sorted(scores["stamped"]["rms_z_by_symbol"])
    print(f"\n### horizon {h} h ({scores['stamped']['rows']} scored rows)\n")
    print("| candidate | log score | worst abs(log RMS z) | symbols in band | symbol-months in band |")
    print("|---|---|---|---|---|")
    ranked = sorted(scores.items(), key=lambda kv: -kv[1]["log_score"])
    for name, s in ranked:
        print(
            f"| {name} | {s['log_score']:.4f} | {s['worst_symbol_log_ratio']:.3f} | "
            f"{s['symbols_in_band']}/{len(symbols)} | {s['symbol_months_in_band']:.2f} |"
        )
    best = ranked[0][0] if ranked[0][0] not in ("stamped", "pooled") else ranked[1][0]
    default = default_name(h)
    print(f"\nbest: {best}; default (TrainSettings): {default}")
    print(f"\n| RMS(z) | {' | '.join(symbols)} | regimes |\n|---|{'---|' * len(symbols)}---|")
    for name in dict.fromkeys(("stamped", "pooled", DEFAULT, default, best)):
        s = scores[name]
        by_regime = ", ".join(f"{g} {v}" for g, v in s["rms_z_by_regime"].items())
        print(f"| {name} | {' | '.join(str(s['rms_z_by_symbol'][x]) for x in symbols)} | {by_regime} |")
    months = sorted({k.split()[1] for k in scores["stamped"]["rms_z_by_symbol_month"]})
    print(f"\n| RMS(z) by month, stamped -> {default} | {' | '.join(months)} |\n|---|{'---|' * len(months)}")
    for x in symbols:
        cells = [
            f"{scores['stamped']['rms_z_by_symbol_month'].get(f'{x} {m}', '-')} -> "
            f"{scores[default]['rms_z_by_symbol_month'].get(f'{x} {m}', '-')}"
            for m in months
        ]
        print(f"| {x} | {' | '.join(cells)} |")


if __name__ == "__main__":
    raise SystemExit(main())
