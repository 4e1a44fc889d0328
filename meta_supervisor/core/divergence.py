"""Sim-vs-live divergence: per-stream CUSUMs (the heart) plus the seed's rolling-window rules. Pure.

A *stream* is one agent's rows (and, with `strategy_streams`, one strategy class's rows) of the
evaluation horizon, in (ts, event_id) order. On rows that carry a model prediction (sim_version !=
"fallback_zero", expected_sigma_bps > 0) we chart z = pnl_error_bps / expected_sigma_bps:

    cusum_bias_up / cusum_bias_down   MeanCusum on clip(z, -c, c)
    cusum_variance                    VarianceCusum on min(z^2, c^2)
    cusum_hit_rate                    BernoulliCusum on win = realized > 0, p = Phi(expected/sigma)

The charts are the registry `detectors.TRIGGERS` (one module per chart under core/detectors/):
this module loops over it and has no per-chart code. Every run, each stream's charts are retuned
(`stream_plan.plan`): the in-control ARL from the fleet's false-alarm budget and the stream's rate,
h widened by the measured dependence of the stream's rows (dependence.py), the clearing time in
hours. The statistics do not depend on h, so retuning never resets a chart. The seed's rules are
seed_rules.py. See docs/detection.md for the method, the thresholds and the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from meta_supervisor.core import stream_plan
from meta_supervisor.core.detectors import CHARTS, TRIGGERS, LatchedCusum, Tuning
from meta_supervisor.core.seed_rules import detection, short_ts
from meta_supervisor.core.seed_rules import seed_rule_detections as _seed_rules
from meta_supervisor.core.stats import normal_cdf
from meta_supervisor.core.timeutil import HOUR, format_ts, parse_ts, parse_ts_array

STATE_VERSION = 2  # 2: clear_hours / last_alarm_hour, per-stream plan
FLEET = "all"  # the fleet stream's name: key "fleet:all"
FLEET_ACTION = "CHECK_SIM_CALIBRATION"
# How far an agent's alarm may be from the fleet's concurrent one and still be the fleet's: one
# designed change (bias: delta sigma; variance: the design ratio; hit rate: a 0.10 drop in win rate,
# the 0.55 -> 0.45 the default odds ratio is designed for).
HIT_RATE_DESIGN_DROP = 0.10
FLEET_LOOKBACK_HOURS = 48.0  # the peers' move: each agent's rows since the alarm's change (>= two days) ...
FLEET_MIN_ROWS = 5  # ... when it has this many of them ...
FLEET_MIN_AGENTS = 3  # ... and the median of at least this many agents


@dataclass(frozen=True)
class DivergenceSettings:
    # The seed's rolling-window rules (per agent, secondary triggers).
    window: int = 80
    min_rows: int = 20  # = max(10, 80 // 4)
    abs_error_threshold_bps: float = 90.0
    mean_error_threshold_bps: float = 40.0
    seed_rules: bool = True
    high_severity_factor: float = 1.3  # seed rule is "high" at statistic >= factor * threshold
    # The CUSUMs.
    fleet_false_alerts_per_month: float = 0.25  # whole fleet's false CUSUM alarms a month (0: per-stream arl0_rows);
    # 0.25 over 0.5 from seven real-market quarters (docs/detection.md): as many honest onsets, fewer
    # fleet and class alerts, a fault in a volatile week less often filed as fleet-wide
    arl0_rows: int = 10000  # floor: no stream alarms falsely more than once per this many rows
    # Designed mean shift delta (k = delta / 2). 0.75 over 1.0 from seven real-market quarters once
    # the bias charts were widened for dependence across symbols (docs/detection.md): fewer honest
    # onsets (1 against 4 in 131 agent-months) and a half-sigma slippage found in 9.7 days, not 13.8.
    bias_shift_sigma: float = 0.75
    variance_ratio: float = 2.0  # designed variance ratio r (RMSE x sqrt(r))
    hit_rate_odds_ratio: float = 0.67  # designed win-odds ratio R < 1 (0.55 -> 0.45 is ~0.67)
    winsor_sigma: float = 3.0  # z clipped at +-c for bias; z^2 capped at c^2
    estimate_dependence: bool = True  # widen each stream's charts by its measured long-run variance
    error_autocorrelation: float = 0.0  # assumed AR(1) phi of z: a floor under the estimate (or the value, if off)
    strategy_streams: bool = True
    clear_multiple: float = 3.0  # an alarm clears after this many designed-shift delays (in hours) quiet
    clear_max_hours: float = 336.0  # ... but at most this long (a slow agent's hit-rate delay is months)
    # Rows signalled in the history's first `warmup_days` are not charted: until then the sigmas
    # rest on a few days of errors (the 24 h scale model's half-life is 12 days), and on the
    # real-market replay 11 of 13 false onsets of honest agents fell in the first two weeks.
    warmup_days: float = 14.0
    # Fleet-wide moves (docs/detection.md): an agent's or a strategy's alarm whose shift is within
    # one designed change of the median agent's move over the alarm's span, when that median
    # itself moved by half a designed change the same way, is fleet-wide (a market event, or the
    # sim's sigma lagging the market): a notice, not an alert. The whole fleet is also charted as
    # one stream ("fleet:all") whose alarm is the one alert (CHECK_SIM_CALIBRATION). On the
    # real-market replay every false onset but one left after the warm-up came with a fleet-wide
    # volatility shock.
    fleet_wide: bool = True
    # The same one level down (docs/detection.md, "Class-wide moves"): an agent's alarm explained by
    # the median agent of its own strategy class (at least three agents) is a notice; the class's
    # own stream carries the alert. A market move helps one class and hurts another, so the fleet's
    # median does not see it.
    class_wide: bool = True
    seed_rules_alert: bool = False  # the seed's bps rules: alerts (true) or notices, severity "info" (false)
    high_bias_sigma: float = 2.0  # CUSUM alarm severity "high" at |shift| >= this ...
    high_variance_ratio: float = 4.0  # ... variance ratio >= this ...
    high_hit_rate_drop: float = 0.15  # ... or win rate this far below expected

    def __post_init__(self):
        checks = [
            ("window", self.window >= 1, "must be >= 1"),
            ("min_rows", 1 <= self.min_rows <= self.window, "must be in [1, window]"),
            ("abs_error_threshold_bps", self.abs_error_threshold_bps > 0, "must be > 0"),
            ("mean_error_threshold_bps", self.mean_error_threshold_bps > 0, "must be > 0"),
            ("high_severity_factor", self.high_severity_factor >= 1, "must be >= 1"),
            ("fleet_false_alerts_per_month", 0 <= self.fleet_false_alerts_per_month <= 1000, "must be in [0, 1000]"),
            ("arl0_rows", 10 <= self.arl0_rows <= 10_000_000, "must be in [10, 1e7]"),
            ("bias_shift_sigma", 0 < self.bias_shift_sigma <= 10, "must be in (0, 10]"),
            ("variance_ratio", 1 < self.variance_ratio <= 100, "must be in (1, 100]"),
            ("hit_rate_odds_ratio", 0.05 <= self.hit_rate_odds_ratio < 1, "must be in [0.05, 1)"),
            ("winsor_sigma", 1 <= self.winsor_sigma <= 50, "must be in [1, 50]"),
            ("error_autocorrelation", 0 <= self.error_autocorrelation < 0.95, "must be in [0, 0.95)"),
            ("clear_multiple", self.clear_multiple >= 1, "must be >= 1"),
            ("clear_max_hours", self.clear_max_hours >= 1, "must be >= 1"),
            ("warmup_days", 0 <= self.warmup_days <= 365, "must be in [0, 365]"),
            ("high_bias_sigma", self.high_bias_sigma > 0, "must be > 0"),
            ("high_variance_ratio", self.high_variance_ratio > 1, "must be > 1"),
            ("high_hit_rate_drop", 0 < self.high_hit_rate_drop < 1, "must be in (0, 1)"),
        ]
        for name, ok, reason in checks:
            if not ok:
                raise ValueError(f"{name}: {reason}, got {getattr(self, name)!r}")


def new_detectors(s: DivergenceSettings, plan: stream_plan.StreamPlan | None = None) -> dict[str, LatchedCusum]:
    """The charts of one stream, {trigger: chart} in registry order, each calibrated (cached) to the
    plan's in-control ARL and tunings; without a plan, len(TRIGGERS) x arl0_rows, independent rows
    (error_autocorrelation aside), one row an hour."""
    if plan is None:
        plan = stream_plan.StreamPlan(float(len(TRIGGERS)) * s.arl0_rows, 1.0, {})
    return {
        name: trigger.new(s, plan.arl0, plan.tunings.get(trigger.chart.kind, Tuning()))  # type: ignore[union-attr]
        for name, trigger in TRIGGERS.items()
    }


def _fingerprint(s: DivergenceSettings) -> dict:
    """The settings the charts' statistics depend on (designs, cap, which streams); a change means
    a cold start. Settings that move only h or the clearing time (the budget, arl0_rows, the
    dependence, clear_*) retune the charts in place."""
    names = dict.fromkeys(tuple(n for chart in CHARTS for n in chart.settings) + ("winsor_sigma", "strategy_streams"))
    return {name: getattr(s, name) for name in names}


_FIELDS = (
    "sim_version",
    "expected_sigma_bps",
    "pnl_error_bps",
    "realized_pnl_bps",
    "expected_pnl_bps",
    "agent",
    "strategy_class",
    "ts",
    "symbol",
    "horizon_hours",
)
_columns = attrgetter(*_FIELDS)


def _floats(values) -> np.ndarray:
    """A column as float64, NaN for None (no sigma without a model) and for non-finite values."""
    out = np.array([math.nan if v is None else v for v in values], dtype=np.float64)
    out[~np.isfinite(out)] = math.nan
    return out


class Observed:
    """What the charts, the seed rules and the autocorrelation check see of a list of rows,
    computed once, column-wise: build it once and pass it to each of them.

    Rows are `records.Row`. Only rows the model priced
    are kept, in their order: not fallback_zero, a finite pnl_error and sigma > 0. Per kept row:
    z = pnl_error / sigma, and for rows with a realized and an expected PnL the win flag and the
    model's win probability (p is None otherwise), the symbol, the horizon and the time in hours
    (for the dependence estimate and the clearing time). Each chart picks its columns (`observe`)."""

    def __init__(self, rows, s: DivergenceSettings):
        cols = list(zip(*map(_columns, rows))) or [()] * len(_FIELDS)
        sim, sigma_col, error_col, realized_col, expected_col, agent, strategy, ts, symbol, horizon = cols
        sigma_all, error = _floats(sigma_col), _floats(error_col)
        kept = np.flatnonzero((np.array(sim, dtype=object) != "fallback_zero") & (sigma_all > 0) & ~np.isnan(error))
        sigma = sigma_all[kept]
        self.error = error[kept]
        self.z = self.error / sigma
        realized, expected = _floats(realized_col)[kept], _floats(expected_col)[kept]
        has_hit = ~np.isnan(realized) & ~np.isnan(expected)
        self.win = realized > 0
        ratio = (expected / sigma).tolist()
        self.p = [normal_cdf(x) if ok else None for x, ok in zip(ratio, has_hit.tolist())]
        idx = kept.tolist()
        self.ts = [ts[i] for i in idx]
        self.agent = [str(agent[i] or "unknown") for i in idx]
        self.strategy = [str(strategy[i] or "unknown") for i in idx]
        self.symbol = [str(symbol[i]) for i in idx]
        self.horizon = np.array([float(horizon[i]) for i in idx], dtype=np.float64)
        self.hours = parse_ts_array(self.ts) / HOUR
        # stream_plan.measure per settings: detect's plan and the autocorrelation check ask for the
        # same estimate, and it is most of an evaluate's detector time
        self.dependence: dict = {}

    def streams(self, s: DivergenceSettings) -> dict[str, tuple[str, str, list[int]]]:
        """{stream key: (scope, name, positions of its rows)}."""
        scopes = [("agent", self.agent)] + ([("strategy", self.strategy)] if s.strategy_streams else [])
        scopes += [("fleet", [FLEET] * len(self.agent))] if s.fleet_wide else []
        return {
            f"{scope}:{name}": (scope, name, ix) for scope, names in scopes for name, ix in _positions(names).items()
        }


def _positions(names: list[str]) -> dict[str, list[int]]:
    """{name: positions where it occurs}, in order."""
    out: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        out.setdefault(name, []).append(i)
    return out


def charting_from(history_start: str | None, s: DivergenceSettings) -> str | None:
    """The first signal time the charts take: `warmup_days` after the history's oldest signal
    (None: no warm-up, e.g. a history whose start is not recorded)."""
    if history_start is None or s.warmup_days <= 0:
        return None
    return format_ts(parse_ts(history_start) + s.warmup_days * 24 * HOUR)


def _feed(stream: dict, obs: Observed, ix: list[int], s: DivergenceSettings) -> None:
    """The stream's rows `ix` (positions in `obs`) through its charts, each seeing what it observes."""
    dets = stream["detectors"]
    ts = [obs.ts[i] for i in ix]
    for trigger in TRIGGERS:
        det = dets[trigger]
        seen = det.observe(obs, ix, ts, s)
        if seen is not None:
            det.update_many(*seen)
    stream["strategy_class"] = obs.strategy[ix[-1]]


