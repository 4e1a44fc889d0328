"""Evaluate: load -> measure -> decide -> act.

Tail risk per (strategy, regime) and breach verdicts for the current regime; sequential divergence
detection on rows not seen before; then proposals (PR or outbox), alert mail (SendGrid or outbox)
and state files. Policy problems stop the run before any side effect.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.adapters.mail import mailbox
from meta_supervisor.adapters.object_history import open_history
from meta_supervisor.adapters.proposals import Proposals, proposals_from_env
from meta_supervisor.core import alerts as alert_life
from meta_supervisor.core import cell_windows, divergence, history_record, lifecycle, risk
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.freshness import stale_inputs
from meta_supervisor.core.policy import carry_since, judge
from meta_supervisor.core.records import Row
from meta_supervisor.core.regime import RegimeCall, current_regime, symbol_votes
from meta_supervisor.core.render import report
from meta_supervisor.core.render.escape import code
from meta_supervisor.core.render.mail import compose_alert_mail
from meta_supervisor.core.timeutil import hours_between, now_ts
from meta_supervisor.files import (
    eval_history,
    evaluate_state,
    lifecycle_state,
    reconcile_state,
    regime_state,
    window_state,
)
from meta_supervisor.files.history import recent_rows, rows_from
from meta_supervisor.files.policy_yaml.edit import disable_in_kill_list, enable_in_kill_list
from meta_supervisor.files.workspace import KILL_LIST, Workspace
from meta_supervisor.jobs.failpoint import failpoint

ALERTS_MARKER = "<!-- meta-supervisor:alerts -->"


@dataclass
class EvaluateResult:
    regime: str | None
    verdicts: list
    proposals: list = field(default_factory=list)  # (strategy, where) pairs
    enables: list = field(default_factory=list)  # (strategy, where) pairs of re-enable proposals
    closed: list = field(default_factory=list)  # (strategy, kind, "closed" | "commented") of stale PRs
    events: list = field(default_factory=list)  # what was done, for the history: {"kind", "strategy", "result"}
    pull_numbers: list = field(default_factory=list)  # PRs created or updated by this run
    alerts: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # delivery problems: the run exits 2
    calibration: str | None = None  # detector calibration warning, if any
    cells: dict = field(default_factory=dict)  # {strategy: {regime: cell}}, as written

    @property
    def exit_code(self) -> int:
        return 2 if self.failures else 0


def _current_regime(
    ws: Workspace, recent: list[Row], window: list[Row], now: str
) -> tuple[str | None, RegimeCall, dict]:
    """The market's regime (core/regime.py) from the signals of the last lookback hours, as the
    shortest horizon's rows show them (they mature first), and the previous run's regime; the
    `current_regime` setting overrides it. Also returns the previous run's record (for `since`)."""
    s = ws.settings.regime
    record = regime_state.read_previous(ws.root)
    call = current_regime(symbol_votes(recent, now, s.lookback_hours), record.get("regime"), s.switch_margin)
    if call.regime is None and window:  # first run, no recent signal: the newest reconciled one
        call = RegimeCall(window[-1].regime, {}, 0, True, "no signal in the lookback: the newest reconciled row")
    override = ws.settings.evaluate.current_regime
    return (override or call.regime), call, record


