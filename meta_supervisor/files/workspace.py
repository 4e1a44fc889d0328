"""Everything a job reads from a root folder: settings, policy files, models.

Each policy file is parsed by `policy_yaml` (line numbers) and validated by the pure core; a
problem becomes one line `file:line: key: reason`, before any job has side effects.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from pathlib import Path

from meta_supervisor.core import policy
from meta_supervisor.core.config import Settings, settings_from_mapping
from meta_supervisor.core.errors import ConfigError, UserError
from meta_supervisor.files import lock, models
from meta_supervisor.files.policy_yaml.load import YamlDoc, load_yaml

KILL_LIST = "policy/strategy_kill_list.yaml"
AGENTS = "policy/agents.yaml"
SUPERVISOR = "policy/supervisor.yaml"


def _load_validated(root: Path, rel: str, parse, required: bool):
    path = root / rel
    if not path.exists():
        if required:
            raise UserError(f"{rel}: file not found under {root}")
        return parse(None), None
    doc: YamlDoc = load_yaml(path, display_path=rel)
    try:
        return parse(doc.data), doc
    except ConfigError as err:
        raise doc.locate(err) from None


# Each policy file: its parser and whether a root must have it (the kill list, for evaluate).
POLICY_FILES = {
    SUPERVISOR: (settings_from_mapping, False),
    AGENTS: (policy.parse_agents, False),
    KILL_LIST: (policy.parse_kill_list, True),
}


def check_policy_file(root: Path, rel: str) -> str | None:
    """The one-line problem of policy file `rel` under `root`, or None when it is valid (read only:
    no lock). The same parse and validation the jobs use, so a file that passes here loads there."""
    parse, required = POLICY_FILES[rel]
    try:
        _load_validated(Path(root), rel, parse, required)
    except UserError as err:
        return str(err)
    return None


@dataclass
class Workspace:
    root: Path
    settings: Settings = field(default_factory=Settings)

    @classmethod
    def open(cls, root) -> Workspace:
        root = Path(root).resolve()
        if not root.is_dir():
            raise UserError(f"--root {root}: not a folder")
        settings, _ = _load_validated(root, SUPERVISOR, settings_from_mapping, required=False)
        ws = cls(root, settings)
        # One writer per root (files/lock.py), from before anything reads state until the job
        # lets go of its Workspace.
        weakref.finalize(ws, lock.release, lock.hold(root))
        return ws

    def path(self, rel: str) -> Path:
        return self.root / rel

    def agents(self) -> dict[str, str]:
        return _load_validated(self.root, AGENTS, policy.parse_agents, required=False)[0]

    def kill_list(self) -> tuple[dict, str]:
        """(validated policies, the file's exact text). The kill list is required by evaluate."""
        policies, doc = _load_validated(self.root, KILL_LIST, policy.parse_kill_list, required=True)
        return policies, doc.text

    def model_card(self, horizon: int) -> dict | None:
        return models.read_card(self.root, horizon)

    def models(self, warn=None) -> dict[int, dict]:
        """Usable current models of the configured horizons (see files/models.py)."""
        return models.current(self.root, self.settings.horizons, warn)
