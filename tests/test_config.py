"""The shipped policy files parse, and supervisor.yaml documents exactly the defaults."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from meta_supervisor.core.config import Settings, settings_from_mapping
from meta_supervisor.core.errors import ConfigError
from meta_supervisor.files.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]


def test_shipped_supervisor_yaml_states_every_default():
    ws = Workspace.open(REPO)
    assert ws.settings == Settings()
    from meta_supervisor.files.policy_yaml.load import load_yaml

    data = load_yaml(REPO / "policy/supervisor.yaml").data
    for section in dataclasses.fields(Settings):
        default = getattr(Settings(), section.name)
        if dataclasses.is_dataclass(default):
            missing = {f.name for f in dataclasses.fields(default)} - set(data[section.name])
            assert not missing, f"policy/supervisor.yaml does not document {section.name}: {sorted(missing)}"


def test_shipped_kill_list_and_agents_parse():
    ws = Workspace.open(REPO)
    policies, _ = ws.kill_list()
    assert policies["macro"].limits == {"TREND": 120.0, "RANGE": 90.0}
    assert ws.agents()["arb-1"] == "arb"


@pytest.mark.parametrize(
    "data, where",
    [
        ({"horizons": [1, 4]}, "evaluate.horizon 24 is not one of horizons"),
        ({"train": {"min_rows": "many"}}, "train.min_rows: expected int"),
        ({"evaluate": {"cvar_alpha": 1.5}}, "cvar_alpha must be in"),
        ({"divergence": {"arl0_rows": 5}}, "arl0_rows"),
        ({"alerts": {"renotify_hours": 0}}, "renotify_hours"),
        ({"inputs": "data"}, "inputs: expected a mapping"),
        ({"train": {"features": []}}, "features must not be empty"),
    ],
)
def test_bad_settings_name_the_key(data, where):
    with pytest.raises(ConfigError) as err:
        settings_from_mapping(data)
    assert where in str(err.value)