def run(
    root,
    dry_run: bool = False,
    actions: Actions | None = None,
    env=None,
    now: str | None = None,
    pulls: Proposals | None = None,
    mailer=None,
    window: list[Row] | None = None,
) -> EvaluateResult:
    """One evaluation of `root`. `pulls` and `mailer` replace the ones the environment configures
    (tests inject them); a dry run uses neither: proposals go to the outbox, mail to outbox/mail/."""
    actions = actions or Actions()
    env = os.environ if env is None else env
    now = now or now_ts()
    ws = Workspace.open(root)
    cfg = ws.settings.evaluate
    windows_update = None
    policies, _ = ws.kill_list()  # validated before anything is written
    queue = mailbox.load_queue(ws.root)  # so is the mail queue: a corrupt one stops the run before a PR
    log = lambda msg: print(msg, file=actions.out)
    proposals = pulls if pulls is not None and not dry_run else proposals_from_env(env, ws.root, dry_run, log)
    mailer = None if dry_run else (mailer if mailer is not None else _mailer_from_env(env))
    models = ws.models()

    with actions.group("load"):
        commit, newest_inputs = reconcile_state.read_view(ws.root)
        parts = open_history(ws.root, ws.settings.history, commit, env)
        shortest = min(ws.settings.horizons)
        shape = cell_windows.WindowShape.of(cfg.horizon, cfg.window_days, cfg.cell_window_rows)
        saved = window_state.read(ws.root, shape) if window is None else None
        # the regime's votes: the newest signals of the shortest horizon
        recent = recent_rows(parts, {shortest: cfg.window_rows})[shortest]
        det_state, seen = evaluate_state.read_detectors(ws.root)
        new_rows: list[Row] = []
        if det_state is None or seen is None:  # cold start: the detectors replay the window only
            det_state, cursor = None, dict(parts.committed)
        else:
            new_rows, cursor = parts.rows_since(seen, cfg.horizon)
        if window is None:
            window, windows_update = _cell_windows(ws.root, parts, saved, new_rows, seen, cursor, shape, actions)
        regime, regime_call, regime_record = _current_regime(ws, recent, window, now)
        if not window:
            actions.annotate(
                "warning",
                f"no reconciled rows of horizon {cfg.horizon}h: nothing to measure or judge (has reconcile run, "
                "and have signals matured?)",
                title="empty window",
            )
        print(
            f"evaluate: {len(window)} rows of horizon {cfg.horizon}h in the window, {len(new_rows)} new "
            f"for the detectors, current regime {regime or 'unknown'} ({regime_call.reason})",
            file=actions.out,
        )

    with actions.group("measure"):
        tail = risk.TailSettings(
            cfg.cvar_alpha,
            cfg.cvar_min_rows,
            cfg.cvar_min_days,
            cfg.cvar_bootstrap_reps,
            cfg.cvar_confidence,
            block_days=math.ceil(cfg.horizon / 24) + 1,  # a horizon ties that many neighbouring days
        )
        cells = risk.cell_stats(window, tail)  # model rows only; fallback_zero rows are counted, not used
        for strategy, by_regime in cells.items():
            pol = policies.get(strategy)
            for r, cell in by_regime.items():
                cell["limit_bps"] = pol.limits.get(r) if pol else None
                cell["limit_sigma"] = pol.sigma_limits.get(r) if pol else None
        carry_since(evaluate_state.read_cells(ws.root), cells, now)  # how long each cell has been above
        observed = divergence.Observed(window, ws.settings.divergence)  # shared by both below
        history_start = reconcile_state.history_start(commit)
        det_state, detections = divergence.detect(
            det_state, new_rows, window, ws.settings.divergence, observed, now=now, history_start=history_start
        )
        warm_until = divergence.charting_from(history_start, ws.settings.divergence)
        if warm_until and warm_until > now:
            log(f"detectors: warming up, rows signalled from {warm_until} on are charted (divergence.warmup_days)")
        # A stopped feed is an alert too (core/freshness.py), not a quiet fleet.
        detections = sorted(
            detections + stale_inputs(newest_inputs, now, cfg.max_input_age_hours),
            key=lambda d: d["key"],
        )
        calibration = divergence.autocorrelation_warning(
            divergence.error_autocorrelation(observed, ws.settings.divergence), ws.settings.divergence
        )
        if calibration:
            actions.annotate("warning", calibration, title="detector calibration")
        previous = evaluate_state.read_alerts(ws.root)
        update = alert_life.update_alerts(previous, detections, now, ws.settings.alerts)
        update = _already_queued(update, queue, previous)

    with actions.group("decide"):
        verdicts = judge(policies, cells, regime, cfg.fleet_wide_share) if regime else []
        breaches = [v for v in verdicts if v.breach]
        for v in verdicts:
            print(f"  {v.strategy:<16} {v.outcome}", file=actions.out)
        if verdicts and verdicts[0].fleet_wide:
            note = report.fleet_note(verdicts[0])
            print(f"  {note}", file=actions.out)
            actions.annotate("warning", note, title="fleet-wide")

    result = EvaluateResult(regime, verdicts, alerts=update.doc.get("alerts", []), calibration=calibration, cells=cells)
    with actions.group("act"):
        model = models.get(cfg.horizon)
        win = {
            "horizon_hours": cfg.horizon,
            "rows": len(window),
            "start": window[0].ts if window else None,
            "end": window[-1].ts if window else None,
        }
        # This run's record; the PR shows the cell's trajectory up to it (unchanged evidence, same chart).
        rec = history_record.record(now, regime, cells, det_state)
        past = eval_history.read(ws.root, days=30, now=now) if breaches else []
        if breaches and not history_record.same_evidence(past[-1] if past else None, rec):
            past.append(rec)
        for v in breaches:
            ev = report.evidence(v, cells.get(v.strategy, {}), model.get("sim_version") if model else None, win)
            ev["trajectory"] = history_record.es_series(past, v.strategy, v.regime)[-200:]
            _propose(ws, v, ev, now, proposals, actions, result)
        life = lifecycle.update(lifecycle_state.read(ws.root), policies, verdicts, cells, regime, now, cfg.lifecycle)
        # A disable and a re-enable PR of one strategy never both stay open: the newer reason wins.
        life.stale_enable.update({v.strategy: now for v in breaches})
        life.stale_disable.update(life.recovered)
        _close_stale(proposals, life, cells, regime, actions, result)
        for strategy, since in sorted(life.recovered.items()):
            _propose_enable(ws, strategy, since, cells, regime, proposals, actions, result, now)
        doc = _notify(ws, update, queue, now, mailer, env, actions, result, dry_run)
        if doc.get("alerts") or update.transitions:
            # also when the last alert cleared, so no PR keeps showing stale alerts (the outbox has no PRs)
            _comment_alerts(proposals, doc.get("alerts", []), actions, result)
        evaluate_state.write_cells(ws.root, cells)
        if not dry_run:  # the next real run's hysteresis and clocks are its own
            if regime_call.regime is not None:
                regime_state.write(ws.root, regime_call, regime_record, now)
            lifecycle_state.write(ws.root, life.state)
        # The history is evidence to look at, like the cells and detectors above (a dry run writes
        # those too); no decision reads it, so a dry run adds its record.
        if result.events:
            rec["actions"] = result.events
        eval_history.append(ws.root, rec, cfg.history_days)
        evaluate_state.write_detectors(ws.root, det_state, cursor)
        evaluate_state.write_alerts(ws.root, doc)
        if windows_update is not None:  # derived from the history alone, so a dry run writes them too
            window_state.write(ws.root, *windows_update)

    _summarize(actions, result, cells, regime, verdicts, doc)
    return result