def _retune(stream: dict, plan: stream_plan.StreamPlan, s: DivergenceSettings) -> None:
    for trigger, det in stream["detectors"].items():
        det.retune_for(s, plan.arl0, plan.tunings[TRIGGERS[trigger].chart.kind])  # type: ignore[union-attr]
    stream["plan"] = {
        "arl0_rows": round(plan.arl0, 3),
        "rows_per_hour": round(plan.rows_per_hour, 6),
        "long_run_factor": {kind: round(t.factor, 6) for kind, t in plan.tunings.items()},
    }


def detect(
    state: dict | None,
    new_rows: list,
    window_rows: list,
    settings: DivergenceSettings,
    window_obs: Observed | None = None,
    *,
    now: str | None = None,
    history_start: str | None = None,
) -> tuple[dict, list[dict]]:
    """Advance every stream's CUSUMs over `new_rows` and list the conditions firing now.

    First every stream of the window is retuned to this run's plan (computed on `window_rows`:
    budget share, dependence, rate), then the new rows are charted, then, with `now` (ISO 8601),
    episodes quiet for their clear_hours before `now` clear even if no row came. Cold start (state
    None, or saved under other chart statistics, see _fingerprint): replay `window_rows` instead of
    `new_rows`; older history is never replayed. Rows without a model prediction are skipped by
    the CUSUMs. The seed's rules are evaluated on `window_rows` each call (stateless). With no new
    rows (and the same `now`) the returned state equals the input and the detections repeat.
    Detections are sorted by key. `window_obs`: `Observed(window_rows)` if the caller has it.
    `history_start`: the oldest signal time of the history; rows signalled before
    `charting_from(history_start)` (the warm-up) are not charted.
    """
    s = settings
    streams = {}
    cold = state is None or state.get("version") != STATE_VERSION or state.get("params") != _fingerprint(s)
    if state is not None and not cold:
        for name, st in state.get("streams", {}).items():
            streams[name] = dict(st, detectors={t: LatchedCusum.from_dict(d) for t, d in st["detectors"].items()})
    if window_obs is None:
        window_obs = Observed(window_rows, s)
    plans = stream_plan.plan(window_obs, s)
    for key, (scope, name, _) in window_obs.streams(s).items():
        if key not in streams:
            streams[key] = {"scope": scope, "name": name, "strategy_class": "unknown", "detectors": new_detectors(s)}
        _retune(streams[key], plans[key], s)
    obs = window_obs if cold else Observed(new_rows, s)
    start = charting_from(history_start, s)
    first_hour = parse_ts(start) / HOUR if start else -math.inf
    for key, (scope, name, ix) in obs.streams(s).items():
        ix = [i for i in ix if obs.hours[i] >= first_hour]
        if not ix:
            continue
        if key not in streams:  # a new row outside the window: charted at the default calibration
            streams[key] = {"scope": scope, "name": name, "strategy_class": "unknown", "detectors": new_detectors(s)}
        _feed(streams[key], obs, ix, s)
    if now is not None:
        # The charts' clock is signal time, and a row is charted only once it has matured: at `now`
        # the newest possible row was signalled a horizon ago. Advancing to `now` itself cleared an
        # alarm in the very run that raised it whenever its clear time was one horizon.
        lag = max((float(o.horizon.max()) for o in (window_obs, obs) if len(o.horizon)), default=0.0)
        hour = parse_ts(now) / HOUR - lag
        for st in streams.values():
            for det in st["detectors"].values():
                det.advance(hour)
    new_state = {
        "version": STATE_VERSION,
        "params": _fingerprint(s),
        "streams": {
            key: dict(st, detectors={t: d.to_dict() for t, d in st["detectors"].items()})
            for key, st in sorted(streams.items())
        },
    }
    detections = [d for key, st in sorted(streams.items()) for d in _cusum_detections(key, st, s)]
    if s.fleet_wide:
        detections, judged = fleet_wide(detections, PeerMoves(window_obs, s), s, (state or {}).get("fleet_wide"))
        if judged:
            new_state["fleet_wide"] = judged
    if s.seed_rules:
        detections += seed_rule_detections(window_rows, s, window_obs)
    return new_state, sorted(detections, key=lambda d: d["key"])


