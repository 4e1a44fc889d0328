"""The desk's report: one self-contained static HTML page (pure: strings in, a string out).

Inline CSS and inline SVG only: no script, no font, no image, no link to fetch, so it renders the
same offline, from a CI artifact, from GitHub Pages or from a mail attachment. Every string from
the data (strategy, regime, agent, stream and trigger names) goes through `html.escape`.

Sections: per strategy, each regime's ES over time with its confidence band and the limit; per
detector stream, each chart's statistic over time against its threshold h, alarms marked; the
timeline of alert transitions and of what meta-supervisor did (PRs opened, updated, closed).
"""

from __future__ import annotations

from html import escape

from meta_supervisor.core.timeutil import parse_ts

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 170, 54, 12, 12, 28
MAX_STREAMS = 120  # a big fleet: streams with an alarm first, then the rest, up to this many

CSS = """
body{font:14px/1.4 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1b1f24;max-width:1000px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
h3{font-size:15px;margin:18px 0 4px}.meta{color:#57606a}.chart{margin:4px 0 10px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}
.legend span{display:inline-block;margin-right:14px}
.sw{display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px}
svg text{font:11px system-ui,sans-serif;fill:#57606a}.breach{color:#cf222e;font-weight:600}
"""


def _x(ts: float, t0: float, t1: float) -> float:
    return PAD_L + (W - PAD_L - PAD_R) * (0.5 if t1 <= t0 else (ts - t0) / (t1 - t0))


def _y(v: float, lo: float, hi: float) -> float:
    return PAD_T + (H - PAD_T - PAD_B) * (1 - (v - lo) / (hi - lo if hi > lo else 1.0))


def _points(xs, ys, t0, t1, lo, hi) -> str:
    return " ".join(f"{_x(x, t0, t1):.1f},{_y(y, lo, hi):.1f}" for x, y in zip(xs, ys))


