"""Report: the desk's static HTML page from the state (read only).

load the history records (the last `history_days`), the alert document -> render
(core/render/html_report.py) -> write one self-contained file (default `report/index.html`).
"""

from __future__ import annotations

import os
from pathlib import Path

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.core.render import html_report
from meta_supervisor.core.timeutil import now_ts
from meta_supervisor.files import eval_history, evaluate_state
from meta_supervisor.files.jsonio import write_atomic
from meta_supervisor.files.workspace import Workspace

DEFAULT_OUT = "report/index.html"


def run(root, out: str | None = None, now: str | None = None, actions: Actions | None = None, env=None) -> Path:
    actions = actions or Actions()
    env = os.environ if env is None else env
    now = now or now_ts()
    ws = Workspace.open(root)
    records = eval_history.read(ws.root, days=ws.settings.evaluate.history_days, now=now)
    # Stamped with the newest record, not the clock: an unchanged history gives the same bytes, so
    # the hourly state commit does not carry a new page every hour.
    stamp = records[-1]["at"] if records else now
    page = html_report.render(records, evaluate_state.read_alerts(ws.root), stamp, env.get("GITHUB_REPOSITORY"))
    path = Path(out) if out else ws.root / DEFAULT_OUT
    if not path.is_absolute():
        path = ws.root / path
    write_atomic(path, page.encode("utf-8"))
    path.chmod(0o644)  # a page to publish and share, not a secret
    print(f"report: {len(records)} runs of history -> {path} ({len(page) // 1024} KiB)", file=actions.out)
    actions.output("report", str(path))
    return path
