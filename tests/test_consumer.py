"""Consumption by pin: a consumer repository holding only policy/, data/ and the two workflows of
examples/ (which use this project's composite action, action.yml), run through the workflow runner
emulation against the fake GitHub: supervise, train, then new data and supervise twice. The state
lands on the state branch (main refuses every push), the models are committed there, one PR is
opened and then converged on; the consumer never holds a copy of this project's code."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from meta_supervisor.core import synth
from meta_supervisor.core.timeutil import HOUR, parse_ts
from tests.conftest import git, git_env, refuse_pushes_to_main
from tests.fakes.github_api import FakeGitHub
from tests.test_workflows import DAYS, KILL_LIST, SPLIT_DAY, START, _jsonl, checkout, setup_python
from tests.workflow_runner import WorkflowRunner, composite

REPO = Path(__file__).resolve().parents[1]
PIN = "acme/meta-supervisor@" + "1" * 40
STATE_BRANCH = "meta-supervisor-state"
ACTION_FILES = [
    "action.yml",
    "pyproject.toml",
    "README.md",
    "requirements.txt",
    "requirements.lock",
    "meta_supervisor",
    "scripts",
]


@pytest.fixture
def consumer(tmp_path):
    env = git_env(tmp_path / "home")
    seed = tmp_path / "seed"
    (seed / "policy").mkdir(parents=True)
    (seed / "data").mkdir()
    (seed / ".github/workflows").mkdir(parents=True)
    (seed / "policy/strategy_kill_list.yaml").write_text(KILL_LIST)
    (seed / "policy/agents.yaml").write_text("".join(f"{a}: {s}\n" for s, ags in synth.STRATEGIES.items() for a in ags))
    for name in ("supervise.yml", "train.yml"):
        text = (REPO / "examples" / name).read_text()
        (seed / ".github/workflows" / name).write_text(text.replace("acme/meta-supervisor@" + "0" * 40, PIN))
    world = synth.make_world(START, DAYS, seed=7, diverge_from=START + (SPLIT_DAY + 2) * 24 * HOUR)
    split = START + SPLIT_DAY * 24 * HOUR
    old = [e for e in world.events if parse_ts(e["ts"]) < split]
    old_prices = [p for p in world.prices if parse_ts(p["ts"]) < split]
    _jsonl(seed / "data/alpha_events.jsonl", old)
    _jsonl(seed / "data/prices.jsonl", old_prices)
    git(seed, "init", "--quiet", "--initial-branch", "main", env=env)
    git(seed, "add", "-A", env=env)
    git(seed, "commit", "--quiet", "-m", "policy, data and the workflows", env=env)
    origin = tmp_path / "origin.git"
    git(tmp_path, "clone", "--quiet", "--bare", str(seed), str(origin), env=env)
    refuse_pushes_to_main(origin)
    # the action as GitHub would check it out at the pinned commit: this project's files, elsewhere
    action = tmp_path / "_actions/acme/meta-supervisor"
    action.mkdir(parents=True)
    for item in ACTION_FILES:
        src = REPO / item
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        (shutil.copytree(src, action / item, ignore=ignore) if src.is_dir() else shutil.copy2(src, action / item))

    class C:
        pass

    c = C()
    c.tmp, c.env, c.seed, c.origin, c.action, c.world, c.n_old = tmp_path, env, seed, origin, action, world, len(old)
    c.n_old_prices = len(old_prices)
    return c


def _run(c, workflow: str, gh: FakeGitHub, event="schedule", inputs=None):
    work = c.tmp / "work"
    if work.exists():
        shutil.rmtree(work)
    git(c.tmp, "clone", "--quiet", "--depth", "1", "--branch", "main", f"file://{c.origin}", str(work), env=c.env)
    assert not (work / "meta_supervisor").exists() and not (work / "scripts").exists()
    github = {
        "token": gh.token,
        "repository": "acme/trading",
        "api_url": gh.url,
        "ref_name": "main",
        "ref": "refs/heads/main",
    }
    base_env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        **{k: c.env[k] for k in ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL")},
        "PIP_NO_INDEX": "1",  # the venv holds the pinned dependencies: nothing is fetched
        "PIP_NO_BUILD_ISOLATION": "0",  # pip's spelling of "build with the venv's setuptools"
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "COMMIT_STATE_SLEEP_SCALE": "0",
    }
    handlers = {"actions/checkout": checkout, "actions/setup-python": setup_python}
    action = composite(c.action, handlers, github, base_env)
    runner = WorkflowRunner(
        work / ".github/workflows" / workflow,
        work,
        event=event,
        inputs=inputs,
        secrets={},
        vars={"META_SUPERVISOR_STATE_BRANCH": STATE_BRANCH},
        github=github,
        uses={**handlers, "acme/meta-supervisor": action},
        base_env=base_env,
    )
    job = runner.run_job(workflow.removesuffix(".yml"))
    log = job.log() + "".join(r.log() for r in action.results)
    return job, action.results[-1], log


def _state_files(c) -> list[str]:
    tip = git(c.origin, "rev-parse", f"refs/heads/{STATE_BRANCH}", env=c.env)
    return git(c.origin, "ls-tree", "-r", "--name-only", tip, env=c.env).splitlines()


def test_a_consumer_repository_runs_the_whole_cycle_by_pin(consumer):
    c = consumer
    main = git(c.origin, "rev-parse", "refs/heads/main", env=c.env)
    with FakeGitHub(
        owner="acme", repo="trading", default_branch="main", files={"policy/strategy_kill_list.yaml": KILL_LIST}
    ) as gh:
        job, inner, log = _run(c, "supervise.yml", gh)
        assert job.status == "success", log
        assert inner.step("Install meta-supervisor").stdout.strip().endswith("meta-supervisor 0.5.0"), log
        assert "state/reconcile_state.json" in _state_files(c) and gh.pulls == []  # no model yet: no PR

        job, inner, log = _run(c, "train.yml", gh, event="workflow_dispatch", inputs={"horizons": "", "force": False})
        assert job.status == "success", log
        assert "state/models/ridge_h24.json" in _state_files(c)  # models committed on the state branch

        # the trading system appends 20 more days to data/ on main (a person's push, not the bot's)
        other = c.tmp / "producer"
        git(c.tmp, "clone", "--quiet", str(c.origin), str(other), env=c.env)
        _jsonl(other / "data/alpha_events.jsonl", c.world.events[c.n_old :], "ab")
        _jsonl(other / "data/prices.jsonl", c.world.prices[c.n_old_prices :], "ab")
        git(other, "commit", "--quiet", "-am", "trading system: 20 more days", env=c.env)
        git(other, "push", "--quiet", str(c.origin), "HEAD:refs/heads/incoming", env=c.env)
        git(c.origin, "update-ref", "refs/heads/main", "refs/heads/incoming", env=c.env)  # as if merged by a person
        main = git(c.origin, "rev-parse", "refs/heads/main", env=c.env)

        job, inner, log = _run(c, "supervise.yml", gh)
        assert job.status == "success", log
        assert [p["title"] for p in gh.pulls] == ["[AUTO] Disable strategy: macro"], log
        assert inner.step("Commit state").outputs.get("pushed") == "true"
        job, inner, log = _run(c, "supervise.yml", gh)
        assert job.status == "success", log
        assert len(gh.pulls) == 1  # converged: one PR
    assert git(c.origin, "rev-parse", "refs/heads/main", env=c.env) == main  # main never pushed by the bot
    assert not any(f.startswith(("meta_supervisor/", "scripts/")) for f in _state_files(c))
