"""JSON Schemas of the policy files, generated from the typed layouts the loader uses
(core/config.py `Settings`, core/policy.py `KillListLayout` and `AgentsLayout`) by msgspec, plus
the loader's rules a type cannot say (unknown keys refused, limits positive, at least one limit per
regime). Shipped in the package as meta_supervisor/schemas/*.schema.json for editors (the YAML
language server) and pre-commit; tests/test_package.py fails when a shipped file differs from what
this module generates, so they cannot drift. Regenerate: `python -m meta_supervisor.files.schemas`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import msgspec

from meta_supervisor.core import policy
from meta_supervisor.core.config import Settings

DIR = Path(__file__).resolve().parents[1] / "schemas"
LAYOUTS = {
    "strategy_kill_list": (policy.KillListLayout, "policy/strategy_kill_list.yaml"),
    "supervisor": (Settings, "policy/supervisor.yaml"),
    "agents": (policy.AgentsLayout, "policy/agents.yaml"),
}


def _closed(schema: dict) -> None:
    """Every object with named properties refuses other keys (as the loader does)."""
    for d in schema.get("$defs", {}).values():
        if d.get("type") == "object" and "properties" in d:
            d["additionalProperties"] = False


def generate(name: str) -> dict:
    layout, path = LAYOUTS[name]
    schema = msgspec.json.schema(layout)
    _closed(schema)
    if name == "strategy_kill_list":
        limits = schema["$defs"]["RegimeLimits"]
        limits["minProperties"] = 1
        for prop in limits["properties"].values():
            prop["exclusiveMinimum"] = 0
    if name == "agents":
        schema["additionalProperties"] = {"type": "string", "minLength": 1}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"meta-supervisor {path}",
        **schema,
    }


def text(name: str) -> str:
    return json.dumps(generate(name), indent=2, sort_keys=True) + "\n"


def main() -> int:
    DIR.mkdir(exist_ok=True)
    for name in LAYOUTS:
        (DIR / f"{name}.schema.json").write_text(text(name))
    print(f"wrote {len(LAYOUTS)} schemas to {DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
