"""The scripts' shared arguments: `--now` replays a past moment exactly; a bad one is one line, exit 1."""

from __future__ import annotations

import json

from tests.conftest import read_rows, run_script, write_jsonl
from tests.test_reconcile import ev, tick


def test_now_stamps_the_run_as_of_that_moment(root):
    write_jsonl(root / "data/alpha_events.jsonl", [ev("e1", "2026-11-24T10:00:00Z")])
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T10:00:00Z", 100.0), tick("2026-11-24T11:00:00Z", 101.0)])
    run_script("reconcile", root, "--now", "2026-11-24T12:30:00+01:00", check=True)
    assert {r["reconciled_at"] for r in read_rows(root)} == {"2026-11-24T11:30:00Z"}
    report = json.loads((root / "state/reconcile_report.json").read_text())
    assert report["generated_at"] == "2026-11-24T11:30:00Z"


def test_a_bad_now_is_one_line_and_exit_1(root):
    for verb in ("reconcile", "train", "evaluate"):
        proc = run_script(verb, root, "--now", "yesterday")
        assert proc.returncode == 1 and proc.stdout == ""
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith(f"{verb}: error: --now 'yesterday'")
    proc = run_script("evaluate", root, "--now", "2026-11-24T10:00:00")  # no zone: a guess
    assert proc.returncode == 1 and "has no timezone" in proc.stderr
