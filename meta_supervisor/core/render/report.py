"""Words and tables for people: PR title/body, job summary, console summary (pure).

Everything here is a function of the evidence only (no clock), so an unchanged re-run renders
byte-identical text and the PR adapter sees nothing to update.
"""

from __future__ import annotations

import json

from meta_supervisor.core.render.escape import code

EVIDENCE_MARKER = "meta-supervisor:evidence"
KILL_LIST = "policy/strategy_kill_list.yaml"


def pr_title(strategy: str) -> str:
    return f"[AUTO] Disable strategy: {strategy}"


def _num(value, fmt="{:.1f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _ci(ci, fmt="{:.1f}") -> str:
    return "n/a" if not ci else f"[{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def _levels(c: dict) -> tuple[str, str]:
    """("95%", "90%"): the one-sided level of each bound and the two-sided level of the interval."""
    one = float(c.get("ci_confidence") or 0.95)
    return f"{100 * one:g}%", f"{100 * (2 * one - 1):g}%"


def disabled_reason(verdict) -> str:
    """One line: each exceeded ES with its lower bound and limit, the regime and the evidence."""
    c = verdict.cell
    one, _ = _levels(c)
    parts = []
    if "bps" in verdict.exceeded or not verdict.exceeded:
        parts.append(
            f"CVaR95 adverse error {c['cvar95_error_bps']:.1f} bps ({one} lower bound "
            f"{_num((c['cvar95_ci_bps'] or [None])[0])} bps) > limit {_num(verdict.limit, '{:g}')} bps"
        )
    if "sigma" in verdict.exceeded:
        parts.append(
            f"CVaR95 adverse error {c['cvar95_error_sigma']:.2f} sigma ({one} lower bound "
            f"{c['cvar95_sigma_ci'][0]:.2f}) > limit {verdict.sigma_limit:g} sigma"
        )
    return (
        "; ".join(parts) + f" in regime {verdict.regime} (n={c['n']} model rows over {c['days']} days, "
        f"{c['first_ts']}..{c['last_ts']})"
    )


def fleet_note(verdict) -> str:
    share = f"{verdict.fleet_above} of {verdict.fleet_judged} strategies with a limit and enough data"
    if verdict.fleet_wide:
        return (
            f"Fleet-wide: {share} in regime {verdict.regime} are above their limit at once; a market "
            "(volatility) event is more likely than one strategy's simulation failing."
        )
    return f"Specific to this strategy: {share} in regime {verdict.regime} are above their limit."


def evidence(verdict, cells_by_regime: dict, model_version: str | None, window: dict) -> dict:
    return {
        "strategy": verdict.strategy,
        "regime": verdict.regime,
        "outcome": verdict.outcome,
        "exceeded": list(verdict.exceeded),
        "limit_bps": verdict.limit,
        "limit_sigma": verdict.sigma_limit,
        "cell": verdict.cell,
        "fleet": {"above": verdict.fleet_above, "judged": verdict.fleet_judged, "wide": verdict.fleet_wide},
        "model_version": model_version,
        "window": window,
        "regimes": {
            r: {
                "cvar95_error_bps": c["cvar95_error_bps"],
                "cvar95_ci_bps": c["cvar95_ci_bps"],
                "n": c["n"],
                "days": c["days"],
                "limit_bps": c.get("limit_bps"),
                "limit_sigma": c.get("limit_sigma"),
            }
            for r, c in sorted(cells_by_regime.items())
        },
    }


def _mermaid(ev: dict) -> list[str]:
    regimes = [r for r, v in ev["regimes"].items() if v["limit_bps"] is not None and v["cvar95_error_bps"] is not None]
    if not regimes:
        return []
    bars = [ev["regimes"][r]["cvar95_error_bps"] for r in regimes]
    lims = [ev["regimes"][r]["limit_bps"] for r in regimes]
    top = max(bars + lims)
    return [
        "```mermaid",
        "xychart-beta",
        '    title "CVaR95 of adverse error by regime (bars) vs limit (line), bps"',
        "    x-axis [" + ", ".join(json.dumps(r) for r in regimes) + "]",
        f'    y-axis "bps" 0 --> {top * 1.15:.0f}',
        "    bar [" + ", ".join(f"{b:.1f}" for b in bars) + "]",
        "    line [" + ", ".join(f"{v:g}" for v in lims) + "]",
        "```",
    ]


def _trajectory(ev: dict) -> list[str]:
    """Mermaid line chart of the cell's ES (and its lower bound) against the limit over the runs that
    changed the evidence (state/history/), oldest first; nothing with fewer than two points."""
    points = [p for p in ev.get("trajectory") or [] if p[1] is not None]
    if len(points) < 2:
        return []
    es = [p[1] for p in points]
    low = [p[2] if p[2] is not None else p[1] for p in points]
    lim = [p[3] for p in points if p[3] is not None]
    top = max(es + lim) if lim else max(es)
    lines = [
        "```mermaid",
        "xychart-beta",
        f'    title "CVaR95 (bps) over {len(points)} runs, {points[0][0][:16]} to {points[-1][0][:16]}"',
        f'    x-axis "runs with new evidence" 1 --> {len(points)}',
        f'    y-axis "bps" 0 --> {top * 1.15:.0f}',
        "    line [" + ", ".join(f"{v:.1f}" for v in es) + "]",
        "    line [" + ", ".join(f"{v:.1f}" for v in low) + "]",
    ]
    if len(lim) == len(points):
        lines.append("    line [" + ", ".join(f"{v:g}" for v in lim) + "]")
        return lines + ["```", "", "Lines: CVaR95, its 95% lower bound, the limit."]
    return lines + ["```", "", "Lines: CVaR95 and its 95% lower bound (no bps limit in this regime to draw)."]


def _marker_json(ev: dict) -> str:
    # "--" cannot appear in an HTML comment; in JSON it can only sit inside a string.
    # ... and no "<" or ">": nothing in the comment can look like markup to any reader.
    text = json.dumps(ev, sort_keys=True, ensure_ascii=True).replace("--", "-\\u002d")
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _bold(text: str, on: bool) -> str:
    return f"**{text}**" if on else text


def _evidence_rows(ev: dict) -> list[tuple[str, str]]:
    c, w = ev["cell"], ev["window"]
    one, two = _levels(c)
    low = (c["cvar95_ci_bps"] or [None])[0]
    low_sigma = (c.get("cvar95_sigma_ci") or [None])[0]
    if ev["limit_bps"] is None:
        against_bps = f"the one-sided {one} lower bound {_num(low)} bps; no bps limit"
    else:
        against_bps = f"the one-sided {one} lower bound {_num(low)} bps against the limit {ev['limit_bps']:g} bps"
    if ev["limit_sigma"] is None:
        against_sigma = "no sigma limit"
    else:
        against_sigma = (
            f"the one-sided {one} lower bound {_num(low_sigma, '{:.2f}')} sigma against the limit "
            f"{ev['limit_sigma']:g} sigma"
        )
    # the limit (or limits) the breach is about in bold: a sigma-only breach must not read as a bps one
    exceeded = ev.get("exceeded") or ["bps"]
    on_bps, on_sigma = "bps" in exceeded, "sigma" in exceeded
    bps_value = _bold(f"{c['cvar95_error_bps']:.1f} bps", on_bps)
    sigma_value = _bold(f"{_num(c.get('cvar95_error_sigma'), '{:.2f}')} sigma", on_sigma)
    return [
        ("Regime (current)", code(ev["regime"], cell=True)),
        (
            "Evidence",
            f"{c['n']} rows with a model prediction over {c['days']} signal days; "
            f"{c['n_without_model']} rows without a model (`fallback_zero`) are shown here only, never used",
        ),
        (
            _bold("CVaR95 adverse error", on_bps),
            f"{bps_value}, {two} interval {_ci(c['cvar95_ci_bps'])}: {against_bps}",
        ),
        (
            _bold("CVaR95 in units of the sim's sigma", on_sigma),
            f"{sigma_value}, {two} interval {_ci(c.get('cvar95_sigma_ci'), '{:.2f}')}: {against_sigma}",
        ),
        (
            "A calibrated sim would show",
            f"{_num(c['calibrated_cvar95_bps'])} bps (Gaussian errors with these rows' sigmas)",
        ),
        (
            "Above the limit",
            f"point ES above since {c.get('above_limit_since') or 'n/a'}; "
            f"confirmed (lower bound above) since {c.get('breach_since') or 'n/a'} (first runs of the current streak)",
        ),
        ("Fleet", fleet_note_from(ev)),
        ("Mean error (live - sim)", f"{c['mean_error_bps']:+.1f} bps"),
        ("Hit rate live vs sim (same model rows)", f"{_pct(c['hit_rate'])} vs {_pct(c['expected_hit_rate'])}"),
        ("PnL mean / total (model rows)", f"{c['mean_pnl_bps']:+.1f} / {c['sum_pnl_bps']:+.0f} bps"),
        ("Cell window (signal time)", f"{c['first_ts']} .. {c['last_ts']}"),
        ("Evaluation window", f"last {w['rows']} rows of horizon {w['horizon_hours']}h, {w['start']} .. {w['end']}"),
        ("Model", code(ev["model_version"] or "none (fallback_zero)", cell=True)),
    ]


def fleet_note_from(ev: dict) -> str:
    f = ev["fleet"]
    regime = code(ev["regime"], cell=True)
    share = f"{f['above']} of {f['judged']} strategies with a limit and enough data in {regime} are above it"
    return f"**fleet-wide**: {share} (a market event is more likely)" if f["wide"] else f"specific: {share}"


def pr_body(ev: dict) -> str:
    s = ev["strategy"]
    lines = [
        f"meta-supervisor proposes to **disable {code(s)}**: in the current regime {code(ev['regime'])} its "
        f"live results fall short of the simulation by more than the kill list allows, with "
        f"{_levels(ev['cell'])[0]} confidence.",
        "",
        "| Evidence | Value |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in _evidence_rows(ev)]
    lines += [
        "",
        "### CVaR95 by regime",
        "",
        "| Regime | n (model rows) | Days | CVaR95 (bps) | 90% interval | Limit (bps) | Limit (sigma) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for r, v in ev["regimes"].items():
        flag = " ⚠" if r == ev["regime"] else ""
        lines.append(
            f"| {code(r, cell=True)}{flag} | {v['n']} | {_num(v['days'], '{:d}')} | {_num(v['cvar95_error_bps'])} | "
            f"{_ci(v['cvar95_ci_bps'])} | {_num(v['limit_bps'], '{:g}')} | {_num(v.get('limit_sigma'), '{:g}')} |"
        )
    chart = _mermaid(ev)
    if chart:
        lines += [""] + chart
    trajectory = _trajectory(ev)
    if trajectory:
        lines += ["", f"### CVaR95 over time in {code(ev['regime'])}", ""] + trajectory
    lines += [
        "",
        "### What merging does",
        "",
        f"Sets `status: DISABLED` for {code(s)} in `{KILL_LIST}` (with `disabled_at` and "
        "`disabled_reason`); no other line of the file changes. The live trading system reads the "
        "kill list from the default branch and stops the strategy. Once the strategy has recovered "
        "(its whole ES interval under `reenable_margin` x the limit for `reenable_after_hours`), "
        "meta-supervisor proposes re-enabling it; if the breach clears before this PR is merged, it is "
        "closed. Closing this PR without merging leaves the strategy on, and "
        "meta-supervisor will not propose it again for `evaluate.reopen_declined_after_hours` "
        "(default 7 days) even if the breach persists.",
        "",
        "CVaR95 is the Acerbi–Tasche expected shortfall at 95% of the adverse error "
        "`expected - realized` (positive = live did worse than the simulation), on rows with a model "
        "prediction only. Its interval is a day-block bootstrap (whole signal days resampled, since "
        "rows of one day share overlapping horizons); a breach needs the lower end above the limit. "
        "The calibrated-sim figure is what a perfectly calibrated sim with Gaussian errors would show "
        "with these rows' sigmas: a limit below it is breached by a sim that is right. See docs/tail-risk.md.",
        "",
        f"<!-- {EVIDENCE_MARKER} {_marker_json({k: v for k, v in ev.items() if k != 'trajectory'})} -->",
    ]
    return "\n".join(lines) + "\n"


def cells_table(cells: dict, regime: str, verdicts) -> str:
    outcome = {v.strategy: v.outcome for v in verdicts}
    lines = [
        "| Strategy | Regime | n (model) | w/o model | Days | CVaR95 (bps) | 90% CI | Limit | CVaR95 (sigma) "
        "| Limit (sigma) | Calibrated | Mean err | Hit live / exp | Verdict |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for strategy in sorted(cells):
        for r, c in sorted(cells[strategy].items()):
            verdict = outcome.get(strategy, "") if r == regime else ""
            mark = "**" if verdict == "breach" else ""
            lines.append(
                f"| {code(strategy, cell=True)} | {code(r, cell=True)}{' (current)' if r == regime else ''} | "
                f"{c['n']} | {c['n_without_model']} | "
                f"{_num(c['days'], '{:d}')} | {mark}{_num(c['cvar95_error_bps'])}{mark} | {_ci(c['cvar95_ci_bps'])} | "
                f"{_num(c.get('limit_bps'), '{:g}')} | {_num(c['cvar95_error_sigma'], '{:.2f}')} | "
                f"{_num(c.get('limit_sigma'), '{:g}')} | {_num(c['calibrated_cvar95_bps'])} | "
                f"{_num(c['mean_error_bps'], '{:+.1f}')} | {_pct(c['hit_rate'])} / {_pct(c['expected_hit_rate'])} | "
                f"{mark}{verdict}{mark} |"
            )
    return "\n".join(lines)


def alerts_table(alerts: list[dict]) -> str:
    if not alerts:
        return "No active divergence alerts."
    lines = [
        "| Agent | Strategy | Trigger | Severity | Status | Shift | Since | Detail |",
        "|---|---|---|---|---|---:|---|---|",
    ]
    for a in sorted(alerts, key=lambda a: (a.get("strategy_class") or "", a.get("agent") or "", a.get("trigger"))):
        shift = "" if a.get("shift") is None else f"{a['shift']:+.2f} {a.get('shift_unit', '')}"
        lines.append(
            f"| {code(a.get('agent') or '(all)', cell=True)} | {code(a.get('strategy_class'), cell=True)} | "
            f"{code(a.get('trigger'), cell=True)} | {code(a.get('severity'), cell=True)} | "
            f"{code(a.get('status'), cell=True)} | {shift} | {code(a.get('change_ts') or '', cell=True)} | "
            f"{code(a.get('detail', ''), cell=True, limit=200)} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- the PR lifecycle


def enable_title(strategy: str) -> str:
    return f"[AUTO] Re-enable strategy: {strategy}"


def _cell_rows(regime: str | None, cell: dict | None) -> list[str]:
    if not cell:
        return [f"No model rows in the current regime {code(regime or 'unknown')}."]
    return [
        "| Regime | n (model) | Days | CVaR95 (bps) | 90% CI (bps) | Limit (bps) | CVaR95 (sigma) | CI (sigma) "
        "| Limit (sigma) |",
        "|---|---:|---:|---:|---|---:|---:|---|---:|",
        f"| {code(regime or 'unknown', cell=True)} | {cell.get('n')} | {_num(cell.get('days'), '{:d}')} | "
        f"{_num(cell.get('cvar95_error_bps'))} | {_ci(cell.get('cvar95_ci_bps'))} | "
        f"{_num(cell.get('limit_bps'), '{:g}')} | {_num(cell.get('cvar95_error_sigma'), '{:.2f}')} | "
        f"{_ci(cell.get('cvar95_sigma_ci'), '{:.2f}')} | {_num(cell.get('limit_sigma'), '{:g}')} |",
    ]


def enable_body(
    strategy: str, regime: str | None, cell: dict | None, since: str, margin: float, after_hours: float
) -> str:
    """The re-enable PR: why (the hysteresis held), the evidence, and what merging does. No clock
    in it (only `since`), so an unchanged case leaves the open PR unchanged."""
    limit, upper = (cell or {}).get("limit_bps"), ((cell or {}).get("cvar95_ci_bps") or [None, None])[1]
    bound = f"its 95% upper bound {_num(upper)} bps" if limit is not None else "its upper bounds"
    under = f"{margin:g} x {limit:g} = {margin * limit:.1f} bps" if limit is not None else f"{margin:g} x its limits"
    return "\n".join(
        [
            f"## Re-enable {code(strategy)}",
            "",
            f"meta-supervisor disabled this strategy earlier. Its signals have kept being reconciled, and in the "
            f"current regime {code(regime or 'unknown')} its CVaR95 is back well within the limit: {bound} has stayed "
            f"under {under} since {since} (`reenable_after_hours`: {after_hours:g}).",
            "",
            *_cell_rows(regime, cell),
            "",
            "### What merging does",
            "",
            f"Sets `status: ENABLED` for {code(strategy)} in `{KILL_LIST}` and removes its `disabled_at` and "
            "`disabled_reason`; nothing else in the file changes. The live system trades the strategy again.",
            "",
            "Hysteresis: a re-enable needs the interval's upper end under `reenable_margin` x the limit for "
            "`reenable_after_hours`; a disable needs a confirmed breach (the lower end above the limit). Between "
            "the two nothing is proposed, so a strategy near its limit does not flap. If the strategy leaves the "
            "margin for `autoclose_after_hours` while this PR is open, it is closed.",
        ]
    )


def autoclose_comment(strategy: str, kind: str, since: str, regime: str | None, cell: dict | None) -> str:
    """The comment on a stale automatic PR, with the latest evidence."""
    what = (
        "The breach this PR disables the strategy for has cleared"
        if kind == "disable"
        else "The strategy has left the margin this PR re-enables it on"
    )
    return "\n".join(
        [
            f"### This proposal is stale: {code(strategy)}",
            "",
            f"{what} since {since} (current regime {code(regime or 'unknown')}). Latest evidence:",
            "",
            *_cell_rows(regime, cell),
            "",
            "If only meta-supervisor wrote to this branch, the PR is closed and its branch deleted; a branch a "
            "person pushed to is left as it is. A new breach (or recovery) opens a fresh proposal.",
        ]
    )
