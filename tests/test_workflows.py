"""The GitHub workflows: structure (pins, permissions, concurrency, no expressions in shell) and
end-to-end runs of their jobs, step by step, in a clone of a local bare "origin" against the fake
GitHub API (tests/workflow_runner.py emulates the runner)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
import yaml

from meta_supervisor.core import synth
from meta_supervisor.core.timeutil import HOUR, parse_ts
from meta_supervisor.jobs.demo import KILL_LIST
from tests.conftest import git, git_env, refuse_pushes_to_main
from tests.fakes.github_api import FakeGitHub
from tests.workflow_runner import JobResult, StepContext, WorkflowRunner, composite, evaluate

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = REPO / ".github" / "workflows"
STATE_WRITERS = ("supervise.yml", "train.yml")
BOT = "github-actions[bot]"
SHA_PIN = re.compile(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w./-]+)@([0-9a-f]{40})\s+#\s*v\d+\.\d+\.\d+\s*$")


def load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))


def triggers(doc: dict) -> dict:
    return doc.get("on", doc.get(True))  # PyYAML 1.1 reads the bare key `on` as True


def all_workflows() -> list[str]:
    return sorted(p.name for p in WORKFLOWS.glob("*.y*ml"))


def steps_of(doc: dict):
    for job_id, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def commit_step(doc: dict) -> dict:
    (step,) = [s for _, s in steps_of(doc) if "commit_state.sh" in s.get("run", "")]
    return step


# ---- structure ------------------------------------------------------------------------------------
def test_the_three_workflows_exist():
    assert {"supervise.yml", "train.yml", "ci.yml"} <= set(all_workflows())


@pytest.mark.parametrize("name", all_workflows())
def test_every_action_is_pinned_to_a_full_sha_with_its_version(name):
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    uses_lines = [line for line in text.splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert uses_lines, f"{name}: no actions?"
    # `uses: ./` is this repository's own action (action.yml), at the commit being run
    for line in [x for x in uses_lines if not re.match(r"^\s*(-\s+)?uses:\s*\./\s", x)]:
        assert SHA_PIN.match(line), f"{name}: not pinned to a 40-hex SHA with a '# vX.Y.Z' comment: {line.strip()}"
    for _, step in steps_of(load(name)):
        if "uses" in step and step["uses"] != "./":
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]


def test_one_action_one_pin_across_workflows():
    pins: dict[str, set] = {}
    for name in all_workflows():
        for line in (WORKFLOWS / name).read_text().splitlines():
            m = SHA_PIN.match(line)
            if m:
                pins.setdefault(m.group(1), set()).add(line.split("@", 1)[1].strip())
    assert all(len(v) == 1 for v in pins.values()), pins


@pytest.mark.parametrize("name", all_workflows())
def test_no_expression_inside_run(name):
    for job_id, step in steps_of(load(name)):
        assert "${{" not in step.get("run", ""), f"{name}/{job_id}/{step.get('name')}: use env: instead"


@pytest.mark.parametrize("name", all_workflows())
def test_least_privilege_and_timeouts(name):
    doc = load(name)
    assert doc.get("permissions") == {}, f"{name}: top-level permissions must be {{}}"
    for job_id, job in doc["jobs"].items():
        assert isinstance(job.get("permissions"), dict), f"{name}/{job_id}: permissions per job"
        assert isinstance(job.get("timeout-minutes"), int) and 0 < job["timeout-minutes"] <= 60
    expected = {
        "supervise.yml": {"supervise": {"contents": "write", "pull-requests": "write", "issues": "write"}},
        "train.yml": {"train": {"contents": "write"}},
        "ci.yml": {"test": {"contents": "read"}},
    }.get(name)
    if expected:
        assert {j: job["permissions"] for j, job in doc["jobs"].items()} == expected


@pytest.mark.parametrize("name", all_workflows())
def test_checkout_keeps_no_credentials(name):
    for _, step in steps_of(load(name)):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False


@pytest.mark.parametrize("name", all_workflows())
def test_secrets_only_in_the_env_of_the_steps_that_need_them(name):
    doc = load(name)
    for scope in [doc, *doc["jobs"].values()]:
        assert "secrets." not in yaml.safe_dump(scope.get("env") or {})
    allowed = {
        "Evaluate": {"GITHUB_TOKEN", "SENDGRID_API_KEY"},
        "Commit state": {"COMMIT_STATE_TOKEN"},
        "Check out state": {"COMMIT_STATE_TOKEN"},  # fetches the state branch
    }
    for _, step in steps_of(doc):
        with_secrets = {k for k, v in (step.get("env") or {}).items() if "secrets." in str(v)}
        assert with_secrets <= allowed.get(step.get("name"), set()), (name, step.get("name"), with_secrets)
        if step.get("uses") != "./":  # our own action takes its token and key as inputs
            assert "secrets." not in yaml.safe_dump(step.get("with") or {})


def test_state_writers_share_one_uncancelled_concurrency_group():
    groups = set()
    for name in STATE_WRITERS:
        conc = load(name)["concurrency"]
        assert conc["cancel-in-progress"] is False, name
        groups.add(conc["group"])
    assert len(groups) == 1 and "${{" not in groups.pop()


ACTION = REPO / "action.yml"


def action_steps() -> list[dict]:
    return yaml.safe_load(ACTION.read_text(encoding="utf-8"))["runs"]["steps"]


def own_action_step(name: str) -> dict:
    (step,) = [s for _, s in steps_of(load(name)) if s.get("uses") == "./"]
    return step


def test_both_state_writers_run_the_composite_action_on_schedule_and_by_hand():
    for name, job in (("supervise.yml", "supervise"), ("train.yml", "train")):
        assert own_action_step(name)["with"]["job"] == job
        assert "schedule" in triggers(load(name)) and "workflow_dispatch" in triggers(load(name))


def test_the_action_commits_state_even_when_an_earlier_step_failed():
    (step,) = [s for s in action_steps() if "commit_state.sh" in s.get("run", "")]
    assert "!cancelled()" in step["if"].replace(" ", "")
    assert (
        evaluate(
            step["if"].strip().removeprefix("${{").removesuffix("}}"),
            {"inputs": {"dry_run": "false"}},
            {"cancelled": lambda: False, "failure": lambda: True, "success": lambda: False, "always": lambda: True},
        )
        is True
    )


def test_the_action_commits_before_it_reports_an_evaluate_failure():
    steps = action_steps()
    names = [s.get("name") for s in steps]
    ev, commit, last = steps[names.index("Evaluate")], names.index("Commit state"), steps[-1]
    assert ev["id"] == "evaluate" and "exit_code=$status" in ev["run"]  # the exit code is kept, not raised
    assert names.index("Evaluate") < commit < len(steps) - 1
    assert "steps.evaluate.outputs.exit_code != '0'" in last["if"] and "!cancelled()" in last["if"]
    assert ev["env"]["GITHUB_TOKEN"] == "${{ inputs.token }}"
    with_ = own_action_step("supervise.yml")["with"]
    assert with_["token"] == "${{ secrets.META_SUPERVISOR_TOKEN || github.token }}"
    assert with_["email_to"] == "${{ vars.META_EMAIL_TO }}"


def test_train_inputs_reach_the_script_through_env():
    doc = load("train.yml")
    inputs = triggers(doc)["workflow_dispatch"]["inputs"]
    assert inputs["horizons"]["type"] == "string" and inputs["horizons"]["default"] == ""
    assert inputs["force"]["type"] == "boolean"
    with_ = own_action_step("train.yml")["with"]
    assert (with_["horizons"], with_["force"]) == ("${{ inputs.horizons }}", "${{ inputs.force }}")
    (train,) = [s for s in action_steps() if s.get("name") == "Train"]
    assert train["env"] == {"HORIZONS": "${{ inputs.horizons }}", "FORCE": "${{ inputs.force }}"}


def test_the_action_has_no_expression_inside_run_and_pins_its_actions():
    for step in action_steps():
        assert "${{" not in step.get("run", ""), step.get("name")
        assert step.get("shell") == "bash" or "uses" in step, step.get("name")  # composite steps name a shell
    for line in ACTION.read_text().splitlines():
        if re.match(r"^\s*(-\s+)?uses:", line):
            assert SHA_PIN.match(line), line
    (setup,) = [s for s in action_steps() if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["with"]["python-version"] == "${{ inputs.python_version }}"


# ---- end to end ----------------------------------------------------------------------------------
START = parse_ts("2026-09-01T00:00:00Z")
DAYS, SPLIT_DAY = 40, 20  # 20 days with a model: a breach needs model rows over several days
PROJECT = [
    "meta_supervisor",
    "scripts",
    ".github",
    "requirements.txt",
    "requirements.lock",
    ".gitignore",
    "action.yml",
    "pyproject.toml",
    "README.md",
]


def _jsonl(path: Path, rows, mode="wb") -> None:
    with open(path, mode) as handle:
        handle.write(b"".join(msgspec.json.encode(r) + b"\n" for r in rows))


def _script(root: Path, name: str, *args) -> None:
    proc = subprocess.run(
        [sys.executable, f"scripts/{name}.py", "--root", ".", *args],
        cwd=root,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "SENDGRID_"))},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A repository as it would live on GitHub: the project's code and workflows, the policy, the
    inputs up to day 20 reconciled and trained on (state/ committed), then a commit from the trading
    system with 20 more days of inputs, which the next supervise run reconciles and evaluates."""
    base = tmp_path_factory.mktemp("template")
    env = git_env(base / "home")
    root = base / "repo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for item in PROJECT:
        src = REPO / item
        (shutil.copytree(src, root / item, ignore=ignore) if src.is_dir() else shutil.copy2(src, root / item))
    (root / "policy").mkdir()
    (root / "data").mkdir()
    (root / "policy/strategy_kill_list.yaml").write_text(KILL_LIST)
    (root / "policy/agents.yaml").write_text(
        "".join(f"{a}: {s}\n" for s, agents in synth.STRATEGIES.items() for a in agents)
    )
    world = synth.make_world(START, DAYS, seed=7, diverge_from=START + (SPLIT_DAY + 2) * 24 * HOUR)
    split = START + SPLIT_DAY * 24 * HOUR
    old_events = [e for e in world.events if parse_ts(e["ts"]) < split]
    old_prices = [p for p in world.prices if parse_ts(p["ts"]) < split]
    _jsonl(root / "data/alpha_events.jsonl", old_events)
    _jsonl(root / "data/prices.jsonl", old_prices)
    _script(root, "reconcile")
    _script(root, "train")
    git(root, "init", "--quiet", env=env)
    git(root, "add", "-A", env=env)
    git(root, "commit", "--quiet", "-m", "meta-supervisor with a month of state", env=env)
    _jsonl(root / "data/alpha_events.jsonl", world.events[len(old_events) :], "ab")
    _jsonl(root / "data/prices.jsonl", world.prices[len(old_prices) :], "ab")
    git(root, "commit", "--quiet", "-am", "trading system: 20 more days", env=env)
    return root


