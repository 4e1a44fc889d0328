"""The scripts' shared arguments: `--now` replays a past moment exactly; a bad one is one line, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, read_rows, run_script, write_jsonl
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


def test_an_os_error_is_one_line_and_exit_1(root):
    write_jsonl(root / "data/alpha_events.jsonl", [ev("e1", "2026-11-24T10:00:00Z")])
    write_jsonl(root / "data/prices.jsonl", [tick("2026-11-24T10:00:00Z", 100.0), tick("2026-11-24T11:00:00Z", 101.0)])
    (root / "state").write_text("a file where the state folder should be\n")
    proc = run_script("reconcile", root)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("reconcile: error: ")
    assert "Traceback" not in proc.stderr


def test_a_bug_is_a_traceback_and_exit_3():
    """A real exception through the real handler (a verb that divides by zero), in a child."""
    code = (
        "import sys; from meta_supervisor import cli\n"
        "cli.VERBS['crash'] = (None, lambda args: 1 // 0)\n"
        "sys.exit(cli.main('crash', ['--root', '.']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert "Traceback" in proc.stderr and "ZeroDivisionError" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("crash: internal error (a bug, exit 3)")
