"""scripts/commit_state.sh against real git: a bare "remote", clones, races and conflicts."""

from __future__ import annotations

import json
import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import git, git_env, refuse_pushes_to_main

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "commit_state.sh"
BOT = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"


def write(path: Path, text: str, append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a" if append else "w", encoding="utf-8") as handle:
        handle.write(text)


@pytest.fixture
def world(tmp_path):
    """A bare remote seeded with state/, policy/ and data/, and a working clone `a`."""
    home = tmp_path / "home"
    home.mkdir()
    env = git_env(home)
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "--quiet", "--bare", str(remote), env=env)
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "--quiet", str(remote), str(seed), env=env)
    write(seed / "state/reconciled/2026-11.jsonl", '{"event_id": "e1"}\n')
    write(seed / "state/models/ridge_h24.json", '{"ok": true}\n')
    write(seed / "policy/strategy_kill_list.yaml", "macro:\n  status: ENABLED\n")
    write(seed / "data/alpha_events.jsonl", '{"event_id": "e1"}\n')
    git(seed, "add", "-A", env=env)
    git(seed, "commit", "--quiet", "-m", "seed", env=env)
    git(seed, "push", "--quiet", "origin", "main", env=env)
    clone = tmp_path / "a"
    git(tmp_path, "clone", "--quiet", f"file://{remote}", str(clone), env=env)

    class World:
        pass

    w = World()
    w.tmp, w.env, w.remote, w.seed, w.clone = tmp_path, env, remote, seed, clone
    return w


def run_commit_state(cwd: Path, env: dict, **extra) -> subprocess.CompletedProcess:
    full = {**env, "COMMIT_STATE_SLEEP_SCALE": "0", **extra}
    return subprocess.run(["bash", str(SCRIPT)], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)


def remote_head(w) -> str:
    return git(w.remote, "rev-parse", "refs/heads/main", env=w.env)


def files_of(w, rev: str) -> list[str]:
    return git(w.remote, "diff-tree", "--no-commit-id", "--name-only", "-r", rev, env=w.env).splitlines()


def push_from_other_clone(w, name: str, path: str, text: str, append: bool = True) -> str:
    other = w.tmp / name
    if not other.exists():
        git(w.tmp, "clone", "--quiet", str(w.remote), str(other), env=w.env)
    git(other, "pull", "--quiet", "--ff-only", env=w.env)
    write(other / path, text, append=append)
    git(other, "commit", "--quiet", "-am", f"{name}: edit {path}", env=w.env)
    git(other, "push", "--quiet", "origin", "main", env=w.env)
    return git(other, "rev-parse", "HEAD", env=w.env)


def test_commits_only_state_as_the_bot_with_a_descriptive_message(world):
    w = world
    write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "e2"}\n{"event_id": "e3"}\n', append=True)
    write(w.clone / "state/reconciled/2026-12.jsonl", '{"event_id": "e4"}\n')
    write(
        w.clone / "state/models/train_report.json",
        '{"horizons": {"1": {"decision": "kept"}, "24": {"decision": "promoted"}}}\n',
    )
    write(w.clone / "state/divergence_alerts.json", '{"alerts": [{"agent": "a"}, {"agent": "b"}, {"agent": "c"}]}\n')
    write(w.clone / "policy/strategy_kill_list.yaml", "macro:\n  status: DISABLED\n")  # a human's edit
    write(w.clone / "data/alpha_events.jsonl", '{"event_id": "e9"}\n', append=True)  # new input
    write(w.clone / "outbox/mail/x.eml", "mail\n")
    git(w.clone, "add", "policy/strategy_kill_list.yaml", env=w.env)  # even a staged change stays out

    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stderr

    head = remote_head(w)
    assert git(w.remote, "log", "-1", "--format=%an <%ae>", head, env=w.env) == BOT
    assert git(w.remote, "log", "-1", "--format=%cn <%ce>", head, env=w.env) == BOT
    assert sorted(files_of(w, head)) == [
        "state/divergence_alerts.json",
        "state/models/train_report.json",
        "state/reconciled/2026-11.jsonl",
        "state/reconciled/2026-12.jsonl",
    ]
    message = git(w.remote, "log", "-1", "--format=%B", head, env=w.env)
    subject = message.splitlines()[0]
    assert subject == "state: reconcile +3 rows; models h24 promoted; 3 alerts"
    assert "M state/reconciled/2026-11.jsonl (+2 -0)" in message
    assert "A state/reconciled/2026-12.jsonl (+1 -0)" in message
    # The other changes are still in the working tree (and the index), uncommitted.
    status = git(w.clone, "status", "--porcelain", env=w.env)
    assert "M  policy/strategy_kill_list.yaml" in status
    assert " M data/alpha_events.jsonl" in status
    assert "?? outbox/" in status
    assert "reconcile +3 rows" in proc.stdout