class Repo:
    """A bare origin cloned from the template, a shallow working clone (as actions/checkout makes),
    and helpers to look at the origin."""

    def __init__(self, template: Path, tmp: Path):
        self.tmp = tmp
        self.env = git_env(tmp / "home")
        self.origin = tmp / "origin.git"
        git(tmp, "clone", "--quiet", "--bare", str(template), str(self.origin), env=self.env)
        self.seed_head = self.head()
        self.work = tmp / "work"
        git(
            tmp,
            "clone",
            "--quiet",
            "--depth",
            "1",
            "--branch",
            "main",
            f"file://{self.origin}",
            str(self.work),
            env=self.env,
        )

    def git(self, *args) -> str:
        return git(self.origin, *args, env=self.env)

    def head(self) -> str:
        return git(self.origin, "rev-parse", "refs/heads/main", env=self.env)

    def files(self, rev: str) -> list[str]:
        return self.git("diff-tree", "--no-commit-id", "--name-only", "-r", rev).splitlines()

    def push_from_elsewhere(self, path: str, line: str) -> str:
        other = self.tmp / "elsewhere"
        if not other.exists():
            git(self.tmp, "clone", "--quiet", str(self.origin), str(other), env=self.env)
        git(other, "pull", "--quiet", "--ff-only", env=self.env)
        with open(other / path, "a", encoding="utf-8") as handle:
            handle.write(line)
        git(other, "commit", "--quiet", "-am", f"someone else: {path}", env=self.env)
        git(other, "push", "--quiet", "origin", "main", env=self.env)
        return git(other, "rev-parse", "HEAD", env=self.env)


