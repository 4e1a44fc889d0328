"""Cell windows: bounded per cell whatever the fleet size, spanning the days, independent of how
rows arrive; evaluate keeps them in state/windows/ and rebuilds them when they are damaged."""

from __future__ import annotations

import json
import random

import pytest

from meta_supervisor.core import cell_windows
from meta_supervisor.core.cell_windows import WindowShape
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.jobs import evaluate
from tests.rows import row
from tests.test_evaluate import _world

SHAPE = WindowShape.of(24, 14, 1344)  # 96 rows a day


def _rows(strategy, regime, per_day, days, start="2026-10-01", seed=0, model=True):
    rng = random.Random(seed)
    t0 = parse_ts(start + "T00:00:00Z")
    out = []
    for d in range(days):
        for i in range(per_day):
            ts = format_ts(t0 + d * 86400 + rng.randrange(86400))
            out.append(
                row(
                    event_id=f"{strategy}-{regime}-{d}-{i}",
                    ts=ts,
                    strategy_class=strategy,
                    regime=regime,
                    horizon_hours=24,
                    realized_pnl_bps=rng.gauss(0, 20),
                    expected_pnl_bps=0.0,
                    expected_sigma_bps=20.0 if model else None,
                    sim_version="ridge_h24@ab" if model else "fallback_zero",
                )
            )
    return out


def _merged(rows, batches=1, seed=0):
    days: dict = {}
    rng = random.Random(seed)
    rows = list(rows)
    rng.shuffle(rows)
    cuts = sorted(rng.sample(range(1, len(rows)), batches - 1)) if batches > 1 else []
    for part in (rows[a:b] for a, b in zip([0, *cuts], [*cuts, len(rows)])):
        cell_windows.merge(days, part, SHAPE)
    return cell_windows.window(days)


def test_a_big_cell_keeps_a_bounded_sample_of_every_day_and_a_small_one_keeps_everything():
    big = _rows("macro", "TREND", 3000, 20, seed=1)  # a 1,000-agent fleet's strategy
    small = _rows("arb", "TREND", 40, 20, seed=2)
    got = _merged(big + small)
    macro = [r for r in got if r.strategy_class == "macro"]
    arb = [r for r in got if r.strategy_class == "arb"]
    macro_days = {r.ts[:10] for r in macro}
    assert len(macro) == 14 * 96 and len(macro_days) == 14  # every day of the window, 96 rows each
    assert min(macro_days) == "2026-10-07" and max(macro_days) == "2026-10-20"
    assert sorted(r.event_id for r in arb) == sorted(r.event_id for r in small if r.ts[:10] >= "2026-10-07")
    # the sample of a day is uniform over it, not its first rows
    hours = [int(r.ts[11:13]) for r in macro]
    assert sum(h < 12 for h in hours) / len(hours) == pytest.approx(0.5, abs=0.06)


@pytest.mark.parametrize("batches", [2, 7, 40])
def test_the_windows_do_not_depend_on_how_the_rows_arrive(batches):
    rows = _rows("macro", "TREND", 300, 18, seed=3) + _rows("macro", "TREND", 50, 18, seed=4, model=False)
    rows += _rows("arb", "RANGE", 20, 30, seed=5)
    assert _merged(rows, batches, seed=batches) == _merged(rows)


def test_fallback_rows_never_crowd_model_rows_out():
    rows = _rows("macro", "TREND", 80, 14, seed=6) + _rows("macro", "TREND", 500, 14, seed=7, model=False)
    got = _merged(rows)
    assert sum(r.sim_version != "fallback_zero" for r in got) == 80 * 14
    assert sum(r.sim_version == "fallback_zero" for r in got) == 96 * 14


def test_each_cell_keeps_its_own_last_days():
    """A regime that has not occurred for weeks keeps its cell's last evidence."""
    old = _rows("macro", "RANGE", 30, 20, start="2026-08-01", seed=8)
    new = _rows("macro", "TREND", 30, 20, start="2026-10-01", seed=9)
    got = _merged(old + new)
    range_days = {r.ts[:10] for r in got if r.regime == "RANGE"}
    assert len(range_days) == 14 and max(range_days) == "2026-08-20"


def test_a_row_seen_twice_is_kept_once():
    rows = _rows("macro", "TREND", 10, 3, seed=10)
    days: dict = {}
    cell_windows.merge(days, rows, SHAPE)
    assert not cell_windows.merge(days, rows[:5], SHAPE)  # nothing changed
    assert cell_windows.window(days) == sorted(rows, key=lambda r: (r.ts, r.event_id))


def test_evaluate_keeps_the_windows_and_rebuilds_damaged_ones(root, capsys):
    _world(root)
    first = evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    cursor = json.loads((root / "state/windows/cursor.json").read_text())
    assert cursor["shape"] == {"horizon": 24, "window_days": 14, "per_day": 96}
    day_files = sorted(p.name for p in (root / "state/windows").glob("*.jsonl"))
    assert day_files and all(len(p) == len("2026-11-01.jsonl") for p in day_files)
    again = evaluate.run(root, dry_run=True, now="2026-11-28T02:00:00Z")
    assert again.cells == first.cells
    (root / "state/windows/cursor.json").write_text("{not json")
    rebuilt = evaluate.run(root, dry_run=True, now="2026-11-28T03:00:00Z")
    assert rebuilt.cells == first.cells
    assert "evidence windows rebuilt from the history: state/windows/cursor.json unreadable" in capsys.readouterr().err