def test_writes_step_outputs(world, tmp_path):
    w = world
    out = tmp_path / "gh_output"
    write(w.clone / "state/models/ridge_h24.json", '{"ok": false}\n')
    proc = run_commit_state(w.clone, w.env, GITHUB_OUTPUT=str(out))
    assert proc.returncode == 0, proc.stderr
    lines = out.read_text().splitlines()
    assert "committed=true" in lines and "pushed=true" in lines
    assert f"sha={remote_head(w)}" in lines
    assert git(w.remote, "log", "-1", "--format=%s", env=w.env) == "state: update 1 file"


def test_nothing_changed_means_no_commit(world, tmp_path):
    w = world
    before = remote_head(w)
    write(w.clone / "policy/strategy_kill_list.yaml", "macro:\n  status: DISABLED\n")
    write(w.clone / "data/prices.jsonl", '{"ts": "x"}\n')
    out = tmp_path / "gh_output"
    proc = run_commit_state(w.clone, w.env, GITHUB_OUTPUT=str(out))
    assert proc.returncode == 0, proc.stderr
    assert "nothing changed under state/" in proc.stdout
    assert remote_head(w) == before
    assert git(w.clone, "rev-parse", "HEAD", env=w.env) == before
    assert "committed=false" in out.read_text().splitlines()


def test_a_push_that_landed_before_the_run_is_rebased_onto(world):
    w = world
    other = push_from_other_clone(w, "b", "data/alpha_events.jsonl", '{"event_id": "e5"}\n')
    write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "e2"}\n', append=True)
    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stderr
    head = remote_head(w)
    assert git(w.remote, "rev-parse", f"{head}^", env=w.env) == other
    assert files_of(w, head) == ["state/reconciled/2026-11.jsonl"]


def test_a_push_racing_the_bot_push_is_survived_by_the_retry(world):
    """The first `git push` loses a race: a pre-push hook (run once) pushes from another clone after
    our fetch, so the remote rejects our stale update; the retry fetches, rebases and pushes."""
    w = world
    other = w.tmp / "b"
    git(w.tmp, "clone", "--quiet", str(w.remote), str(other), env=w.env)
    write(other / "data/alpha_events.jsonl", '{"event_id": "e7"}\n', append=True)
    git(other, "commit", "--quiet", "-am", "trading system: new events", env=w.env)
    marker = w.tmp / "hook-ran"
    hook = w.clone / ".git/hooks/pre-push"
    hook.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        f"if [ ! -e '{marker}' ]; then\n"
        f"  touch '{marker}'\n"
        "  unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE GIT_PREFIX\n"
        f"  git -C '{other}' push --quiet origin main\n"
        "fi\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    write(w.clone / "state/reconciled/2026-12.jsonl", '{"event_id": "e8"}\n')

    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert marker.exists()
    assert "attempt 1/5" in proc.stdout and "attempt 2/5" in proc.stdout, proc.stdout
    head = remote_head(w)
    theirs = git(other, "rev-parse", "HEAD", env=w.env)
    assert git(w.remote, "rev-parse", f"{head}^", env=w.env) == theirs  # both commits on the remote
    assert git(w.remote, "log", "-1", "--format=%an", head, env=w.env) == "github-actions[bot]"
    assert files_of(w, head) == ["state/reconciled/2026-12.jsonl"]


def test_state_published_by_another_writer_fails_loudly_and_pushes_nothing(world):
    w = world
    theirs = push_from_other_clone(w, "b", "state/reconciled/2026-11.jsonl", '{"event_id": "theirs"}\n')
    write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "ours"}\n', append=True)
    write(w.clone / "data/alpha_events.jsonl", '{"event_id": "local"}\n', append=True)

    proc = run_commit_state(w.clone, w.env, GITHUB_ACTIONS="true")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "another writer changed: state/reconciled/2026-11.jsonl." in proc.stderr
    assert "::error title=commit_state::" in proc.stdout
    assert remote_head(w) == theirs  # nothing pushed
    assert not (w.clone / ".git/rebase-merge").exists()  # nothing was rebased
    assert '"ours"' in (w.clone / "state/reconciled/2026-11.jsonl").read_text()  # the run's state kept
    assert '"local"' in (w.clone / "data/alpha_events.jsonl").read_text()  # other files untouched


