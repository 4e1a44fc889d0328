"""Windows read with checkpoints equal a full read, even when rows arrive late; and they read less."""
from __future__ import annotations

import random

import orjson
import pytest

from meta_supervisor.history import recent_rows, rows_since
from meta_supervisor.store import Partitions
from meta_supervisor.timeutil import format_ts, month_of, parse_ts

START = parse_ts("2026-09-20T00:00:00Z")


def _simulate(root, seed, runs=300, per_run=30):
    """Hourly reconcile runs: each appends rows that matured, mostly recent signals, some late
    (a symbol that did not tick for days), committing the record after each run."""
    rng = random.Random(seed)
    state = {"partitions": {}, "checkpoints": {}, "max_ts": {}}
    k = 0
    for run in range(runs):
        parts = Partitions(root, state["partitions"], state["checkpoints"], state["max_ts"])
        now = START + run * 3600
        by_part = {}
        for _ in range(rng.randint(0, per_run)):
            h = rng.choice([1, 4, 24])
            lag = rng.choice([h * 3600] * 9 + [rng.randint(h * 3600, 6 * 86400)])
            ts = format_ts(now - lag - rng.randint(0, 3599))
            row = {"event_id": f"e{k:06d}", "ts": ts, "horizon_hours": h}
            k += 1
            by_part.setdefault(f"{month_of(parse_ts(ts))}.jsonl", []).append((ts, orjson.dumps(row)))
        out = parts.append({n: sorted(v) for n, v in by_part.items()})
        state = {"partitions": out.partitions, "checkpoints": out.checkpoints, "max_ts": out.max_ts}
    return state


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("need", [{24: 50}, {1: 300, 4: 200, 24: 100}, {24: 2000}, {4: 1}])
def test_checkpointed_windows_equal_a_full_read(tmp_path, seed, need):
    state = _simulate(tmp_path, seed)
    fast = Partitions(tmp_path, state["partitions"], state["checkpoints"], state["max_ts"])
    full = Partitions(tmp_path, state["partitions"])  # no checkpoints: reads every byte
    assert recent_rows(fast, need) == recent_rows(full, need)


def test_checkpoints_read_only_what_the_window_needs(tmp_path, monkeypatch):
    state = _simulate(tmp_path, 1, runs=600)
    read = []
    original = Partitions.read
    monkeypatch.setattr(Partitions, "read", lambda self, *a, **k: read.append(len(b := original(self, *a, **k))) or b)
    recent_rows(Partitions(tmp_path, state["partitions"], state["checkpoints"], state["max_ts"]), {24: 50})
    fast = sum(read)
    read.clear()
    recent_rows(Partitions(tmp_path, state["partitions"]), {24: 50})
    assert fast * 4 < sum(read)


def test_rows_since_reads_only_new_bytes(tmp_path):
    state = _simulate(tmp_path, 2, runs=50)
    parts = Partitions(tmp_path, state["partitions"])
    rows, cursor = rows_since(parts, {}, 24)
    again, cursor2 = rows_since(parts, cursor, 24)
    assert rows and all(r["horizon_hours"] == 24 for r in rows) and again == [] and cursor2 == cursor
