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

from meta_supervisor.files.jsonio import read_json, write_json

CELLS = "state/strategy_cvar_regime.json"
DETECTORS = "state/detectors.json"
ALERTS = "state/divergence_alerts.json"


def read_detectors(root: Path) -> tuple[dict | None, dict | None]:
    """(detector state, cursor); (None, None) on a cold start (no file, or one without a cursor)."""
    doc = read_json(Path(root) / DETECTORS, display=DETECTORS)
    cursor = doc.pop("cursor", None) if doc else None
    if doc is None or cursor is None:
        return None, None
    return doc, cursor


def write_detectors(root: Path, state: dict, cursor: dict) -> None:
    write_json(Path(root) / DETECTORS, {**state, "cursor": cursor})


def read_alerts(root: Path) -> dict | None:
    return read_json(Path(root) / ALERTS, display=ALERTS)


def write_alerts(root: Path, doc: dict) -> None:
    write_json(Path(root) / ALERTS, doc)


def read_cells(root: Path) -> dict | None:
    """The previous run's cells, or None on a first run (or a file that is not a mapping)."""
    doc = read_json(Path(root) / CELLS, display=CELLS)
    return doc if isinstance(doc, dict) else None


def write_cells(root: Path, cells: dict) -> None:
    write_json(Path(root) / CELLS, cells)
