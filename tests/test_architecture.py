"""The tree is the architecture (docs/architecture.md): each folder of the package is a layer, and
a module may import only what its layer allows. The test walks the folders, so a new module is
checked the moment it exists, and a module outside every layer fails."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "meta_supervisor"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}

# layer -> (packages of this project it may import, third-party libraries it may import)
LAYERS = {
    "core": ({"core"}, {"numpy"}),
    "files": ({"core", "files"}, {"numpy", "msgspec", "ruamel", "yaml"}),
    "adapters": ({"core", "files", "adapters"}, {"github", "requests", "sendgrid", "python_http_client", "pyarrow"}),
    "jobs": ({"core", "files", "adapters", "jobs"}, set()),
    "cli": ({"core", "jobs", "__init__"}, set()),  # __init__: the version
    "__init__": (set(), set()),
    "__main__": ({"cli"}, set()),  # python -m meta_supervisor
}
# Where each external library may be imported: one owner each (a module, or a package folder).
OWNERS = {
    "github": "adapters/github_rest/",
    "requests": "adapters/github_rest/",
    "sendgrid": "adapters/mail/sendgrid_mailer.py",
    "python_http_client": "adapters/mail/sendgrid_mailer.py",
    "ruamel": "files/policy_yaml/",
    "yaml": "files/policy_yaml/edit.py",  # PyYAML, the independent checker of the kill-list edit
    "msgspec": "files/",
    "pyarrow": "adapters/parquet_s3.py",  # the object history store (optional extra [s3])
}
# The one exception to "core is stdlib + numpy": the row type is a msgspec.Struct (a typed record,
# no I/O); see core/records.py for the measurement behind it.
CORE_MSGSPEC = {"core/records.py"}


def layer_of(rel: str) -> str:
    return rel.split("/")[0].removesuffix(".py")


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(third-party or stdlib top-level names, this project's layers) imported anywhere in the file."""
    outside, inside = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import (use meta_supervisor.<layer>...)"
            names = [node.module + ("." + a.name if node.module == "meta_supervisor" else "") for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "meta_supervisor":
                # `from meta_supervisor import __version__` reads the package's __init__
                inside.add(parts[1] if len(parts) > 1 and parts[1] != "__version__" else "__init__")
            else:
                outside.add(parts[0])
    return outside, inside


def modules():
    found = sorted(p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py"))
    assert found, f"no modules under {PKG}"
    return found


def test_every_module_belongs_to_a_layer_and_every_layer_exists():
    layers = {layer_of(rel) for rel in modules()}
    assert layers <= set(LAYERS), f"modules outside every layer: {sorted(layers - set(LAYERS))}"
    for folder in ("core", "files", "adapters", "jobs"):
        assert (PKG / folder / "__init__.py").is_file(), f"meta_supervisor/{folder}/ is missing"
    for owner in OWNERS.values():
        assert (PKG / owner).exists(), f"owner {owner} of an external library is missing"


def test_each_layer_imports_only_what_it_may():
    for rel in modules():
        allowed_inside, allowed_outside = LAYERS[layer_of(rel)]
        outside, inside = imports(PKG / rel)
        if rel in CORE_MSGSPEC:
            allowed_outside = allowed_outside | {"msgspec"}
        assert inside <= allowed_inside, f"{rel} imports layers {sorted(inside - allowed_inside)}"
        extra = outside - STDLIB - allowed_outside
        assert not extra, f"{rel} imports {sorted(extra)}"


def test_each_external_library_has_one_owner():
    for lib, owner in OWNERS.items():
        users = [rel for rel in modules() if lib in imports(PKG / rel)[0]]
        strays = [
            u
            for u in users
            if not (u == owner or (owner.endswith("/") and u.startswith(owner)))
            and not (lib == "msgspec" and u in CORE_MSGSPEC)
        ]
        assert not strays, f"{lib} imported outside {owner}: {strays}"


def test_no_module_shadows_a_library_name():
    names = {Path(rel).stem for rel in modules()} | {p.name for p in PKG.rglob("*") if p.is_dir()}
    assert not names & {"github", "sendgrid", "yaml", "ruamel", "numpy", "msgspec", "io", "json", "email"}