class PeerMoves:
    """How the median agent moved, of the whole fleet or of one strategy class, over the span of an
    alarm: from its change_ts (the CUSUM's estimate of when its change began), and at least over
    the last FLEET_LOOKBACK_HOURS of the window. Each agent with FLEET_MIN_ROWS rows in the span
    gives the mean of the chart's charted values (clipped z, capped z^2, win - p: the units of the
    chart's shift); with FLEET_MIN_AGENTS of them, their median is how the typical agent moved. A
    median: a few faulty agents, however many rows they send, do not move it; a market event or a
    sim whose sigma lags the market moves most agents at once. The same span as the alarm's own
    shift: a slow drift that the CUSUM took a week to see is compared with the peers' week, not
    with their last two days."""

    def __init__(self, obs: Observed, s: DivergenceSettings):
        self.obs, self.s = obs, s
        self._cache: dict[tuple[float, str | None], dict[str, float]] = {}
        self.newest = float(obs.hours.max()) if len(obs.hours) else 0.0

    def move(self, trigger: str, change_ts: str | None, strategy: str | None = None) -> float | None:
        """The median agent's shift of `trigger` since `change_ts`, over the fleet or the class."""
        if not len(self.obs.hours):
            return None
        start = self.newest - FLEET_LOOKBACK_HOURS
        if change_ts is not None:
            start = min(start, parse_ts(change_ts) / HOUR)
        key = (start, strategy)
        if key not in self._cache:
            rows = np.flatnonzero(self.obs.hours >= start)
            if strategy is not None:
                rows = np.asarray([i for i in rows.tolist() if self.obs.strategy[i] == strategy], dtype=np.int64)
            self._cache[key] = _median_moves(self.obs, rows, self.s)
        return self._cache[key].get(trigger)