def _frame(t0: float, t1: float, lo: float, hi: float, first: str, last: str, unit: str) -> list[str]:
    out = [
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" '
        'fill="#fff" stroke="#d0d7de"/>'
    ]
    for frac in (0.0, 0.5, 1.0):
        v = lo + (hi - lo) * frac
        y = _y(v, lo, hi)
        out.append(f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eaeef2"/>')
        out.append(f'<text x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{v:.3g}</text>')
    out.append(f'<text x="{PAD_L}" y="{H - 8}">{escape(first[:16])}</text>')
    out.append(f'<text x="{W - PAD_R}" y="{H - 8}" text-anchor="end">{escape(last[:16])}</text>')
    mid = (H - PAD_B + PAD_T) / 2
    out.append(
        f'<text x="12" y="{mid:.0f}" transform="rotate(-90 12 {mid:.0f})" text-anchor="middle">{escape(unit)}</text>'
    )
    return out


def es_chart(points: list[tuple[str, float, float | None, float | None, float | None]]) -> str:
    """SVG of ES over time: `points` = [(at, es, ci_low, ci_high, limit)], oldest first."""
    pts = [p for p in points if p[1] is not None]
    if not pts:
        return '<p class="meta">No ES yet.</p>'
    ts = [parse_ts(p[0]) for p in pts]
    values = [v for p in pts for v in (p[1], p[2], p[3], p[4]) if v is not None]
    lo, hi = min(0.0, min(values)), max(values) * 1.1 or 1.0
    t0, t1 = ts[0], ts[-1]
    parts = [f'<svg class="es" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">']
    parts += _frame(t0, t1, lo, hi, pts[0][0], pts[-1][0], "bps")
    band = [(t, p[2], p[3]) for t, p in zip(ts, pts) if p[2] is not None and p[3] is not None]
    if len(band) >= 2:
        upper = _points([b[0] for b in band], [b[2] for b in band], t0, t1, lo, hi)
        lower = _points([b[0] for b in band][::-1], [b[1] for b in band][::-1], t0, t1, lo, hi)
        parts.append(f'<polygon class="band" points="{upper} {lower}" fill="#54aeff" fill-opacity="0.25"/>')
    limits = [(t, p[4]) for t, p in zip(ts, pts) if p[4] is not None]
    if limits:
        line = _points([t for t, _ in limits], [v for _, v in limits], t0, t1, lo, hi)
        parts.append(
            f'<polyline class="limit" points="{line}" fill="none" stroke="#cf222e" stroke-dasharray="5 3" '
            'stroke-width="1.5"/>'
        )
    parts.append(
        f'<polyline class="value" points="{_points(ts, [p[1] for p in pts], t0, t1, lo, hi)}" fill="none" '
        'stroke="#0969da" stroke-width="2"/>'
    )
    for t, p in zip(ts, pts):
        if p[4] is not None and p[2] is not None and p[2] > p[4]:  # lower bound above the limit: a breach
            parts.append(
                f'<circle class="breach" cx="{_x(t, t0, t1):.1f}" cy="{_y(p[1], lo, hi):.1f}" r="3" fill="#cf222e"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def stat_chart(points: list[tuple[str, float | None, float | None, int]]) -> str:
    """SVG of a detector statistic against its threshold: `points` = [(at, statistic, h, alarm)]."""
    pts = [p for p in points if p[1] is not None]
    if not pts:
        return '<p class="meta">No statistic yet.</p>'
    ts = [parse_ts(p[0]) for p in pts]
    values = [v for p in pts for v in (p[1], p[2]) if v is not None]
    lo, hi = 0.0, max(values) * 1.1 or 1.0
    t0, t1 = ts[0], ts[-1]
    parts = [f'<svg class="stat" width="{W}" height="{H}" viewBox="0 0 {W} {H}" role="img">']
    parts += _frame(t0, t1, lo, hi, pts[0][0], pts[-1][0], "CUSUM")
    hs = [(t, p[2]) for t, p in zip(ts, pts) if p[2] is not None]
    if hs:
        parts.append(
            f'<polyline class="threshold" points="{_points([t for t, _ in hs], [v for _, v in hs], t0, t1, lo, hi)}" '
            'fill="none" stroke="#cf222e" stroke-dasharray="5 3" stroke-width="1.5"/>'
        )
    parts.append(
        f'<polyline class="value" points="{_points(ts, [p[1] for p in pts], t0, t1, lo, hi)}" fill="none" '
        'stroke="#8250df" stroke-width="2"/>'
    )
    for t, p in zip(ts, pts):
        if p[3] and p[1] is not None:
            parts.append(
                f'<circle class="alarm" cx="{_x(t, t0, t1):.1f}" cy="{_y(p[1], lo, hi):.1f}" r="3" fill="#cf222e"/>'
            )
    parts.append("</svg>")
    return "".join(parts)


def _legend(items: list[tuple[str, str]]) -> str:
    spans = "".join(f'<span><i class="sw" style="background:{c}"></i>{escape(t)}</span>' for c, t in items)
    return f'<div class="legend meta">{spans}</div>'


def render(records: list[dict], alerts_doc: dict | None, generated_at: str, repository: str | None = None) -> str:
    """The whole page from the history records (oldest first) and the alert document."""
    last = records[-1] if records else {}
    html = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>meta-supervisor report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>meta-supervisor report</h1>",
        f'<p class="meta">{escape(repository or "")} as of {escape(generated_at)}; {len(records)} evaluate runs '
        f"with new evidence"
        + (f", {escape(records[0]['at'])} to {escape(last['at'])}" if records else "")
        + f"; current regime <b>{escape(str(last.get('regime') or 'unknown'))}</b>.</p>",
    ]
    html += _strategies(records)
    html += _streams(records)
    html += _timeline(records, alerts_doc or {})
    html.append("</body></html>")
    return "\n".join(html) + "\n"


def _strategies(records: list[dict]) -> list[str]:
    out = ['<h2 id="strategies">Strategies: expected shortfall against the limit</h2>']
    out.append(_legend([("#0969da", "CVaR95 (bps)"), ("#54aeff", "90% interval"), ("#cf222e", "limit; dots: breach")]))
    series: dict[str, dict[str, list]] = {}
    for rec in records:
        for strategy, by_regime in rec.get("cells", {}).items():
            for regime, c in by_regime.items():
                series.setdefault(strategy, {}).setdefault(regime, []).append((rec["at"], c[1], c[2], c[3], c[4]))
    if not series:
        out.append('<p class="meta">No history yet: it starts with the first evaluate run.</p>')
    for strategy in sorted(series):
        out.append(f'<h3 class="strategy">{escape(strategy)}</h3>')
        for regime in sorted(series[strategy]):
            pts = series[strategy][regime]
            latest = pts[-1]
            state = ""
            if latest[4] is not None and latest[2] is not None and latest[2] > latest[4]:
                state = ' <span class="breach">breach</span>'
            out.append(
                f'<div class="chart cell"><div>regime <b>{escape(regime)}</b>: latest CVaR95 '
                f"{_fmt(latest[1])} bps (interval {_fmt(latest[2])}..{_fmt(latest[3])}), "
                f"limit {_fmt(latest[4])}{state}</div>"
                f"{es_chart(pts)}</div>"
            )
    return out


def _streams(records: list[dict]) -> list[str]:
    out = ['<h2 id="detectors">Agents: detector statistics against their thresholds</h2>']
    out.append(_legend([("#8250df", "CUSUM statistic"), ("#cf222e", "threshold h; dots: alarm")]))
    series: dict[str, dict[str, list]] = {}
    for rec in records:
        for key, kinds in rec.get("streams", {}).items():
            for kind, v in kinds.items():
                series.setdefault(key, {}).setdefault(kind, []).append((rec["at"], v[0], v[1], v[2]))
    alarmed = sorted(k for k, kinds in series.items() if any(p[3] for pts in kinds.values() for p in pts))
    order = alarmed + sorted(k for k in series if k not in alarmed)
    if not series:
        out.append('<p class="meta">No detector history yet.</p>')
    for key in order[:MAX_STREAMS]:
        flag = ' <span class="breach">alarm in this period</span>' if key in alarmed else ""
        out.append(f'<h3 class="stream">{escape(key)}{flag}</h3>')
        for kind in sorted(series[key]):
            out.append(f'<div class="chart"><div>{escape(kind)}</div>{stat_chart(series[key][kind])}</div>')
    if len(order) > MAX_STREAMS:
        out.append(f'<p class="meta">{len(order) - MAX_STREAMS} more streams without an alarm are not drawn.</p>')
    return out


def _timeline(records: list[dict], alerts_doc: dict) -> list[str]:
    out = ['<h2 id="timeline">Timeline: alerts and proposals</h2>']
    rows = [
        (t.get("at", ""), "alert", t.get("key", ""), f"{t.get('from') or '-'} → {t.get('to')}")
        for t in alerts_doc.get("history", [])
    ]
    for rec in records:
        for a in rec.get("actions", []):
            rows.append((rec["at"], a.get("kind", ""), a.get("strategy", ""), a.get("result", "")))
    if not rows:
        return out + ['<p class="meta">Nothing happened yet.</p>']
    out.append("<table><tr><th>When</th><th>What</th><th>Who</th><th>Change</th></tr>")
    for at, what, who, change in sorted(rows, key=lambda r: str(r[0]), reverse=True)[:500]:
        out.append(
            f"<tr><td>{escape(str(at))}</td><td>{escape(str(what))}</td><td>{escape(str(who))}</td><td>{escape(str(change))}</td></tr>"
        )
    out.append("</table>")
    return out


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:g}"
