"""Benchmark: reconcile of one new hour of signals against 30, 90 and 365 days of price history.

Layouts compared on the same data:
- daily: `data/prices/YYYY-MM-DD.jsonl` and `data/alpha_events/YYYY-MM-DD.jsonl` (the recommended
  layout, see docs/performance.md);
- single: `data/prices.jsonl` and `data/alpha_events.jsonl` (one file each, as in the seed).

For each history length the root is warmed up (everything but the last two days marked as read by
the event cursor, then one reconcile run matures what it can), then one hour of signals and one
hour of ticks are appended and `jobs.reconcile.run` is timed (median of --repeat runs, each on the
same restored state). With daily files the time and the files read must stay flat as the history
grows; with a single prices file every run re-reads the whole year.

Run: `.venv/bin/python bench/reconcile_partitions.py [--days 30,90,365] [--repeat 5]`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

import msgspec
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from meta_supervisor.adapters.actions import Actions  # noqa: E402
from meta_supervisor.core.timeutil import HOUR, day_of, format_ts  # noqa: E402
from meta_supervisor.files.inputs import input_files  # noqa: E402
from meta_supervisor.jobs import reconcile  # noqa: E402

OUT = HERE / "out"
END_DAY = 1795132800  # 2026-11-20T00:00:00Z: the last (current) day starts here
SYMBOLS = ["BTC", "ETH", "SOL", "EURUSD", "SPX", "GOLD"]
AGENTS = {
    "macro-1": "macro",
    "macro-2": "macro",
    "arb-1": "arb",
    "arb-2": "arb",
    "mom-1": "momentum",
    "mom-2": "momentum",
}
TICK_S = 300
EVENTS_PER_HOUR = 40


def _prices(t0: int, t1: int, rng) -> list[bytes]:
    """Ticks every 5 minutes for every symbol in [t0, t1), as JSONL lines in time order."""
    times = np.arange(t0, t1, TICK_S)
    lines = []
    walks = {s: 100.0 * (i + 1) * np.exp(np.cumsum(rng.normal(0, 4e-4, len(times)))) for i, s in enumerate(SYMBOLS)}
    iso = [format_ts(t) for t in times.tolist()]
    for k, ts in enumerate(iso):
        for s in SYMBOLS:
            lines.append(msgspec.json.encode({"ts": ts, "symbol": s, "price": round(float(walks[s][k]), 6)}))
    return lines


def _events(t0: int, t1: int, rng, tag: str) -> list[bytes]:
    n = int((t1 - t0) / HOUR * EVENTS_PER_HOUR)
    ts = np.sort(rng.integers(t0, t1, n))
    agents = list(AGENTS)
    out = []
    for k, t in enumerate(ts.tolist()):
        out.append(
            msgspec.json.encode(
                {
                    "event_id": f"{tag}-{t}-{k}",
                    "ts": format_ts(t),
                    "agent": agents[k % len(agents)],
                    "symbol": SYMBOLS[int(rng.integers(len(SYMBOLS)))],
                    "side": "long" if rng.random() < 0.5 else "short",
                    "score_final": round(float(rng.uniform(0.02, 1)), 4),
                    "confidence": round(float(rng.uniform(0.3, 0.95)), 3),
                    "regime": "TREND",
                }
            )
        )
    return out


def _append(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(b"".join(line + b"\n" for line in lines))


def build(root: Path, days: int, layout: str, seed: int = 11) -> None:
    """`days` days of prices and events ending at END_DAY + 12h (the current hour)."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "policy").mkdir(parents=True)
    (root / "policy" / "agents.yaml").write_text("".join(f"{a}: {s}\n" for a, s in AGENTS.items()))
    if layout == "daily":
        (root / "policy" / "supervisor.yaml").write_text(
            "inputs:\n  alpha_events: data/alpha_events\n  prices: data/prices\n"
        )
    rng = np.random.default_rng(seed)
    now = END_DAY + 12 * HOUR
    start = END_DAY - (days - 1) * 86400
    for d in range(start, now, 86400):
        t1 = min(d + 86400, now)
        day = day_of(d)
        _write_inputs(root, layout, day, _prices(d, t1, rng), _events(d, t1, rng, "a"))
    # Warm-up: signals older than two days count as already reconciled (the cursor is past them);
    # one run then matures the last two days and leaves the last day's signals pending.
    files = input_files(root / ("data/alpha_events" if layout == "daily" else "data/alpha_events.jsonl"))
    cursor = {}
    cut = format_ts(END_DAY - 86400)
    for path in files:
        data = path.read_bytes()
        offset, line = 0, 1
        for raw in data.splitlines(keepends=True):
            if msgspec.json.decode(raw)["ts"] >= cut:
                break
            offset += len(raw)
            line += 1
        if offset:
            cursor[str(path.relative_to(root))] = {"offset": offset, "line": line}
    (root / "state").mkdir()
    (root / "state" / "reconcile_state.json").write_text(
        json.dumps({"version": 1, "partitions": {}, "events_cursor": cursor, "pending": []})
    )
    reconcile.run(root, actions=Actions(env={}, out=io.StringIO()), now=format_ts(now))