def _median_moves(obs: Observed, rows: np.ndarray, s: DivergenceSettings) -> dict[str, float]:
    """{trigger: median over agents (FLEET_MIN_ROWS of `rows` each, FLEET_MIN_AGENTS of them) of
    each agent's mean charted value}."""
    agents = _positions([obs.agent[i] for i in rows.tolist()])
    out = {}
    for trigger, spec in TRIGGERS.items():
        if spec.chart is None:
            continue
        means = []
        for pos in agents.values():
            values = np.asarray(spec.chart.charted(obs, rows[pos].tolist(), s)[1], dtype=np.float64)
            if len(values) >= FLEET_MIN_ROWS:
                means.append(float(values.mean()))
        if len(means) >= FLEET_MIN_AGENTS:
            out[trigger] = float(np.median(means))
    return out


def fleet_wide(
    detections: list[dict], peers: PeerMoves, s: DivergenceSettings, judged: dict | None = None
) -> tuple[list[dict], dict]:
    """Agent and strategy alarms explained by the fleet's own move of the same chart over the
    alarm's span (`peers`), and (`class_wide`) agent alarms explained by the move of their strategy
    class's median agent, become notices (severity info, `fleet_wide` or `class_wide` true); the
    fleet stream's own alarm is an alert with its own action, a class's alarm stays an alert. An
    episode keeps its first verdict (`judged`: {key: [change_ts, verdict]} of the previous run,
    verdict false, true (fleet-wide) or "class"; returned updated): a verdict that followed the
    median's hourly wobble would turn one alarm into several alert onsets."""
    judged = judged or {}
    out, verdicts = [], {}
    for d in detections:
        if d["scope"] == "fleet":
            out.append(dict(d, action=FLEET_ACTION))
            continue
        before = judged.get(d["key"])
        trigger, since, unit = d["trigger"], d["change_ts"], d["shift_unit"]
        if before is not None and before[0] == since:
            verdict = before[1]
        elif _explained_by_fleet(d["shift"], peers.move(trigger, since), unit, s):
            verdict = True
        elif s.class_wide and d["scope"] == "agent" and d["strategy_class"]:
            own = peers.move(trigger, since, d["strategy_class"])
            verdict = "class" if _explained_by_fleet(d["shift"], own, unit, s) else False
        else:
            verdict = False
        verdicts[d["key"]] = [since, verdict]
        if verdict == "class":
            d = dict(d, severity="info", class_wide=True)
            d["detail"] += f" - class-wide: the median {d['strategy_class']} agent's errors moved the same way"
        elif verdict:
            d = dict(d, severity="info", fleet_wide=True)
            d["detail"] += " - fleet-wide: the median agent's errors moved the same way"
        out.append(d)
    return out, verdicts


