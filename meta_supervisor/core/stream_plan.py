"""Each stream's calibration for this run: its share of the fleet's false-alarm budget, its rate and
the dependence of its rows. Pure (numpy); `s` is a divergence.DivergenceSettings, `obs` an Observed.

Budget. With B = fleet_false_alerts_per_month, N streams (agents and strategy classes in the
window) and C charts a stream, each chart may false-alarm B / (N C) times a month. A stream that
charts r rows a month then needs the in-control ARL (rows)

    ARL0_chart = max(C x arl0_rows, r x N x C / B)                      (B = 0: C x arl0_rows)

so the fleet's expected false alarms are at most B a month whatever its size or its agents' pace
(sum over streams and charts of r / ARL0 = B), and no stream alarms more often than once per
arl0_rows rows (the floor). r = the stream's rows in the window / the window's span in months.

Dependence. Each chart is widened by the long-run variance factor V of the values it sums, over
the stream's same-symbol overlap pairs (dependence.py), shrunk toward the pooled estimate of the
streams of the same scope (agents pool with agents, strategy classes with strategy classes), plus,
for the charts whose `dependence_across_symbols` says so, what pairs of different symbols add,
measured on a pool (an agent's classmates; see `measure`), floored by the
chart's `phi_factor(error_autocorrelation)`; `estimate_dependence: false` leaves the floor alone.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from meta_supervisor.core import dependence
from meta_supervisor.core.detectors import CHARTS, TRIGGERS, Tuning

HOURS_PER_MONTH = 730.5  # 365.25 x 24 / 12


class StreamPlan(NamedTuple):
    """A stream's calibration: each chart's in-control ARL (rows), its rows per hour, and per chart
    kind the Tuning (factor V, rate, horizon) its charts get."""

    arl0: float
    rows_per_hour: float
    tunings: dict[str, Tuning]


def chart_arl0(rows_per_month: float, n_streams: int, n_charts: int, budget: float, floor_rows: float) -> float:
    """In-control ARL (rows) of each chart of a stream (module docstring).

    >>> chart_arl0(600.0, 55, 4, 0.5, 10_000)  # 50 agents at 20 rows a day, 5 classes, 0.5 a month
    264000.0
    >>> chart_arl0(600.0, 55, 4, 0.0, 10_000)  # no budget: the per-stream arl0_rows of old
    40000.0
    """
    floor = float(n_charts) * floor_rows
    if budget <= 0:
        return floor
    return max(floor, rows_per_month * n_streams * n_charts / budget)


def _pairs(obs, pos: list[int], across_symbols: bool) -> dependence.BlockedPairs | None:
    pairs = dependence.overlap_pairs(
        [obs.symbol[i] for i in pos], obs.hours[pos], obs.horizon[pos], across_symbols=across_symbols
    )
    return dependence.blocked_pairs(pairs, len(pos))


def measure(obs, s) -> dict[str, dict[str, tuple[float, int]]]:
    """{stream key: {chart kind: (V, rows)}}: the long-run factor of each chart's values.

    Same-symbol dependence is the stream's own (shrunk toward its scope's pool). For a chart with
    `dependence_across_symbols`, the dependence across symbols is added from a pool: an agent's
    classmates (the other agents of its strategy class; the class itself for an agent alone in
    it), otherwise its scope. Across symbols a stream has ten times the overlap pairs, and a block
    that straddles a real shift of the stream's mean leaks into each of them: measured on the
    stream alone, the factor rose exactly when a fault began, and with the agent in its own pool
    a faulted agent of a two-agent class still widened itself by half of that (docs/detection.md).
    How much a book's symbols move together is the rule's (a momentum book is long what rose),
    so its classmates are the measure. Computed once per `obs` and settings."""
    if s not in obs.dependence:
        obs.dependence[s] = _measure(obs, s)
    return obs.dependence[s]


def _measure(obs, s) -> dict[str, dict[str, tuple[float, int]]]:
    streams = obs.streams(s)
    own: dict[tuple[str, str], dependence.Moments] = {}
    pools: dict[tuple[str, str], dependence.Moments] = {}
    across: dict[tuple[str, str], list[dependence.Moments]] = {}  # pool key -> [same, any symbol]
    own_across: dict[tuple[str, str], tuple[dependence.Moments, dependence.Moments]] = {}
    pool_of = {
        key: f"class:{obs.strategy[ix[0]]}" if scope == "agent" else scope for key, (scope, _, ix) in streams.items()
    }
    for key, (scope, _, ix) in streams.items():
        # the charts of a stream that chart the same rows share their pairs, cut into blocks once
        cache: dict[tuple[tuple[int, ...], bool], dependence.BlockedPairs | None] = {}
        for chart in CHARTS:
            pos, values = chart.charted(obs, ix, s)
            for wide in (False, True) if chart.dependence_across_symbols else (False,):
                at = (tuple(pos), wide)
                if at not in cache:  # setdefault would build the pairs on every call
                    cache[at] = _pairs(obs, list(pos), wide)
            m = dependence.blocked_moments(values, cache[(tuple(pos), False)])
            own[(key, chart.kind)] = m
            pools[(scope, chart.kind)] = pools.get((scope, chart.kind), dependence.NO_MOMENTS) + m
            if chart.dependence_across_symbols:
                wide_m = dependence.blocked_moments(values, cache[(tuple(pos), True)])
                own_across[(key, chart.kind)] = (m, wide_m)
                both = across.setdefault((pool_of[key], chart.kind), [dependence.NO_MOMENTS, dependence.NO_MOMENTS])
                both[0] += m
                both[1] += wide_m
    agents_in: dict[str, int] = {}  # pool key -> its agent streams
    for key, (scope, _, _) in streams.items():
        agents_in[pool_of[key]] = agents_in.get(pool_of[key], 0) + (scope == "agent")
    prior = {sk: dependence.shrunk_factor(m, 1.0) for sk, m in pools.items()}
    out: dict[str, dict[str, tuple[float, int]]] = {}
    for (key, kind), m in own.items():
        v = dependence.shrunk_factor(m, prior[(streams[key][0], kind)])
        if (key, kind) in own_across:
            pool = across[(pool_of[key], kind)]
            v = min(dependence.V_MAX, v + _across_increment(pool, own_across[(key, kind)], agents_in[pool_of[key]] > 1))
        out.setdefault(key, {})[kind] = (v, m.n)
    return out


def _across_increment(pool, mine, has_peers: bool) -> float:
    """What pairs of different symbols add to V, from an agent's classmates (the class pool less
    its own moments) when it has any with an estimate, otherwise from the pool (an agent alone in
    its class, a strategy class, the fleet). Leaving the agent out keeps a shift of its own mean
    from widening its own chart."""
    if has_peers:
        same, wide = pool[0] - mine[0], pool[1] - mine[1]
        if dependence.raw_factor(same) is not None and dependence.raw_factor(wide) is not None:
            return dependence.across_symbols_increment(same, wide)
    return dependence.across_symbols_increment(*pool)


def plan(obs, s) -> dict[str, StreamPlan]:
    """{stream key: StreamPlan} for the streams of `obs` (the evaluation window)."""
    streams = obs.streams(s)
    if not streams:
        return {}
    horizon = float(np.max(obs.horizon)) if len(obs.horizon) else 24.0
    span = max(float(np.max(obs.hours) - np.min(obs.hours)), horizon)  # a window shorter than a horizon
    factors = measure(obs, s) if s.estimate_dependence else {}
    out = {}
    for key, (_, _, ix) in streams.items():
        rate = len(ix) / span
        arl0 = chart_arl0(
            rate * HOURS_PER_MONTH, len(streams), len(TRIGGERS), s.fleet_false_alerts_per_month, s.arl0_rows
        )
        tunings = {
            chart.kind: Tuning(factors.get(key, {}).get(chart.kind, (1.0, 0))[0], rate, horizon) for chart in CHARTS
        }
        out[key] = StreamPlan(arl0, rate, tunings)
    return out


AUTOCORRELATION_MARGIN = 0.1


def error_autocorrelation(obs, s) -> dict[str, tuple[float, int]]:
    """{stream key: (phi, rows)}: the dependence of each stream's bias-chart values, as the AR(1)
    coefficient with the same long-run factor, phi = (V - 1) / (V + 1), V over the overlap pairs
    (not lag 1 of the interleaved stream, which misses same-symbol overlaps further apart)."""
    measured = measure(obs, s)
    return {key: (dependence.lag1_equivalent(kinds["mean"][0]), kinds["mean"][1]) for key, kinds in measured.items()}


def autocorrelation_warning(phis: dict[str, tuple[float, int]], s) -> str | None:
    """One line when the charts are widened less than the errors' dependence needs: with
    estimate_dependence, a stream whose factor reached the bound V_MAX; without it, a stream above
    error_autocorrelation by AUTOCORRELATION_MARGIN and by 3 standard errors (1 / sqrt(rows))."""
    if s.estimate_dependence:
        bound = dependence.lag1_equivalent(dependence.V_MAX) - 1e-9
        above = {k: v for k, v in phis.items() if v[0] >= bound}
        advice = f"the long-run variance factor is bounded at {dependence.V_MAX:g}"
    else:
        above = {
            k: (phi, n)
            for k, (phi, n) in phis.items()
            if n > 0 and phi > s.error_autocorrelation + max(AUTOCORRELATION_MARGIN, 3 / math.sqrt(n))
        }
        advice = "set divergence.error_autocorrelation or estimate_dependence: true"
    if not above:
        return None
    key, (phi, n) = max(above.items(), key=lambda kv: kv[1][0])
    return (
        f"errors are autocorrelated: lag-1 equivalent {phi:.2f} in {key} ({n} rows; {len(above)} of {len(phis)} "
        f"streams clearly above what the CUSUMs assume, {s.error_autocorrelation:g}): expect more false alarms "
        f"than the budget; {advice} (docs/detection.md)"
    )
