"""Benchmark: a scheduled cycle on N reconciled rows -- the seed's approach vs ours (cold, steady).

For each size N it generates reconciled history (cached under bench/out/data/):
- in our layout: `state/reconciled/YYYY-MM.jsonl` (rows with exactly `records.ROW_FIELDS`,
  serialized compactly as reconcile writes them, partitioned by the month of the signal, appended
  in order of the moment each matured; reconcile sorts one run's rows by signal time, so real
  partitions are more nearly sorted and cheaper to sort than these) and
  `state/reconcile_state.json` with the committed sizes and checkpoints of hourly runs;
- in the seed's layout: one flat `alpha/reconciled.jsonl` holding the same bytes.
Most rows carry a model prediction (`ridge_h24@<hash>`, expected_sigma_bps), so the detectors work.
Signals arrive at a constant rate (`--events-per-hour`, 3 rows per signal), so a longer history
means more months, as it would in production.

Then, each measurement in a fresh child process (so its peak RSS, VmHWM, is its own):
- seed: the seed's modules re-implemented faithfully: `train(h)` for 1, 4, 24 (json.loads of the
  whole file, np.linalg.inv), the CVaR by regime and the divergence detect, each re-reading the
  whole file as the seed does;
- cold: `jobs.train.run` (all horizons) + `jobs.evaluate.run(dry_run=True)` on a root with no
  models and no detector state;
- steady: on the same root after that (warm) run, 10,000 new rows are appended to the partition
  tails (the next rows in maturity order) and train + evaluate run again;
- each job alone on a cold root, with its own history read, as the workflows run them (the hourly
  supervise job runs evaluate; train has its own schedule).
Times are wall-clock seconds inside the child around the job calls (interpreter start and imports
excluded for every approach; listed separately). Files are in the page cache for every approach.

Run: `.venv/bin/python bench/cycle.py` (default sizes 200k, 300k, 1M);
     `.venv/bin/python bench/cycle.py --sizes 200k,300k,1M,2M` for the full table;
     `--profile cold|steady --sizes 1M` prints a cProfile of our cycle instead.
Raw results: bench/out/cycle-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC
from pathlib import Path

import msgspec
import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from meta_supervisor.core.records import ROW_FIELDS, Row  # noqa: E402
from meta_supervisor.files import reconcile_state  # noqa: E402
from meta_supervisor.files.history import CHECKPOINTS_KEPT, RECONCILED_DIR, Partitions  # noqa: E402
from meta_supervisor.files.jsonio import write_json  # noqa: E402

RECONCILE_STATE = reconcile_state.PATH

OUT = HERE / "out"
GEN_VERSION = 6  # 6: checkpoints in the commit record
END = 1795132800  # 2026-11-20T00:00:00Z: every history ends here (same recent months at every N)
HORIZONS = (1, 4, 24)
STRATEGIES = {
    "macro": ["macro-1", "macro-2", "macro-3", "macro-4"],
    "arb": ["arb-1", "arb-2", "arb-3", "arb-4"],
    "momentum": ["mom-1", "mom-2", "mom-3", "mom-4"],
}
SYMBOLS = ["BTC", "ETH", "SOL", "EURUSD", "SPX", "GOLD"]
BASE_PRICE = np.array([60000.0, 3000.0, 150.0, 1.08, 5000.0, 2300.0])
APPEND_ROWS = 10_000
KILL_LIST = """\
# Bench kill list: limits sized so the cycle does the full work (cells, verdicts) without breaching.
macro:
  status: ENABLED
  by_regime:
    TREND:
      max_cvar_error_bps: 400
    RANGE:
      max_cvar_error_bps: 400
arb:
  status: ENABLED
  by_regime:
    TREND:
      max_cvar_error_bps: 400
    RANGE:
      max_cvar_error_bps: 400
momentum:
  status: ENABLED
  by_regime:
    TREND:
      max_cvar_error_bps: 400