def _explained_by_fleet(shift, base: float | None, unit: str, s: DivergenceSettings) -> bool:
    """The fleet (or the class) itself moved by at least half a designed change, in the same
    direction, and the stream is within one designed change of it (module constants above)."""
    if shift is None or base is None:
        return False
    if unit == "ratio":
        return base >= math.sqrt(s.variance_ratio) and shift / base < s.variance_ratio
    if unit == "sigma":
        half = s.bias_shift_sigma / 2
        return abs(base) >= half and base * shift > 0 and abs(shift - base) < s.bias_shift_sigma
    return base <= -HIT_RATE_DESIGN_DROP / 2 and shift - base > -HIT_RATE_DESIGN_DROP


def error_autocorrelation(window, s: DivergenceSettings) -> dict[str, tuple[float, int]]:
    """{stream key: (phi, rows)}: each stream's measured dependence as the AR(1) coefficient with the
    same long-run variance factor (stream_plan.error_autocorrelation). `window`: rows or Observed."""
    obs = window if isinstance(window, Observed) else Observed(window, s)
    return stream_plan.error_autocorrelation(obs, s)


def autocorrelation_warning(phis: dict[str, tuple[float, int]], s: DivergenceSettings) -> str | None:
    """One line when the charts are widened less than the measured dependence needs (stream_plan)."""
    return stream_plan.autocorrelation_warning(phis, s)