def _cell_windows(root, parts, saved, new_rows, seen, cursor, shape, actions):
    """Every cell's evidence window (core/cell_windows.py), brought up to date with the rows
    appended since the last run, and what to write back: (days, changed, shape, cursor)."""
    rebuild = isinstance(saved, str)
    if rebuild:
        if saved != window_state.NO_WINDOWS:
            actions.annotate("notice", f"evidence windows rebuilt from the history: {saved}", title="windows")
        # No windows yet: built from the rows of the last window_days before the newest signal
        # (read newest first, stopping at the span: bounded by the window, not the history).
        newest = max(parts.max_ts.values(), default=None)
        since = cell_windows.first_day(newest[:10], shape.window_days) + "T00:00:00Z" if newest else ""
        days, fresh, new_cursor = {}, rows_from(parts, shape.horizon, since), dict(parts.committed)
    else:
        days, old_cursor = saved
        if old_cursor == seen:  # the detectors' read is the same rows: read once
            fresh, new_cursor = new_rows, cursor
        else:
            fresh, new_cursor = parts.rows_since(old_cursor, shape.horizon)
    changed = cell_windows.merge(days, fresh, shape)
    if rebuild:  # every day written; day files of an older shape deleted
        changed |= set(days) | window_state.days_on_disk(root)
    return cell_windows.window(days), (days, changed, shape, new_cursor)


def _close_stale(proposals: Proposals, life, cells, regime, actions, result) -> None:
    """Comment on and close the open automatic PRs whose reason no longer holds (core/lifecycle.py)."""
    for kind, stale in (("disable", life.stale_disable), ("enable", life.stale_enable)):
        if not stale:
            continue
        try:
            open_prs = proposals.open_auto_prs(kind)
            for strategy in sorted(set(open_prs) & set(stale)):
                body = report.autoclose_comment(
                    strategy, kind, stale[strategy], regime, cells.get(strategy, {}).get(regime)
                )
                what = proposals.close_stale(strategy, kind, body)
                print(
                    f"stale {kind} PR #{open_prs[strategy]} of {strategy}: {what} ({stale[strategy]})", file=actions.out
                )
                result.closed.append((strategy, kind, what))
                result.events.append({"kind": f"stale {kind} PR", "strategy": strategy, "result": what})
        except proposals.proposal_errors as err:
            result.failures.append(f"stale {kind} PRs: {err}")
            actions.annotate("error", f"could not close stale {kind} PRs: {err}")


