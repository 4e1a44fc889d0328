"""Benchmark: the supervisor replayed, hour by hour, on a world built from real 2011-2012 bars.

World (from real hourly bars: `--data` or $MARKET_DATA, a CSV(.gz) with ts, symbol, high, low, close
per bar END time; the team's copy covers 8 instruments over 2011-2012):
- prices: one tick per bar close, `data/prices/YYYY-MM-DD.jsonl` (`ts, symbol, price`);
- ten rule-based agents. Every 3 h (offset per agent) an agent looks at the symbols whose bar has
  just closed and signals on two of them (at random) a few minutes later, using ONLY bars ending at
  or before that close:
    momentum (mom-1..3)   side = sign of the log return since the last close 24 h earlier,
                          strength = that return / (48-bar vol x sqrt(bars)) / 2.5;
    meanrev  (mr-1..3)    side = -sign of the z-score of the close within the last 6 bars;
    breakout (brk-1..3)   side = long above the middle of the prior 48 bars' high-low range,
                          strength = |2 x position in range - 1| (1 past the range: a breakout);
    noise    (coin-1)     side and strength are coin flips: no edge by construction.
  score_final = strength in [0, 1]; confidence = 0.3 + 0.65 x (0.6 strength + 0.4 u), u ~ U(0, 1).
  regime (per symbol, causal): TREND when the efficiency ratio of its last 24 bars
  |c_t - c_t-24| / sum |c_i - c_i-1| is >= 0.3, else RANGE (a random walk averages ~0.2).
- planted faults (times in the result JSON, `faults`): mom-3 sign flip at 35 % of the replay,
  mr-2 slippage (its fills, sent as the event's `price`, half a day's sigma worse than the close)
  at 40 %, mr-3 edge decay (side a coin flip) at 50 %, brk-3 variance blow-up (its fills, sent as
  `price`, scattered around the close with a standard deviation of sqrt(3) x a day's sigma: the
  24 h error's variance x4 by the 48-bar volatility; x6 measured in z) at 65 %. Slippage and the
  variance blow-up move z by construction; the rules have almost no edge, so a flip or a coin-flip
  side leaves the error distribution as it was (see "mean z before/after"). (Until this release
  the blow-up was "trades only the most volatile fresh symbol", which a per-symbol sigma absorbs:
  z did not move, nothing could find it.)
- policy: every strategy ENABLED, one limit per regime for all of them, set as a desk would from
  history before the replay (`--limits bps`): 1.25 x the CVaR95 of the fleet's adverse 24 h error (expected 0) over
  the 90 days before --start, per regime. supervisor.yaml only points the inputs at the folders:
  every other setting is the default (error_autocorrelation 0 included).

Replay: the package and scripts are copied first (the tree is being edited), then every
--step-hours: append what a live feed would have delivered by T (bars ending <= T, signals with
ts <= T), run scripts/reconcile.py, once a day scripts/train.py, then scripts/evaluate.py
--dry-run, all with --now T, and read state/divergence_alerts.json, state/strategy_cvar_regime.json,
outbox/pulls/*.md and evaluate's "current regime" line.

Measured: false alert onsets of honest agents (an onset = an alert key active now and not at the
previous step; honest = unfaulted, or before its fault) per agent-month and per 10,000 charted
rows; share of time coin-1 is under an alert; detection delay of each fault (first onset on that
agent at or after T); per strategy the share of steps with a disable proposal, overall and in the
most volatile quarter of steps (trailing 5-day vol of every symbol / its median over the replay,
averaged); regime flaps per day of the printed current regime; RMS of z = pnl_error / sigma per
symbol over the 24 h rows that carry a model.

Run:  .venv/bin/python bench/market_world.py --data PATH/TO/hourly_bars.csv.gz
      --months 3 --step-hours 6   (~15 min on 2 cores)
Out:  bench/out/market_world-<timestamp>.json, world and code copy in bench/out/market_world/.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np

from meta_supervisor.core.divergence import DivergenceSettings

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "out"
AGENTS = [  # (name, rule = strategy class)
    *[(f"mom-{i}", "momentum") for i in (1, 2, 3)],
    *[(f"mr-{i}", "meanrev") for i in (1, 2, 3)],
    *[(f"brk-{i}", "breakout") for i in (1, 2, 3)],
    ("coin-1", "noise"),
]
FAULTS = {
    "mom-3": ("sign_flip", 0.35),
    "mr-2": ("slippage", 0.40),
    "mr-3": ("edge_decay", 0.50),
    "brk-3": ("variance_blowup", 0.65),
}
H = 3600


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch(s: str) -> int:
    return int(datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp())


def load_bars(data: Path) -> dict:
    raw = defaultdict(list)
    opener = gzip.open if data.suffix == ".gz" else open
    with opener(data, "rt") as fh:
        for r in csv.DictReader(fh):
            raw[r["symbol"]].append((epoch(r["ts"]), float(r["high"]), float(r["low"]), float(r["close"])))
    bars = {}
    for sym, rows in sorted(raw.items()):
        a = np.array(sorted(rows))
        bars[sym] = {"t": a[:, 0].astype(np.int64), "h": a[:, 1], "l": a[:, 2], "c": a[:, 3]}
        bars[sym]["index"] = {int(t): i for i, t in enumerate(bars[sym]["t"])}
    return bars


def vol48(b, i) -> float:
    return float(np.std(np.diff(np.log(b["c"][i - 48 : i + 1]))))


def regime_of(b, i) -> str:
    c = b["c"][i - 24 : i + 1]
    path = np.abs(np.diff(c)).sum()
    return "TREND" if path > 0 and abs(c[-1] - c[0]) / path >= 0.3 else "RANGE"


def rule(kind: str, b, i, t: int, rng) -> tuple[int, float]:
    """(side +1/-1, strength in [0, 1]) from bars 0..i only (bar i ends at t)."""
    c = b["c"]
    if kind == "momentum":
        j = int(np.searchsorted(b["t"], t - 24 * H, side="right")) - 1  # last close >= 24 h ago
        r, nb = np.log(c[i] / c[j]), max(1, i - j)
        stat = r / (vol48(b, i) * np.sqrt(nb) + 1e-12)
        return (1 if r >= 0 else -1), min(1.0, abs(stat) / 2.5)
    if kind == "meanrev":
        w = c[i - 5 : i + 1]
        z = (c[i] - w.mean()) / (w.std() + 1e-12)
        return (-1 if z >= 0 else 1), min(1.0, abs(z) / np.sqrt(5))  # sqrt(5): max |z| of 6 points
    if kind == "breakout":
        hi, lo = b["h"][i - 48 : i].max(), b["l"][i - 48 : i].min()
        pos = (c[i] - lo) / (hi - lo) if hi > lo else 0.5
        return (1 if pos >= 0.5 else -1), min(1.0, abs(2 * pos - 1))
    return int(rng.choice([-1, 1])), float(rng.random())  # noise


def generate(bars, t0: int, t1: int, seed: int, phase: int, faults: dict) -> list[dict]:
    """Signals with t0 <= bar close < t1; `faults` = {agent: (kind, start epoch)}."""
    events = []
    for k, (agent, kind) in enumerate(AGENTS):
        rng = np.random.default_rng([seed, phase, k])  # per agent: faults never shift the others' draws
        fault = faults.get(agent)
        for t in range(t0 - t0 % H + (k % 3) * H, t1, 3 * H):
            fresh = [s for s in bars if t in bars[s]["index"] and bars[s]["index"][t] >= 48]
            if not fresh:
                continue  # weekend / market closed
            broken = fault is not None and t >= fault[1]
            picks = list(rng.choice(fresh, size=min(2, len(fresh)), replace=False))
            for sym in picks:
                b, i = bars[sym], bars[sym]["index"][t]
                side, strength = rule(kind, b, i, t, rng)
                u = float(rng.random())
                if broken and fault[0] == "sign_flip":
                    side = -side
                elif broken and fault[0] == "edge_decay":
                    side = int(rng.choice([-1, 1]))
                ts = t + 60 * (k + 1) + int(rng.integers(0, 60))  # a few minutes after the close
                extra = {}
                if broken and fault[0] == "slippage":  # fills half a day's sigma worse than the close
                    slip = 0.5 * vol48(b, i) * np.sqrt(24)
                    extra = {"price": round(float(b["c"][i]) * (1 + slip if side > 0 else 1 - slip), 8)}
                elif broken and fault[0] == "variance_blowup":  # fills scattered: 24 h error variance x4
                    noise = float(rng.normal()) * np.sqrt(3.0) * vol48(b, i) * np.sqrt(24)
                    extra = {"price": round(float(b["c"][i]) * (1 + noise), 8)}
                events.append(
                    {
                        "event_id": f"{agent}-{iso(ts)}-{sym}",
                        "ts": iso(ts),
                        "agent": agent,
                        "symbol": str(sym),
                        "side": "long" if side > 0 else "short",
                        "score_final": round(strength, 4),
                        "confidence": round(0.3 + 0.65 * (0.6 * strength + 0.4 * u), 3),
                        "regime": regime_of(b, i),
                        "_t": ts,
                        "_entry": float(b["c"][i]),
                        **extra,
                    }
                )
    return sorted(events, key=lambda e: (e["_t"], e["event_id"]))


def es95(a) -> float:
    """Acerbi-Tasche expected shortfall at 95 % of `a` (the README's formula)."""
    a = np.sort(np.asarray(a))[::-1]
    m = 0.05 * len(a)
    k = int(m)
    return float((a[:k].sum() + (m - k) * (a[k] if k < len(a) else 0)) / m)


def limits_from_history(bars, start: int, seed: int) -> dict:
    """Per regime: 1.25 x CVaR95 of the fleet's adverse 24 h error (expected 0) in the 90 days before."""
    adverse = defaultdict(list)
    for e in generate(bars, start - 90 * 86400, start - 86400, seed, 0, {}):
        b = bars[e["symbol"]]
        j = int(np.searchsorted(b["t"], e["_t"] + 24 * H, side="right")) - 1  # exit: last tick <= ts+24h
        side = 1 if e["side"] == "long" else -1
        adverse[e["regime"]].append(-side * (b["c"][j] / e["_entry"] - 1) * 1e4)
    return {r: 5 * round(1.25 * es95(a) / 5) for r, a in sorted(adverse.items())}


# `--limits sigma`: the ES of the adverse error in units of each row's sigma, 1.25 x what a
# calibrated Gaussian sim shows (ES95 of N(0, 1) = phi(1.645) / 0.05 = 2.063): a limit that scales
# with volatility, as DESIGN's example (2.6) does.
SIGMA_LIMIT = round(1.25 * 2.0627, 2)


def write_world(root: Path, limits: dict, kind: str = "bps", divergence: list[str] = ()) -> None:
    for d in ("policy", "data/prices", "data/alpha_events", "state"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "policy/agents.yaml").write_text("".join(f"{a}: {c}\n" for a, c in AGENTS))
    limit = (
        (lambda r, v: f"      max_cvar_error_bps: {v}\n")
        if kind == "bps"
        else (lambda r, v: f"      max_cvar_error_sigma: {SIGMA_LIMIT}\n")
    )
    kill = "".join(
        f"{c}:\n  status: ENABLED\n  by_regime:\n" + "".join(f"    {r}:\n{limit(r, v)}" for r, v in limits.items())
        for c in sorted({c for _, c in AGENTS})
    )
    (root / "policy/strategy_kill_list.yaml").write_text(kill)
    settings = "".join(f"  {kv.split('=', 1)[0]}: {kv.split('=', 1)[1]}\n" for kv in divergence)
    (root / "policy/supervisor.yaml").write_text(
        "inputs:\n  alpha_events: data/alpha_events\n  prices: data/prices\n"
        + (f"divergence:\n{settings}" if settings else "")
    )


def append_jsonl(folder: Path, lines: list[tuple[str, dict]]) -> None:
    by_day = defaultdict(list)
    for ts, obj in lines:
        by_day[ts[:10]].append(json.dumps(obj, separators=(",", ":")) + "\n")
    for day, rows in sorted(by_day.items()):
        with open(folder / f"{day}.jsonl", "a") as fh:
            fh.writelines(rows)


def market_vol(bars, steps: list[int]) -> np.ndarray:
    """Per step: mean over symbols of trailing 5-day bar vol / that symbol's median over the steps."""
    per = []
    for b in bars.values():
        lr = np.diff(np.log(b["c"]))
        v = []
        for t in steps:
            hi = int(np.searchsorted(b["t"], t, side="right")) - 1
            lo = int(np.searchsorted(b["t"], t - 5 * 86400, side="right"))
            v.append(np.std(lr[lo:hi]) if hi - lo > 5 else np.nan)
        v = np.array(v)
        per.append(v / np.nanmedian(v))
    return np.nanmean(np.array(per), axis=0)


def run_script(code: Path, name: str, root: Path, now: str, *extra: str) -> subprocess.CompletedProcess:
    # No GitHub / SendGrid variables reach the child: dry run, outbox only, plain (non-Actions) logs.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SENDGRID_", "META_"))}
    cmd = [sys.executable, str(code / "scripts" / f"{name}.py"), "--root", str(root), "--now", now, *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)


def replay(bars, root: Path, code: Path, events: list[dict], start: int, end: int, step: int) -> list[dict]:
    ticks = sorted(
        (int(t), s, float(c)) for s, b in bars.items() for t, c in zip(b["t"], b["c"]) if start - 4 * 86400 < t <= end
    )
    steps, ti, ei, trained_day = [], 0, 0, None
    for T in range(start + step, end + 1, step):
        now = iso(T)
        new_ticks = []  # append only what the feed would have delivered by T
        while ti < len(ticks) and ticks[ti][0] <= T:
            t, s, c = ticks[ti]
            new_ticks.append((iso(t), {"ts": iso(t), "symbol": s, "price": c}))
            ti += 1
        new_events = []
        while ei < len(events) and events[ei]["_t"] <= T:
            e = events[ei]
            new_events.append((e["ts"], {k: v for k, v in e.items() if not k.startswith("_")}))
            ei += 1
        append_jsonl(root / "data/prices", new_ticks)
        append_jsonl(root / "data/alpha_events", new_events)
        rec = {"t": T, "now": now, "rc": {}}
        # Not --dry-run: without GitHub / SendGrid variables evaluate writes to the outbox anyway, and
        # a dry run does not keep the regime's hysteresis (state/market_regime.json) for the next run.
        runs = [("reconcile",)] + ([("train",)] if now[:10] != trained_day else []) + [("evaluate",)]
        for name, *extra in runs:
            p = run_script(code, name, root, now, *extra)
            rec["rc"][name] = p.returncode
            if p.returncode not in (0, 2):
                rec.setdefault("errors", []).append(f"{name}: {(p.stderr or p.stdout).strip().splitlines()[-1:]}")
            if name == "train":
                trained_day = now[:10]
            if name == "evaluate":
                out = p.stdout + p.stderr
                line = next((ln for ln in out.splitlines() if ln.startswith("evaluate:")), "")
                named = line.rsplit("current regime ", 1)[-1].split() if "current regime" in line else []
                rec["regime"] = named[0] if named else None
                rec["proposals_stdout"] = sorted(
                    ln.split("Disable strategy: ")[1].split(" ->")[0]
                    for ln in out.splitlines()
                    if ln.startswith("proposal:")
                )
                rec["autocorr_warning"] = "errors are autocorrelated" in out
        pulls = root / "outbox/pulls"
        rec["proposals"] = sorted(p.stem for p in pulls.glob("*.md")) if pulls.exists() else []
        doc = read_json(root / "state/divergence_alerts.json", {})
        rec["alerts"] = [
            {
                k: a.get(k)
                for k in ("key", "scope", "trigger", "severity", "status", "first_seen", "change_ts", "strategy_class")
            }
            for a in doc.get("alerts", [])
        ]
        cells = read_json(root / "state/strategy_cvar_regime.json", {})
        rec["cells"] = {
            s: {
                r: [c.get("n"), c.get("n_with_model"), c.get("cvar95_error_bps"), c.get("limit_bps")]
                for r, c in by.items()
            }
            for s, by in cells.items()
        }
        steps.append(rec)
        if len(steps) % 40 == 0:
            print(f"  {now}: {len(steps)} steps", file=sys.stderr, flush=True)
    return steps


def read_json(path: Path, default):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


def reconciled_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "state/reconciled").glob("*.jsonl")):
        for ln in path.read_text().splitlines():
            r = json.loads(ln)
            if r["horizon_hours"] == 24:
                rows.append(r)
    return rows