def _cusum_detections(key: str, stream: dict, s: DivergenceSettings) -> list[dict]:
    """The stream's firing charts; the chart says what changed, its unit and severity (`describe`),
    the detail line adds since when and the statistic against h."""
    out = []
    for trigger in TRIGGERS:
        det = stream["detectors"][trigger]
        if not det.alarm:
            continue
        rep = det.report
        what, unit, high = det.describe(s)
        h = rep.get("threshold", det.h)  # reports saved before the field existed: today's h
        detail = f"{what} since {short_ts(det.change_ts)} (CUSUM {rep['statistic']:.1f} > h {h:.1f})"
        out.append(
            detection(
                key,
                stream,
                trigger,
                high,
                det.change_ts,
                rep["shift"],
                unit,
                rep["statistic"],
                h,
                rep["rows"],
                detail,
                rep["last_row_ts"],
            )
        )
    return out


def seed_rule_detections(window_rows: list, s: DivergenceSettings, observed: Observed | None = None) -> list[dict]:
    """The seed's rules per agent over its last `window` predicted rows (seed_rules.py).
    `observed`: `Observed(window_rows)`, to skip doing it twice."""
    obs = observed if observed is not None else Observed(window_rows, s)
    return _seed_rules(obs, _positions(obs.agent), s)
