"""Run a GitHub Actions job's steps locally, in order, the way the runner would (for tests).

    runner = WorkflowRunner(".github/workflows/supervise.yml", workdir=clone, event="schedule",
                            secrets={}, vars={}, github={"token": gh.token, "repository": "acme/trading"},
                            uses={"actions/checkout": noop, "actions/setup-python": setup_python})
    job = runner.run_job("supervise", before_step=lambda step: ...)
    job.status, job.step("Evaluate").outcome, job.step("Evaluate").outputs, job.summary

What is emulated, and how faithfully:
- `run:` steps go through bash as the runner does: `bash -e {0}` without `shell:`, and
  `bash --noprofile --norc -eo pipefail {0}` with `shell: bash`. A `run:` holding `${{` is refused
  (our workflows pass every expression through `env:`).
- `env:` (workflow, job, step; step wins) and `if:` are evaluated by a small expression engine:
  contexts `secrets`, `vars`, `github`, `inputs`, `steps`, `env`; literals; `!`, `&&`, `||`
  (returning an operand, as GitHub does), `==`/`!=` (strings case-insensitive), parentheses, and the
  status functions `success()`, `failure()`, `always()`, `cancelled()` (never cancelled here).
  An `if:` without a status function means `success() && (...)`, as on GitHub.
- `continue-on-error: true`: outcome failure, conclusion success. Step `id`s expose `outcome`,
  `conclusion` and `outputs` (from `$GITHUB_OUTPUT`, including `name<<DELIM` blocks);
  `$GITHUB_ENV` and `$GITHUB_PATH` feed later steps; `$GITHUB_STEP_SUMMARY` is collected.
- `uses:` steps call a handler chosen by the action's name (the part before `@`); an action without
  a handler raises, so a new action in a workflow is a deliberate test change.
- The process environment is NOT inherited: only PATH, HOME, LANG, the GITHUB_*/RUNNER_* variables a
  runner sets, and what the caller passes in `base_env`.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXPR = re.compile(r"\$\{\{(.*?)\}\}", re.S)
STATUS_FUNCS = ("success(", "failure(", "always(", "cancelled(")


# ---- expressions ----------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_*][A-Za-z0-9_-]*|\[[^\]]+\])*)
)""",
    re.X,
)


class ExpressionError(ValueError):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"cannot parse expression at {text[pos:]!r}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _truthy(value) -> bool:
    return value not in (None, False, 0, "", 0.0)


def _as_string(value) -> str:
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    return str(value)


def _number(value) -> float:
    """GitHub's coercion for comparing values of different types: null 0, booleans 1/0, a string its
    number ('' is 0, anything else that is not a number is NaN)."""
    if value is None:
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if not text:
        return 0.0
    try:
        return float(text)
    except ValueError:
        return float("nan")


def _equal(a, b) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    if a is None and b is None:
        return True
    if type(a) is type(b):
        return a == b
    return _number(a) == _number(b)  # e.g. a missing output (null) equals '' as on GitHub


class _Parser:
    """or := and ('||' and)*; and := cmp ('&&' cmp)*; cmp := unary (('=='|'!=') unary)?;
    unary := '!' unary | atom; atom := literal | name | name '(' ')' | '(' or ')'."""

    def __init__(self, text: str, contexts: dict, status: dict):
        self.toks, self.i, self.ctx, self.status = _tokens(text), 0, contexts, status

    def parse(self):
        value = self._or()
        if self.i != len(self.toks):
            raise ExpressionError(f"unexpected {self.toks[self.i][1]!r}")
        return value

    def _peek(self):
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def _take(self):
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def _or(self):
        left = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            left = left if _truthy(left) else right
        return left

    def _and(self):
        left = self._cmp()
        while self._peek() == "&&":
            self._take()
            right = self._cmp()
            left = right if _truthy(left) else left
        return left

    def _cmp(self):
        left = self._unary()
        if self._peek() in ("==", "!="):
            op = self._take()[1]
            right = self._unary()
            return _equal(left, right) if op == "==" else not _equal(left, right)
        return left

    def _unary(self):
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        return self._atom()

    def _atom(self):
        kind, text = self._take()
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind == "num":
            return float(text) if "." in text else int(text)
        if text == "(":
            value = self._or()
            if self._take()[1] != ")":
                raise ExpressionError("missing )")
            return value
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self._peek() == "(":
            self._take()
            if self._take()[1] != ")":
                raise ExpressionError(f"{text}(): only argument-less status functions are supported")
            if text not in self.status:
                raise ExpressionError(f"unsupported function {text}()")
            return self.status[text]()
        return self._lookup(text)

    def _lookup(self, dotted: str):
        parts = re.findall(r"[^.\[\]]+|\[[^\]]+\]", dotted)
        value = self.ctx
        for part in parts:
            key = part[1:-1].strip("'") if part.startswith("[") else part
            if not isinstance(value, dict):
                return None
            value = {k.lower(): v for k, v in value.items()}.get(key.lower())
        return value


