"""The three state files evaluate writes; this module alone knows their paths and layout.

- `state/strategy_cvar_regime.json`: `{strategy: {regime: cell}}`, the tail-risk cells of the run
  (core/risk.py `cell_stats` lists the fields; evaluate adds `limit_bps`, `limit_sigma` and, for a
  cell with a limit, `above_limit_since` / `breach_since`: the `--now` of the first run of the current
  unbroken streak with the point ES above a limit / a confirmed breach, None when not; the next run
  reads them back to carry the streak, core/policy.py `carry_since`);
- `state/detectors.json`: every detector stream's charts (core/divergence.py) plus `cursor`,
  `{partition: byte offset}` of the history already fed to them;
- `state/divergence_alerts.json`: the alert lifecycle document (core/alerts.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypedDict

from meta_supervisor.core.detectors import LatchedCusum
from meta_supervisor.core.errors import UserError
from meta_supervisor.files.jsonio import read_json, write_json

CELLS = "state/strategy_cvar_regime.json"
DETECTORS = "state/detectors.json"
ALERTS = "state/divergence_alerts.json"

# The layouts, as far as the next run reads them back (validated on every read; other fields are
# kept as they are).


class _Stream(TypedDict):
    scope: str
    name: str
    strategy_class: str
    detectors: dict[str, dict[str, Any]]  # kind-tagged charts: each checked by LatchedCusum.from_dict


class DetectorsSchema(TypedDict, total=False):
    version: int
    params: dict[str, Any]
    streams: dict[str, _Stream]
    # {alert key: [change_ts, verdict]}: each episode's verdict, false, true (fleet-wide) or "class"
    fleet_wide: dict[str, tuple[str | None, bool | Literal["class"]]]
    cursor: dict[str, int]


class _Alert(TypedDict, total=False):
    key: str
    status: str
    first_seen: str
    last_seen: str | None
    last_notified: str | None
    severity: str
    strategy_class: str | None
    agent: str | None


class _Keyed(TypedDict, total=False):
    key: str
    first_seen: str


class AlertsSchema(TypedDict, total=False):
    generated_at: str | None
    alerts: list[_Alert]
    history: list[dict[str, Any]]
    notices: list[_Keyed]


class _Cell(TypedDict, total=False):
    above_limit_since: str | None
    breach_since: str | None


CellsSchema = dict[str, dict[str, _Cell]]


def read_detectors(root: Path) -> tuple[dict | None, dict | None]:
    """(detector state, cursor); (None, None) on a cold start (no file, or one without a cursor)."""
    doc = read_json(Path(root) / DETECTORS, display=DETECTORS, schema=DetectorsSchema)
    cursor = doc.pop("cursor", None) if doc else None
    if doc is None or cursor is None:
        return None, None
    for name, stream in doc.get("streams", {}).items():
        for kind, chart in stream["detectors"].items():
            try:
                LatchedCusum.from_dict(chart)
            except (KeyError, TypeError, ValueError) as err:
                raise UserError(
                    f"{DETECTORS}: stream {name[:80]!r}, chart {kind[:40]!r} is not valid ({type(err).__name__}: "
                    f"{str(err)[:100]}); restore it from git, or delete the file to restart the detectors"
                ) from None
    return doc, cursor


def write_detectors(root: Path, state: dict, cursor: dict) -> None:
    write_json(Path(root) / DETECTORS, {**state, "cursor": cursor})


def read_alerts(root: Path) -> dict | None:
    return read_json(Path(root) / ALERTS, display=ALERTS, schema=AlertsSchema)


def write_alerts(root: Path, doc: dict) -> None:
    write_json(Path(root) / ALERTS, doc)


def read_cells(root: Path) -> dict | None:
    """The previous run's cells, or None on a first run."""
    return read_json(Path(root) / CELLS, display=CELLS, schema=CellsSchema)


def write_cells(root: Path, cells: dict) -> None:
    write_json(Path(root) / CELLS, cells)
