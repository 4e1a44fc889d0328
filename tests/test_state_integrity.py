"""State files checked against each other: history that lost rows, or a lost commit record, is
refused with one line instead of silently re-read or read short."""

from __future__ import annotations

import pytest

from tests.conftest import read_rows, run_script
from tests.test_reconcile import _world


def _reconciled(root):
    _world(root, n_events=300)
    run_script("reconcile", root, check=True)
    return sorted((root / "state/reconciled").glob("*.jsonl"))


def _one_line_refusal(proc, *words):
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    for w in words:
        assert w in proc.stderr, proc.stderr


def test_a_missing_commit_record_beside_history_is_refused_not_reread(root):
    parts = _reconciled(root)
    rows = len(read_rows(root))
    (root / "state/reconcile_state.json").unlink()
    proc = run_script("reconcile", root)
    _one_line_refusal(proc, "state/reconcile_state.json is missing", "git checkout -- state/reconcile_state.json")
    assert len(read_rows(root)) == rows  # nothing appended again (it doubled the history)
    assert sorted((root / "state/reconciled").glob("*.jsonl")) == parts


def test_a_truncated_partition_is_refused_by_every_job(root):
    (part, *_) = _reconciled(root)
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # cut mid-line, far below the committed size
    for verb, args in (("reconcile", ()), ("train", ()), ("evaluate", ("--dry-run",))):
        proc = run_script(verb, root, *args)
        _one_line_refusal(proc, f"state/reconciled/{part.name} has {len(data) // 2} bytes", "were committed")
    assert len(part.read_bytes()) == len(data) // 2  # nothing appended to the torn file


def test_a_deleted_partition_is_refused(root):
    (part, *_) = _reconciled(root)
    part.unlink()
    _one_line_refusal(run_script("evaluate", root, "--dry-run"), f"state/reconciled/{part.name} is missing")


def test_a_partition_edited_in_place_at_the_same_size_is_refused_by_every_job(root):
    (part, *_) = _reconciled(root)
    data = part.read_bytes()
    at = data.index(b'"realized_pnl_bps":') + len(b'"realized_pnl_bps":')
    digit = data[at : at + 1]
    edited = data[:at] + (b"9" if digit != b"9" else b"8") + data[at + 1 :]  # one digit of one row
    assert len(edited) == len(data)
    part.write_bytes(edited)
    for verb, args in (("train", ()), ("evaluate", ("--dry-run",))):  # each reads the partition
        proc = run_script(verb, root, *args)
        _one_line_refusal(proc, f"state/reconciled/{part.name}: its bytes differ from the ones committed")
    # reconcile reads a partition only to append to it, and then checks it first
    from meta_supervisor.core.errors import UserError
    from meta_supervisor.core.records import Row
    from meta_supervisor.files.history import Partitions

    row = Row(**read_rows(root)[0])
    with pytest.raises(UserError, match="its bytes differ from the ones committed"):
        Partitions.open(root).append([row])
    assert part.read_bytes() == edited  # nothing appended
    part.write_bytes(data)  # restored: every job goes on
    assert run_script("evaluate", root, "--dry-run").returncode == 0


def test_history_committed_before_checksums_gets_them_on_the_next_reconcile(root):
    import json

    _reconciled(root)
    path = root / "state/reconcile_state.json"
    doc = json.loads(path.read_text())
    del doc["checksums"]
    path.write_text(json.dumps(doc))
    assert run_script("reconcile", root).returncode == 0
    sums = json.loads(path.read_text())["checksums"]
    assert sorted(sums) == sorted(doc["partitions"]) and all(s.startswith("sha256:") for s in sums.values())


def test_a_record_without_partition_sizes_means_the_same_to_readers_and_to_reconcile(root):
    import json

    _reconciled(root)
    path = root / "state/reconcile_state.json"
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({"version": 1, "events_cursor": doc["events_cursor"]}))  # written by hand
    proc = run_script("evaluate", root, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert " 0 rows of horizon" not in proc.stderr  # the history is read (it was read as empty)