def checkout(ctx: StepContext) -> int:
    """The clone is the checkout; it must be a git work tree with `origin` and no stored token."""
    assert ctx.with_.get("persist-credentials") == "false"
    assert (ctx.workdir / ".git").exists()
    return 0


def setup_python(ctx: StepContext) -> int:
    assert ctx.with_["python-version"] == f"{sys.version_info[0]}.{sys.version_info[1]}"
    ctx.path.insert(0, str(Path(sys.executable).parent))  # the venv's python (and pip) first on PATH
    return 0


def runner_for(workflow: str, repo: Repo, gh: FakeGitHub, **kw) -> WorkflowRunner:
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        **{k: repo.env[k] for k in ("HOME", "GIT_CONFIG_NOSYSTEM", "GIT_CONFIG_GLOBAL")},
        # The venv already holds requirements.txt: the Install step must find everything offline.
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    github = {
        "token": gh.token,
        "repository": "acme/trading",
        "api_url": gh.url,
        "ref_name": "main",
        "ref": "refs/heads/main",
    }
    handlers = {"actions/checkout": checkout, "actions/setup-python": setup_python}
    # `uses: ./`: this repository's composite action, run from the checkout as the runner would
    # (pip builds the package with the venv's setuptools: nothing is fetched)
    action = composite(repo.work, handlers, github, {**base_env, "PIP_NO_BUILD_ISOLATION": "0"})
    runner = WorkflowRunner(
        WORKFLOWS / workflow, repo.work, base_env=base_env, github=github, uses={**handlers, "./": action}, **kw
    )
    runner.action = action  # type: ignore[attr-defined]
    return runner


