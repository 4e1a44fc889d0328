"""history.retain_days: reconcile deletes the partition files older than the retained days (after
its commit), never one a pending event or a cell window needs; evaluate's cell windows and
verdicts equal those of a history that keeps everything."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.core.config import settings_from_mapping
from meta_supervisor.core.errors import ConfigError
from meta_supervisor.core.timeutil import HOUR, format_ts, parse_ts
from meta_supervisor.files import reconcile_state
from meta_supervisor.files.history import Partitions, retire
from meta_supervisor.files.reconcile_state import Commit
from meta_supervisor.jobs import evaluate, reconcile
from tests.test_history import _row
from tests.test_history_layouts import START, _root
from tests.test_object_history import replay_world


def _with(root: Path, extra: str) -> Path:
    path = root / "policy/supervisor.yaml"
    path.write_text(path.read_text() + extra)
    return root


def test_old_partitions_are_deleted_after_the_commit_and_the_windows_do_not_change(tmp_path):
    kept = _root(tmp_path / "all", None)
    short = _with(_root(tmp_path / "short", None), "\nhistory:\n  retain_days: 16\n")
    out = io.StringIO()

    def jobs(root, cut):
        reconcile.run(root, Actions(out=out), now=cut)
        evaluate.run(root, dry_run=True, env={}, now=cut)

    cut = replay_world([kept, short], jobs)
    names = sorted(p.name for p in (short / "state/reconciled").iterdir())
    every = sorted(p.name for p in (kept / "state/reconciled").iterdir())
    assert len(names) < len(every) - 15 and set(names) < set(every)
    commit = reconcile_state.read_commit(short)
    assert sorted(commit.partitions) == names and set(commit.checksums) == set(names)
    newest = parse_ts(max(commit.max_ts.values()))
    assert min(commit.spans[n][1] for n in names) >= format_ts(newest - 17 * 86400)
    assert "partition file(s) older than history.retain_days (16)" in out.getvalue()
    for rel in ["state/strategy_cvar_regime.json", "state/divergence_alerts.json"] + [
        f"state/windows/{p.name}"
        for p in (kept / "state/windows").glob("*-*.jsonl")  # cursors name partitions
    ]:
        assert (short / rel).read_bytes() == (kept / rel).read_bytes(), rel
    # windows rebuilt from the history (no state/windows/): the retained days are enough
    for root in (kept, short):
        shutil.rmtree(root / "state/windows")
        evaluate.run(root, dry_run=True, env={}, now=cut)
    days = sorted(p.name for p in (kept / "state/windows").glob("*-*.jsonl"))
    assert len(days) >= 12  # the 14 signal days before the newest signal, less days without rows
    assert [(short / "state/windows" / d).read_bytes() for d in days] == [
        (kept / "state/windows" / d).read_bytes() for d in days
    ]
    assert (short / "state/strategy_cvar_regime.json").read_bytes() == (
        kept / "state/strategy_cvar_regime.json"
    ).read_bytes()
    # the next run reads the shortened history without a complaint (nothing "lost")
    reconcile.run(short, now=format_ts(START + 40 * 24 * HOUR + HOUR))


def test_a_pending_events_period_and_files_without_a_span_are_kept():
    commit = Commit(
        {"2026-11-01.jsonl": 10, "2026-11-02.jsonl": 10, "2026-11-03.jsonl": 10, "2026-11-30.jsonl": 10},
        {},
        {
            "2026-11-01.jsonl": "2026-11-01T09:00:00Z",
            "2026-11-02.jsonl": "2026-11-02T09:00:00Z",
            "2026-11-03.jsonl": "2026-11-03T09:00:00Z",
            "2026-11-30.jsonl": "2026-11-30T09:00:00Z",
        },
        {"2026-11-01.jsonl": "sha256:1"},
        {"2026-11-01.jsonl": ["2026-11-01T00:00:00Z", "2026-11-01T09:00:00Z"]},
        "day",
    )
    later, gone = retire(commit, 14, [])
    assert gone == ["2026-11-01.jsonl", "2026-11-02.jsonl", "2026-11-03.jsonl"]
    assert later.partitions == {"2026-11-30.jsonl": 10} and later.checksums == {} and later.layout == "day"
    # an event of Nov 2, 10:00 still pending: its day's file stays (its rows go there), and the later ones
    _, gone = retire(commit, 14, [parse_ts("2026-11-02T10:00:00Z")])
    assert gone == ["2026-11-01.jsonl"]
    assert retire(Commit({"2026-11.jsonl": 10}), 14, []) == (Commit({"2026-11.jsonl": 10}), [])


def test_a_file_retired_by_a_run_that_died_before_deleting_it_is_deleted_by_the_next(tmp_path):
    rows = [_row("a", "2026-11-01T01:00:00Z", 24), _row("b", "2026-11-20T01:00:00Z", 24)]
    commit = Partitions(tmp_path, None).append(rows)
    later, gone = retire(commit, 14, [])
    assert gone == ["2026-11-01.jsonl"]
    parts = Partitions(tmp_path, later)  # committed without it, the file still there
    assert parts.recover() == ["state/reconciled/2026-11-01.jsonl"]
    assert sorted(p.name for p in (tmp_path / "state/reconciled").iterdir()) == ["2026-11-20.jsonl"]


@pytest.mark.parametrize(
    ("history", "evaluate_", "message"),
    [
        ({"retain_days": 0}, {}, "history: retain_days must be a whole number of days >= 1"),
        ({"retain_days": 10}, {}, "history.retain_days 10 is less than evaluate.window_days 14"),
        ({"retain_days": 30, "location": "s3://b/p"}, {}, "history: retain_days applies to the git store"),
    ],
)
def test_retain_days_is_validated(history, evaluate_, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        settings_from_mapping({"history": history, "evaluate": evaluate_})
    assert settings_from_mapping({"history": {"retain_days": 14}}).history.retain_days == 14
    assert json.loads(json.dumps(settings_from_mapping({}).history.retain_days)) is None