def test_gives_up_after_the_configured_tries(world):
    w = world
    write(w.clone / "state/models/ridge_h24.json", '{"ok": false}\n')
    hook = w.clone / ".git/hooks/pre-push"
    hook.write_text("#!/bin/sh\necho 'remote says no' >&2\nexit 1\n")
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    before = remote_head(w)
    proc = run_commit_state(w.clone, w.env, COMMIT_STATE_MAX_TRIES="3")
    assert proc.returncode == 2
    assert "failed 3 times" in proc.stderr
    assert proc.stdout.count("retrying in 0s") == 2
    assert remote_head(w) == before


def test_pushes_the_branch_named_by_github_ref_name(world):
    w = world
    git(w.clone, "checkout", "--quiet", "-b", "ops", env=w.env)
    write(w.clone / "state/models/ridge_h24.json", '{"ok": false}\n')
    proc = run_commit_state(w.clone, w.env, GITHUB_REF_NAME="ops", GITHUB_REF_TYPE="branch")
    assert proc.returncode == 0, proc.stderr
    assert git(w.remote, "log", "-1", "--format=%an", "refs/heads/ops", env=w.env) == "github-actions[bot]"
    assert git(w.remote, "log", "-1", "--format=%an", "refs/heads/main", env=w.env) == "A Human"


def test_rejects_bad_settings(world):
    proc = run_commit_state(world.clone, world.env, COMMIT_STATE_MAX_TRIES="zero")
    assert proc.returncode == 1
    assert "COMMIT_STATE_MAX_TRIES" in proc.stderr


def test_works_in_a_shallow_single_commit_checkout(world):
    """actions/checkout fetches one commit (fetch-depth: 1); the rebase still finds its base."""
    w = world
    shallow = w.tmp / "shallow"
    git(w.tmp, "clone", "--quiet", "--depth", "1", f"file://{w.remote}", str(shallow), env=w.env)
    other = push_from_other_clone(w, "b", "data/alpha_events.jsonl", '{"event_id": "e5"}\n')
    write(shallow / "state/reconciled/2026-11.jsonl", '{"event_id": "e2"}\n', append=True)
    proc = run_commit_state(shallow, w.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(w.remote, "rev-parse", "refs/heads/main^", env=w.env) == other


class _GitHTTP:
    """`git http-backend` behind HTTP Basic auth on 127.0.0.1 (user x-access-token, one token)."""

    def __init__(self, project_root: Path, token: str):
        import base64
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        expected = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.auth_seen: list[str] = []

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _serve(self):
                auth = self.headers.get("Authorization", "")
                outer.auth_seen.append(auth)
                if auth != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    "PATH": os.environ["PATH"],
                    "GIT_PROJECT_ROOT": str(project_root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REMOTE_USER": "x-access-token",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_LENGTH": str(len(body)),
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_CONFIG_NOSYSTEM": "1",
                }
                out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
                head, _, payload = out.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode().split("\r\n"):
                    key, _, value = line.partition(":")
                    if key.lower() == "status":
                        status = int(value.split()[0])
                    elif key:
                        headers.append((key, value.strip()))
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_pushes_over_http_with_the_token_from_the_environment_only(world):
    """COMMIT_STATE_TOKEN reaches the server through the credential helper, and nowhere else."""
    w = world
    token = "ghs_test_token_123"
    server = _GitHTTP(w.tmp, token)
    try:
        git(w.clone, "remote", "set-url", "origin", f"{server.url}/remote.git", env=w.env)
        write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "e2"}\n', append=True)
        proc = run_commit_state(w.clone, w.env, COMMIT_STATE_TOKEN=token)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert git(w.remote, "log", "-1", "--format=%an", env=w.env) == "github-actions[bot]"
        write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "e3"}\n', append=True)
        without = run_commit_state(w.clone, w.env, COMMIT_STATE_MAX_TRIES="1")  # no token: refused
        assert without.returncode == 2, without.stdout + without.stderr
    finally:
        server.close()
    assert any(a.startswith("Basic ") for a in server.auth_seen)
    assert token not in (w.clone / ".git/config").read_text()
    assert token not in proc.stdout + proc.stderr


