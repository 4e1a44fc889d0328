"""Benchmark: the divergence detectors alone, replayed offline on a finished real-market replay.

`bench/market_world.py` runs the whole cycle (reconcile, train, evaluate as processes) and takes
10-15 minutes; the detectors' settings do not change what reconcile and train write. This replays
the 24 h rows that world reconciled (each row carries `reconciled_at`, the run that wrote it)
through the real `divergence.detect`, step by step as evaluate saw them, once per candidate
setting, in seconds. What it measures is market_world's: false alert onsets of honest agents
(unfaulted, or before their fault), the coin-flip agent's share of steps under an alert, and each
planted fault's first onset on its agent.

The window the charts are tuned on is evaluate's own: every (strategy, regime) cell's last
`window_days` signal days, sampled by `core/cell_windows` (until this release the replay took the
last 14 days of all rows, and a regime absent for weeks lost its cell's older rows: on the delta
0.75 world that hid an onset the full cycle raised). Approximations, the same for every candidate:
an alert is a CUSUM detection (the lifecycle only adds mail bookkeeping); the history starts at the
first signal.

Run:  .venv/bin/python bench/detector_replay.py [--root bench/out/market_world/<stamp>]
      [--set variance_ratio=3 --set clear_multiple=2 ...]   (the default candidates otherwise)
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import msgspec

from meta_supervisor.core import cell_windows
from meta_supervisor.core.config import EvaluateSettings
from meta_supervisor.core.divergence import DivergenceSettings, Observed, charting_from, detect
from meta_supervisor.core.records import Row
from meta_supervisor.core.timeutil import format_ts, parse_ts

REPO = Path(__file__).resolve().parents[1]
DAY, MONTH = 86400, 30.4375 * 86400
CANDIDATES = {  # name: settings changed from the defaults
    "defaults": {},
    "no fleet-wide rule": {"fleet_wide": False},
    "no warm-up": {"warmup_days": 0.0},
    "neither (the previous defaults)": {"fleet_wide": False, "warmup_days": 0.0},
    "variance_ratio 3": {"variance_ratio": 3.0},
    "variance_ratio 4": {"variance_ratio": 4.0},
    "clear_multiple 1.5": {"clear_multiple": 1.5},
    "budget 0.25 / month": {"fleet_false_alerts_per_month": 0.25},
}


def newest_world() -> Path:
    worlds = sorted((REPO / "bench/out/market_world").glob("*/root"))
    if not worlds:
        raise SystemExit("no replay found: run bench/market_world.py first, or pass --root")
    return worlds[-1].parent


def load_rows(root: Path, horizon: int) -> list[Row]:
    rows = []
    for path in sorted((root / "state/reconciled").glob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            row = msgspec.json.decode(line, type=Row)
            if row.horizon_hours == horizon:
                rows.append(row)
    rows.sort(key=lambda r: (r.ts, r.event_id))
    return rows


def replay(rows: list[Row], s: DivergenceSettings, step_hours: int) -> list[tuple[int, set[str]]]:
    """[(step time, alert keys firing)], evaluate's view every `step_hours`."""
    arrived = sorted(rows, key=lambda r: (r.reconciled_at, r.ts, r.event_id))
    first, end = span(rows)
    start = first // 3600 * 3600
    history_start = rows[0].ts
    ev = EvaluateSettings()
    shape = cell_windows.WindowShape.of(rows[0].horizon_hours, ev.window_days, ev.cell_window_rows)
    state, out, i, days = None, [], 0, {}
    for t in range(start + step_hours * 3600, end + 1, step_hours * 3600):
        now = format_ts(t)
        new = []
        while i < len(arrived) and arrived[i].reconciled_at <= now:
            new.append(arrived[i])
            i += 1
        cell_windows.merge(days, new, shape)
        window = cell_windows.window(days)
        new.sort(key=lambda r: (r.ts, r.event_id))
        state, dets = detect(state, new, window, s, Observed(window, s), now=now, history_start=history_start)
        # alerts.py files severity "info" (fleet-wide, the seed's bps rules) as notices, not alerts
        out.append((t, {d["key"] for d in dets if d["trigger"].startswith("cusum") and d["severity"] != "info"}))
    return out


