"""The desk's report in a real browser: headless Chromium loads the page offline; the DOM holds a
chart per strategy cell (ES line, confidence band, limit) and per detector chart (statistic,
threshold, alarms), the timeline, and no markup from hostile names; the screenshot is not blank."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from meta_supervisor.jobs import evaluate, report
from tests.browser import dump_dom, png_size_and_colours, screenshot
from tests.conftest import run_script
from tests.test_evaluate import _world, put_rows, rows_for
from tests.test_evaluate_live import _diverging_agent

HOSTILE = '<img src=x onerror="alert(1)">'


class _Dom(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in.append(tag)

    def handle_endtag(self, tag):
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data):
        self.text.append((self._in[-1] if self._in else "", data))

    def count(self, tag: str, cls: str | None = None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (cls is None or cls in (a.get("class") or "").split()))

    def texts(self, tag: str) -> list[str]:
        return [d.strip() for t, d in self.text if t == tag]


def _history(root):
    _world(root)
    evaluate.run(root, now="2026-11-28T01:00:00Z")
    # later rows stay within the cell's 14 signal days (Nov 1-14), so macro TREND keeps its evidence
    for i in range(1, 5):
        put_rows(
            root,
            rows_for("macro", "TREND", 40, tail_bps=300.0 * (i % 2), start=350 + 50 * i, seed=20 + i, every_minutes=30),
        )
        if i == 2:
            _diverging_agent(root)
            put_rows(root, rows_for("macro", "TREND", 30, start=600, seed=3, agent=HOSTILE, every_minutes=30))
        evaluate.run(root, now=f"2026-11-28T{1 + 2 * i:02d}:00:00Z")


def test_the_report_loads_offline_with_every_chart_and_no_injected_markup(root, tmp_path):
    _history(root)
    page = report.run(root, now="2026-11-28T12:00:00Z")
    html = page.read_text()
    # self-contained: nothing to fetch at view time
    assert not re.search(r"<(script|link|img|iframe|object|embed)\b", html, re.I)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.I) and "url(" not in html
    dom = _Dom()
    dom.feed(dump_dom(page))
    assert dom.texts("h3")[:2] == ["arb", "macro"]  # strategies, sorted
    cells = dom.count("div", "cell")
    assert cells == 4 and dom.count("svg", "es") == 4  # arb and macro x TREND and RANGE
    assert dom.count("polyline", "limit") == 3  # arb RANGE has no bps limit
    assert dom.count("polygon", "band") == 4 and dom.count("polyline", "value") >= 4
    assert dom.count("circle", "breach") == 5  # macro TREND at each of the 5 runs
    assert dom.count("svg", "stat") >= 4 and dom.count("polyline", "threshold") >= 4
    assert dom.count("circle", "alarm") >= 1
    streams = [t for t in dom.texts("h3") if t.startswith("agent:") or t.startswith("strategy:")]
    assert "agent:macro-bad" in streams and f"agent:{HOSTILE}" in streams  # shown as text
    assert dom.count("img") == 0 and dom.count("script") == 0  # ... never as markup
    assert any("disable PR" in t for t in dom.texts("td"))  # the timeline
    width, height, colours = png_size_and_colours(screenshot(page, tmp_path / "report.png"))
    assert (width, height) == (1100, 1600) and colours > 40


def test_report_verb_writes_the_page_where_asked(root):
    _world(root)
    run_script("evaluate", root, "--dry-run", "--now", "2026-11-28T01:00:00Z", check=True)
    proc = run_script("report", root, "--out", "site/index.html", "--now", "2026-11-28T02:00:00Z", check=True)
    assert (root / "site/index.html").read_text().startswith("<!DOCTYPE html>")
    assert "report: 1 runs of history" in proc.stderr
