"""Benchmark: git repository growth of the reconciled history under hourly commits, per layout.

Layouts compared on the same simulated signals (`history.partition`, files/history.py):
- day (the default): `state/reconciled/YYYY-MM-DD.jsonl` by UTC day of the signal, append-only,
  continued in segments `YYYY-MM-DD.001.jsonl`, `.002`, ... when an append would take the current
  segment past 45 MiB;
- month: `state/reconciled/YYYY-MM.jsonl` by month of the signal, segmented the same way (every
  history started before daily files existed);
- day+pending: the default layout plus the pending events as reconcile writes them
  (files/reconcile_state.py): the whole list rewritten every run into `state/pending/a.NNN.jsonl`
  or `b.NNN.jsonl` (the bank the previous run did not use; its files deleted in the same commit),
  one event a line (`{"event": ..., "strategy_class": ..., "horizons_left": [...]}`, compact JSON),
  each file under 45 MiB. An event is pending from its signal until the run after ts + 24 h.

Method:
- Signals: Poisson arrivals at `--signals-per-day` (uniform times within each hour), from
  2026-01-01T00:00Z for N days. Each signal gives 3 rows (horizons 1, 4 and 24 h), built with
  `tests.rows.row(...)` (random event ids, agents, symbols, prices at 6 significant digits, PnL in bps rounded
  to 4 decimals as `core.reconcile.make_row` does, model versions with 12-hex hashes) and encoded
  with `msgspec.json.Encoder().encode(row) + b"\\n"` (~440 bytes a row).
- Hourly workflow: the run at the top of hour H reconciles every row whose signal time + horizon
  is in (H-1h, H], appends them (ordered by ts, event_id) to the partition of the signal, and
  commits. One git commit per hour with at least one new row; the commit holds the new full
  content of every partition file changed that hour (and, for day+pending, the pending files;
  nothing else of state/ is modelled: `state/reconcile_state.json`'s sizes, checksums and
  checkpoints, a few kB, are ignored).
- Commits are fed with `git fast-import` under `-c gc.auto=0`. All blobs of an import are emitted
  first, file by file in version order, then the commits that reference them, so fast-import
  deltas each version against the previous version of the same file (as a normal repack would
  find it) with its default depth 50. At each requested day count (`--days 30 60` simulates 60
  days once and stops at day 30 on the way) `git gc` is run and `git count-objects -v`
  `size-pack` is read; the import then continues from the branch tip.
- Raw bytes = total bytes of rows written (sum of the final partition sizes).
- Extrapolation to a year is linear: MiB/year = marginal growth between the last two checkpoints
  (or size/days for a single checkpoint) * 365, scaled to 1,000 signals/day by dividing by
  rate/1000 (the 5,000 signals/day run checks that scaling). The rate at which one year of
  history reaches 1 GiB / 5 GiB of repository (GitHub's recommended / strongly recommended
  limits) is 1024 (5120) MiB / (MiB/year per 1,000 signals/day) * 1,000.
- Wall time is fast-import + gc time of each layout run (row generation excluded).

Units: MiB = 2^20 bytes, GiB = 2^30 bytes.

Run: `.venv/bin/python bench/git_growth.py [--days 30 60] [--signals-per-day 1000]
[--layouts day,month,day+pending]`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
from meta_supervisor.core.timeutil import format_ts  # noqa: E402
from meta_supervisor.files.history import segment_name  # noqa: E402
from tests.rows import row  # noqa: E402

HOUR = 3600
DAY = 86400
START = 1767225600  # 2026-01-01T00:00:00Z
HORIZONS = (1, 4, 24)
CAP = 45 * 1024 * 1024
MiB = 1024 * 1024
DIR = "state/reconciled"

AGENTS = [f"a{i:02d}" for i in range(24)]
CLASSES = ["macro", "momentum", "mean_reversion", "carry", "breakout", "sentiment"]
SYMBOLS = {
    "BTC": 65000.0,
    "ETH": 3200.0,
    "SOL": 150.0,
    "BNB": 580.0,
    "XRP": 0.55,
    "ADA": 0.45,
    "DOGE": 0.15,
    "AVAX": 35.0,
    "LINK": 15.0,
    "DOT": 7.0,
    "MATIC": 0.7,
    "LTC": 85.0,
}
SYMBOL_NAMES = list(SYMBOLS)
REGIMES = ["TREND", "RANGE", "HIGH_VOL", "LOW_VOL", "CRASH"]


def sig6(x: float) -> float:
    """A price as a feed gives it: 6 significant digits."""
    return float(f"{x:.6g}")


def simulate_rows(days: int, per_day: int, seed: int):
    """Per reconcile hour (unix seconds of the run): list of (ts, event_id, encoded row) due; and
    the signals' Pending view (for day+pending)."""
    rng = np.random.default_rng(seed)
    enc = msgspec.json.Encoder()
    due: dict[int, list[tuple[int, str, bytes]]] = defaultdict(list)
    hashes = [f"{rng.integers(0, 2**48):012x}" for _ in range(4)]
    n_hours = days * 24
    counts = rng.poisson(per_day / 24, n_hours)
    n = int(counts.sum())
    ts_all = np.concatenate(
        [h * HOUR + START + np.sort(rng.integers(0, HOUR, c)) for h, c in enumerate(counts)]
    ).astype(np.int64)
    agent = rng.integers(0, len(AGENTS), n)
    sym = rng.integers(0, len(SYMBOL_NAMES), n)
    cls = rng.integers(0, len(CLASSES), n)
    reg = rng.integers(0, len(REGIMES), n)
    side = rng.integers(0, 2, n)
    score = rng.uniform(-1, 1, n)
    conf = rng.uniform(0, 1, n)
    ids = rng.integers(0, 2**63, n)
    moves = rng.normal(0, 1, (n, 3))
    model = rng.integers(-1, len(hashes), n)  # -1: no model (fallback_zero)
    runs = np.zeros((n, len(HORIZONS)), dtype=np.int64)  # the run that writes each horizon
    lines: list[tuple[bytes, ...]] = []  # per signal: its pending line with 3, 2 and 1 horizons left
    for i in range(n):
        ts = int(ts_all[i])
        symbol = SYMBOL_NAMES[sym[i]]
        entry = sig6(SYMBOLS[symbol] * float(np.exp(rng.normal(0, 0.1))))
        event_id = f"{int(ids[i]) >> 15:012x}"
        event = {
            "event_id": event_id,
            "ts": format_ts(ts),
            "agent": AGENTS[agent[i]],
            "symbol": symbol,
            "side": "long" if side[i] == 0 else "short",
            "score_final": round(float(score[i]), 4),
            "confidence": round(float(conf[i]), 4),
            "regime": REGIMES[reg[i]],
            "price": None,
        }
        lines.append(
            tuple(
                enc.encode({"event": event, "strategy_class": CLASSES[cls[i]], "horizons_left": list(HORIZONS[k:])})
                + b"\n"
                for k in range(len(HORIZONS))
            )
        )
        for k, h in enumerate(HORIZONS):
            exit_ = sig6(entry * float(np.exp(moves[i, k] * 0.006 * np.sqrt(h))))
            sign = 1.0 if side[i] == 0 else -1.0
            realized = round(sign * (exit_ / entry - 1.0) * 1e4, 4)
            if model[i] < 0:
                expected, sigma, version = 0.0, None, "fallback_zero"
            else:
                expected = round(float(rng.normal(0, 20 * np.sqrt(h))), 4)
                sigma = round(float(abs(rng.normal(60 * np.sqrt(h), 10))), 4)
                version = f"ridge_h{h}@{hashes[model[i]]}"
            matured = ts + h * HOUR
            run = START + -(-(matured - START) // HOUR) * HOUR  # first top of hour >= matured
            runs[i, k] = run
            r = row(
                event_id=event_id,
                ts=format_ts(ts),
                agent=AGENTS[agent[i]],
                strategy_class=CLASSES[cls[i]],
                symbol=symbol,
                side="long" if side[i] == 0 else "short",
                regime=REGIMES[reg[i]],
                horizon_hours=h,
                score_final=round(float(score[i]), 4),
                confidence=round(float(conf[i]), 4),
                entry_price=entry,
                exit_price=exit_,
                realized_pnl_bps=realized,
                expected_pnl_bps=expected,
                expected_sigma_bps=sigma,
                pnl_error_bps=round(realized - expected, 4),
                abs_error_bps=round(abs(realized - expected), 4),
                sim_version=version,
                reconciled_at=format_ts(run),
            )
            due[run].append((ts, event_id, enc.encode(r) + b"\n"))
    return due, n, Pending(ts_all, runs, lines)


class Pending:
    """The pending list reconcile holds after each run, as the files it writes."""

    def __init__(self, ts, runs, lines):
        self.ts, self.runs, self.lines = ts, runs, lines

    def files(self, run: int) -> list[bytes]:
        """Contents of the pending files after `run`: signals up to it whose last horizon is
        written later, in signal order, split before a file passes CAP."""
        lo = int(np.searchsorted(self.runs[:, -1], run, side="right"))  # last run is monotone in ts
        hi = int(np.searchsorted(self.ts, run, side="right"))
        out, cur = [], bytearray()
        for i in range(lo, hi):
            left = int(np.sum(self.runs[i] <= run))  # horizons already written
            line = self.lines[i][left]
            if cur and len(cur) + len(line) > CAP:
                out.append(bytes(cur))
                cur = bytearray()
            cur += line
        if cur:
            out.append(bytes(cur))
        return out


class Layout:
    """Assigns appended rows to partition files; tracks content and per-hour versions."""

    def __init__(self, kind: str, pending: Pending | None):
        self.kind = kind
        self.content: dict[str, bytearray] = {}
        self.segment: dict[str, int] = {}  # period -> current segment number
        self.pending = pending if kind == "day+pending" else None
        self.bank = "b"
        self.pending_paths: list[str] = []
        self.rewritten: dict[str, list[int]] = {}  # pending path -> runs that wrote it

    def append_hour(self, run: int, rows) -> dict[str, int | None]:
        """Append one run's rows; return {path: new size, or None if deleted} of the files changed."""
        groups: dict[str, list[bytes]] = defaultdict(list)
        for ts, _eid, data in sorted(rows, key=lambda r: (r[0], r[1])):
            key = format_ts(ts)[: 7 if self.kind == "month" else 10]
            groups[key].append(data)
        changed: dict[str, int | None] = {}
        for key, parts in groups.items():
            block = b"".join(parts)
            seg = self.segment.setdefault(key, 0)
            path = f"{DIR}/{segment_name(key, seg)}"
            cur = self.content.setdefault(path, bytearray())
            if len(cur) and len(cur) + len(block) > CAP:
                seg = self.segment[key] = seg + 1
                path = f"{DIR}/{segment_name(key, seg)}"
                cur = self.content.setdefault(path, bytearray())
            cur += block
            changed[path] = len(cur)
        if self.pending is not None:
            self.bank = "a" if self.bank == "b" else "b"
            files = self.pending.files(run)
            paths = [f"state/pending/{self.bank}.{k:03d}.jsonl" for k in range(len(files))]
            for path in self.pending_paths:
                changed[path] = None
            for path, data in zip(paths, files):
                changed[path] = len(data)
                self.rewritten.setdefault(path, []).append(run)
            self.pending_paths = paths
        return changed

    def blob(self, path: str, run: int, size: int):
        if path.startswith("state/pending/"):
            return self.pending.files(run)[int(path.rsplit(".", 2)[1])]
        return memoryview(self.content[path])[:size]


def git(repo: Path, *args, **kw):
    return subprocess.run(["git", "-c", "gc.auto=0", *args], cwd=repo, check=True, capture_output=True, **kw)


def fast_import(repo: Path, layout: Layout, hours: list[tuple[int, dict[str, int]]], first: bool):
    """Import one chunk of hourly commits: all blobs file by file, then the commits."""
    proc = subprocess.Popen(["git", "-c", "gc.auto=0", "fast-import", "--quiet"], cwd=repo, stdin=subprocess.PIPE)
    out = proc.stdin
    marks: dict[tuple[str, int], int] = {}
    versions: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for run, changed in hours:
        for path, size in changed.items():
            if size is not None:
                versions[path].append((run, size))
    mark = 0
    for path in sorted(versions):
        for run, size in versions[path]:
            mark += 1
            marks[(path, run)] = mark
            data = layout.blob(path, run, size)
            out.write(b"blob\nmark :%d\ndata %d\n" % (mark, len(data)))
            out.write(data)
            out.write(b"\n")
    for i, (run, changed) in enumerate(hours):
        msg = f"state: reconcile {format_ts(run)}".encode()
        out.write(b"commit refs/heads/main\ncommitter bot <bot@example.com> %d +0000\n" % run)
        out.write(b"data %d\n%s\n" % (len(msg), msg))
        if i == 0 and not first:
            out.write(b"from refs/heads/main^0\n")
        for path, size in changed.items():
            if size is None:
                out.write(b"D %s\n" % path.encode())
            else:
                out.write(b"M 100644 :%d %s\n" % (marks[(path, run)], path.encode()))
        out.write(b"\n")
    out.close()
    if proc.wait():
        raise SystemExit("git fast-import failed")


def size_pack_kib(repo: Path) -> int:
    text = git(repo, "count-objects", "-v", text=True).stdout
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("size-pack:")))


