"""Divergence alerts as an e-mail: subject, aligned plain text and escaped HTML. Pure (stdlib and
the pure core: the detector registry for the triggers' meanings, timeutil for `now`).

Layout: one table per agent (trigger, severity, status, shift, since, strategy, detail), the
strategy-level alerts in a table of their own, then the action(s) and what each trigger present
means. Every value comes from data (agent names included), so it is stripped of control characters
(one alert row can never become two lines or a second header) and HTML-escaped in the HTML part.

`MailMessage.id` is a short sha256 of subject + text. The text deliberately carries no run time
(only the alerts' own timestamps), so composing the same alerts twice gives the same id and the
pending queue can de-duplicate a re-queued message.

>>> msg = compose_alert_mail([{"agent": "a<1>", "trigger": "mean_error", "severity": "high",
...                            "status": "new", "strategy_class": "macro"}], "2026-11-24T10:00:00Z")
>>> msg.subject
'DIVERGENCE ALERT: 1 new — agent a<1>'
>>> "a&lt;1&gt;" in msg.html and "a<1>" not in msg.html
True
>>> msg.id == compose_alert_mail([{"agent": "a<1>", "trigger": "mean_error", "severity": "high",
...     "status": "new", "strategy_class": "macro"}], "2026-11-25T00:00:00Z").id
True
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import asdict, dataclass

from meta_supervisor.core.detectors import MEANINGS as CHART_MEANINGS
from meta_supervisor.core.timeutil import format_ts, parse_ts

SUBJECT_PREFIX = "DIVERGENCE ALERT"
_MAX_SUBJECT_NAMES = 4
_MAX_CELL = 300

# The CUSUM triggers' meanings come from the detector registry (each chart owns its texts); the
# seed's rolling-window rules are not charts and are described here.
TRIGGER_MEANINGS = {
    **CHART_MEANINGS,
    "mean_abs_error": "rolling mean |realized - expected| over the recent rows is at or above its limit.",
    "mean_error": "rolling |mean(realized - expected)| over the recent rows is at or above its limit.",
    "stale_input": "the newest line of an input (signals or prices) is older than max_input_age_hours: the feed "
    "may have stopped, and a quiet fleet is not evidence of a healthy one.",
}
ACTION_MEANINGS = {
    "REDUCE_ALLOC_AND_BLOCK_PROMOTION": "reduce the agent's allocation and block its promotion until the alert clears.",
    "CHECK_INPUT_FEED": "check the producer of that input; nothing is measured on data that does not arrive.",
    "REVIEW_DISABLE_PR": "review the evidence in the pull request and merge it to switch the strategy off.",
    "CHECK_SIM_CALIBRATION": "the whole fleet departs from the sim at once (a market event, or the sim's sigma lags "
    "the market): check the model card's calibration before blaming any agent; agents' alarms of the same kind "
    "are filed as fleet-wide notices meanwhile.",
}
_SHIFT_FORMATS = {"sigma": "{:+.2f} sigma", "bps": "{:+.1f} bps", "hit_rate": "{:+.3f} hit rate"}
_STATUS_ORDER = ("new", "escalated", "ongoing", "cleared")
_SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
_STATUS_RANK = {"escalated": 0, "new": 1, "ongoing": 2, "cleared": 3}

AGENT_COLUMNS = ("Trigger", "Severity", "Status", "Shift", "Since", "Strategy", "Detail")
INPUT_COLUMNS = ("Strategy", "Trigger", "Severity", "Status", "Since", "Detail")  # Strategy holds the input
STRATEGY_COLUMNS = ("Strategy", "Trigger", "Severity", "Status", "Shift", "Since", "Detail")


@dataclass(frozen=True)
class AlertRow:
    """One alert as table cells, every one already a clean printable line (see `_row`)."""

    trigger: str
    severity: str
    status: str
    shift: str
    since: str
    strategy: str
    detail: str

    def cells(self, columns: tuple[str, ...]) -> tuple[str, ...]:
        """The cells under `columns` (AGENT_COLUMNS or STRATEGY_COLUMNS), in that order."""
        return tuple(getattr(self, column.lower()) for column in columns)


@dataclass(frozen=True)
class MailMessage:
    """One e-mail, transport-agnostic. `id` is deterministic (see module docstring)."""

    id: str
    subject: str
    text: str
    html: str
    created_at: str  # ISO 8601 UTC, "Z"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> MailMessage:
        missing = [k for k in ("id", "subject", "text", "html", "created_at") if not isinstance(d.get(k), str)]
        if missing:
            raise ValueError(f"mail message lacks string field(s): {', '.join(missing)}")
        return cls(id=d["id"], subject=d["subject"], text=d["text"], html=d["html"], created_at=d["created_at"])


def message_id(subject: str, text: str) -> str:
    """16 hex digits of sha256(subject, NUL, text): same content -> same id."""
    return hashlib.sha256(f"{subject}\0{text}".encode()).hexdigest()[:16]


BREACH_COLUMNS = ("Strategy", "Regime", "CVaR95 (bps)", "Limit (bps)", "CVaR95 (sigma)", "Limit (sigma)", "Proposal")


def compose_alert_mail(
    alerts: list[dict],
    now: str,
    repository: str | None = None,
    *,
    breaches: list[dict] | None = None,
    taken: list[str] | None = None,
    run_url: str | None = None,
) -> MailMessage:
    """Render `alerts` (dicts as written by the divergence job; missing keys shown as "-").

    `breaches`: this run's confirmed breaches ({"strategy", "regime", "cvar95_bps", "limit_bps",
    "cvar95_sigma", "limit_sigma", "proposal"}; a breach may be of either limit or both), listed
    with their PRs; `taken`: one line per action this run took (PR opened, updated, closed);
    `run_url`: the workflow run, linked at the end. Raises ValueError for an empty list (there is
    nothing to tell anyone) or a `now` that is not ISO 8601 with a zone.
    """
    if not alerts:
        raise ValueError("compose_alert_mail needs at least one alert")
    created_at = format_ts(parse_ts(now))  # ValueError unless ISO 8601 with a zone
    agent_groups, strategy_rows = _group(alerts)
    input_rows = [r for r in strategy_rows if r.trigger == "stale_input"]  # the input's name is in .strategy
    strategy_rows = [r for r in strategy_rows if r.trigger != "stale_input"]
    subject = _subject(alerts, list(agent_groups), strategy_rows, sorted({r.strategy for r in input_rows}))
    repo = _clean(repository) if repository else None

    # (heading, columns, rows): shared by the text and the HTML renderings
    sections: list[tuple[str, tuple[str, ...], list[tuple[str, ...]]]] = []
    for agent, rows in agent_groups.items():
        strategies = sorted({r.strategy for r in rows if r.strategy != "-"})
        heading = f"Agent {agent}" + (f" (strategy {', '.join(strategies)})" if strategies else "")
        sections.append((heading, AGENT_COLUMNS, [r.cells(AGENT_COLUMNS) for r in rows]))
    if input_rows:
        sections.append(("Input alerts", ("Input",) + INPUT_COLUMNS[1:], [r.cells(INPUT_COLUMNS) for r in input_rows]))
    if strategy_rows:
        sections.append(("Strategy-level alerts", STRATEGY_COLUMNS, [r.cells(STRATEGY_COLUMNS) for r in strategy_rows]))
    if breaches:
        breach_rows: list[tuple[str, ...]] = [
            (
                _clean(b.get("strategy"), 80),
                _clean(b.get("regime"), 80),
                _fmt_num(b.get("cvar95_bps")),
                _fmt_num(b.get("limit_bps")),
                _fmt_num(b.get("cvar95_sigma"), "{:.2f}"),
                _fmt_num(b.get("limit_sigma"), "{:.2f}"),
                _clean(b.get("proposal")),
            )
            for b in breaches
        ]
        sections.append(("Breaches: proposals to disable (a person reviews and merges)", BREACH_COLUMNS, breach_rows))

    actions = _actions(alerts)
    if breaches:
        names = ", ".join(r[0] for r in breach_rows)
        actions.append(("REVIEW_DISABLE_PR", ACTION_MEANINGS["REVIEW_DISABLE_PR"], names))
    triggers = sorted({_clean(a.get("trigger")) for a in alerts} - {"-"})
    done = [_clean(t) for t in taken or []]
    link = _clean(run_url, 400) if run_url else None
    text = _render_text(subject, sections, actions, triggers, repo, done, link)
    body_html = _render_html(subject, sections, actions, triggers, repo, done, link)
    return MailMessage(id=message_id(subject, text), subject=subject, text=text, html=body_html, created_at=created_at)


# ---------------------------------------------------------------- grouping and cells


def _clean(value, limit: int = _MAX_CELL) -> str:
    """One printable line: control/format characters become spaces, None becomes "-"."""
    if value is None or value == "":
        return "-"
    s = "".join(c if c.isprintable() else " " for c in str(value))
    s = " ".join(s.split())
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return s or "-"


def _fmt_shift(shift, unit) -> str:
    if shift is None:
        return "-"
    fmt = _SHIFT_FORMATS.get(unit)
    if isinstance(shift, (int, float)) and not isinstance(shift, bool) and fmt:
        return fmt.format(shift)
    return _clean(f"{shift} {unit}" if unit else shift)


def _fmt_num(value, fmt: str = "{:.1f}") -> str:
    return fmt.format(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def _strategy(alert: dict):
    return "(whole fleet)" if alert.get("scope") == "fleet" else alert.get("strategy_class")


def _is_strategy_level(alert: dict) -> bool:
    return alert.get("scope") == "strategy" or not alert.get("agent")


def _row(alert: dict) -> AlertRow:
    since = alert.get("change_ts") or alert.get("first_seen")
    return AlertRow(
        trigger=_clean(alert.get("trigger")),
        severity=_clean(alert.get("severity")),
        status=_clean(alert.get("status")),
        shift=_fmt_shift(alert.get("shift"), alert.get("shift_unit")),
        since=_clean(since),
        strategy=_clean(alert.get("input") if alert.get("trigger") == "stale_input" else _strategy(alert)),
        detail=_clean(alert.get("detail") or alert.get("message")),
    )


def _sort_key(row: AlertRow):
    return (_SEVERITY_RANK.get(row.severity, 9), _STATUS_RANK.get(row.status, 9), row.trigger, row.strategy)


def _group(alerts: list[dict]) -> tuple[dict[str, list[AlertRow]], list[AlertRow]]:
    by_agent: dict[str, list[AlertRow]] = {}
    strategy_rows = []
    for alert in alerts:
        if _is_strategy_level(alert):
            strategy_rows.append(_row(alert))
        else:
            by_agent.setdefault(_clean(alert.get("agent"), 80), []).append(_row(alert))
    groups = {agent: sorted(by_agent[agent], key=_sort_key) for agent in sorted(by_agent)}
    return groups, sorted(strategy_rows, key=lambda r: (r.strategy,) + _sort_key(r))


def _subject(
    alerts: list[dict], agents: list[str], strategy_rows: list[AlertRow], inputs: list[str] | None = None
) -> str:
    counts: dict[str, int] = {}
    for alert in alerts:
        status = _clean(alert.get("status"), 20)
        counts[status] = counts.get(status, 0) + 1
    order = [s for s in _STATUS_ORDER if s in counts] + sorted(s for s in counts if s not in _STATUS_ORDER)
    parts = []
    if agents:
        parts.append(_name_list("agent", agents))
    strategies = sorted({r.strategy for r in strategy_rows})
    if strategies:
        parts.append(_name_list("strategy", strategies, plural="strategies"))
    if inputs:
        parts.append(_name_list("input", list(inputs)))
    tally = ", ".join(f"{counts[s]} {s}" for s in order)
    return f"{SUBJECT_PREFIX}: {tally} — {'; '.join(parts)}"


def _name_list(word: str, names: list[str], plural: str | None = None) -> str:
    shown = [n[:40] for n in names[:_MAX_SUBJECT_NAMES]]
    more = f" +{len(names) - len(shown)} more" if len(names) > len(shown) else ""
    label = word if len(names) == 1 else (plural or word + "s")
    return f"{label} {', '.join(shown)}{more}"


def _actions(alerts: list[dict]) -> list[tuple[str, str, str]]:
    """[(action, meaning, who)] for alerts that are not cleared."""
    who: dict[str, list[str]] = {}
    for alert in alerts:
        if alert.get("status") == "cleared" or not alert.get("action"):
            continue
        name = _clean(alert.get("input") or _strategy(alert) if _is_strategy_level(alert) else alert.get("agent"), 80)
        targets = who.setdefault(_clean(alert["action"], 80), [])
        if name not in targets:
            targets.append(name)
    return [
        (action, ACTION_MEANINGS.get(action, ""), ", ".join(sorted(names))) for action, names in sorted(who.items())
    ]


# ---------------------------------------------------------------- rendering


def _text_table(columns: tuple, rows: list[tuple]) -> list[str]:
    # The last column (detail / free text) is not padded, so a long detail does not widen the rest.
    widths = [max(len(str(x)) for x in col) for col in zip(columns, *rows)]

    def line(cells):
        padded = [str(c).ljust(w) for c, w in zip(cells[:-1], widths[:-1])] + [str(cells[-1])]
        return ("  " + "  ".join(padded)).rstrip()

    return [line(columns), line(["-" * w for w in widths[:-1]] + ["-" * len(columns[-1])])] + [line(r) for r in rows]


def _render_text(subject, sections, actions, triggers, repo, done=(), link=None) -> str:
    out = [subject, ""]
    for heading, columns, rows in sections:
        out += [heading] + _text_table(columns, rows) + [""]
    if done:
        out += ["Done by this run:"] + [f"  - {d}" for d in done] + [""]
    for action, meaning, who in actions:
        out.append(f"Recommended: {action}" + (f" — {meaning}" if meaning else ""))
        out.append(f"  for: {who}")
    if actions:
        out.append("")
    out.append("What the triggers mean (shift: estimated size of the change; since: estimated change time):")
    for trig in triggers:
        out.append(f"  {trig}: {TRIGGER_MEANINGS.get(trig, 'no description available.')}")
    out.append("")
    out.append(
        "Sent by meta-supervisor"
        + (f" for {repo}" if repo else "")
        + ". Current alert state: state/divergence_alerts.json."
        + (f" Workflow run: {link}" if link else "")
    )
    return "\n".join(out) + "\n"


def _render_html(subject, sections, actions, triggers, repo, done=(), link=None) -> str:
    e = html.escape
    cell = 'style="border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top"'
    out = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"></head>',
        '<body style="font-family:sans-serif;font-size:14px">',
        f"<h2>{e(subject)}</h2>",
    ]
    for heading, columns, rows in sections:
        out.append(f"<h3>{e(heading)}</h3>")
        out.append('<table style="border-collapse:collapse">')
        out.append("<tr>" + "".join(f"<th {cell}>{e(c)}</th>" for c in columns) + "</tr>")
        for row in rows:
            out.append("<tr>" + "".join(f"<td {cell}>{e(str(c))}</td>" for c in row) + "</tr>")
        out.append("</table>")
    if done:
        out.append("<p>Done by this run:</p><ul>" + "".join(f"<li>{e(d)}</li>" for d in done) + "</ul>")
    for action, meaning, who in actions:
        out.append(
            f"<p><b>Recommended: {e(action)}</b>" + (f" — {e(meaning)}" if meaning else "") + f"<br>for: {e(who)}</p>"
        )
    out.append("<p>What the triggers mean (shift: estimated size of the change; since: estimated change time):</p><ul>")
    for trig in triggers:
        meaning = TRIGGER_MEANINGS.get(trig, "no description available.")
        out.append(f"<li><code>{e(trig)}</code>: {e(meaning)}</li>")
    out.append("</ul>")
    out.append(
        '<p style="color:#666">Sent by meta-supervisor'
        + (f" for {e(repo)}" if repo else "")
        + ". Current alert state: <code>state/divergence_alerts.json</code>."
        + (f' <a href="{e(link)}">Workflow run</a>.' if link and link.startswith("https://") else "")
        + "</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"
