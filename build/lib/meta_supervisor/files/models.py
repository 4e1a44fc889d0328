"""`state/models/`: the model cards (current and challengers) and train's decision record.

This module alone knows the layout: `ridge_h{H}.json` is the current model of horizon H (what
reconcile predicts with: its weights for the expected PnL, its `scale_model` for each row's
sigma), `challengers/ridge_h{H}.json` the last trained candidate, and `train_report.json` what the
last train decided and why. Train rewrites the current card on every run, also when it keeps the
champion's weights (a fresh scale model and rmse_bps; docs/sigma.md).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from meta_supervisor.core import sim_model
from meta_supervisor.files.jsonio import read_json, write_json

DIR = "state/models"
REPORT = f"{DIR}/train_report.json"


def card_path(horizon: int, challenger: bool = False) -> str:
    return f"{DIR}/{'challengers/' if challenger else ''}ridge_h{horizon}.json"


def read_card(root: Path, horizon: int) -> dict | None:
    """The current card of `horizon`, None without one; a card that is not JSON is a UserError."""
    rel = card_path(horizon)
    return read_json(Path(root) / rel, display=rel)


def current(root: Path, horizons, warn: Callable[[str], None] | None = None) -> dict[int, dict]:
    """Usable current models by horizon. One that parses but cannot predict is skipped (rows then
    use fallback_zero) and `warn` is told."""
    out = {}
    for h in horizons:
        card = read_card(root, h)
        if card is None:
            continue
        if sim_model.usable(card):
            out[h] = card
        elif warn is not None:
            warn(
                f"{card_path(h)}: not a usable model card (ok, weights, features, "
                f"rmse_bps, model_hash, scale_model); horizon {h} uses fallback_zero"
            )
    return out


def write_card(root: Path, horizon: int, card: dict, challenger: bool = False) -> None:
    write_json(Path(root) / card_path(horizon, challenger), card)


def write_report(root: Path, report: dict) -> None:
    write_json(Path(root) / REPORT, report)