def inner(runner) -> JobResult:
    """The steps of the composite action the job ran (the last run of it)."""
    return runner.action.results[-1]


@pytest.fixture
def repo(template, tmp_path):
    return Repo(template, tmp_path)


@pytest.fixture
def gh():
    with FakeGitHub(
        owner="acme", repo="trading", default_branch="main", files={"policy/strategy_kill_list.yaml": KILL_LIST}
    ) as fake:
        yield fake


def _rows_in(repo: Repo, rev: str) -> int:
    numstat = repo.git("diff", "--numstat", f"{rev}^", rev, "--", "state/reconciled")
    return sum(int(line.split("\t")[0]) for line in numstat.splitlines())


def test_supervise_end_to_end_with_a_push_racing_the_commit(repo, gh):
    raced = {}

    def before(step):
        if "commit_state.sh" in step.get("run", ""):  # a person pushes meanwhile
            raced["sha"] = repo.push_from_elsewhere("policy/agents.yaml", "# reviewed by the risk desk\n")

    runner = runner_for("supervise.yml", repo, gh, event="schedule")
    runner.action.before_step = before
    job = runner.run_job("supervise")
    steps = inner(runner)
    assert job.status == "success", job.log() + steps.log()
    # no state branch configured: "Check out state" is skipped, the state goes to main; no train
    assert [(s.name, s.outcome) for s in steps.steps] == [
        ("Set up Python", "success"),
        ("Install meta-supervisor", "success"),
        ("Check out state", "skipped"),
        ("Reconcile", "success"),
        ("Evaluate", "success"),
        ("Train", "skipped"),
        ("Report", "success"),
        ("Commit state", "success"),
        ("Fail if evaluate failed", "skipped"),
    ], steps.log()
    assert steps.step("evaluate").outputs["exit_code"] == "0"
    assert job.step("supervise").outputs["evaluate_exit_code"] == "0"
    assert "## Evaluate" in steps.summary

    # The state commit is on the origin, on top of the racing commit, by the bot, touching state/ only.
    head = repo.head()
    assert repo.git("rev-parse", f"{head}^") == raced["sha"]
    assert repo.git("log", "-1", "--format=%an", head) == BOT
    files = repo.files(head)
    assert files and all(f.startswith("state/") for f in files), files
    assert {"state/strategy_cvar_regime.json", "state/divergence_alerts.json", "state/reconcile_report.json"} <= set(
        files
    )
    assert "state/report/index.html" in files  # the desk's page, published with the state
    subject = repo.git("log", "-1", "--format=%s", head)
    rows = _rows_in(repo, head)
    assert rows > 1000 and subject.startswith(f"state: reconcile +{rows} rows"), subject
    assert re.search(r"; \d+ alerts?$", subject), subject
    assert git(repo.work, "status", "--porcelain", "--", "state", env=repo.env) == ""  # all of it committed
    assert not repo.git("ls-tree", "-r", "--name-only", head, "--", "outbox")

    # The breaching strategy got its auto-disable PR on the (fake) GitHub, and only that one.
    pulls = gh.pulls
    assert [(p["head"], p["title"]) for p in pulls] == [("auto/disable-macro", "[AUTO] Disable strategy: macro")], (
        job.log()
    )
    assert pulls[0]["labels"] == ["auto-disable"]
    edited = gh.file_at("auto/disable-macro", "policy/strategy_kill_list.yaml")
    assert re.search(
        r'\nmacro:\n  status: DISABLED +# ENABLED \| DISABLED\n  disabled_at: "[^"]+Z"\n  disabled_reason: ', edited
    )
    assert edited.count("DISABLED") == KILL_LIST.count("DISABLED") + 1  # nothing else flipped
    assert gh.file_at("main", "policy/strategy_kill_list.yaml") == KILL_LIST

    # A second run converges: no new PR, nothing new to reconcile, no state commit (the report too is
    # byte-identical: it is stamped with the newest history record, not the clock).
    first = repo.head()
    runner2 = runner_for("supervise.yml", repo, gh, event="schedule")
    job2 = runner2.run_job("supervise")
    assert job2.status == "success", inner(runner2).log()
    assert len(gh.pulls) == 1
    assert repo.head() == first, repo.files(repo.head())


