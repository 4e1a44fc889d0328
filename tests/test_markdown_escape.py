"""Untrusted names in what people read: rendered by a real CommonMark parser with GFM tables
(markdown-it-py), hostile agent, strategy and regime names make no link, heading, HTML, mention
outside code, or extra table cell; and a hypothesis fuzz of the escaping itself."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from meta_supervisor.core.policy import Verdict
from meta_supervisor.core.render import report
from meta_supervisor.core.render.escape import code

MD = MarkdownIt("commonmark").enable("table")
HOSTILE = [
    "evil\n## APPROVED",
    "a|b|c",
    "@org/team",
    "[x](https://evil.example)",
    "<!-- hide",
    "<img src=x onerror=alert(1)>",
    "`tick` ``double``",
    "*bold* _it_ ~~s~~",
    "trailing\\",
    "\u202eevil\u200b",
    "x" * 500,
]


def _cell(n=300, regime="TREND"):
    return {
        "n": n,
        "n_without_model": 12,
        "days": 9,
        "cvar95_error_bps": 80.0,
        "cvar95_ci_bps": [70.0, 95.0],
        "cvar95_error_sigma": 2.9,
        "cvar95_sigma_ci": [2.5, 3.3],
        "calibrated_cvar95_bps": 60.0,
        "ci_confidence": 0.95,
        "mean_error_bps": -10.0,
        "hit_rate": 0.45,
        "expected_hit_rate": 0.55,
        "mean_pnl_bps": -3.0,
        "sum_pnl_bps": -900.0,
        "enough_data": True,
        "first_ts": "2026-11-01T00:00:00Z",
        "last_ts": "2026-11-09T00:00:00Z",
        "limit_bps": 60.0,
        "limit_sigma": None,
        "above_limit_since": "2026-11-08T00:00:00Z",
        "breach_since": "2026-11-09T00:00:00Z",
    }


def _pieces(name):
    cell = _cell()
    verdict = Verdict(name, name, "breach", cell, 60.0, exceeded=("bps",), fleet_above=1, fleet_judged=2)
    window = {"horizon_hours": 24, "rows": 900, "start": "2026-11-01T00:00:00Z", "end": "2026-11-09T00:00:00Z"}
    ev = report.evidence(verdict, {name: cell}, f"ridge_h24@{name}", window)
    alert = {
        "agent": name,
        "strategy_class": name,
        "trigger": "cusum_bias_down",
        "severity": "high",
        "status": "new",
        "shift": -1.2,
        "shift_unit": "sigma",
        "change_ts": "2026-11-08T00:00:00Z",
        "detail": f"mean error of {name}",
    }
    return {
        "pr body": report.pr_body(ev),
        "cells table": report.cells_table({name: {name: cell}}, name, [verdict]),
        "alerts table": report.alerts_table([alert]),
    }


def _check(html: str, name: str, where: str) -> None:
    assert "<a " not in html, where
    assert "<img" not in html, where  # only ever &lt;img inside code, or \\u003cimg in the marker
    assert not re.search(r"<h[1-6]>APPROVED", html), where
    without_code = re.sub(r"<code[^>]*>.*?</code>", "", html, flags=re.S)
    # the evidence marker: one HTML comment, never rendered; "--" cannot occur inside it
    (marker, *more) = re.findall(r"<!-- meta-supervisor:evidence .*? -->", without_code, flags=re.S) or [""]
    assert not more and "--" not in marker[4:-3], where
    without_code = without_code.replace(marker, "")
    assert "@org/team" not in without_code, where  # GitHub links no mention inside code
    assert "<!-- hide" not in without_code and "&lt;!-- hide" not in without_code, where


def _rows_have_equal_cells(html: str, where: str) -> None:
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        counts = {len(re.findall(r"<t[hd][ >]", row)) for row in re.findall(r"<tr>.*?</tr>", table, flags=re.S)}
        assert len(counts) == 1, (where, counts)


def test_hostile_names_make_no_markup_in_any_rendered_text():
    for name in HOSTILE:
        for where, text in _pieces(name).items():
            html = MD.render(text)
            _check(html, name, f"{where}: {name!r}")
            _rows_have_equal_cells(html, f"{where}: {name!r}")


def test_the_pr_body_still_says_what_merging_does_whatever_the_name():
    for name in HOSTILE:
        html = MD.render(_pieces(name)["pr body"])
        assert "<h3>What merging does</h3>" in html
        assert "Sets <code>status: DISABLED</code>" in html


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=120))
def test_any_text_is_one_code_span_in_one_table_cell(text):
    html = MD.render(f"| a | b |\n|---|---|\n| {code(text, cell=True)} | end |\n")
    cells = re.findall(r"<td>(.*?)</td>", html, flags=re.S)
    assert len(cells) == 2 and cells[1] == "end", html
    assert cells[0].startswith("<code>") and cells[0].endswith("</code>"), html
    assert cells[0].count("<code>") == 1


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=120))
def test_any_text_outside_a_table_stays_one_inline_code_span(text):
    html = MD.render(f"before {code(text)} after\n")
    assert html.startswith("<p>before <code>") and html.rstrip().endswith("</code> after</p>"), html
    assert html.count("<code>") == 1


def test_the_pr_body_puts_the_limit_that_was_breached_in_bold():
    """A breach of the sigma limit alone must not read as a bps breach (a replay's PR said "lower
    bound 151.2 bps against the no bps limit" in bold): each row compares its own bound with its own
    limit, and the one breached is bold."""
    window = {"horizon_hours": 24, "rows": 900, "start": "2026-11-01T00:00:00Z", "end": "2026-11-09T00:00:00Z"}
    sigma_only = dict(_cell(), limit_bps=None, limit_sigma=2.4)
    verdict = Verdict("macro", "TREND", "breach", sigma_only, None, sigma_limit=2.4, exceeded=("sigma",))
    body = report.pr_body(report.evidence(verdict, {"TREND": sigma_only}, "ridge_h24@x", window))
    assert (
        "| CVaR95 adverse error | 80.0 bps, 90% interval [70.0, 95.0]: the one-sided 95% lower bound 70.0 bps; "
        "no bps limit |" in body
    )
    assert (
        "| **CVaR95 in units of the sim's sigma** | **2.90 sigma**, 90% interval [2.50, 3.30]: the one-sided 95% "
        "lower bound 2.50 sigma against the limit 2.4 sigma |" in body
    )
    assert "| `TREND` ⚠ | 300 | 9 | 80.0 | [70.0, 95.0] | n/a | 2.4 |" in body
    bps_only = _cell()
    verdict = Verdict("macro", "TREND", "breach", bps_only, 60.0, exceeded=("bps",))
    body = report.pr_body(report.evidence(verdict, {"TREND": bps_only}, "ridge_h24@x", window))
    assert (
        "| **CVaR95 adverse error** | **80.0 bps**, 90% interval [70.0, 95.0]: the one-sided 95% lower bound "
        "70.0 bps against the limit 60 bps |" in body
    )
    assert "| CVaR95 in units of the sim's sigma | 2.90 sigma, 90% interval [2.50, 3.30]: no sigma limit |" in body
    assert "| `TREND` ⚠ | 300 | 9 | 80.0 | [70.0, 95.0] | 60 | n/a |" in body