def evaluate(text: str, contexts: dict, status: dict | None = None):
    """Evaluate one expression (without the `${{ }}`)."""
    return _Parser(text, contexts, status or {}).parse()


def render(value, contexts: dict) -> str:
    """A YAML scalar with every `${{ expr }}` replaced by its string value."""
    if not isinstance(value, str):
        return _as_string(value)
    return EXPR.sub(lambda m: _as_string(evaluate(m.group(1), contexts)), value)


# ---- results ----------------------------------------------------------------------------------------
@dataclass
class StepResult:
    name: str
    id: str | None
    ran: bool
    outcome: str  # success | failure | skipped
    conclusion: str
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    outputs: dict = field(default_factory=dict)
    env: dict = field(default_factory=dict)


@dataclass
class JobResult:
    steps: list[StepResult]
    status: str  # success | failure
    summary: str

    def step(self, name_or_id: str) -> StepResult:
        for s in self.steps:
            if name_or_id in (s.name, s.id):
                return s
        raise KeyError(name_or_id)

    def log(self) -> str:
        return "\n".join(f"--- {s.name}: {s.outcome} (rc {s.returncode})\n{s.stdout}{s.stderr}" for s in self.steps)


def _read_outputs(path: Path) -> dict[str, str]:
    """`name=value` lines and `name<<DELIM` ... `DELIM` blocks, as the runner parses them."""
    out: dict[str, str] = {}
    if not path.exists():
        return out
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1 : j])
            i = j + 1
            continue
        if "=" in line:
            name, value = line.split("=", 1)
            out[name] = value
        i += 1
    return out


# ---- the runner -------------------------------------------------------------------------------------
UsesHandler = Callable[["StepContext"], int]


@dataclass
class StepContext:
    """What a `uses:` handler sees and may change (e.g. prepend to `path`)."""

    step: dict
    with_: dict
    env: dict
    workdir: Path
    path: list[str]


