"""`state/market_regime.json`: the current market regime; this module alone knows its path and layout.

`{"regime": "TREND", "since": "<UTC ISO>"}` -- `since` is when the regime last changed. The shares
and the reason go to the run's log: stored, they would change every hour as old votes expire. The
next evaluate keeps the regime unless the market moves past the switch margin (core/regime.py). No
run timestamp either: an unchanged market leaves the file byte-identical, so it adds nothing to the
hourly state commit. A dry run does not write it (its hysteresis belongs to the real runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

from meta_supervisor.core.regime import RegimeCall
from meta_supervisor.files.jsonio import read_json, write_json

PATH = "state/market_regime.json"


class Schema(TypedDict):
    regime: str
    since: str


def read_previous(root: Path) -> dict:
    """The last run's record ({} without one)."""
    return read_json(Path(root) / PATH, {}, display=PATH, schema=Schema)


def write(root: Path, call: RegimeCall, previous: dict, now: str) -> None:
    since = previous.get("since") if not call.switched and previous.get("since") else now
    doc = {
        "regime": call.regime,
        "since": since,
    }
    write_json(Path(root) / PATH, doc)