def test_a_commit_the_remote_dropped_by_force_push_is_never_republished(world):
    """The runner checked out a commit that the remote then removed (a leaked secret, force-pushed
    away): the state commit goes on the remote's new tip and holds state/ only."""
    w = world
    seed_head = remote_head(w)
    write(w.seed / "data/leak.txt", "AKIA-SECRET\n")
    git(w.seed, "add", "-A", env=w.env)
    git(w.seed, "commit", "--quiet", "-m", "oops: a secret", env=w.env)
    git(w.seed, "push", "--quiet", "origin", "main", env=w.env)
    git(w.clone, "pull", "--quiet", "--ff-only", env=w.env)  # the runner has the leak checked out
    leak = git(w.clone, "rev-parse", "HEAD", env=w.env)
    git(w.seed, "reset", "--quiet", "--hard", seed_head, env=w.env)
    git(w.seed, "push", "--quiet", "--force", "origin", "main", env=w.env)  # removed on the remote

    write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "e2"}\n', append=True)
    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = remote_head(w)
    assert git(w.remote, "rev-parse", f"{head}^", env=w.env) == seed_head
    assert files_of(w, head) == ["state/reconciled/2026-11.jsonl"]
    reachable = git(w.remote, "rev-list", "refs/heads/main", env=w.env).splitlines()
    assert leak not in reachable
    assert "data/leak.txt" not in git(w.remote, "ls-tree", "-r", "--name-only", head, env=w.env).splitlines()


def test_local_commits_and_staged_files_outside_state_stay_local(world):
    w = world
    write(w.clone / "policy/strategy_kill_list.yaml", "macro:\n  status: DISABLED\n")
    git(w.clone, "commit", "--quiet", "-am", "a local edit of the policy", env=w.env)
    write(w.clone / "data/alpha_events.jsonl", '{"event_id": "staged"}\n', append=True)
    git(w.clone, "add", "data/alpha_events.jsonl", env=w.env)
    write(w.clone / "state/models/ridge_h24.json", '{"ok": false}\n')
    before = remote_head(w)
    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    head = remote_head(w)
    assert git(w.remote, "rev-parse", f"{head}^", env=w.env) == before
    assert files_of(w, head) == ["state/models/ridge_h24.json"]
    assert "DISABLED" not in git(w.remote, "show", f"{head}:policy/strategy_kill_list.yaml", env=w.env)


def test_help_prints_usage_and_commits_nothing(world):
    w = world
    write(w.clone / "state/models/ridge_h24.json", '{"ok": false}\n')
    before = remote_head(w)
    for args in (["--help"], ["-h"]):
        proc = subprocess.run(["bash", str(SCRIPT), *args], cwd=w.clone, env=w.env, capture_output=True, text=True)
        assert proc.returncode == 0 and "Usage: commit_state.sh" in proc.stdout
    for args in (["--dry-run"], ["state"], ["-h", "x"]):
        proc = subprocess.run(["bash", str(SCRIPT), *args], cwd=w.clone, env=w.env, capture_output=True, text=True)
        assert proc.returncode == 1 and "commit_state: error:" in proc.stderr, args
    assert remote_head(w) == before
    assert git(w.clone, "rev-parse", "HEAD", env=w.env) == before


def test_a_run_that_changed_only_volatile_fields_makes_no_commit(world):
    w = world
    report = {"generated_at": "2026-11-24T10:00:00Z", "rows_written": 12, "rejected_count": 0, "dropped": []}
    alerts = {"generated_at": "2026-11-24T10:00:00Z", "alerts": [{"key": "agent:a1:x", "status": "open"}]}
    write(w.clone / "state/reconcile_report.json", json.dumps(report))
    write(w.clone / "state/divergence_alerts.json", json.dumps(alerts))
    assert run_commit_state(w.clone, w.env).returncode == 0
    before = remote_head(w)
    # the next hour: nothing new, only the stamps and an idle run report
    idle = {"generated_at": "2026-11-24T11:00:00Z", "rows_written": 0, "rejected_count": 0, "dropped": []}
    write(w.clone / "state/reconcile_report.json", json.dumps(idle))
    write(w.clone / "state/divergence_alerts.json", json.dumps({**alerts, "generated_at": "2026-11-24T11:00:00Z"}))
    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "only volatile fields changed" in proc.stdout
    assert remote_head(w) == before
    # an alert that changed is news
    changed = {**alerts, "alerts": [{"key": "agent:a1:x", "status": "cleared"}]}
    write(w.clone / "state/divergence_alerts.json", json.dumps(changed))
    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0 and remote_head(w) != before, proc.stdout + proc.stderr
    # a run that rejected lines is news too, even without rows
    write(w.clone / "state/reconcile_report.json", json.dumps({**idle, "rejected_count": 2}))
    assert "only volatile" not in run_commit_state(w.clone, w.env).stdout


