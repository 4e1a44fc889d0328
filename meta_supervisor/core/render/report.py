"""Words and tables for people: PR title/body, job summary, console summary (pure).

Everything here is a function of the evidence only (no clock), so an unchanged re-run renders
byte-identical text and the PR adapter sees nothing to update.
"""

from __future__ import annotations

import json

EVIDENCE_MARKER = "meta-supervisor:evidence"
KILL_LIST = "policy/strategy_kill_list.yaml"


def pr_title(strategy: str) -> str:
    return f"[AUTO] Disable strategy: {strategy}"


def _num(value, fmt="{:.1f}") -> str:
    return "n/a" if value is None else fmt.format(value)


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def disabled_reason(verdict) -> str:
    c = verdict.cell
    return (
        f"CVaR95 adverse error {c['cvar95_error_bps']:.1f} bps > limit {verdict.limit:g} bps "
        f"in regime {verdict.regime} (n={c['n']}, {c['first_ts']}..{c['last_ts']})"
    )


def evidence(verdict, cells_by_regime: dict, limits: dict, model_version: str | None, window: dict) -> dict:
    return {
        "strategy": verdict.strategy,
        "regime": verdict.regime,
        "limit_bps": verdict.limit,
        "cell": verdict.cell,
        "model_version": model_version,
        "window": window,
        "regimes": {
            r: {"cvar95_error_bps": c["cvar95_error_bps"], "n": c["n"], "limit_bps": limits.get(r)}
            for r, c in sorted(cells_by_regime.items())
        },
    }


def _mermaid(ev: dict) -> list[str]:
    regimes = [r for r, v in ev["regimes"].items() if v["limit_bps"] is not None]
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


def _marker_json(ev: dict) -> str:
    # "--" cannot appear in an HTML comment; in JSON it can only sit inside a string.
    return json.dumps(ev, sort_keys=True, ensure_ascii=True).replace("--", "-\\u002d")


def pr_body(ev: dict) -> str:
    c, s = ev["cell"], ev["strategy"]
    w = ev["window"]
    rows = [
        ("Regime (current)", f"`{ev['regime']}`"),
        ("Rows in cell (n)", f"{c['n']} ({c['n_with_model']} with a model prediction, the rest `fallback_zero`)"),
        ("**CVaR95 adverse error**", f"**{c['cvar95_error_bps']:.1f} bps** (limit {ev['limit_bps']:g} bps)"),
        ("Mean error (live - sim)", f"{c['mean_error_bps']:+.1f} bps"),
        ("Hit rate live vs expected", f"{_pct(c['hit_rate'])} vs {_pct(c['expected_hit_rate'])}"),
        ("PnL mean / total", f"{c['mean_pnl_bps']:+.1f} / {c['sum_pnl_bps']:+.0f} bps"),
        ("Cell window (signal time)", f"{c['first_ts']} .. {c['last_ts']}"),
        ("Evaluation window", f"last {w['rows']} rows of horizon {w['horizon_hours']}h, {w['start']} .. {w['end']}"),
        ("Model", f"`{ev['model_version'] or 'none (fallback_zero)'}`"),
    ]
    lines = [
        f"meta-supervisor proposes to **disable `{s}`**: in the current regime `{ev['regime']}` its "
        f"live results fall short of the simulation by more than the kill list allows.",
        "",
        "| Evidence | Value |",
        "|---|---|",
    ] + [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "### CVaR95 by regime", "", "| Regime | n | CVaR95 (bps) | Limit (bps) |", "|---|---:|---:|---:|"]
    for r, v in ev["regimes"].items():
        flag = " ⚠" if r == ev["regime"] else ""
        lines.append(f"| `{r}`{flag} | {v['n']} | {v['cvar95_error_bps']:.1f} | {_num(v['limit_bps'], '{:g}')} |")
    chart = _mermaid(ev)
    if chart:
        lines += [""] + chart
    lines += [
        "",
        "### What merging does",
        "",
        f"Sets `status: DISABLED` for `{s}` in `{KILL_LIST}` (with `disabled_at` and "
        "`disabled_reason`); no other line of the file changes. The live trading system reads the "
        "kill list from the default branch and stops the strategy. To turn it back on later, set "
        "`status: ENABLED` in a normal PR. Closing this PR without merging leaves the strategy on, and "
        "meta-supervisor will not propose it again for `evaluate.reopen_declined_after_hours` "
        "(default 7 days) even if the breach persists.",
        "",
        "CVaR95 is the Acerbi–Tasche expected shortfall at 95% of the adverse error "
        "`expected - realized` (positive = live did worse than the simulation).",
        "",
        f"<!-- {EVIDENCE_MARKER} {_marker_json(ev)} -->",
    ]
    return "\n".join(lines) + "\n"


def cells_table(cells: dict, limits: dict, regime: str, verdicts) -> str:
    outcome = {v.strategy: v.outcome for v in verdicts}
    lines = [
        "| Strategy | Regime | n | CVaR95 (bps) | Limit | Mean err | Hit live / exp | Mean PnL | Verdict |",
        "|---|---|---:|---:|---:|---:|---|---:|---|",
    ]
    for strategy in sorted(cells):
        for r, c in sorted(cells[strategy].items()):
            limit = limits.get(strategy, {}).get(r)
            verdict = outcome.get(strategy, "") if r == regime else ""
            mark = "**" if verdict == "breach" else ""
            lines.append(
                f"| {strategy} | {r}{' (current)' if r == regime else ''} | {c['n']} | "
                f"{mark}{c['cvar95_error_bps']:.1f}{mark} | {_num(limit, '{:g}')} | "
                f"{c['mean_error_bps']:+.1f} | {_pct(c['hit_rate'])} / {_pct(c['expected_hit_rate'])} | "
                f"{c['mean_pnl_bps']:+.1f} | {mark}{verdict}{mark} |"
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
            f"| {a.get('agent') or '(all)'} | {a.get('strategy_class')} | {a.get('trigger')} | "
            f"{a.get('severity')} | {a.get('status')} | {shift} | {a.get('change_ts') or ''} | "
            f"{a.get('detail', '')} |"
        )
    return "\n".join(lines)