def run_layout(kind: str, due, pending: Pending, checkpoints: list[int], work: Path):
    repo = work / f"repo-{kind}"
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    layout = Layout(kind, pending)
    wall, prev_day, commits = 0.0, 0, 0
    for day in checkpoints:
        hours = []
        for h in range(prev_day * 24 + 1, day * 24 + 1):
            run = START + h * HOUR
            if due.get(run):
                hours.append((run, layout.append_hour(run, due[run])))
        t0 = time.perf_counter()
        fast_import(repo, layout, hours, first=prev_day == 0)
        git(repo, "gc", "-q")
        wall += time.perf_counter() - t0
        commits += len(hours)
        raw = sum(len(c) for c in layout.content.values())
        last = hours[-1][0] if hours else None
        pending_now = sum(len(f) for f in layout.pending.files(last)) if layout.pending and last else 0
        yield dict(
            pending=pending_now,
            layout=kind,
            days=day,
            commits=commits,
            files=len(layout.content),
            raw=raw,
            pack=size_pack_kib(repo) * 1024,
            wall=wall,
        )
        prev_day = day
    shutil.rmtree(repo, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, nargs="+", default=[30, 60])
    ap.add_argument("--signals-per-day", type=int, default=1000)
    ap.add_argument("--layouts", default="day,month,day+pending")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--header", action=argparse.BooleanOptionalAction, default=True)
    args = ap.parse_args()
    checkpoints = sorted(set(args.days))
    rate = args.signals_per_day
    t0 = time.perf_counter()
    due, n, pending = simulate_rows(checkpoints[-1], rate, args.seed)
    n_rows = sum(len(v) for v in due.values())
    avg = sum(len(r[2]) for v in due.values() for r in v) / n_rows
    print(
        f"<!-- {n} signals, {n_rows} rows, {avg:.0f} bytes/row, generated in {time.perf_counter() - t0:.1f}s -->",
        file=sys.stderr,
    )
    name = {
        "day": "daily + 45 MiB segments (default)",
        "month": "monthly + 45 MiB segments",
        "day+pending": "daily + pending files (default, as deployed)",
    }
    if args.header:
        print(
            "| layout | signals/day | days | commits | files | raw rows MiB | pending MiB | size-pack MiB "
            "| pack/raw | MiB/year per 1k sig/day | sig/day → 1 GiB/yr | sig/day → 5 GiB/yr "
            "| wall s |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="git_growth_") as tmp:
        for kind in args.layouts.split(","):
            prev = None
            for r in run_layout(kind, due, pending, checkpoints, Path(tmp)):
                if prev is None:
                    per_day = r["pack"] / r["days"]
                else:
                    per_day = (r["pack"] - prev["pack"]) / (r["days"] - prev["days"])
                year_mib_1k = per_day * 365 / MiB / (rate / 1000)
                print(
                    f"| {name[kind]} | {rate:,} | {r['days']} | {r['commits']:,} | {r['files']} "
                    f"| {r['raw'] / MiB:.1f} | {r['pending'] / MiB:.2f} | {r['pack'] / MiB:.1f} "
                    f"| {r['pack'] / r['raw']:.3f} | {year_mib_1k:,.0f} "
                    f"| {1024 / year_mib_1k * 1000:,.0f} | {5120 / year_mib_1k * 1000:,.0f} "
                    f"| {r['wall']:.1f} |",
                    flush=True,
                )
                prev = r


if __name__ == "__main__":
    main()