def one_hour(root: Path, layout: str, seed: int = 99) -> None:
    """Append the next hour: one hour of ticks and one hour of signals."""
    rng = np.random.default_rng(seed)
    t0 = END_DAY + 12 * HOUR
    _write_inputs(root, layout, day_of(t0), _prices(t0, t0 + HOUR, rng), _events(t0, t0 + HOUR, rng, "b"))


def _write_inputs(root: Path, layout: str, day: str, prices, events) -> None:
    """Append ticks and signals: to that day's files (daily) or to the single files."""
    for name, lines in (("prices", prices), ("alpha_events", events)):
        _append(root / "data" / (f"{name}/{day}.jsonl" if layout == "daily" else f"{name}.jsonl"), lines)


def snapshot(root: Path) -> dict:
    return {
        "state": {p.relative_to(root): p.read_bytes() for p in (root / "state").rglob("*") if p.is_file()},
        "sizes": {p: p.stat().st_size for p in (root / "data").rglob("*.jsonl")},
    }


def restore(root: Path, snap: dict) -> None:
    shutil.rmtree(root / "state")
    for rel, data in snap["state"].items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    for p in (root / "data").rglob("*.jsonl"):
        if p not in snap["sizes"]:
            p.unlink()
        elif p.stat().st_size != snap["sizes"][p]:
            os.truncate(p, snap["sizes"][p])


def measure(days: int, layout: str, repeat: int) -> dict:
    root = OUT / "reconcile_roots" / f"{layout}-{days}"
    t = time.perf_counter()
    build(root, days, layout)
    built = time.perf_counter() - t
    snap = snapshot(root)
    runs = []
    for _ in range(repeat):
        restore(root, snap)
        one_hour(root, layout)
        t = time.perf_counter()
        res = reconcile.run(root, actions=Actions(env={}, out=io.StringIO()), now=format_ts(END_DAY + 13 * HOUR + 600))
        runs.append(time.perf_counter() - t)
    rep = res.report
    size = sum(p.stat().st_size for p in (root / "data").rglob("*.jsonl") if "prices" in str(p))
    price_files = len(input_files(root / ("data/prices" if layout == "daily" else "data/prices.jsonl")))
    shutil.rmtree(root, ignore_errors=True)
    return {
        "days": days,
        "layout": layout,
        "seconds": sorted(runs)[len(runs) // 2],
        "runs": runs,
        "price_files_total": price_files,
        "price_files_read": len(rep["price_files_read"]),
        "event_files_read": len(rep["files_read"]),
        "events_read": rep["events_read"],
        "rows_written": rep["rows_written"],
        "pending": rep["pending_events"],
        "price_mb": round(size / 1e6, 1),
        "setup_seconds": round(built, 1),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", default="30,90,365")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--layouts", default="daily,single")
    args = ap.parse_args(argv)
    results = []
    for layout in args.layouts.split(","):
        for days in [int(d) for d in args.days.split(",")]:
            r = measure(days, layout, args.repeat)
            results.append(r)
            print(
                f"{layout:6} {days:4} days: {r['seconds']:.3f} s, price files read {r['price_files_read']}"
                f"/{r['price_files_total']}, event files read {r['event_files_read']}, "
                f"{r['events_read']} events, {r['rows_written']} rows",
                flush=True,
            )
    print(
        "\n| layout | days of prices | price MB | price files read / total | event files read | "
        "new events | rows written | seconds (median) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['layout']} | {r['days']} | {r['price_mb']} | {r['price_files_read']} / {r['price_files_total']} "
            f"| {r['event_files_read']} | {r['events_read']} | {r['rows_written']} | {r['seconds']:.3f} |"
        )
    OUT.mkdir(exist_ok=True)
    path = OUT / f"reconcile-{time.strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nraw results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
