"""The architecture holds: a pure core (stdlib + numpy), one module per external SDK."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "meta_supervisor"
CORE = ["records", "reconcile", "sim_model", "training", "risk", "divergence", "detectors", "alerts",
        "policy", "report", "config", "timeutil", "errors", "alert_mail", "synth"]
SDKS = {"github": "adapters/pulls.py", "sendgrid": "adapters/mail.py", "ruamel": "policy_yaml.py",
        "python_http_client": "adapters/mail.py"}


def imports(path: Path):
    """(absolute top-level module names, relative module names) imported anywhere in the file."""
    absolute, relative = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            absolute |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                mods = [node.module] if node.module else [a.name for a in node.names]
                relative |= {m.split(".")[0] for m in mods}
            else:
                absolute.add(node.module.split(".")[0])
    return absolute, relative


def test_core_modules_import_only_stdlib_numpy_and_core():
    allowed = set(sys.stdlib_module_names) | {"numpy", "__future__"}
    for name in CORE:
        path = PKG / f"{name}.py"
        if not path.exists():
            continue
        absolute, relative = imports(path)
        assert absolute <= allowed, f"{name}.py imports {sorted(absolute - allowed)}"
        assert relative <= set(CORE), f"{name}.py imports shell modules {sorted(relative - set(CORE))}"


def test_core_list_is_not_empty_on_disk():
    present = [n for n in CORE if (PKG / f"{n}.py").exists()]
    assert {"records", "reconcile", "sim_model", "risk", "policy", "report", "divergence", "alerts"} <= set(present)


def test_each_sdk_is_imported_by_exactly_one_module():
    for sdk, owner in SDKS.items():
        users = sorted(str(p.relative_to(PKG)) for p in PKG.rglob("*.py") if sdk in imports(p)[0])
        assert users == [owner], f"{sdk} imported by {users}"


def test_no_module_shadows_a_library_name():
    names = {p.stem for p in PKG.rglob("*.py")}
    assert not names & {"github", "sendgrid", "yaml", "ruamel", "numpy", "msgspec", "orjson"}
