"""The git store by day and by month (history.partition): every job gives the same results on
either, an existing history keeps its recorded layout, and a different setting is named."""

from __future__ import annotations

import io
import json
from pathlib import Path

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.core import synth
from meta_supervisor.core.timeutil import HOUR, format_ts, parse_ts
from meta_supervisor.files import reconcile_state
from meta_supervisor.files.history import Partitions, recent_rows
from meta_supervisor.jobs import demo, evaluate, reconcile, train
from tests.test_object_history import _feed, _outputs, demo_root, replay_world

START = parse_ts("2026-09-01T00:00:00Z")


def _root(base: Path, partition: str | None) -> Path:
    return demo_root(base, **({"partition": partition} if partition else {}))


def test_every_job_gives_the_same_results_by_day_and_by_month(tmp_path):
    """One world fed in five steps, reconcile, train and evaluate at each: the daily and the
    monthly roots end with the same models, cells, windows, detectors, alerts, history records
    and proposals, byte for byte, and hold the same rows."""
    daily = _root(tmp_path / "day", None)  # the default
    monthly = _root(tmp_path / "month", "month")

    def jobs(root, cut):
        reconcile.run(root, now=cut)
        train.run(root, now=cut)
        evaluate.run(root, dry_run=True, env={}, now=cut)

    replay_world([daily, monthly], jobs)
    got, want = _outputs(daily), _outputs(monthly)
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
    assert any(k.startswith("outbox/pulls/") for k in want) and "state/models/ridge_h24.json" in want
    days = sorted(p.name for p in (daily / "state/reconciled").iterdir())
    months = sorted(p.name for p in (monthly / "state/reconciled").iterdir())
    assert len(days) > 30 and all(len(n) == len("2026-09-01.jsonl") for n in days)
    assert months == ["2026-09.jsonl", "2026-10.jsonl"]
    assert reconcile_state.read_commit(daily).layout == "day"
    assert reconcile_state.read_commit(monthly).layout == "month"
    need = {1: 10**6, 4: 10**6, 24: 10**6}
    by_day = recent_rows(Partitions.open(daily), need)
    assert by_day == recent_rows(Partitions.open(monthly), need) and sum(map(len, by_day.values())) > 5000
    report = json.loads((daily / "state/reconcile_report.json").read_text())
    assert all(len(n) == len("2026-09-01.jsonl") for n in report["rows_by_partition"])


def test_an_existing_history_keeps_its_layout_and_a_different_setting_is_a_warning(tmp_path):
    world = synth.make_world(START, 6, seed=3, diverge_from=None)
    root = _root(tmp_path / "r", "month")
    _feed(root, world.events[: len(world.events) // 2], world.prices[: len(world.prices) // 2])
    reconcile.run(root, now=format_ts(START + 3 * 24 * HOUR))
    (root / "policy/supervisor.yaml").write_text(demo.SUPERVISOR)  # the default: day
    _feed(root, world.events[len(world.events) // 2 :], world.prices[len(world.prices) // 2 :])
    out = io.StringIO()
    reconcile.run(root, Actions(out=out), now=format_ts(START + 6 * 24 * HOUR))
    warnings = [line for line in out.getvalue().splitlines() if "history.partition" in line]
    assert warnings == [
        "warning: history.partition is day but state/reconciled/ is written by month "
        "(state/reconcile_state.json): keeping month; moving a history is not automated (docs/history.md, 'Layout')"
    ]
    names = sorted(p.name for p in (root / "state/reconciled").iterdir())
    assert names and all(len(n) == len("2026-09.jsonl") for n in names)
    assert reconcile_state.read_commit(root).layout == "month"
