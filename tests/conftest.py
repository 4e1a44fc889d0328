"""Shared helpers: build a realistic root folder on disk and run the real scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

KILL_LIST = """\
# Kill list used by tests.
macro:
  status: ENABLED   # ENABLED | DISABLED
  by_regime:
    TREND:
      max_cvar_error_bps: 120
    RANGE:
      max_cvar_error_bps: 90
arb:
  by_regime:
    TREND:
      max_cvar_error_bps: 140
"""


def write_jsonl(path: Path, rows, raw_lines=()) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
        for line in raw_lines:
            handle.write(line + "\n")


def make_root(
    root: Path, *, kill_list: str = KILL_LIST, agents: dict | None = None, supervisor: str | None = None
) -> Path:
    (root / "policy").mkdir(parents=True, exist_ok=True)
    (root / "policy/strategy_kill_list.yaml").write_text(kill_list)
    agents = agents if agents is not None else {"a1": "macro", "a2": "arb"}
    (root / "policy/agents.yaml").write_text("".join(f"{a}: {s}\n" for a, s in agents.items()))
    if supervisor is not None:
        (root / "policy/supervisor.yaml").write_text(supervisor)
    return root


def run_script(name: str, root: Path, *args, env=None, check=False):
    """Run scripts/<name>.py as a user would; returns CompletedProcess (text)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SENDGRID_", "META_EMAIL"))}
    full_env.update(env or {})
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / f"{name}.py"), "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{name} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "state/reconciled").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def git_env(home: Path) -> dict:
    """An environment isolated from the user's git config (and from Actions/secret variables),
    with a human identity for test commits."""
    home.mkdir(parents=True, exist_ok=True)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("GIT_", "GITHUB_", "COMMIT_STATE_", "SENDGRID_", "META_"))
    }
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    env.update(
        HOME=str(home),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=str(home / ".gitconfig"),
        GIT_AUTHOR_NAME="A Human",
        GIT_AUTHOR_EMAIL="human@example.com",
        GIT_COMMITTER_NAME="A Human",
        GIT_COMMITTER_EMAIL="human@example.com",
    )
    return env


def git(cwd: Path, *args, env: dict) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{proc.stdout}{proc.stderr}")
    return proc.stdout.rstrip("\n")


@pytest.fixture
def root(tmp_path):
    return make_root(tmp_path / "repo")


@pytest.fixture(autouse=True)
def _fresh_run_deadline():
    """The external-call budget is per process (one run in production); each test is a run."""
    from meta_supervisor.adapters import deadline

    deadline._SHARED = None
    yield
    deadline._SHARED = None


def refuse_pushes_to_main(bare: Path) -> None:
    """Make the bare repository `bare` refuse every push to main (a fully protected default branch)."""
    hook = bare / "hooks/pre-receive"
    hook.write_text(
        "#!/bin/sh\nwhile read old new ref; do\n"
        '  [ "$ref" = refs/heads/main ] && { echo protected >&2; exit 1; }\ndone\nexit 0\n'
    )
    hook.chmod(0o755)
