"""Windows read with checkpoints equal a full read, even when rows arrive late; and they read less."""
from __future__ import annotations

import random

import msgspec
import pytest

from meta_supervisor.errors import UserError
from meta_supervisor import history
from meta_supervisor.history import recent_rows, rows_since
from meta_supervisor.store import Partitions
from meta_supervisor.timeutil import format_ts, month_of, parse_ts

START = parse_ts("2026-09-20T00:00:00Z")


def _row(event_id: str, ts: str, h: int, **extra) -> dict:
    """A reconciled row with every field of the schema (values are not the point here)."""
    row = dict(event_id=event_id, ts=ts, agent="a-1", strategy_class="macro", symbol="BTC",
               side="long", regime="TREND", horizon_hours=h, score_final=0.5, confidence=0.9,
               entry_price=100.0, exit_price=101.0, realized_pnl_bps=100.0, expected_pnl_bps=2.5,
               expected_sigma_bps=None, pnl_error_bps=97.5, abs_error_bps=97.5,
               sim_version="fallback_zero", reconciled_at=ts)
    return {**row, **extra}


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
            row = _row(f"e{k:06d}", ts, h)
            k += 1
            by_part.setdefault(f"{month_of(parse_ts(ts))}.jsonl", []).append((ts, msgspec.json.encode(row)))
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
    read = []  # bytes decoded
    original = history._decode
    monkeypatch.setattr(history, "_decode", lambda parts, name, start, data: read.append(len(data)) or original(parts, name, start, data))
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


def test_rows_decode_to_what_the_writer_wrote(tmp_path):
    """The typed decoder reads back exactly the values reconcile serialized (ints stay numbers,
    null sigma stays None), and a row reads like its dict."""
    rows = [_row("e1", "2026-11-02T10:00:00Z", 24, expected_sigma_bps=12.5, sim_version="ridge_h24@ab",
                 realized_pnl_bps=-3, score_final=1),
            _row("e2", "2026-11-02T10:00:00Z", 24, unknown_extra_field="ignored")]
    parts = Partitions(tmp_path, None)
    out = parts.append({"2026-11.jsonl": [(r["ts"], msgspec.json.encode(r)) for r in rows]})
    window = recent_rows(Partitions(tmp_path, out.partitions), {24: 10})[24]
    for got, wrote in zip(window, rows):
        assert {f: got[f] for f in got.__struct_fields__} == {f: v for f, v in wrote.items() if f != "unknown_extra_field"}
        assert got.get("no_such_field", "default") == "default"
    with pytest.raises(KeyError):
        window[0]["no_such_field"]


@pytest.mark.parametrize("bad, reason", [
    (b'{"event_id":"e9","ts":"2026-11-03T00:00:00Z"', "truncated"),
    (msgspec.json.encode(_row("e9", "2026-11-03T00:00:00Z", 24, realized_pnl_bps="12")), "Expected `float`"),
    (msgspec.json.encode({k: v for k, v in _row("e9", "2026-11-03T00:00:00Z", 24).items() if k != "regime"}),
     "missing required field `regime`"),
])
def test_a_corrupt_row_is_named_by_file_and_line(tmp_path, bad, reason):
    good = [msgspec.json.encode(_row(f"e{i}", f"2026-11-02T1{i}:00:00Z", 24)) for i in range(3)]
    path = tmp_path / "state/reconciled/2026-11.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join(good[:2] + [bad] + good[2:]) + b"\n")
    with pytest.raises(UserError, match=rf"^state/reconciled/2026-11.jsonl:3: not a reconciled row \(.*{reason}"):
        recent_rows(Partitions(tmp_path, None), {24: 10})