def test_supervise_commits_state_when_evaluate_cannot_deliver(repo, gh):
    gh.inject("GET", r"^/repos/acme/trading$", 403, {"message": "Resource not accessible by integration"}, times=1000)
    runner = runner_for("supervise.yml", repo, gh, event="workflow_dispatch")
    job = runner.run_job("supervise")
    steps = inner(runner)
    assert job.status == "failure"
    ev = steps.step("evaluate")
    assert (ev.outcome, ev.outputs["exit_code"]) == ("success", "2"), steps.log()
    assert job.step("supervise").outputs["evaluate_exit_code"] == "2"
    assert steps.step("Commit state").outcome == "success", steps.log()
    last = steps.step("Fail if evaluate failed")
    assert last.outcome == "failure" and "::error title=evaluate::finished" in last.stdout
    head = repo.head()
    assert head != repo.seed_head and repo.git("log", "-1", "--format=%an", head) == BOT
    assert all(f.startswith("state/") for f in repo.files(head))
    assert gh.pulls == []


def test_train_dispatch_with_inputs_commits_the_models(repo, gh):
    runner = runner_for("train.yml", repo, gh, event="workflow_dispatch", inputs={"horizons": "24", "force": True})
    job = runner.run_job("train")
    steps = inner(runner)
    assert job.status == "success", steps.log()
    assert steps.step("Train").env["HORIZONS"] == "24" and steps.step("Train").env["FORCE"] == "true"
    head = repo.head()
    assert repo.git("log", "-1", "--format=%an", head) == BOT
    files = set(repo.files(head))
    assert {"state/models/ridge_h24.json", "state/models/train_report.json"} <= files
    assert "state/models/ridge_h1.json" not in files
    assert all(f.startswith("state/models/") for f in files), files
    assert repo.git("log", "-1", "--format=%s", head) == "state: models h24 promoted"


