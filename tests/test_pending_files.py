"""Pending events in size-capped files under state/pending/: no state file passes
history.max_file_mb whatever the fleet, the results equal an uncapped run, and the commit stays
one atomic rename (files written in the bank the record does not name, before the record naming
them; the other bank deleted after)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from meta_supervisor.core.errors import UserError
from meta_supervisor.files import reconcile_state
from meta_supervisor.jobs import reconcile
from tests.conftest import make_root, read_rows, write_jsonl
from tests.test_reconcile import ev, tick

CAP_MB = 0.1  # about 300 pending events a file
NOW = "2026-10-05T00:00:00Z"
LATER = "2026-10-06T06:00:00Z"


def _world(root: Path, max_file_mb: float) -> Path:
    make_root(root, supervisor=f"history:\n  max_file_mb: {max_file_mb}\n")
    prices = [
        tick(f"2026-10-{1 + i // 24:02d}T{i % 24:02d}:00:00Z", 100 + (i % 7), s)
        for i in range(24 * 6)
        for s in ("BTC", "ETH")
    ]
    write_jsonl(root / "data/prices.jsonl", prices)
    # 2,400 signals over the 20 hours before NOW: most still wait for their 24 h (or 4 h) exit
    events = [
        ev(f"e{i:05d}", f"2026-10-04T{4 + i // 150:02d}:{i % 60:02d}:{i % 7:02d}Z", symbol=("BTC", "ETH")[i % 2])
        for i in range(2400)
    ]
    write_jsonl(root / "data/alpha_events.jsonl", events)
    return root


def _state_files(root: Path) -> dict[str, int]:
    return {p.relative_to(root).as_posix(): p.stat().st_size for p in (root / "state").rglob("*") if p.is_file()}


def _outcome(root: Path):
    """What a run leaves, whatever the files it is cut into."""
    rows = sorted(read_rows(root), key=lambda r: (r["event_id"], r["horizon_hours"]))
    report = json.loads((root / "state/reconcile_report.json").read_text())
    return rows, reconcile_state.load(root).pending, report


def test_capped_pending_files_keep_every_state_file_under_the_cap_and_change_nothing(tmp_path):
    capped = _world(tmp_path / "capped", CAP_MB)
    uncapped = _world(tmp_path / "uncapped", 45.0)
    for now in (NOW, LATER):
        first = reconcile.run(capped, now=now)
        second = reconcile.run(uncapped, now=now)
        assert (first.rows_written, first.pending) == (second.rows_written, second.pending)
        assert _outcome(capped) == _outcome(uncapped)
        sizes = _state_files(capped)
        assert max(sizes.values()) <= CAP_MB * 1024 * 1024, sizes
        if now == NOW:
            pending = [n for n in sizes if n.startswith("state/pending/")]
            assert first.pending == 2400 and len(pending) > 3  # the cap split the list
            assert len([n for n in _state_files(uncapped) if n.startswith("state/pending/")]) == 1
            assert max(_state_files(uncapped).values()) > CAP_MB * 1024 * 1024
    # every event has matured: the pending files are gone, and the record names none
    assert first.pending == 0 and not list((capped / "state/pending").iterdir())
    assert json.loads((capped / "state/reconcile_state.json").read_text())["pending_files"] == {}


def _named(root: Path) -> dict:
    return json.loads((root / "state/reconcile_state.json").read_text())["pending_files"]


def test_files_of_a_run_that_died_before_its_commit_are_ignored_then_deleted(tmp_path):
    root = _world(tmp_path / "r", CAP_MB)
    reconcile.run(root, now=NOW)
    before = reconcile_state.load(root).pending
    named = _named(root)
    assert named and all(n.startswith("a.") for n in named)
    # a run killed before its commit: it wrote the other bank, the record still names bank a
    for name in ("b.000.jsonl", "b.999.jsonl"):
        (root / "state/pending" / name).write_text("not even JSON\n")
    assert reconcile_state.load(root).pending == before
    files = {p.name: p.read_bytes() for p in (root / "state/pending").glob("a.*")}
    record = (root / "state/reconcile_state.json").read_bytes()
    reconcile.run(root, now=NOW)  # nothing new: the same files, the same record, byte for byte
    assert _named(root) == named and (root / "state/reconcile_state.json").read_bytes() == record
    assert {p.name: p.read_bytes() for p in (root / "state/pending").iterdir()} == files  # the strays deleted
    assert reconcile_state.load(root).pending == before
    # a changed list goes to the other bank; the record names it, bank a is deleted after
    reconcile.run(root, now="2026-10-05T07:00:00Z")
    again = _named(root)
    assert again and all(n.startswith("b.") for n in again)
    assert sorted(p.name for p in (root / "state/pending").iterdir()) == sorted(again)
    assert len(reconcile_state.load(root).pending) < len(before)


def test_an_edited_or_missing_pending_file_is_named_in_one_line(tmp_path):
    root = _world(tmp_path / "r", CAP_MB)
    reconcile.run(root, now=NOW)
    name = sorted(_named(root))[1]
    path = root / "state/pending" / name
    saved = path.read_bytes()
    path.write_bytes(saved.replace(b'"macro"', b'"arb__"', 1))
    with pytest.raises(UserError, match=rf"^state/pending/{name}: its bytes are not the ones committed"):
        reconcile_state.load(root)
    path.unlink()
    with pytest.raises(UserError, match=rf"^state/pending/{name} is missing but state/reconcile_state.json names it"):
        reconcile_state.load(root)


def test_a_record_with_pending_inline_still_loads_and_moves_to_files(tmp_path):
    """A record written before pending files existed holds the list itself."""
    root = _world(tmp_path / "r", CAP_MB)
    reconcile.run(root, now=NOW)
    state_path = root / "state/reconcile_state.json"
    doc = json.loads(state_path.read_text())
    inline = [
        json.loads(line)
        for n in sorted(doc.pop("pending_files"))
        for line in (root / "state/pending" / n).read_text().splitlines()
    ]
    shutil.rmtree(root / "state/pending")
    state_path.write_text(json.dumps({**doc, "pending": inline}))
    assert [p.event.event_id for p in reconcile_state.load(root).pending] == [p["event"]["event_id"] for p in inline]
    reconcile.run(root, now=NOW)
    doc = json.loads(state_path.read_text())
    assert "pending" not in doc and len(doc["pending_files"]) > 3
    assert len(reconcile_state.load(root).pending) == len(inline)


def test_a_committed_pending_line_of_the_wrong_shape_is_named_by_file_and_line(tmp_path):
    root = _world(tmp_path / "r", CAP_MB)
    reconcile.run(root, now=NOW)
    name = sorted(_named(root))[0]
    path = root / "state/pending" / name
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = b'{"event": {}, "strategy_class": "macro"}\n'
    path.write_bytes(b"".join(lines))
    state_path = root / "state/reconcile_state.json"
    doc = json.loads(state_path.read_text())
    doc["pending_files"][name] = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    state_path.write_text(json.dumps(doc))
    with pytest.raises(UserError, match=rf"^state/pending/{name}:3: not a pending event \(.*missing required field"):
        reconcile_state.load(root)