"""


# ---------------------------------------------------------------------------------------------
# Data generation.


def _iso(epochs: np.ndarray) -> list[str]:
    return [s + "Z" for s in np.datetime_as_string(epochs.astype("datetime64[s]"), unit="s").tolist()]


def _months(epochs: np.ndarray) -> list[str]:
    return np.datetime_as_string(epochs.astype("datetime64[s]").astype("datetime64[M]"), unit="M").tolist()


def generate_rows(n_rows: int, events_per_hour: float, seed: int):
    """Rows in maturity order (the order reconcile appends them): a list of (month, bytes)."""
    rng = np.random.default_rng(seed)
    n_events = n_rows // len(HORIZONS) + 4000  # extra: events still immature at the cut
    gap = 3600.0 / events_per_hour
    offsets = np.floor(np.cumsum(rng.exponential(gap, n_events))).astype(np.int64)
    ts = END - offsets[-1] + offsets
    START = int(ts[0])
    agents = [a for group in STRATEGIES.values() for a in group]
    strat_of = {a: s for s, group in STRATEGIES.items() for a in group}
    agent_i = rng.integers(0, len(agents), n_events)
    sym_i = rng.integers(0, len(SYMBOLS), n_events)
    sign = np.where(rng.random(n_events) < 0.5, 1, -1)
    score = np.round(rng.uniform(0.02, 1.0, n_events), 4)
    conf = np.round(rng.uniform(0.3, 0.95, n_events), 3)
    # Regimes of 3-6 days, alternating.
    bounds = START + np.cumsum(rng.integers(3, 7, 2 + int((ts[-1] - START) // (3 * 86400)))) * 86400
    regime_i = np.searchsorted(bounds, ts, side="right") % 2
    entry = np.round(BASE_PRICE[sym_i] * np.exp(rng.normal(0, 0.08, n_events)), 6)
    # Model versions: retrained about weekly; ~8% of rows without a model (fallback_zero).
    week = (ts - START) // (7 * 86400)
    has_model = (rng.random((n_events, len(HORIZONS))) >= 0.08) & (week[:, None] > 0)
    drift = np.zeros(n_events)
    broken = np.array([a == "mom-3" for a in agents])[agent_i]  # one agent drifts late in the history
    drift[broken & (ts > ts[-1] - 20 * 86400)] = -25.0

    iso = _iso(ts)
    months = _months(ts)
    rows = []
    for hi, h in enumerate(HORIZONS):
        scale = np.sqrt(h / 24.0)
        sigma = 35.0 * scale
        realized_target = (22.0 * (score - 0.35) + drift) * scale + rng.normal(0, sigma, n_events)
        exit_ = np.round(entry * (1 + sign * realized_target / 1e4), 6)
        realized = np.round(sign * (exit_ / entry - 1.0) * 1e4, 4)
        expected = np.where(has_model[:, hi], np.round((20.0 * (score - 0.35) + 0.8 * conf - 0.5) * scale, 4), 0.0)
        rmse = np.round(sigma * (1 + 0.02 * np.sin(week)), 4)
        error = np.round(realized - expected, 4)
        due = ts + h * 3600 + rng.integers(60, 3600, n_events)  # matured and reconciled within the hour
        rec_at = _iso((due // 3600 + 1) * 3600)
        cols = zip(
            iso,
            agent_i.tolist(),
            sym_i.tolist(),
            sign.tolist(),
            regime_i.tolist(),
            score.tolist(),
            conf.tolist(),
            entry.tolist(),
            exit_.tolist(),
            realized.tolist(),
            expected.tolist(),
            rmse.tolist(),
            error.tolist(),
            has_model[:, hi].tolist(),
            week.tolist(),
            rec_at,
            due.tolist(),
            months,
        )
        for k, (t, a, s, sg, rg, sc, cf, en, ex, re, xp, sd, er, hm, wk, ra, du, mo) in enumerate(cols):
            agent = agents[a]
            row = {
                "event_id": f"ev-{k:08d}",
                "ts": t,
                "agent": agent,
                "strategy_class": strat_of[agent],
                "symbol": SYMBOLS[s],
                "side": "long" if sg > 0 else "short",
                "regime": "TREND" if rg else "RANGE",
                "horizon_hours": h,
                "score_final": sc,
                "confidence": cf,
                "entry_price": en,
                "exit_price": ex,
                "realized_pnl_bps": re,
                "expected_pnl_bps": xp,
                "expected_sigma_bps": sd if hm else None,
                "pnl_error_bps": er,
                "abs_error_bps": abs(er),
                "sim_version": f"ridge_h{h}@{(wk * 2654435761) % (1 << 48):012x}" if hm else "fallback_zero",
                "reconciled_at": ra,
            }
            rows.append((du, k, h, mo, t, msgspec.json.encode(row)))
    assert tuple(msgspec.json.decode(rows[0][5])) == ROW_FIELDS
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    # (month, reconcile run = the hour after maturity, ts, bytes)
    return [(mo, du // 3600 + 1, t, line) for du, _, _, mo, t, line in rows[: n_rows + APPEND_ROWS]]


def dataset(n_rows: int, events_per_hour: float, seed: int) -> Path:
    """Generate (or reuse) the dataset for n_rows: base layout + the 10k rows to append later."""
    d = OUT / "data" / f"n{n_rows}-r{events_per_hour:g}-s{seed}-v{GEN_VERSION}"
    if (d / "done").exists():
        return d
    shutil.rmtree(d, ignore_errors=True)
    t0 = time.perf_counter()
    rows = generate_rows(n_rows, events_per_hour, seed)
    base, extra = rows[:n_rows], rows[n_rows:]
    part_dir = d / RECONCILED_DIR
    part_dir.mkdir(parents=True)
    by_month: dict[str, list[bytes]] = {}
    # The commit record hourly reconcile runs would leave (history.Partitions.append): sizes, and a
    # checkpoint [offset, newest ts before it] where each run started appending to a partition.
    sizes, checkpoints, max_ts, last_run = {}, {}, {}, {}
    for mo, run, t, line in base:
        name = f"{mo}.jsonl"
        by_month.setdefault(mo, []).append(line)
        if name in sizes and last_run[name] != run:
            checkpoints.setdefault(name, []).append([sizes[name], max_ts[name]])
        last_run[name] = run
        sizes[name] = sizes.get(name, 0) + len(line) + 1
        max_ts[name] = max(t, max_ts.get(name, t))
    checkpoints = {n: c[-CHECKPOINTS_KEPT:] for n, c in checkpoints.items()}
    for mo, lines in sorted(by_month.items()):
        (part_dir / f"{mo}.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    write_json(
        d / RECONCILE_STATE,
        {
            "version": 1,
            "partitions": sizes,
            "checkpoints": checkpoints,
            "max_ts": max_ts,
            "events_cursor": {},
            "pending": [],
        },
    )
    (d / "alpha").mkdir()
    with open(d / "alpha" / "reconciled.jsonl", "wb") as flat:  # the seed's layout: same bytes
        for mo in sorted(by_month):
            flat.write((part_dir / f"{mo}.jsonl").read_bytes())
    with open(d / "append.jsonl", "wb") as handle:  # the next 10k rows, with their partition
        for mo, _, _, line in extra:
            handle.write(msgspec.json.encode([mo, line.decode()]) + b"\n")
    meta = {
        "rows": n_rows,
        "months": len(by_month),
        "bytes": sum(sizes.values()),
        "events_per_hour": events_per_hour,
        "seed": seed,
        "first_month": min(by_month),
        "last_month": max(by_month),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (d / "meta.json").write_text(json.dumps(meta, indent=2))
    (d / "done").write_text("ok\n")
    return d


def make_root(data: Path, root: Path) -> None:
    """A fresh root over `data`: partitions hard-linked (read-only use), except the months the
    steady-state append touches, which are copied."""
    shutil.rmtree(root, ignore_errors=True)
    (root / RECONCILED_DIR).mkdir(parents=True)
    touched = {msgspec.json.decode(line)[0] + ".jsonl" for line in (data / "append.jsonl").read_bytes().splitlines()}
    for p in sorted((data / RECONCILED_DIR).glob("*.jsonl")):
        target = root / RECONCILED_DIR / p.name
        if p.name in touched:
            shutil.copyfile(p, target)
        else:
            os.link(p, target)
    shutil.copyfile(data / RECONCILE_STATE, root / RECONCILE_STATE)
    (root / "policy").mkdir()
    (root / "policy" / "strategy_kill_list.yaml").write_text(KILL_LIST)


def append_rows(data: Path, root: Path) -> int:
    """Append the next 10k rows as one reconcile run would: Partitions.append, then commit."""
    rows = [
        msgspec.json.decode(msgspec.json.decode(line)[1], type=Row)
        for line in (data / "append.jsonl").read_bytes().splitlines()
    ]
    state = reconcile_state.load(root)
    commit = Partitions(root, state.commit).append(rows)
    reconcile_state.save(root, commit, state.events_cursor, state.pending)
    return len(rows)


def snapshot_state(root: Path, snap: Path) -> None:
    shutil.rmtree(snap, ignore_errors=True)
    shutil.copytree(root / "state", snap, ignore=shutil.ignore_patterns("reconciled"))


def restore_state(root: Path, snap: Path) -> None:
    """Put back the warm state (models, detector cursor, alerts) so a repeat does the same work."""
    for p in (root / "state").iterdir():
        if p.name != "reconciled":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    for p in snap.iterdir():
        if p.name == RECONCILE_STATE.split("/")[-1]:
            continue  # keep the appended sizes
        (shutil.copytree if p.is_dir() else shutil.copyfile)(p, root / "state" / p.name)
    shutil.rmtree(root / "outbox", ignore_errors=True)


def reset_cold(root: Path) -> None:
    for p in (root / "state").iterdir():
        if p.name not in ("reconciled", "reconcile_state.json"):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    shutil.rmtree(root / "outbox", ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Child processes.


def _peak_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_seed(flat: str, out_dir: str) -> dict:
    """The seed's modules (the user's original sketch), paths parameterized, logic unchanged."""
    from collections import defaultdict
    from datetime import datetime

    RECON = Path(flat)
    MODEL_DIR = Path(out_dir) / "models"
    CVAR_OUT = Path(out_dir) / "strategy_cvar_regime.json"
    ALERTS = Path(out_dir) / "divergence_alerts.json"

    def _load_jsonl(p):
        if not p.exists():
            return []
        return [json.loads(x) for x in p.read_text().splitlines() if x.strip()]

    def _f(x):
        try:
            return float(x)
        except Exception:
            return 0.0

    def train(horizon_hours=24, ridge=5.0, min_rows=250, max_rows=12000):
        rows = [r for r in _load_jsonl(RECON) if int(r.get("horizon_hours", 0)) == horizon_hours]
        rows = rows[-max_rows:]
        if len(rows) < min_rows:
            return {"ok": False, "reason": "insufficient_rows", "n": len(rows), "horizon_hours": horizon_hours}
        X, y = [], []
        for r in rows:
            X.append([_f(r.get("score_final")), _f(r.get("confidence")), 1.0])
            y.append(_f(r.get("realized_pnl_bps")))
        X = np.array(X, dtype=float)
        y = np.array(y, dtype=float)
        XtX = X.T @ X
        eye = np.eye(X.shape[1], dtype=float)
        eye[-1, -1] = 0.0
        w = np.linalg.inv(XtX + ridge * eye) @ (X.T @ y)
        resid = y - X @ w
        rmse = float(np.sqrt(np.mean(resid**2)))
        MODEL_DIR.mkdir(parents=True, exist_ok=True)
        model = {
            "ok": True,
            "model": "ridge",
            "horizon_hours": horizon_hours,
            "features": ["score_final", "confidence"],
            "weights": [float(x) for x in w.tolist()],
            "rmse_bps": round(rmse, 4),
            "n": len(rows),
            "ridge": ridge,
        }
        (MODEL_DIR / f"ridge_h{horizon_hours}.json").write_text(json.dumps(model, indent=2))
        return model

    def cvar(values, alpha=0.95):
        if not values:
            return 0.0
        vs = sorted(values)
        tail = vs[int(len(vs) * alpha) :]
        return sum(tail) / max(len(tail), 1)

    def cvar_run(horizon_hours=24):
        rows = [r for r in _load_jsonl(RECON) if int(r.get("horizon_hours", 0)) == horizon_hours]
        rows = rows[-8000:]
        by_key = defaultdict(list)
        for r in rows:
            pe = r.get("pnl_error_bps")
            if pe is None:
                continue
            by_key[(r.get("strategy_class") or "unknown", r.get("regime") or "unknown")].append(float(pe))
        out = {}
        for (s, g), vals in by_key.items():
            out.setdefault(s, {})[g] = {
                "n": len(vals),
                "cvar95_error_bps": round(cvar(vals, 0.95), 2),
                "mean_error_bps": round(sum(vals) / max(len(vals), 1), 2),
            }
        CVAR_OUT.write_text(json.dumps(out, indent=2))
        return out

    def _now():
        return datetime.now(UTC).isoformat().replace("+00:00", "Z")

    def detect(window=80, horizon_hours=24, abs_err_thr=90.0, mean_err_thr=40.0):
        rows = [r for r in _load_jsonl(RECON) if int(r.get("horizon_hours", 0)) == horizon_hours]
        rows = rows[-8000:]
        by_agent = defaultdict(list)
        for r in rows:
            by_agent[r.get("agent", "unknown")].append(r)
        alerts = []
        for agent, rs in by_agent.items():
            tail = rs[-window:]
            abs_err = [float(x.get("abs_error_bps", 0) or 0) for x in tail if x.get("abs_error_bps") is not None]
            err = [float(x.get("pnl_error_bps", 0) or 0) for x in tail if x.get("pnl_error_bps") is not None]
            if len(abs_err) < max(10, window // 4):
                continue
            m_abs = sum(abs_err) / len(abs_err)
            m_err = sum(err) / len(err)
            if m_abs >= abs_err_thr or abs(m_err) >= mean_err_thr:
                alerts.append(
                    {
                        "ts": _now(),
                        "agent": agent,
                        "window": len(abs_err),
                        "mean_abs_error_bps": round(m_abs, 2),
                        "mean_error_bps": round(m_err, 2),
                        "severity": "high" if m_abs >= abs_err_thr * 1.3 else "medium",
                        "action": "REDUCE_ALLOC_AND_BLOCK_PROMOTION",
                    }
                )
        ALERTS.write_text(json.dumps({"generated_at": _now(), "alerts": alerts}, indent=2))
        return alerts

    Path(out_dir).mkdir(parents=True, exist_ok=True)
    phases = {}
    t0 = time.perf_counter()
    for h in HORIZONS:
        t = time.perf_counter()
        train(h)
        phases[f"train_h{h}"] = time.perf_counter() - t
    t = time.perf_counter()
    cvar_run(24)
    phases["cvar_by_regime"] = time.perf_counter() - t
    t = time.perf_counter()
    detect()
    phases["detect"] = time.perf_counter() - t
    return {"seconds": time.perf_counter() - t0, "phases": phases}


def child_ours(root: str) -> dict:
    import io

    from meta_supervisor.adapters.actions import Actions
    from meta_supervisor.files.history import Partitions, cycle_windows
    from meta_supervisor.files.workspace import Workspace
    from meta_supervisor.jobs import evaluate, train

    quiet = Actions(env={}, out=io.StringIO())
    t0 = time.perf_counter()
    # The history is read once and shared by train, the CVaR cells and the detectors.
    settings = Workspace.open(root).settings
    windows = cycle_windows(Partitions.open(root), settings)
    t1 = time.perf_counter()
    train.run(root, actions=quiet, windows=windows)
    t2 = time.perf_counter()
    h = settings.evaluate.horizon
    res = evaluate.run(root, dry_run=True, actions=quiet, env={}, window=windows[h][-settings.evaluate.window_rows :])
    t3 = time.perf_counter()
    return {
        "seconds": t3 - t0,
        "phases": {"load": t1 - t0, "train": t2 - t1, "evaluate": t3 - t2},
        "alerts": len(res.alerts),
        "verdicts": len(res.verdicts),
    }


def child_job(job: str, root: str) -> dict:
    """One job alone, as a workflow runs it (its own history read): `train` or `evaluate`
    (dry run; on a cold root the detectors replay the window)."""
    import io

    from meta_supervisor.adapters.actions import Actions
    from meta_supervisor.jobs import evaluate, train

    quiet = Actions(env={}, out=io.StringIO())
    t0 = time.perf_counter()
    if job == "train":
        train.run(root, actions=quiet)
    else:
        evaluate.run(root, dry_run=True, actions=quiet, env={})
    return {"seconds": time.perf_counter() - t0, "phases": {}}


def child_main(argv) -> None:
    t_start = time.perf_counter()
    kind = argv[0]
    if kind == "seed":
        result = child_seed(argv[1], argv[2])
    elif kind == "ours":
        result = child_ours(argv[1])
    elif kind in ("train", "evaluate"):
        result = child_job(kind, argv[1])
    elif kind == "profile":
        import cProfile
        import io
        import pstats

        prof = cProfile.Profile()
        prof.enable()
        child_ours(argv[1])
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(35)
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(20)
        result = {"profile": buf.getvalue()}
    else:
        raise SystemExit(f"unknown child {kind}")
    result["peak_rss_mb"] = _peak_mb()
    result["process_seconds"] = time.perf_counter() - t_start
    print("RESULT " + json.dumps(result))


BLAS_THREADS: int | None = 1


def run_child(*args) -> dict:
    t0 = time.perf_counter()
    env = dict(os.environ)
    if BLAS_THREADS is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(BLAS_THREADS)
    proc = subprocess.run(
        [sys.executable, __file__, "--child", *map(str, args)], cwd=REPO, capture_output=True, text=True, env=env
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{proc.stdout}\n{proc.stderr}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT ") :])
    result["wall_with_startup"] = wall
    return result


# ---------------------------------------------------------------------------------------------
# Driver.


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": mem,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "msgspec": msgspec.__version__,
        "platform": platform.platform(),
    }


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = 1_000_000 if text.endswith("m") else 1000 if text.endswith("k") else 1
    return int(float(text.rstrip("mk")) * mult)


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k" if n % 1000 == 0 else str(n)


def median(xs):
    return sorted(xs)[len(xs) // 2]


def bench_size(n: int, args) -> dict:
    data = dataset(n, args.events_per_hour, args.seed)
    meta = json.loads((data / "meta.json").read_text())
    root = OUT / "roots" / f"n{n}"
    make_root(data, root)
    out = {"rows": n, "dataset": meta}
    print(f"\n## {label(n)} rows: {meta['months']} monthly partitions, {meta['bytes'] / 1e6:.0f} MB", flush=True)
    if not args.skip_seed:
        out["seed"] = run_child("seed", data / "alpha" / "reconciled.jsonl", root / "seed_out")
        print(
            f"seed:   {out['seed']['seconds']:8.2f} s  {out['seed']['peak_rss_mb']:7.0f} MB  "
            f"{ {k: round(v, 2) for k, v in out['seed']['phases'].items()} }",
            flush=True,
        )
    colds = []
    for _ in range(args.repeat):
        reset_cold(root)
        colds.append(run_child("ours", root))
    out["cold_runs"] = colds
    out["cold"] = sorted(colds, key=lambda r: r["seconds"])[len(colds) // 2]
    print(
        f"cold:   {out['cold']['seconds']:8.3f} s  {out['cold']['peak_rss_mb']:7.0f} MB  "
        f"{ {k: round(v, 3) for k, v in out['cold']['phases'].items()} }",
        flush=True,
    )
    for job in ("train", "evaluate"):  # each job alone, as the workflows run them (cold root)
        runs = []
        for _ in range(args.repeat):
            reset_cold(root)
            runs.append(run_child(job, root))
        out[f"{job}_alone"] = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        print(
            f"{job} alone: {out[f'{job}_alone']['seconds']:8.3f} s  {out[f'{job}_alone']['peak_rss_mb']:7.0f} MB",
            flush=True,
        )
    reset_cold(root)
    run_child("ours", root)
    # That cold run is the warm-up: models and detector state now exist. Append 10k rows.
    snap = root.parent / f"n{n}-warm"
    snapshot_state(root, snap)
    out["appended_rows"] = append_rows(data, root)
    steadies = []
    for _ in range(args.repeat):
        restore_state(root, snap)
        steadies.append(run_child("ours", root))
    out["steady_runs"] = steadies
    out["steady"] = sorted(steadies, key=lambda r: r["seconds"])[len(steadies) // 2]
    print(
        f"steady: {out['steady']['seconds']:8.3f} s  {out['steady']['peak_rss_mb']:7.0f} MB  "
        f"{ {k: round(v, 3) for k, v in out['steady']['phases'].items()} }",
        flush=True,
    )
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(snap, ignore_errors=True)
    return out


def table(results: list[dict]) -> str:
    lines = [
        "| rows | approach | seconds | peak RSS MB | speedup vs seed | memory vs seed |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        seed = r.get("seed")
        for name, key in (
            ("seed (re-reads the whole history per module)", "seed"),
            ("ours, cold (train + evaluate, no state)", "cold"),
            ("ours, steady state (+10k rows)", "steady"),
            ("ours, train job alone (own read, cold)", "train_alone"),
            ("ours, evaluate job alone (own read, cold detectors)", "evaluate_alone"),
        ):
            m = r.get(key)
            if m is None:
                continue
            # a job alone does part of the cycle: no speedup against the seed's whole cycle
            whole = key in ("cold", "steady")
            speed = "1x" if key == "seed" else f"{seed['seconds'] / m['seconds']:.0f}x" if seed and whole else "-"
            memr = f"{m['peak_rss_mb'] / seed['peak_rss_mb']:.2f}" if seed and (whole or key == "seed") else "-"
            lines.append(
                f"| {label(r['rows'])} | {name} | {m['seconds']:.3f} | {m['peak_rss_mb']:.0f} | {speed} | {memr} |"
            )
    return "\n".join(lines)


def steady_ratio(results: list[dict]) -> str:
    by = {r["rows"]: r for r in results}
    small = min(by)
    lines = []
    for key in ("steady",):
        for n in sorted(by):
            if n == small or key not in by[n]:
                continue
            ratio = by[n][key]["seconds"] / by[small][key]["seconds"]
            lines.append(f"{key} {label(n)} / {label(small)}: {ratio:.2f}x (goal <= 1.2x)")
    return "\n".join(lines)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--child":
        child_main(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="200k,300k,1M", help="comma list, e.g. 200k,300k,1M,2M")
    ap.add_argument(
        "--events-per-hour",
        type=float,
        default=40.0,
        help="signal rate (3 rows each): sets how many rows a month holds (default 40)",
    )
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=3, help="runs of ours per size (median reported)")
    ap.add_argument("--skip-seed", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the bench roots under bench/out/roots")
    ap.add_argument(
        "--blas-threads",
        type=int,
        default=1,
        help="OPENBLAS/OMP threads in the children (default 1; 0 = library default)",
    )
    ap.add_argument("--profile", choices=["cold", "steady"], help="cProfile our cycle on the first size")
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",")]
    global BLAS_THREADS
    BLAS_THREADS = args.blas_threads or None
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    print("machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), flush=True)

    if args.profile:
        n = sizes[0]
        data = dataset(n, args.events_per_hour, args.seed)
        root = OUT / "roots" / f"profile-n{n}"
        make_root(data, root)
        if args.profile == "steady":
            run_child("ours", root)
            append_rows(data, root)
        print(run_child("profile", root)["profile"])
        shutil.rmtree(root, ignore_errors=True)
        return 0

    results = [bench_size(n, args) for n in sizes]
    print("\n" + table(results))
    if len(results) > 1:
        print("\n" + steady_ratio(results))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = OUT / f"cycle-{stamp}.json"
    path.write_text(json.dumps({"machine": info, "args": vars(args), "results": results}, indent=2))
    print(f"\nraw results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
