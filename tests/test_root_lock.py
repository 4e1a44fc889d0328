"""One writer per root (files/lock.py): a second process waits, then stops with one line; two
reconciles started together write every row once."""

from __future__ import annotations

import subprocess
import sys
import time

from meta_supervisor.files.workspace import Workspace
from tests.conftest import REPO, read_rows, run_script, write_jsonl
from tests.test_reconcile import _world

HOLD = (
    "import sys, time; sys.path.insert(0, sys.argv[2])\n"
    "from meta_supervisor.files.workspace import Workspace\n"
    "ws = Workspace.open(sys.argv[1]); print('held', flush=True); time.sleep(float(sys.argv[3]))\n"
)


def _holder(root, seconds):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(root), str(REPO), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_on_a_held_root_waits_then_stops_with_one_line(root):
    holder = _holder(root, 30)
    try:
        started = time.monotonic()
        proc = run_script("reconcile", root, env={"META_SUPERVISOR_LOCK_WAIT_S": "0.5"})
        assert proc.returncode == 1
        assert proc.stderr.count("\n") == 1 and "another meta-supervisor run is using this root" in proc.stderr
        assert 0.4 < time.monotonic() - started < 10
        assert not (root / "state").exists()  # it stopped before touching anything
    finally:
        holder.kill()
        holder.wait()
    assert run_script("reconcile", root, env={"META_SUPERVISOR_LOCK_WAIT_S": "5"}).returncode == 0


def test_a_waiting_run_goes_on_when_the_lock_is_released(root):
    holder = _holder(root, 1.0)
    proc = run_script("reconcile", root, env={"META_SUPERVISOR_LOCK_WAIT_S": "20"})
    holder.wait()
    assert proc.returncode == 0, proc.stderr


def test_two_reconciles_started_together_write_every_row_once(root):
    _world(root, n_events=600)
    env = {"META_SUPERVISOR_LOCK_WAIT_S": "60"}
    cmd = [sys.executable, str(REPO / "scripts/reconcile.py"), "--root", str(root)]
    procs = [subprocess.Popen(cmd, env={**_env(), **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in "ab"]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    rows = read_rows(root)
    keys = [(r["event_id"], r["horizon_hours"]) for r in rows]
    assert len(keys) == len(set(keys)) and len(keys) > 600


def test_one_process_may_open_its_root_many_times_and_lets_go(root):
    first = Workspace.open(root)
    second = Workspace.open(root)  # nested, as the demo's jobs do
    del first, second
    holder = _holder(root, 0.1)  # another process gets it at once
    holder.wait()


def _env():
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SENDGRID_", "META_EMAIL"))}


def test_the_lock_wait_setting_is_checked(root):
    write_jsonl(root / "data/alpha_events.jsonl", [])
    proc = run_script("reconcile", root, env={"META_SUPERVISOR_LOCK_WAIT_S": "forever"})
    assert proc.returncode == 1 and "META_SUPERVISOR_LOCK_WAIT_S" in proc.stderr
