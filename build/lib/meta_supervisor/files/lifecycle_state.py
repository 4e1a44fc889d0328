"""`state/lifecycle.json`: the PR lifecycle's clocks per strategy (core/lifecycle.py); this module
alone knows the path and layout. `{strategy: {"cleared_since", "breach_regime", "recovered_since",
"not_recovered_since"}}`, each a UTC ISO time or null. It changes only when a clock starts or
stops, so an unchanged fleet leaves it byte-identical. A dry run does not write it (its clocks are
the real runs')."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from meta_supervisor.files.jsonio import read_json, write_json

PATH = "state/lifecycle.json"


class _Clocks(TypedDict, total=False):
    cleared_since: str | None
    breach_regime: str | None
    recovered_since: str | None
    not_recovered_since: str | None


Schema = dict[str, _Clocks]


def read(root: Path) -> dict:
    return read_json(Path(root) / PATH, {}, display=PATH, schema=Schema)


def write(root: Path, state: dict) -> None:
    write_json(Path(root) / PATH, state)