def test_two_runs_in_one_job_each_build_on_the_last(world):
    w = world
    write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "e2"}\n', append=True)
    assert run_commit_state(w.clone, w.env).returncode == 0
    first = remote_head(w)
    write(w.clone / "state/models/ridge_h24.json", '{"ok": 2}\n')
    proc = run_commit_state(w.clone, w.env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(w.remote, "rev-parse", "refs/heads/main^", env=w.env) == first


# ---- the state branch (STATE_BRANCH): the default branch is never pushed ---------------------------

CHECKOUT = REPO / "scripts" / "checkout_state.sh"


def run_checkout_state(cwd: Path, env: dict, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECKOUT)], cwd=cwd, env={**env, **extra}, capture_output=True, text=True)


def test_with_a_state_branch_state_goes_there_and_main_is_never_pushed(world):
    w = world
    refuse_pushes_to_main(w.remote)
    main_before = remote_head(w)
    # the seeded repository still has state/ on main; with a state branch it is not read from there
    first = run_checkout_state(w.clone, w.env, STATE_BRANCH="ms-state")
    assert first.returncode == 0 and "does not exist yet" in first.stdout
    assert not (w.clone / "state").exists()
    write(w.clone / "state/reconciled/2026-11.jsonl", '{"event_id": "s1"}\n')
    proc = run_commit_state(w.clone, w.env, STATE_BRANCH="ms-state")
    assert proc.returncode == 0, proc.stderr
    tip = git(w.remote, "rev-parse", "refs/heads/ms-state", env=w.env)
    assert git(w.remote, "ls-tree", "-r", "--name-only", tip, env=w.env).splitlines() == [
        "state/reconciled/2026-11.jsonl"
    ]
    assert git(w.remote, "rev-list", "--count", tip, env=w.env) == "1"  # its own history: no parent
    assert remote_head(w) == main_before
    assert git(w.clone, "rev-parse", "HEAD", env=w.env) == main_before  # the checkout did not move
    # without a state branch the same push is refused by the protected main
    refused = run_commit_state(w.clone, w.env, COMMIT_STATE_MAX_TRIES="1")
    assert refused.returncode == 2 and remote_head(w) == main_before


def test_the_next_run_reads_the_state_branch_and_builds_on_it(world):
    w = world
    refuse_pushes_to_main(w.remote)
    run_checkout_state(w.clone, w.env, STATE_BRANCH="ms-state")
    write(w.clone / "state/a.json", '{"n": 1}\n')
    assert run_commit_state(w.clone, w.env, STATE_BRANCH="ms-state").returncode == 0
    other = w.tmp / "b"  # the next job: a fresh checkout of main
    git(w.tmp, "clone", "--quiet", f"file://{w.remote}", str(other), env=w.env)
    got = run_checkout_state(other, w.env, STATE_BRANCH="ms-state")
    assert got.returncode == 0 and (other / "state/a.json").read_text() == '{"n": 1}\n'
    assert not (other / "state/models").exists()  # main's old state/ was replaced, not merged
    write(other / "state/a.json", '{"n": 2}\n')
    second = run_commit_state(other, w.env, STATE_BRANCH="ms-state")
    assert second.returncode == 0, second.stdout + second.stderr
    tip = git(w.remote, "rev-parse", "refs/heads/ms-state", env=w.env)
    assert git(w.remote, "rev-list", "--count", tip, env=w.env) == "2"
    assert git(w.remote, "show", f"{tip}:state/a.json", env=w.env) == '{"n": 2}'
    # a writer that did not start from the branch's tip is refused (exit 3), nothing pushed
    write(w.clone / "state/a.json", '{"n": 99}\n')
    late = run_commit_state(w.clone, w.env, STATE_BRANCH="ms-state")
    assert late.returncode == 3 and git(w.remote, "rev-parse", "refs/heads/ms-state", env=w.env) == tip


def test_a_state_branch_that_cannot_be_read_stops_the_job(world):
    w = world
    proc = run_checkout_state(w.clone, w.env, STATE_BRANCH="ms-state", COMMIT_STATE_REMOTE="nowhere")
    assert proc.returncode == 2 and "not starting from an empty state" in proc.stderr
