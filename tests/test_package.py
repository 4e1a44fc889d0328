"""The installable package: a wheel built from pyproject.toml (offline, no build isolation) carries
the `meta-supervisor` console script and the exact runtime pins of requirements.txt; installed
outside this checkout, its verbs run, `--version` answers, and `validate` checks every policy file
(the pre-commit hook's entry)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from meta_supervisor import __version__
from tests.conftest import REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("pkg")
    # Built from a copy: setuptools writes build/ and *.egg-info beside the sources it builds.
    src = out / "src"
    shutil.copytree(REPO / "meta_supervisor", src / "meta_supervisor", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, src / name)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(src), "-w", str(out)],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (wheel,) = out.glob("meta_supervisor-*.whl")
    site = out / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
    )
    return wheel, site


def _console(site: Path, *args, cwd: Path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)  # the installed copy, never this checkout (cwd is elsewhere)
    return subprocess.run(
        [sys.executable, str(site / "bin/meta-supervisor"), *args], capture_output=True, text=True, env=env, cwd=cwd
    )


def _pins(text: str) -> list[str]:
    top = text.split("# transitive")[0]
    return [line.strip() for line in top.splitlines() if line.strip() and not line.startswith("#")]


def test_the_wheel_has_the_console_script_and_the_exact_runtime_pins(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        entry = z.read(f"meta_supervisor-{__version__}.dist-info/entry_points.txt").decode()
        meta = z.read(f"meta_supervisor-{__version__}.dist-info/METADATA").decode()
    assert "meta-supervisor = meta_supervisor.cli:console" in entry
    requires = [line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist: ")]
    assert [r for r in requires if "extra ==" not in r] == _pins((REPO / "requirements.txt").read_text())
    assert [r for r in requires if "extra ==" in r] == ['pyarrow==26.0.1; extra == "s3"']
    assert all(n.startswith("meta_supervisor") for n in names)  # the package only: no tests, no scripts


def test_the_installed_console_script_runs_its_verbs(installed, tmp_path):
    _, site = installed
    assert _console(site, "--version", cwd=tmp_path).stdout == f"meta-supervisor {__version__}\n"
    usage = _console(site, cwd=tmp_path).stdout
    assert all(v in usage for v in ("reconcile", "train", "evaluate", "demo", "validate", "report"))
    bad = _console(site, "frobnicate", cwd=tmp_path)
    assert bad.returncode == 1 and "unknown verb 'frobnicate'" in bad.stderr
    demo = _console(site, "demo", "--root", str(tmp_path / "demo"), cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo/report/index.html").exists() and str(REPO) not in demo.stdout


def test_validate_checks_every_policy_file_and_names_each_problem(installed, tmp_path):
    _, site = installed
    root = tmp_path / "consumer"
    (root / "policy").mkdir(parents=True)
    (root / "policy/strategy_kill_list.yaml").write_text("macro:\n  status: ENABLED\n")
    (root / "policy/agents.yaml").write_text("a1: macro\n")
    ok = _console(site, "validate", "--root", str(root), cwd=tmp_path)
    assert ok.returncode == 0 and "validate: 0 problem(s)" in ok.stderr
    (root / "policy/strategy_kill_list.yaml").write_text("macro:\n  status: OFF\n")
    (root / "policy/supervisor.yaml").write_text("evaluate:\n  widow_rows: 5\n")
    bad = _console(site, "validate", "--root", str(root), cwd=tmp_path)
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 1 and lines[-1].startswith("validate: 2 problem(s)")
    assert lines[0].startswith("policy/supervisor.yaml:2: evaluate.widow_rows: unknown setting")
    assert lines[1] == "policy/strategy_kill_list.yaml:2: macro.status: status must be ENABLED or DISABLED, got 'OFF'"
    # the pre-commit hook passes the changed files: only those are checked
    one = _console(site, "validate", "--root", str(root), "policy/agents.yaml", cwd=tmp_path)
    assert one.returncode == 0 and "in policy/agents.yaml" in one.stderr


def test_the_pre_commit_hook_runs_validate_on_policy_files():
    (hook,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert hook["id"] == "meta-supervisor-validate" and hook["entry"] == "meta-supervisor validate"
    import re

    pattern = re.compile(hook["files"])
    assert pattern.search("policy/strategy_kill_list.yaml") and pattern.search("policy/supervisor.yml")
    assert not pattern.search("data/prices.jsonl")


def test_the_shipped_json_schemas_are_the_ones_the_typed_layouts_generate(installed):
    from meta_supervisor.files import schemas

    wheel, _ = installed
    with zipfile.ZipFile(wheel) as z:
        for name in schemas.LAYOUTS:
            shipped = z.read(f"meta_supervisor/schemas/{name}.schema.json").decode()
            assert shipped == schemas.text(name), f"{name}: run python -m meta_supervisor.files.schemas"
    kill = schemas.generate("strategy_kill_list")
    entry = kill["$defs"]["StrategyEntry"]
    assert entry["properties"]["status"]["enum"] == ["DISABLED", "ENABLED"] and entry["additionalProperties"] is False
    limits = kill["$defs"]["RegimeLimits"]
    assert limits["minProperties"] == 1 and limits["properties"]["max_cvar_error_bps"]["exclusiveMinimum"] == 0
    settings = schemas.generate("supervisor")["$defs"]
    assert settings["EvaluateSettings"]["properties"]["reenable_margin"] == {"default": 0.8, "type": "number"}
    assert settings["Settings"]["properties"]["horizons"]["items"] == {"type": "integer"}


def test_the_hash_lock_pins_exactly_requirements_txt_with_hashes():
    import re

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    lock = (REPO / "requirements.lock").read_text()
    entries = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)((?:\s*\\\n\s+--hash=sha256:[0-9a-f]{64})+)", lock, re.M)
    pinned = {norm(n): v for n, v, _ in entries}
    wanted = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            wanted[norm(name)] = version
    assert pinned == wanted
    assert all(h.count("--hash=sha256:") >= 1 for _, _, h in entries)
    assert "--require-hashes" in (REPO / "action.yml").read_text()


def test_the_object_store_extra_lock_and_dev_pin_agree():
    """pyarrow is pinned once in substance: the [s3] extra, requirements-s3.lock (with hashes, what
    the action installs for object_store: true) and the dev requirements the tests run on."""
    import re
    import tomllib

    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["s3"]
    lock = re.findall(
        r"^(pyarrow)==(\S+) \\\n(?:\s+--hash=sha256:[0-9a-f]{64}.*\n)+",
        (REPO / "requirements-s3.lock").read_text(),
        re.M,
    )
    dev = [line for line in (REPO / "requirements-dev.txt").read_text().splitlines() if line.startswith("pyarrow==")]
    assert extra == [f"pyarrow=={lock[0][1]}"] == dev
    assert 'OBJECT_STORE" = "true"' in (REPO / "action.yml").read_text()