def _propose_enable(ws, strategy, since, cells, regime, proposals: Proposals, actions, result, now) -> None:
    cfg = ws.settings.evaluate
    title = report.enable_title(strategy)
    cell = cells.get(strategy, {}).get(regime)
    held = hours_between(since, now)
    body = report.enable_body(strategy, regime, cell, since, cfg.reenable_margin, cfg.reenable_after_hours)
    why = f"Within reenable_margin x its limit in the current regime since {since} ({held:.0f} h)"
    _submit(
        proposals.propose_enable,
        "re-enable PR",
        strategy,
        title,
        proposals,
        actions,
        result,
        result.enables,
        body=body,
        edit=lambda text: enable_in_kill_list(text, strategy),
        commit_message=f"Re-enable strategy {strategy}\n\n{why}",
        respect_declined_hours=cfg.reopen_declined_after_hours,
    )


def _submit(propose, kind: str, strategy: str, title: str, proposals: Proposals, actions, result, into, **kw) -> None:
    """One proposal through `propose` (propose_disable or propose_enable): a failure is recorded
    (exit 2) and the run goes on; otherwise it is said, listed in `into` and, if opened, in the
    timeline."""
    try:
        pr = propose(strategy, title=title, **kw)
    except proposals.proposal_errors as err:
        result.failures.append(f"{kind} for {strategy}: {err}")
        actions.annotate("error", f"could not open the {kind} for {strategy}: {err}")
        return
    print(f"proposal: {title} -> {pr.where}" + (f" ({pr.note})" if pr.note else ""), file=actions.out)
    into.append((strategy, pr.where))
    _event(result, kind, strategy, pr)
    if pr.number and pr.action != "declined":
        result.pull_numbers.append(pr.number)


