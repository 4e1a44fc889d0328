"""Train: per horizon, fit a challenger on the latest rows and promote it only if it is not
worse out of sample than the current model on the same recent rows; either way the current card
gets a fresh scale model (each row's expected sigma, per symbol and regime) and its calibration.

load windows -> fit + validate -> decide -> refit the scale -> write cards, the decision record
and the calibration (job summary).
"""

from __future__ import annotations

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.adapters.object_history import open_history
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.timeutil import now_ts
from meta_supervisor.core.training import train_horizon
from meta_supervisor.files import models, reconcile_state
from meta_supervisor.files.history import recent_rows
from meta_supervisor.files.workspace import Workspace


def run(
    root,
    horizons=None,
    force: bool = False,
    actions: Actions | None = None,
    now: str | None = None,
    windows: dict | None = None,
) -> dict:
    """`windows` lets a caller that already loaded the history share it (see bench/)."""
    actions = actions or Actions()
    now = now or now_ts()
    ws = Workspace.open(root)
    cfg = ws.settings
    horizons = list(horizons or cfg.horizons)
    unknown = [h for h in horizons if h not in cfg.horizons]
    if unknown:
        raise UserError(f"--horizons {unknown}: not configured (horizons: {list(cfg.horizons)})")

    shortest = min(cfg.horizons)  # its errors set the level of the longer horizons' sigmas
    with actions.group("load"):
        if windows is None:
            history = open_history(ws.root, ws.settings.history, reconcile_state.read_commit(ws.root))
            windows = recent_rows(history, {h: cfg.train.max_rows for h in {*horizons, shortest}})
    decisions = {}
    calibrations: dict[str, dict | None] = {}
    with actions.group("train"):
        for h in horizons:
            level_rows = windows.get(shortest) if h > shortest else None
            outcome = train_horizon(windows.get(h, []), h, cfg.train, ws.model_card(h), now, force, level_rows)
            decisions[str(h)] = outcome.decision
            if outcome.challenger is not None:
                models.write_card(ws.root, h, outcome.challenger, challenger=True)
            if outcome.card is not None:
                models.write_card(ws.root, h, outcome.card)
                calibrations[str(h)] = outcome.card.get("calibration")
            c = outcome.challenger
            detail = (
                (
                    f" oos RMSE {c['rmse_bps']:.2f} bps, in-sample {c['rmse_in_sample_bps']:.2f}, "
                    f"skill vs zero {c['skill_vs_zero']:+.3f}, ridge {c['ridge']:g}, n {c['n']}"
                )
                if c
                else ""
            )
            cal = calibrations.get(str(h))
            if cal:
                detail += f"; var(z) {cal['var_z']:.2f} (one sigma per horizon: {cal['var_z_constant_sigma']:.2f})"
            print(
                f"train h={h}: {outcome.decision['decision']} ({outcome.decision['reason']}){detail}", file=actions.out
            )
    report = {"generated_at": now, "forced": force, "horizons": decisions, "calibration": calibrations}
    models.write_report(ws.root, report)
    lines = ["## Train", "", "| horizon | decision | reason |", "|---|---|---|"]
    lines += [f"| {h} | {d['decision']} | {d['reason']} |" for h, d in decisions.items()]
    lines += calibration_lines(calibrations)
    actions.summary("\n".join(lines))
    actions.output("promoted", ",".join(h for h, d in decisions.items() if d["decision"] == "promoted"))
    return report


def calibration_lines(calibrations: dict) -> list[str]:
    """var(z) of the current models on their recent rows (out of sample: docs/sigma.md), by symbol,
    regime and agent: 1 is calibrated; the heading shows what one sigma per horizon gave."""
    lines = []
    for h, cal in calibrations.items():
        if not cal:
            continue
        lines += [
            "",
            f"### Calibration h={h}: var(z) {cal['var_z']:.2f} on {cal['rows']} recent rows from {cal['from']} "
            f"(one sigma per horizon: {cal['var_z_constant_sigma']:.2f})",
            "",
            "| by | group | rows | mean z | var z |",
            "|---|---|---|---|---|",
        ]
        for by in ("symbol", "regime", "agent"):
            lines += [f"| {by} | {g} | {c['n']} | {c['mean_z']:+.2f} | {c['var_z']:.2f} |" for g, c in cal[by].items()]
    return lines