def test_train_on_schedule_uses_the_defaults(repo, gh):
    runner = runner_for("train.yml", repo, gh, event="schedule")
    job = runner.run_job("train")
    steps = inner(runner)
    assert job.status == "success", steps.log()
    # a schedule has no inputs: they render empty, which the action reads as "all horizons, no force"
    assert steps.step("Train").env["HORIZONS"] == "" and steps.step("Train").env["FORCE"] == ""
    assert "train h=1:" in steps.step("Train").stderr + steps.step("Train").stdout
    assert repo.git("log", "-1", "--format=%s").startswith("state: models")


def test_train_input_is_data_not_shell(repo, gh, tmp_path):
    marker = tmp_path / "pwned"
    runner = runner_for(
        "train.yml",
        repo,
        gh,
        event="workflow_dispatch",
        inputs={"horizons": f"24; touch {marker}; $(touch {marker})", "force": False},
    )
    runner.run_job("train")
    steps = inner(runner)
    assert not marker.exists()
    assert steps.step("Train").outcome == "failure" and "--horizons" in steps.step("Train").stderr
    assert steps.step("Commit state").outcome == "success"  # ran anyway; nothing to commit
    assert "nothing changed under state/" in steps.step("Commit state").stdout
    assert repo.head() == repo.seed_head


def test_supervise_with_a_state_branch_never_pushes_main_even_when_main_refuses_every_push(repo, gh):
    refuse_pushes_to_main(repo.origin)
    vars_ = {"META_SUPERVISOR_STATE_BRANCH": "meta-supervisor-state"}
    runner = runner_for("supervise.yml", repo, gh, event="schedule", vars=vars_)
    job = runner.run_job("supervise")
    assert job.status == "success", inner(runner).log()
    assert inner(runner).step("Check out state").outcome == "success"
    tip = repo.git("rev-parse", "refs/heads/meta-supervisor-state")
    files = repo.git("ls-tree", "-r", "--name-only", tip).splitlines()
    assert files and all(f.startswith("state/") for f in files)
    assert "state/reconcile_state.json" in files and "state/report/index.html" in files
    assert repo.head() == repo.seed_head  # main untouched
    # the next run (a fresh checkout of main) starts from the state branch, reconciles nothing again
    shutil.rmtree(repo.work)
    git(
        repo.tmp,
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--branch",
        "main",
        f"file://{repo.origin}",
        str(repo.work),
        env=repo.env,
    )
    runner2 = runner_for("supervise.yml", repo, gh, event="schedule", vars=vars_)
    again = runner2.run_job("supervise")
    assert again.status == "success", inner(runner2).log()
    rec = inner(runner2).step("Reconcile")
    assert "0 new events" in rec.stderr + rec.stdout
    assert repo.git("rev-parse", "refs/heads/meta-supervisor-state") == tip  # nothing new: no commit
    assert repo.head() == repo.seed_head