def _run_url(env) -> str | None:
    """The Actions run this is, from the variables Actions sets; None outside Actions."""
    server, repo, run = (env.get(k, "").strip() for k in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID"))
    return f"{server}/{repo}/actions/runs/{run}" if server.startswith("https://") and repo and run.isdigit() else None


def _event(result, kind: str, strategy: str, pr) -> None:
    """A proposal opened is an event of the timeline (an open PR's hourly refresh is not)."""
    if pr.action == "created":
        result.events.append({"kind": kind, "strategy": strategy, "result": pr.where})


def _mailer_from_env(env):
    from meta_supervisor.adapters.mail.sendgrid_mailer import mailer_from_env

    return mailer_from_env(env)


def _propose(ws, verdict, ev, now, proposals: Proposals, actions, result) -> None:
    strategy = verdict.strategy
    reason = report.disabled_reason(verdict)
    title, body = report.pr_title(strategy), report.pr_body(ev)
    actions.annotate("error", f"{strategy}: {reason}", file=KILL_LIST, title="CVaR breach")
    _submit(
        proposals.propose_disable,
        "disable PR",
        strategy,
        title,
        proposals,
        actions,
        result,
        result.proposals,
        body=body,
        edit=lambda text: disable_in_kill_list(text, strategy, now, reason),
        commit_message=f"Disable strategy {strategy}\n\n{reason}",
        respect_declined_hours=ws.settings.evaluate.reopen_declined_after_hours,
    )


def _already_queued(update: alert_life.AlertUpdate, queue: list[dict], previous: dict | None):
    """A run killed after queueing its mail and before recording the alerts as notified left
    alerts that look due but are already being mailed (the queue says which): record them as
    notified when queued, and do not mail them again."""
    notified = {a["key"]: a.get("last_notified") for a in (previous or {}).get("alerts", [])}
    queued = mailbox.unrecorded_keys(queue, notified)
    if not queued:
        return update
    doc = update.doc
    for at in sorted(set(queued.values())):
        doc = alert_life.mark_notified(doc, [k for k, t in queued.items() if t == at], at)
    to_notify = [a for a in update.to_notify if a["key"] not in queued]
    return alert_life.AlertUpdate(doc=doc, transitions=update.transitions, to_notify=to_notify)


def _notify(ws, update, queue, now, mailer, env, actions, result, dry_run: bool) -> dict:
    """Queue the mail, record its alerts as notified, then send: each step atomic, so a kill at
    any point neither loses the mail nor sends it twice, except in the window between SendGrid's
    acceptance and the queue rewrite (adapters/mail/mailbox.py). A dry run records nothing as
    done: the real run after it mails exactly as if it had not run."""
    doc = update.doc
    log = lambda m: print(m, file=actions.out)
    report = mailbox.DeliveryReport()
    if update.to_notify:
        where = dict(result.proposals)
        breaches = [
            {
                "strategy": v.strategy,
                "regime": v.regime,
                "cvar95_bps": (v.cell or {}).get("cvar95_error_bps"),
                "limit_bps": v.limit,
                "cvar95_sigma": (v.cell or {}).get("cvar95_error_sigma"),
                "limit_sigma": v.sigma_limit,
                "proposal": where.get(v.strategy, "not proposed (see the run log)"),
            }
            for v in result.verdicts
            if v.breach
        ]
        msg = compose_alert_mail(
            update.to_notify,
            now,
            env.get("GITHUB_REPOSITORY"),
            breaches=breaches,
            taken=[f"{e['kind']} {e['strategy']}: {e['result']}" for e in result.events],
            run_url=_run_url(env),
        )
        keys = [a["key"] for a in update.to_notify]
        report = mailbox.enqueue(ws.root, queue, [msg], mailer, log, alert_keys=keys, now=now)
        failpoint("mail_queued")
        if not dry_run:
            # Queued (pending) counts as notified: the queue re-sends it until it is delivered.
            doc = alert_life.mark_notified(doc, keys, now)
            evaluate_state.write_alerts(ws.root, doc)
            failpoint("alerts_recorded")
    rep = mailbox.send(ws.root, queue, mailer, report, log) if (mailer or update.to_notify) else None
    if rep is not None and not rep.ok:
        result.failures.extend(f"mail: {e}" for e in rep.errors)
        for e in rep.errors:
            actions.annotate("error", f"alert mail not delivered (kept pending): {e}")
    return doc


def _comment_alerts(proposals: Proposals, alerts, actions, result) -> None:
    try:
        for strategy, number in sorted(proposals.open_auto_prs().items()):
            mine = [a for a in alerts if a.get("strategy_class") == strategy]
            rest = [a for a in alerts if a.get("strategy_class") != strategy]
            body = (
                f"{ALERTS_MARKER}\n### Active divergence alerts\n\n**Agents of {code(strategy)}**\n\n"
                f"{report.alerts_table(mine)}\n\n**Other agents**\n\n{report.alerts_table(rest)}\n"
            )
            proposals.upsert_comment(number, ALERTS_MARKER, body)
    except UserError as err:
        result.failures.append(f"PR comments: {err}")
        actions.annotate("warning", f"could not update alert comments: {err}")


def _summarize(actions, result, cells, regime, verdicts, doc) -> None:
    breaches = [v.strategy for v in verdicts if v.breach]
    md = [
        "## Evaluate",
        "",
        f"Current regime: **{code(regime or 'unknown')}**",
        "",
        report.cells_table(cells, regime, verdicts),
        "",
    ]
    if verdicts and verdicts[0].fleet_wide:
        md += [f"> {report.fleet_note(verdicts[0])}", ""]
    md += [
        f"### Breaches: {len(breaches)}",
        "",
    ]
    md += [f"- {code(s)} -> {where}" for s, where in result.proposals] or ["None."]  # where: ours (URL or path)
    if result.enables:
        md += ["", f"### Re-enable proposals: {len(result.enables)}", ""]
        md += [f"- {code(s)} -> {where}" for s, where in result.enables]
    if result.closed:
        md += ["", f"### Stale proposals: {len(result.closed)}", ""]
        md += [f"- {code(s)} ({kind}): {what}" for s, kind, what in result.closed]
    md += ["", f"### Divergence alerts: {len(doc.get('alerts', []))}", "", report.alerts_table(doc.get("alerts", []))]
    if result.calibration:
        md += ["", f"> Detector calibration: {result.calibration}"]
    if result.failures:
        md += ["", "### Delivery problems", ""] + [f"- {f}" for f in result.failures]
    actions.summary("\n".join(md))
    actions.output("breaches", len(breaches))
    actions.output("breached_strategies", ",".join(breaches))
    actions.output("alerts", len(doc.get("alerts", [])))
    actions.output("pull_requests", ",".join(str(n) for n in result.pull_numbers))
    actions.output("reenable_proposals", len(result.enables))
    actions.output("closed_stale", len(result.closed))