class WorkflowRunner:
    def __init__(
        self,
        workflow: str | Path,
        workdir: str | Path,
        *,
        event: str = "workflow_dispatch",
        inputs: dict | None = None,
        secrets: dict | None = None,
        vars: dict | None = None,
        github: dict | None = None,
        uses: dict[str, UsesHandler] | None = None,
        base_env: dict | None = None,
        step_timeout_s: float = 300,
        doc: dict | None = None,
    ):
        self.path = Path(workflow)
        self.doc = doc if doc is not None else yaml.safe_load(self.path.read_text(encoding="utf-8"))
        self.workdir = Path(workdir)
        self.event = event
        self.inputs = self._inputs(inputs or {}) if event == "workflow_dispatch" else {}
        self.secrets = dict(secrets or {})
        self.vars = dict(vars or {})
        self.github = {
            "event_name": event,
            "ref_name": "main",
            "ref": "refs/heads/main",
            "repository": "acme/trading",
            "server_url": "https://github.com",
            "api_url": "https://api.github.com",
            "run_id": "4242",
            "token": "",
            **(github or {}),
        }
        self.uses = dict(uses or {})
        self.base_env = dict(base_env or {})
        self.step_timeout_s = step_timeout_s

    def _inputs(self, given: dict) -> dict:
        """workflow_dispatch inputs with their declared defaults and types (booleans stay booleans)."""
        on = self.doc.get("on", self.doc.get(True, {}))  # PyYAML reads a bare `on` key as True
        declared = ((on or {}).get("workflow_dispatch") or {}).get("inputs") or {}
        out = {}
        for name, spec in declared.items():
            value = given.get(name, spec.get("default"))
            if spec.get("type") == "boolean":
                value = value if isinstance(value, bool) else str(value).lower() == "true"
            out[name] = value
        unknown = set(given) - set(declared)
        if unknown:
            raise ValueError(f"inputs not declared by {self.path.name}: {sorted(unknown)}")
        return out

    def run_job(self, job_id: str, before_step: Callable[[dict], None] | None = None) -> JobResult:
        job = self.doc["jobs"][job_id]
        results: list[StepResult] = []
        steps_ctx: dict[str, dict] = {}
        extra_env: dict[str, str] = {}  # from $GITHUB_ENV
        path: list[str] = []  # from $GITHUB_PATH and uses handlers (prepended)
        summary: list[str] = []
        failed = False
        status = {
            "success": lambda: not failed,
            "failure": lambda: failed,
            "always": lambda: True,
            "cancelled": lambda: False,
        }

        with tempfile.TemporaryDirectory(prefix="runner-") as tmp_name:
            tmp = Path(tmp_name)
            for n, step in enumerate(job["steps"]):
                name = step.get("name") or step.get("id") or step.get("uses") or f"step {n}"
                sid = step.get("id")
                contexts = {
                    "secrets": self.secrets,
                    "vars": self.vars,
                    "github": self.github,
                    "inputs": self.inputs,
                    "steps": steps_ctx,
                    "env": {},
                }
                # As on GitHub, a step's `if:` sees the workflow's and the job's env (not its own).
                for scope in (self.doc.get("env") or {}, job.get("env") or {}):
                    for key, value in scope.items():
                        contexts["env"][key] = render(value, contexts)
                cond = str(step.get("if", "success()")).strip()
                m = re.fullmatch(r"\$\{\{(.*)\}\}", cond, re.S)
                cond = m.group(1).strip() if m else cond
                if not any(f in cond for f in STATUS_FUNCS):
                    cond = f"success() && ({cond})"
                if not _truthy(evaluate(cond, contexts, status)):
                    res = StepResult(name, sid, False, "skipped", "skipped")
                    results.append(res)
                    if sid:
                        steps_ctx[sid] = {"outcome": "skipped", "conclusion": "skipped", "outputs": {}}
                    continue
                if before_step is not None:
                    before_step(step)

                env = self._env(job, step, contexts, extra_env, tmp, n)
                env["PATH"] = os.pathsep.join([*path, env["PATH"]])
                if "run" in step:
                    rc, out, err = self._run(step, env)
                elif "uses" in step:
                    rc, out, err = self._uses(step, env, contexts, path), "", ""
                else:
                    raise ValueError(f"step {name!r} has neither run nor uses")

                outputs = _read_outputs(Path(env["GITHUB_OUTPUT"]))
                extra_env.update(_read_outputs(Path(env["GITHUB_ENV"])))
                gh_path = Path(env["GITHUB_PATH"])
                if gh_path.exists():
                    path[:0] = [p for p in reversed(gh_path.read_text().splitlines()) if p]
                step_summary = Path(env["GITHUB_STEP_SUMMARY"])
                if step_summary.exists():
                    summary.append(step_summary.read_text(encoding="utf-8"))

                outcome = "success" if rc == 0 else "failure"
                conclusion = "success" if rc == 0 or _truthy(step.get("continue-on-error")) else "failure"
                if conclusion == "failure":
                    failed = True
                results.append(StepResult(name, sid, True, outcome, conclusion, rc, out, err, outputs, env))
                if sid:
                    steps_ctx[sid] = {"outcome": outcome, "conclusion": conclusion, "outputs": outputs}

        return JobResult(results, "failure" if failed else "success", "".join(summary))

    def _env(self, job: dict, step: dict, contexts: dict, extra_env: dict, tmp: Path, n: int) -> dict:
        files = {}
        for var, stem in (
            ("GITHUB_OUTPUT", "output"),
            ("GITHUB_ENV", "env"),
            ("GITHUB_PATH", "path"),
            ("GITHUB_STEP_SUMMARY", "summary"),
        ):
            files[var] = str(tmp / f"{stem}_{n}")
            Path(files[var]).touch()
        g = self.github
        env = {
            "PATH": self.base_env.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "HOME": self.base_env.get("HOME", str(tmp)),
            "LANG": "C.UTF-8",
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "RUNNER_OS": "Linux",
            "RUNNER_TEMP": str(tmp),
            "GITHUB_WORKSPACE": str(self.workdir),
            "GITHUB_EVENT_NAME": self.event,
            "GITHUB_REPOSITORY": g["repository"],
            "GITHUB_REPOSITORY_OWNER": g["repository"].split("/")[0],
            "GITHUB_REF": g["ref"],
            "GITHUB_REF_NAME": g["ref_name"],
            "GITHUB_REF_TYPE": "branch",
            "GITHUB_SERVER_URL": g["server_url"],
            "GITHUB_API_URL": g["api_url"],
            "GITHUB_RUN_ID": str(g["run_id"]),
            "GITHUB_RUN_ATTEMPT": "1",
            "GITHUB_WORKFLOW": str(self.doc.get("name", self.path.stem)),
            **files,
        }
        env.update({k: v for k, v in self.base_env.items() if k not in ("PATH",)})
        env.update(extra_env)
        for scope in (self.doc.get("env") or {}, job.get("env") or {}, step.get("env") or {}):
            contexts["env"] = dict(env)
            for key, value in scope.items():
                env[key] = render(value, contexts)
        return env

    def _run(self, step: dict, env: dict) -> tuple[int, str, str]:
        script = step["run"]
        if "${{" in script:
            raise ValueError(f"step {step.get('name')!r}: expressions inside run: are not allowed (use env:)")
        shell = step.get("shell")
        if shell is None:
            argv = ["bash", "-e"]
        elif shell == "bash":
            argv = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
        else:
            raise ValueError(f"shell {shell!r} is not emulated")
        with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=env["RUNNER_TEMP"], delete=False) as f:
            f.write(script)
        cwd = self.workdir / step.get("working-directory", ".")
        proc = subprocess.run(
            [*argv, f.name], cwd=cwd, env=env, capture_output=True, text=True, timeout=self.step_timeout_s
        )
        return proc.returncode, proc.stdout, proc.stderr

    def _uses(self, step: dict, env: dict, contexts: dict, path: list[str]) -> int:
        action = step["uses"].split("@", 1)[0]
        handler = self.uses.get(action)
        if handler is None:
            raise ValueError(f"no emulation for uses: {step['uses']}")
        with_ = {k: render(v, contexts) for k, v in (step.get("with") or {}).items()}
        return handler(StepContext(step, with_, env, self.workdir, path))


