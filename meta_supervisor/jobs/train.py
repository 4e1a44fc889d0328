"""Train: per horizon, fit a challenger on the latest rows and promote it only if it is not
worse out of sample than the current model on the same recent rows.

load windows -> fit + validate -> decide -> write cards and the decision record.
"""
from __future__ import annotations

from ..adapters.actions import Actions
from ..errors import UserError
from ..history import recent_rows
from ..store import Partitions, write_json
from ..timeutil import now_ts
from ..training import train_horizon
from ..workspace import MODELS_DIR, Workspace

REPORT = "state/models/train_report.json"


def run(root, horizons=None, force: bool = False, actions: Actions | None = None,
        now: str | None = None, windows: dict | None = None) -> dict:
    """`windows` lets a caller that already loaded the history share it (see bench/)."""
    actions = actions or Actions()
    now = now or now_ts()
    ws = Workspace.open(root)
    cfg = ws.settings
    horizons = list(horizons or cfg.horizons)
    unknown = [h for h in horizons if h not in cfg.horizons]
    if unknown:
        raise UserError(f"--horizons {unknown}: not configured (horizons: {list(cfg.horizons)})")

    with actions.group("load"):
        if windows is None:
            windows = recent_rows(Partitions.open(ws.root), {h: cfg.train.max_rows for h in horizons})
    decisions = {}
    with actions.group("train"):
        for h in horizons:
            outcome = train_horizon(windows.get(h, []), h, cfg.train, ws.model_card(h), now, force)
            decisions[str(h)] = outcome.decision
            if outcome.challenger is not None:
                write_json(ws.path(f"{MODELS_DIR}/challengers/ridge_h{h}.json"), outcome.challenger)
            if outcome.card is not None:
                write_json(ws.path(f"{MODELS_DIR}/ridge_h{h}.json"), outcome.card)
            c = outcome.challenger
            detail = (f" oos RMSE {c['rmse_bps']:.2f} bps, in-sample {c['rmse_in_sample_bps']:.2f}, "
                      f"skill vs zero {c['skill_vs_zero']:+.3f}, ridge {c['ridge']:g}, n {c['n']}") if c else ""
            print(f"train h={h}: {outcome.decision['decision']} ({outcome.decision['reason']}){detail}",
                  file=actions.out)
    report = {"generated_at": now, "forced": force, "horizons": decisions}
    write_json(ws.path(REPORT), report)
    lines = ["## Train", "", "| horizon | decision | reason |", "|---|---|---|"]
    lines += [f"| {h} | {d['decision']} | {d['reason']} |" for h, d in decisions.items()]
    actions.summary("\n".join(lines))
    actions.output("promoted", ",".join(h for h, d in decisions.items() if d["decision"] == "promoted"))
    return report