def summarize(steps, faults: dict, rows, vol, start: int, end: int, step: int) -> dict:
    klass = dict(AGENTS)
    fault_t = {a: t for a, (_, t) in faults.items()}
    class_fault = {c: min((t for a, t in fault_t.items() if klass[a] == c), default=None) for c in set(klass.values())}

    def honest_until(scope, name):
        return fault_t.get(name) if scope == "agent" else class_fault.get(name)

    onsets, active_prev = [], set()
    for s in steps:
        keys = {a["key"]: a for a in s["alerts"]}
        onsets += [(s["t"], keys[k]) for k in sorted(set(keys) - active_prev)]
        active_prev = set(keys)
    by_trig, agent_false, strat_false = defaultdict(int), 0, 0
    for t, a in onsets:
        name = a["key"].split(":")[1]
        limit = honest_until(a["scope"], name)
        if limit is None or t < limit:
            if a["scope"] == "agent":
                agent_false += 1
                by_trig[a["trigger"]] += 1
            else:
                strat_false += 1
    month = 30.4375 * 86400
    agent_months = sum((min(end, fault_t.get(a, end)) - start) / month for a, _ in AGENTS)
    # the detectors chart nothing in the history's first warmup_days: per agent-month charted too
    charted_from = start + DivergenceSettings().warmup_days * 86400
    charted_months = sum(max(0.0, min(end, fault_t.get(a, end)) - charted_from) / month for a, _ in AGENTS)
    charted = [r for r in rows if r["sim_version"] != "fallback_zero" and r.get("expected_sigma_bps")]
    honest_rows = sum(1 for r in charted if epoch(r["ts"]) < fault_t.get(r["agent"], end + 1))
    coin = [any(a["key"].startswith("agent:coin-1:") for a in s["alerts"]) for s in steps]
    delays = {}
    for agent, (kind, T) in faults.items():
        hit = next(
            ((t, a) for t, a in onsets if t >= T and a["key"].split(":")[1] == agent and a["scope"] == "agent"), None
        )
        cls = next(
            ((t, a) for t, a in onsets if t >= T and a["scope"] != "agent" and a["key"].split(":")[1] == klass[agent]),
            None,
        )
        mine = [
            (epoch(r["ts"]) < T, r["pnl_error_bps"] / r["expected_sigma_bps"]) for r in charted if r["agent"] == agent
        ]
        z_before, z_after = [z for b, z in mine if b], [z for b, z in mine if not b]
        delays[agent] = {
            "fault": kind,
            "start": iso(T),
            "delay_days": round((hit[0] - T) / 86400, 2) if hit else None,
            "trigger": hit[1]["trigger"] if hit else None,
            "change_ts": hit[1]["change_ts"] if hit else None,
            "class_stream_delay_days": round((cls[0] - T) / 86400, 2) if cls else None,
            "mean_z_before_after": [round(float(np.mean(z)), 3) if z else None for z in (z_before, z_after)],
            "rms_z_before_after": [
                round(float(np.sqrt(np.mean(np.square(z)))), 3) if z else None for z in (z_before, z_after)
            ],
        }
    q = vol >= np.quantile(vol, 0.75)
    strategies = sorted({c for _, c in AGENTS})
    prop = {c: [c in s["proposals"] for s in steps] for c in strategies}
    share = {c: [round(float(np.mean(p)), 3), round(float(np.mean(np.array(p)[q])), 3)] for c, p in prop.items()}
    regimes = [s["regime"] for s in steps]
    flaps = sum(1 for a, b in pairwise(regimes) if a != b)
    rms = defaultdict(list)
    z_days = defaultdict(list)  # signal day of each z, to show how much one day carries
    for r in charted:
        rms[r["symbol"]].append(r["pnl_error_bps"] / r["expected_sigma_bps"])
        z_days[r["symbol"]].append(r["ts"][:10])
    rms["(all)"] = [z for v in list(rms.values()) for z in v]
    z_days["(all)"] = [d for v in list(z_days.values()) for d in v]
    edge = {}
    for c in strategies:
        pnl = [
            r["realized_pnl_bps"]
            for r in rows
            if klass.get(r["agent"]) == c and epoch(r["ts"]) < fault_t.get(r["agent"], end + 1)
        ]
        edge[c] = {
            "rows": len(pnl),
            "mean_pnl_bps": round(float(np.mean(pnl)), 2) if pnl else None,
            "hit_rate": round(float(np.mean(np.array(pnl) > 0)), 3) if pnl else None,
        }
    return {
        "steps": len(steps),
        "days": round((end - start) / 86400, 1),
        "script_failures": sum(1 for s in steps if s.get("errors")),
        "honest_agent_false_onsets": agent_false,
        "honest_agent_months": round(agent_months, 2),
        "false_onsets_per_agent_month": round(agent_false / agent_months, 3),
        "honest_agent_months_after_warmup": round(charted_months, 2),
        "false_onsets_per_charted_agent_month": round(agent_false / charted_months, 3) if charted_months else None,
        "honest_charted_rows": honest_rows,
        "false_onsets_per_10k_rows": round(1e4 * agent_false / honest_rows, 2) if honest_rows else None,
        "false_onsets_by_trigger": dict(sorted(by_trig.items())),
        "honest_strategy_stream_false_onsets": strat_false,
        "coin_flip_share_of_time_alerted": round(float(np.mean(coin)), 3),
        "fault_detection": delays,
        "proposal_share_all_vs_most_volatile_quarter": share,
        "regime_flaps_per_day": round(flaps / ((end - start) / 86400), 2),
        "regime_share_trend": round(float(np.mean([r == "TREND" for r in regimes if r])), 3),
        "autocorr_warning_share": round(float(np.mean([s.get("autocorr_warning", False) for s in steps])), 3),
        "rms_z_by_symbol": {
            s: [len(z), round(float(np.sqrt(np.mean(np.square(z)))), 3), *_worst_day(z, z_days[s])]
            for s, z in sorted(rms.items())
        },
        "class_edge_honest": edge,
    }


