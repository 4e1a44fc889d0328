"""Benchmark: a fleet 100x the demo, run hour by hour, on either history store.

World (generated, seeded): `--agents` (1,000) agents in 10 strategy classes, each sending
`--signals` (100) signals a day at random times on `--symbols` (200) symbols, prices every 5
minutes (random walks whose volatility differs by symbol, 20-80 bps an hour), regimes TREND/RANGE
switching every 14 days (the run stays in the first: each current-regime cell can have its days).
Inputs are daily files (data/alpha_events/, data/prices/), as a trading system delivers them.

Run: a warm-up of `--warmup-days` (5) days is reconciled and trained a day at a time (so the
cells have their minimum evidence: model rows over 5 signal days), then `--hours` (48) hourly
steps: each step
appends that hour's signals and ticks, then runs `reconcile` and `evaluate --dry-run` as separate
processes with `--now` (as the hourly workflow does). Each process's wall time and peak RSS
(`os.wait4` ru_maxrss) are recorded; after the last step: the largest file under state/, rows per
current-regime cell (n with a model, days) and whether each has the minimum evidence.

Stores: `git` (state/reconciled, the default) and `s3` (Parquet on a moto S3 server started on
127.0.0.1; moto's latency is local, a real bucket adds network round trips per object).

Run: `.venv/bin/python bench/fleet.py` (both stores; about 15 minutes on a 2-core machine);
`--stores git --hours 6` for a quick look. Results: bench/out/fleet-<store>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from meta_supervisor.core.timeutil import HOUR, format_ts, parse_ts  # noqa: E402
from tests.s3_server import s3_server  # noqa: E402

START = parse_ts("2026-10-01T00:00:00Z")
CLASSES = [f"class{i}" for i in range(10)]
KILL_LIST = "".join(
    f"{c}:\n  status: ENABLED\n  by_regime:\n    TREND:\n      max_cvar_error_bps: 400\n"
    f"    RANGE:\n      max_cvar_error_bps: 400\n"
    for c in CLASSES
)


class World:
    def __init__(self, agents: int, signals: int, symbols: int, days: int, seed: int = 1):
        rng = np.random.default_rng(seed)
        self.symbols = [f"S{i:03d}" for i in range(symbols)]
        steps = days * 288 + 1
        vol = rng.uniform(20, 80, symbols) / 1e4 / np.sqrt(12)  # per 5 minutes
        self.times = START + np.arange(steps) * 300
        self.paths = 100 * np.exp(np.cumsum(rng.normal(0, 1, (steps, symbols)) * vol, axis=0))
        n = agents * signals * days
        self.ev_t = np.sort(START + rng.integers(0, days * 86400, n))
        self.ev_agent = rng.integers(0, agents, n)
        self.ev_sym = rng.integers(0, symbols, n)
        self.ev_score = rng.normal(0, 1, n)
        self.ev_conf = rng.uniform(0.3, 0.9, n)

    def regime(self, t: int) -> str:
        return "TREND" if ((t - START) // (14 * 86400)) % 2 == 0 else "RANGE"

    def write(self, root: Path, t0: int, t1: int) -> None:
        """Append the signals and ticks in [t0, t1) to the daily input files."""
        lo, hi = np.searchsorted(self.ev_t, [t0, t1])
        by_day: dict[str, list[str]] = {}
        for i in range(lo, hi):
            t = int(self.ev_t[i])
            a = int(self.ev_agent[i])
            line = json.dumps(
                {
                    "event_id": f"ev{i:09d}",
                    "ts": format_ts(t),
                    "agent": f"agent{a:04d}",
                    "symbol": self.symbols[int(self.ev_sym[i])],
                    "side": "long" if self.ev_score[i] >= 0 else "short",
                    "score_final": round(float(self.ev_score[i]), 4),
                    "confidence": round(float(self.ev_conf[i]), 4),
                    "regime": self.regime(t),
                },
                separators=(",", ":"),
            )
            by_day.setdefault(format_ts(t)[:10], []).append(line)
        _append(root / "data/alpha_events", by_day)
        ticks: dict[str, list[str]] = {}
        a, b = np.searchsorted(self.times, [t0, t1])
        for k in range(a, b):
            ts = format_ts(int(self.times[k]))
            ticks.setdefault(ts[:10], []).extend(
                f'{{"ts":"{ts}","symbol":"{s}","price":{self.paths[k, j]:.6f}}}' for j, s in enumerate(self.symbols)
            )
        _append(root / "data/prices", ticks)


def _append(folder: Path, by_day: dict[str, list[str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for day, lines in by_day.items():
        with open(folder / f"{day}.jsonl", "a") as handle:
            handle.write("\n".join(lines) + "\n")


def _job(verb: str, root: Path, now: str, env: dict, *extra: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one `meta-supervisor <verb>` process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "meta_supervisor", verb, "--root", str(root), "--now", now, *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        raise SystemExit(f"{verb} at {now} exited {code}: {err[-2000:]}")
    return wall, usage.ru_maxrss / 1024


def _setup(root: Path, location: str) -> None:
    (root / "policy").mkdir(parents=True)
    (root / "policy/strategy_kill_list.yaml").write_text(KILL_LIST)
    (root / "policy/agents.yaml").write_text("".join(f"agent{a:04d}: {CLASSES[a % 10]}\n" for a in range(1000)))
    (root / "policy/supervisor.yaml").write_text(
        f"inputs:\n  alpha_events: data/alpha_events\n  prices: data/prices\nhistory:\n  location: {location}\n"
    )


def run_store(store: str, args, env: dict) -> dict:
    root = Path(args.workdir) / store
    if root.exists():
        subprocess.run(["rm", "-rf", str(root)], check=True)
    location = "state/reconciled" if store == "git" else f"s3://fleet/{int(time.time())}"
    _setup(root, location)
    world = World(args.agents, args.signals, args.symbols, args.warmup_days + args.hours // 24 + 2)
    # Warm-up a day at a time (as a backfill should be run: one run of several days of this fleet
    # passes 1 GB) and trained daily, as the train workflow runs: from the second day on the 24 h
    # rows carry a model prediction, so the cells reach cvar_min_days (5) of model rows.
    t, warm = START, {"reconcile": [], "train": []}
    for _ in range(args.warmup_days):
        world.write(root, t, t + 86400)
        t += 86400
        warm["reconcile"].append(_job("reconcile", root, format_ts(t), env))
        warm["train"].append(_job("train", root, format_ts(t), env))
    warm["evaluate"] = [_job("evaluate", root, format_ts(t), env, "--dry-run")]
    print(f"[{store}] warm-up {args.warmup_days} days: {warm}", flush=True)
    steps = []
    for _ in range(args.hours):
        world.write(root, t, t + HOUR)
        t += HOUR
        now = format_ts(t)
        rec = _job("reconcile", root, now, env)
        ev = _job("evaluate", root, format_ts(t + 300), env, "--dry-run")
        steps.append({"now": now, "reconcile": rec, "evaluate": ev})
        print(f"[{store}] {now} reconcile {rec[0]:.2f} s {rec[1]:.0f} MB, evaluate {ev[0]:.2f} s {ev[1]:.0f} MB")
    files = [p for p in (root / "state").rglob("*") if p.is_file()]
    largest = max(files, key=lambda p: p.stat().st_size)
    cells = json.loads((root / "state/strategy_cvar_regime.json").read_text())
    regime = world.regime(t)
    fields = ("n", "days", "enough_data")
    current = {c: {k: cells[c][regime].get(k) for k in fields} for c in cells if regime in cells[c]}
    out = {
        "store": store,
        "world": vars(args) | {"regime_now": regime},
        "warmup": warm,
        "steps": steps,
        "largest_state_file": [largest.relative_to(root).as_posix(), largest.stat().st_size],
        "state_bytes": sum(p.stat().st_size for p in files),
        "current_regime_cells": current,
    }
    (HERE / "out").mkdir(exist_ok=True)
    (HERE / "out" / f"fleet-{store}.json").write_text(json.dumps(out, indent=1))
    return out


def _table(results: list[dict]) -> str:
    lines = [
        "| store | hourly reconcile s (median / max) | peak MB | hourly evaluate s (median / max) | peak MB "
        "| largest state file | current-regime cells with min evidence | rows per cell (min-max) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        rec = [s["reconcile"] for s in r["steps"]]
        ev = [s["evaluate"] for s in r["steps"]]
        cells = r["current_regime_cells"].values()
        ns = [c["n"] for c in cells]
        name, size = r["largest_state_file"]
        lines.append(
            f"| {r['store']} | {statistics.median(x[0] for x in rec):.2f} / {max(x[0] for x in rec):.2f} "
            f"| {max(x[1] for x in rec):.0f} | {statistics.median(x[0] for x in ev):.2f} / {max(x[0] for x in ev):.2f} "
            f"| {max(x[1] for x in ev):.0f} | `{name}` {size / 1e6:.1f} MB "
            f"| {sum(bool(c['enough_data']) for c in cells)} of {len(ns)} | {min(ns)}-{max(ns)} |"
        )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stores", default="git,s3")
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--signals", type=int, default=100, help="signals per agent per day")
    p.add_argument("--symbols", type=int, default=200)
    p.add_argument("--warmup-days", type=int, default=5)
    p.add_argument("--hours", type=int, default=48)
    p.add_argument("--workdir", default="/tmp/meta-supervisor-fleet")
    args = p.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    results = []
    for store in args.stores.split(","):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SENDGRID_", "META_EMAIL"))}
        if store == "s3":
            with s3_server() as aws:
                from meta_supervisor.adapters.parquet_s3 import ObjectStore

                ObjectStore("s3://fleet", aws).create_bucket()
                results.append(run_store(store, args, env | aws))
        else:
            results.append(run_store(store, args, env))
    print(_table(results))


if __name__ == "__main__":
    main()