# ---- composite actions ------------------------------------------------------------------------------
def composite(action_dir: Path, uses: dict[str, UsesHandler], github: dict, base_env: dict) -> UsesHandler:
    """A `uses:` handler running the composite action in `action_dir` (its action.yml `runs.steps`)
    as a nested job: `inputs` from the step's `with:` and the declared defaults (an undeclared input,
    or a missing required one, raises), `github.action_path` set, the calling step's $GITHUB_ENV and
    $GITHUB_PATH effects kept inside, the action's `outputs` written to the caller's $GITHUB_OUTPUT.
    The nested job's result is appended to `handler.results` for the test to look at."""
    doc = yaml.safe_load((Path(action_dir) / "action.yml").read_text(encoding="utf-8"))
    assert doc["runs"]["using"] == "composite"
    declared = doc.get("inputs") or {}

    def handler(ctx: StepContext) -> int:
        unknown = set(ctx.with_) - set(declared)
        if unknown:
            raise ValueError(f"inputs not declared by {action_dir}/action.yml: {sorted(unknown)}")
        inputs = {}
        for name, spec in declared.items():
            if name not in ctx.with_ and spec.get("required") and "default" not in spec:
                raise ValueError(f"required input {name!r} not given")
            inputs[name] = ctx.with_.get(name, spec.get("default", ""))
        runner = WorkflowRunner(
            Path(action_dir) / "action.yml",
            ctx.workdir,
            doc={"name": doc.get("name"), "jobs": {"composite": {"steps": doc["runs"]["steps"]}}},
            github={**github, "action_path": str(action_dir)},
            uses=uses,
            base_env=base_env,
        )
        runner.inputs = inputs
        job = runner.run_job("composite", before_step=handler.before_step)
        handler.results.append(job)
        steps_ctx = {s.id: {"outputs": s.outputs, "outcome": s.outcome} for s in job.steps if s.id}
        contexts = {"steps": steps_ctx, "inputs": inputs, "github": runner.github, "env": {}, "vars": {}, "secrets": {}}
        with open(ctx.env["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
            for name, spec in (doc.get("outputs") or {}).items():
                out.write(f"{name}={render(spec.get('value', ''), contexts)}\n")
        return 0 if job.status == "success" else 1

    handler.results = []  # type: ignore[attr-defined]
    handler.before_step = None  # type: ignore[attr-defined]  # called before each of the action's steps
    return handler
