"""state/history/: a bounded record of every cell and detector stream per evaluate run, and the
ES trajectory the PR body draws from it."""

from __future__ import annotations

import json

from meta_supervisor.core.history_record import es_series, record
from meta_supervisor.files import eval_history
from meta_supervisor.jobs import evaluate
from tests.test_evaluate import _world, put_rows, rows_for


def _records(root):
    return eval_history.read(root)


def test_each_run_that_changed_something_appends_one_record_and_an_unchanged_one_nothing(root):
    _world(root)
    evaluate.run(root, now="2026-11-28T01:00:00Z")
    (rec,) = _records(root)
    assert rec["at"] == "2026-11-28T01:00:00Z" and rec["regime"] == "TREND"
    n, es, low, high, limit, es_sigma, limit_sigma = rec["cells"]["macro"]["TREND"]
    assert n == 400 and low <= es <= high and limit == 120.0 and es_sigma > 0 and limit_sigma is None
    assert rec["streams"] and all(len(v) == 3 for s in rec["streams"].values() for v in s.values())
    evaluate.run(root, now="2026-11-28T02:00:00Z")  # nothing new: same evidence
    assert len(_records(root)) == 1
    put_rows(root, rows_for("macro", "TREND", 60, tail_bps=900.0, start=30000, seed=7, every_minutes=30))
    evaluate.run(root, now="2026-11-28T03:00:00Z")
    assert [r["at"] for r in _records(root)] == ["2026-11-28T01:00:00Z", "2026-11-28T03:00:00Z"]
    assert evaluate.run(root, dry_run=True, now="2026-11-28T04:00:00Z") and len(_records(root)) == 2  # same evidence


def test_the_pr_body_draws_the_trajectory_once_the_evidence_moved(root):
    _world(root)
    evaluate.run(root, now="2026-11-28T01:00:00Z")
    first = (root / "outbox/pulls/macro.md").read_text()
    assert "CVaR95 over time" not in first  # one point is no trajectory
    put_rows(root, rows_for("macro", "TREND", 60, tail_bps=900.0, start=30000, seed=7, every_minutes=30))
    evaluate.run(root, now="2026-11-28T03:00:00Z")
    body = (root / "outbox/pulls/macro.md").read_text()
    assert "### CVaR95 over time in `TREND`" in body
    chart = body[body.index("CVaR95 (bps) over 2 runs") :]
    assert 'x-axis "runs with new evidence" 1 --> 2' in chart and "line [120, 120]" in chart
    marker = body[body.index("meta-supervisor:evidence") :]
    assert "trajectory" not in marker  # the hidden marker stays small


def test_history_is_bounded_by_days_whatever_the_run_count(tmp_path):
    cells = {"macro": {"TREND": {"n": 1, "cvar95_error_bps": 1.0, "cvar95_ci_bps": [0.0, 2.0], "limit_bps": 5.0}}}
    for day in range(120):
        for hour in range(0, 24, 6):
            cells["macro"]["TREND"]["n"] += 1  # new evidence every run
            at = f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}T{hour:02d}:00:00Z"
            assert eval_history.append(tmp_path, record(at, "TREND", cells, None), days=30)
    files = sorted((tmp_path / "state/history").glob("*.jsonl"))
    # 28-day months here: 2026-04-08 .. 04-28 and 05-01 .. 05-08, the files of the last 30 calendar days
    assert len(files) == 29 and files[0].stem == "2026-04-08" and files[-1].stem == "2026-05-08"
    assert sum(f.stat().st_size for f in files) < 31 * 4 * 200


def test_a_torn_last_line_is_skipped_and_closed_off(tmp_path):
    cells = {"m": {"R": {"n": 1, "cvar95_error_bps": 1.0, "cvar95_ci_bps": [0.0, 2.0], "limit_bps": 5.0}}}
    eval_history.append(tmp_path, record("2026-11-28T01:00:00Z", "R", cells, None), days=30)
    path = tmp_path / "state/history/2026-11-28.jsonl"
    path.write_bytes(path.read_bytes() + b'{"at": "2026-11-28T02:0')  # a run killed mid-write
    cells["m"]["R"]["cvar95_error_bps"] = 2.0
    eval_history.append(tmp_path, record("2026-11-28T03:00:00Z", "R", cells, None), days=30)
    assert [r["at"] for r in eval_history.read(tmp_path)] == ["2026-11-28T01:00:00Z", "2026-11-28T03:00:00Z"]
    assert es_series(eval_history.read(tmp_path), "m", "R") == [
        ("2026-11-28T01:00:00Z", 1.0, 0.0, 5.0),
        ("2026-11-28T03:00:00Z", 2.0, 0.0, 5.0),
    ]
    assert json.loads(path.read_text().splitlines()[-1])["at"] == "2026-11-28T03:00:00Z"