def measure(steps, faults: dict, agents: list[str], start: int, end: int, charted_from: int) -> dict:
    onsets, prev = [], set()
    for t, keys in steps:
        onsets += [(t, k) for k in sorted(keys - prev)]
        prev = keys
    fault_t = {a: parse_ts(f["start"]) for a, f in faults.items()}
    false = [(t, k) for t, k in onsets if k.startswith("agent:") and t < fault_t.get(k.split(":")[1], end + 1)]
    by_trigger: dict[str, int] = defaultdict(int)
    for _, k in false:
        by_trigger[k.split(":")[2]] += 1
    months = sum(max(0.0, min(end, fault_t.get(a, end)) - charted_from) / MONTH for a in agents)
    delays = {}
    for agent, f in faults.items():
        hit = next(((t, k) for t, k in onsets if t >= fault_t[agent] and k.split(":")[1] == agent), None)
        delays[agent] = [f["fault"], round((hit[0] - fault_t[agent]) / DAY, 2) if hit else None]
        delays[agent].append(hit[1].split(":")[2] if hit else None)
    coin = [any(k.startswith("agent:coin-1:") for k in keys) for _, keys in steps]
    fleet = [format_ts(t) + " " + k for t, k in onsets if k.startswith("fleet:")]
    classes = [format_ts(t) + " " + k for t, k in onsets if k.startswith("strategy:")]
    return {
        "false_onsets": len(false),
        "charted_agent_months": round(months, 2),
        "per_charted_agent_month": round(len(false) / months, 3) if months else None,
        "by_trigger": dict(sorted(by_trigger.items())),
        "false_onset_times": [format_ts(t) + " " + k for t, k in false],
        "coin_share_alerted": round(sum(coin) / len(coin), 3) if coin else None,
        "fleet_onsets": fleet,
        "class_onsets": classes,
        "fault_delays_days": delays,
    }


def span(rows: list[Row]) -> tuple[int, int]:
    """(first signal, last reconcile) of a replay's rows, epoch seconds: the period measured."""
    return parse_ts(rows[0].ts), max(parse_ts(r.reconciled_at) for r in rows)


def run_candidate(rows: list[Row], faults: dict, changed: dict, step_hours: int) -> dict:
    """`measure` of the detectors at the defaults with `changed` on a replay's rows."""
    s = replace(DivergenceSettings(), **changed)
    start, end = span(rows)
    first = charting_from(rows[0].ts, s)
    charted = parse_ts(first) if first else start
    agents = sorted({r.agent for r in rows})
    return measure(replay(rows, s, step_hours), faults, agents, start, end, charted)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", type=Path, default=None, help="a market_world output folder (default: the newest)")
    ap.add_argument("--horizon", type=int, default=24)
    ap.add_argument("--step-hours", type=int, default=6)
    ap.add_argument("--set", action="append", default=[], help="one candidate: setting=value (repeatable)")
    args = ap.parse_args(argv)
    world = args.root or newest_world()
    faults = json.loads((world / "faults.json").read_text())
    rows = load_rows(world / "root", args.horizon)
    candidates = CANDIDATES
    if args.set:
        changed = {k: json.loads(v) for k, v in (kv.split("=", 1) for kv in args.set)}
        candidates = {", ".join(args.set): changed}
    agents = len({r.agent for r in rows})
    print(f"world {world.name}: {len(rows)} rows of {args.horizon} h, {agents} agents\n", file=sys.stderr)
    print(
        "| candidate | false onsets | per charted agent-month | by chart | coin alerted | fleet alerts "
        "| fault: days to first onset |"
    )
    print("|---|---:|---:|---|---:|---:|---|")
    results = {}
    for name, changed in candidates.items():
        m = results[name] = run_candidate(rows, faults, changed, args.step_hours)
        faults_txt = ", ".join(f"{f} {d if d is not None else 'never'}" for f, d, _ in m["fault_delays_days"].values())
        print(
            f"| {name} | {m['false_onsets']} | {m['per_charted_agent_month']} | {m['by_trigger']} | "
            f"{m['coin_share_alerted']} | {len(m['fleet_onsets'])} | {faults_txt} |",
            flush=True,
        )
    out = REPO / "bench/out" / f"detector_replay-{world.name}.json"
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten: {out.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