def _worst_day(z: list, days: list) -> list:
    """[the signal day carrying the largest share of sum z^2, that share, RMS z without that day]:
    with ~180 rows of 24 h a quarter, one earnings jump on a day's overlapping rows can hold half
    of an equity's sum z^2."""
    z2, d = np.square(np.asarray(z, dtype=float)), np.asarray(days)
    names, idx = np.unique(d, return_inverse=True)
    per_day = np.bincount(idx, z2)
    worst = int(np.argmax(per_day))
    rest = z2[idx != worst]
    rms_without = round(float(np.sqrt(rest.mean())), 3) if len(rest) else None
    return [str(names[worst]), round(float(per_day[worst] / z2.sum()), 3), rms_without]


def print_report(s: dict, meta: dict) -> None:
    p = print
    p(
        f"\n## market_world: {meta['start']} .. {meta['end']}, step {meta['step_hours']} h, seed {meta['seed']}, "
        f"{s['steps']} steps, {meta['events']} signals, wall {meta['wall_s']} s, "
        f"script failures {s['script_failures']}\n"
    )
    if meta.get("limit_kind") == "sigma":
        p(f"limits (max_cvar_error_sigma, all strategies and regimes): {SIGMA_LIMIT}\n")
    else:
        p(f"limits (max_cvar_error_bps, all strategies): {meta['limits']}\n")
    p("| measure | value |\n|---|---|")
    p(
        f"| honest agent false alert onsets | {s['honest_agent_false_onsets']} in "
        f"{s['honest_agent_months']} agent-months = "
        f"{s['false_onsets_per_agent_month']} / agent-month |"
    )
    p(
        f"| ... per agent-month after the detectors' warm-up | {s['false_onsets_per_charted_agent_month']} "
        f"({s['honest_agent_months_after_warmup']} agent-months) |"
    )
    p(
        f"| ... per 10,000 charted rows (design ~1 per stream) | {s['false_onsets_per_10k_rows']} "
        f"({s['honest_charted_rows']} rows) |"
    )
    p(f"| ... by trigger | {s['false_onsets_by_trigger']} |")
    p(f"| honest strategy-stream false onsets | {s['honest_strategy_stream_false_onsets']} |")
    p(f"| coin-1 share of time under an alert | {s['coin_flip_share_of_time_alerted']} |")
    p(
        f"| regime flaps per day (printed current regime) | {s['regime_flaps_per_day']} "
        f"(TREND share {s['regime_share_trend']}) |"
    )
    p(f"| steps with the autocorrelation warning | {s['autocorr_warning_share']} |\n")
    p(
        "| fault | agent | start | delay (days) | trigger | class stream delay | mean z before/after "
        "| RMS z before/after |\n|---|---|---|---|---|---|---|---|"
    )
    for a, d in s["fault_detection"].items():
        p(
            f"| {d['fault']} | {a} | {d['start']} | {d['delay_days']} | {d['trigger']} | "
            f"{d['class_stream_delay_days']} | "
            f"{d['mean_z_before_after']} | {d['rms_z_before_after']} |"
        )
    p(
        "\n| strategy | steps with a proposal | in the most volatile quarter | honest rows | mean PnL bps "
        "| hit rate |\n|---|---|---|---|---|---|"
    )
    for c, (a, q) in s["proposal_share_all_vs_most_volatile_quarter"].items():
        e = s["class_edge_honest"][c]
        p(f"| {c} | {a} | {q} | {e['rows']} | {e['mean_pnl_bps']} | {e['hit_rate']} |")
    p(
        "\n| symbol | 24 h rows with a model | RMS z | its worst signal day | that day's share of sum z^2 "
        "| RMS z without that day |\n|---|---|---|---|---|---|"
    )
    for sym, (n, r, day, part, without) in s["rms_z_by_symbol"].items():
        p(f"| {sym} | {n} | {r} | {day} | {part} | {without} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--months", type=float, default=3.0, help="replay length in months of 30.44 days (default 3)")
    ap.add_argument("--step-hours", type=int, default=6, help="hours between evaluations (default 6)")
    ap.add_argument(
        "--start", default="2011-07-01", help="replay start, UTC date (>= 2011-04-04: limits use 90 days before)"
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--limits", choices=("bps", "sigma"), default="bps", help="kill-list limits in bps or sigma units")
    env_data = os.environ.get("MARKET_DATA")
    ap.add_argument("--data", type=Path, default=Path(env_data) if env_data else None, help="hourly bars CSV(.gz)")
    ap.add_argument(
        "--out", type=Path, default=None, help="result JSON (default bench/out/market_world-<timestamp>.json)"
    )
    ap.add_argument(
        "--divergence",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a divergence setting in the world's supervisor.yaml (e.g. bias_shift_sigma=1.0); repeatable",
    )
    args = ap.parse_args()
    t_wall = time.time()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    start = epoch(args.start + "T00:00:00Z")
    end = start + int(args.months * 30.4375 * 86400) // H * H
    if args.data is None:
        ap.error("pass --data PATH (or set MARKET_DATA) to the hourly bars CSV")
    bars = load_bars(args.data)
    faults = {a: (k, start + int(f * (end - start)) // H * H) for a, (k, f) in FAULTS.items()}
    work = OUT / "market_world" / stamp
    root, code = work / "root", work / "code"
    for d in ("meta_supervisor", "scripts"):  # a frozen copy: others are editing the tree right now
        shutil.copytree(REPO / d, code / d, ignore=shutil.ignore_patterns("__pycache__"))
    git = lambda *a: subprocess.run(["git", "-C", str(REPO), *a], capture_output=True, text=True).stdout.strip()
    limits = limits_from_history(bars, start, args.seed)
    write_world(root, limits, args.limits, args.divergence)
    events = generate(bars, start, end, args.seed, 1, faults)
    (work / "faults.json").write_text(
        json.dumps({a: {"fault": k, "start": iso(t)} for a, (k, t) in faults.items()}, indent=2)
    )
    print(f"world: {len(events)} signals, limits {limits}, replaying into {root}", file=sys.stderr)
    steps = replay(bars, root, code, events, start, end, args.step_hours * H)
    vol = market_vol(bars, [s["t"] for s in steps])
    summary = summarize(steps, faults, reconciled_rows(root), vol, start, end, args.step_hours * H)
    meta = {
        "limit_kind": args.limits,
        "start": iso(start),
        "end": iso(end),
        "step_hours": args.step_hours,
        "seed": args.seed,
        "months": args.months,
        "divergence": args.divergence,
        "events": len(events),
        "limits": limits,
        "wall_s": round(time.time() - t_wall, 1),
        "git_head": git("rev-parse", "HEAD"),
        "git_dirty": git("status", "--porcelain").splitlines(),
        "faults": {a: {"fault": k, "start": iso(t)} for a, (k, t) in faults.items()},
        "root": str(root),
    }
    print_report(summary, meta)
    out = args.out or OUT / f"market_world-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    for s, v in zip(steps, vol):
        s["market_vol"] = round(float(v), 3)
    out.write_text(json.dumps({"meta": meta, "summary": summary, "steps": steps}, indent=1))
    print(f"\nwrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
