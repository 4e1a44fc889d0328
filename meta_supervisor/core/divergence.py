"""Sim-vs-live divergence: per-stream CUSUMs (the heart) plus the seed's rolling-window rules. Pure.

A *stream* is one agent's rows (and, with `strategy_streams`, one strategy class's rows) of the
evaluation horizon, in (ts, event_id) order. On rows that carry a model prediction (sim_version !=
"fallback_zero", expected_sigma_bps > 0) we chart z = pnl_error_bps / expected_sigma_bps:

    cusum_bias_up / cusum_bias_down   MeanCusum on clip(z / a, -c, c), a = sqrt((1+phi)/(1-phi))
                                      (a = 1 unless error_autocorrelation phi is set)
    cusum_variance                    VarianceCusum on min(z^2, c^2)
    cusum_hit_rate                    BernoulliCusum on win = realized > 0, p = Phi(expected/sigma)

The charts are the registry `detectors.TRIGGERS` (one module per chart under core/detectors/):
this module loops over it and has no per-chart code. Each of the (four) one-sided charts is
calibrated to an in-control ARL of len(TRIGGERS) * arl0_rows, so the stream's combined
false-alarm rate is about 1 / arl0_rows (rates of rare renewals add). See docs/detection.md for the
method, the thresholds and the benchmark.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from meta_supervisor.core.detectors import CHARTS, TRIGGERS, LatchedCusum
from meta_supervisor.core.stats import normal_cdf

STATE_VERSION = 1


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
    arl0_rows: int = 10000  # in-control ARL per stream (all four charts together)
    bias_shift_sigma: float = 1.0  # designed mean shift delta (k = delta / 2)
    variance_ratio: float = 2.0  # designed variance ratio r (RMSE x sqrt(r))
    hit_rate_odds_ratio: float = 0.67  # designed win-odds ratio R < 1 (0.55 -> 0.45 is ~0.67)
    winsor_sigma: float = 3.0  # z clipped at +-c for bias; z^2 capped at c^2
    error_autocorrelation: float = 0.0  # assumed AR(1) phi of z: widens all charts (conservative)
    strategy_streams: bool = True
    clear_multiple: float = 3.0  # latch clears after this many designed-shift ARLs quiet
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
            ("arl0_rows", 10 <= self.arl0_rows <= 10_000_000, "must be in [10, 1e7]"),
            ("bias_shift_sigma", 0 < self.bias_shift_sigma <= 10, "must be in (0, 10]"),
            ("variance_ratio", 1 < self.variance_ratio <= 100, "must be in (1, 100]"),
            ("hit_rate_odds_ratio", 0.05 <= self.hit_rate_odds_ratio < 1, "must be in [0.05, 1)"),
            ("winsor_sigma", 1 <= self.winsor_sigma <= 50, "must be in [1, 50]"),
            ("error_autocorrelation", 0 <= self.error_autocorrelation < 0.95, "must be in [0, 0.95)"),
            ("clear_multiple", self.clear_multiple >= 1, "must be >= 1"),
            ("high_bias_sigma", self.high_bias_sigma > 0, "must be > 0"),
            ("high_variance_ratio", self.high_variance_ratio > 1, "must be > 1"),
            ("high_hit_rate_drop", 0 < self.high_hit_rate_drop < 1, "must be in (0, 1)"),
        ]
        for name, ok, reason in checks:
            if not ok:
                raise ValueError(f"{name}: {reason}, got {getattr(self, name)!r}")


def new_detectors(s: DivergenceSettings) -> dict[str, LatchedCusum]:
    """The charts of one stream, {trigger: chart} in registry order, each calibrated (cached) to
    an in-control ARL of len(TRIGGERS) x arl0_rows and widened for error_autocorrelation by its
    own `for_stream` (under AR(1) errors a CUSUM behaves like one with threshold h / V, V the
    long-run variance factor: see detectors.base.long_run_factor)."""
    arl = float(len(TRIGGERS)) * s.arl0_rows
    return {name: trigger.new(s, arl) for name, trigger in TRIGGERS.items()}


# The settings every chart's state depends on; each chart adds its own (`settings`, e.g. its
# designed change) between arl0_rows and these.
_SHARED_SETTINGS = ("winsor_sigma", "error_autocorrelation", "strategy_streams", "clear_multiple")


def _fingerprint(s: DivergenceSettings) -> dict:
    """The settings the detector state depends on; a change means a cold start."""
    names = dict.fromkeys(("arl0_rows",) + tuple(n for chart in CHARTS for n in chart.settings) + _SHARED_SETTINGS)
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
    model's win probability (p is None otherwise). Each chart picks its columns (`observe`)."""

    def __init__(self, rows, s: DivergenceSettings):
        cols = list(zip(*map(_columns, rows))) or [()] * len(_FIELDS)
        sim, sigma_col, error_col, realized_col, expected_col, agent, strategy, ts = cols
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

    def streams(self, s: DivergenceSettings) -> dict[str, tuple[str, str, list[int]]]:
        """{stream key: (scope, name, positions of its rows)}."""
        scopes = [("agent", self.agent)] + ([("strategy", self.strategy)] if s.strategy_streams else [])
        return {
            f"{scope}:{name}": (scope, name, ix) for scope, names in scopes for name, ix in _positions(names).items()
        }


def _positions(names: list[str]) -> dict[str, list[int]]:
    """{name: positions where it occurs}, in order."""
    out: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        out.setdefault(name, []).append(i)
    return out


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


def detect(
    state: dict | None,
    new_rows: list,
    window_rows: list,
    settings: DivergenceSettings,
    window_obs: Observed | None = None,
) -> tuple[dict, list[dict]]:
    """Advance every stream's CUSUMs over `new_rows` and list the conditions firing now.

    Cold start (state None, or saved under other CUSUM settings): replay `window_rows` instead of
    `new_rows`; older history is never replayed. Rows without a model prediction are skipped by
    the CUSUMs. The seed's rules are evaluated on `window_rows` each call (stateless). With no new
    rows the returned state equals the input and the detections repeat the previous call's.
    Detections are sorted by key. `window_obs`: `Observed(window_rows)` if the caller has it.
    """
    s = settings
    streams = {}
    cold = state is None or state.get("version") != STATE_VERSION or state.get("params") != _fingerprint(s)
    if state is not None and not cold:
        for name, st in state.get("streams", {}).items():
            streams[name] = dict(st, detectors={t: LatchedCusum.from_dict(d) for t, d in st["detectors"].items()})
    if window_obs is None and (cold or s.seed_rules):
        window_obs = Observed(window_rows, s)
    obs = Observed(new_rows, s) if not cold else window_obs if window_obs is not None else Observed(window_rows, s)
    for key, (scope, name, ix) in obs.streams(s).items():
        if key not in streams:
            streams[key] = {"scope": scope, "name": name, "strategy_class": "unknown", "detectors": new_detectors(s)}
        _feed(streams[key], obs, ix, s)
    new_state = {
        "version": STATE_VERSION,
        "params": _fingerprint(s),
        "streams": {
            key: dict(st, detectors={t: d.to_dict() for t, d in st["detectors"].items()})
            for key, st in sorted(streams.items())
        },
    }
    detections = [d for key, st in sorted(streams.items()) for d in _cusum_detections(key, st, s)]
    if s.seed_rules:
        detections += seed_rule_detections(window_rows, s, window_obs)
    return new_state, sorted(detections, key=lambda d: d["key"])


AUTOCORRELATION_BLOCK = 50
AUTOCORRELATION_MARGIN = 0.1


def error_autocorrelation(window, s: DivergenceSettings) -> dict[str, tuple[float, int]]:
    """{stream key: (lag-1 autocorrelation of z, rows used)} over the window's latest whole blocks
    of AUTOCORRELATION_BLOCK rows (streams with at least two blocks); z clipped at +-winsor_sigma
    as the bias charts see it. The CUSUMs are calibrated for `error_autocorrelation`.

    Each block is demeaned on its own: a shift of the mean -- what the charts exist to catch --
    would otherwise read as autocorrelation (a level change makes neighbours alike around the
    window's mean) and the advice would be to blunt the charts. The cost is a small downward bias
    (about -1/block for independent errors). `window`: rows, or their `observe`."""
    obs = window if isinstance(window, Observed) else Observed(window, s)
    b = AUTOCORRELATION_BLOCK
    out = {}
    for key, (_, _, ix) in obs.streams(s).items():
        blocks = len(ix) // b
        if blocks < 2:
            continue
        d = np.clip(obs.z[ix[len(ix) - blocks * b :]], -s.winsor_sigma, s.winsor_sigma).reshape(blocks, b)
        d = d - d.mean(axis=1, keepdims=True)
        total = float(np.sum(d * d))
        if total > 0:
            out[key] = (float(np.sum(d[:, 1:] * d[:, :-1])) / total, blocks * b)
    return out


def autocorrelation_warning(phis: dict[str, tuple[float, int]], s: DivergenceSettings) -> str | None:
    """One line when some stream's errors are clearly more autocorrelated than the CUSUMs assume:
    lag-1 above the setting by AUTOCORRELATION_MARGIN and by 3 standard errors (1/sqrt(rows))."""
    above = {
        k: (phi, n)
        for k, (phi, n) in phis.items()
        if phi > s.error_autocorrelation + max(AUTOCORRELATION_MARGIN, 3 / math.sqrt(n))
    }
    if not above:
        return None
    key, (phi, n) = max(above.items(), key=lambda kv: kv[1][0])
    return (
        f"errors are autocorrelated: lag-1 {phi:.2f} in {key} ({n} rows; {len(above)} of {len(phis)} "
        f"streams clearly above {s.error_autocorrelation:g}) while the CUSUMs assume "
        f"{s.error_autocorrelation:g}: expect more false alarms than 1 per {s.arl0_rows} rows; "
        f"set divergence.error_autocorrelation (docs/detection.md)"
    )


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
        detail = f"{what} since {_short_ts(det.change_ts)} (CUSUM {rep['statistic']:.1f} > h {det.h:.1f})"
        out.append(
            _detection(
                key,
                stream,
                trigger,
                high,
                det.change_ts,
                rep["shift"],
                unit,
                rep["statistic"],
                det.h,
                rep["rows"],
                detail,
                rep["last_row_ts"],
            )
        )
    return out


def _detection(
    key, stream, trigger, high, change_ts, shift, unit, statistic, threshold, rows, detail, last_row_ts
) -> dict:
    scope = stream["scope"]
    return {
        "key": f"{key}:{trigger}",
        "scope": scope,
        "agent": stream["name"] if scope == "agent" else None,
        "strategy_class": stream["strategy_class"] if scope == "agent" else stream["name"],
        "trigger": trigger,
        "severity": "high" if high else "medium",
        "change_ts": change_ts,
        "shift": None if shift is None else round(shift, 6),
        "shift_unit": unit,
        "statistic": round(statistic, 6),
        "threshold": round(threshold, 6),
        "rows": rows,
        "detail": detail,
        "last_row_ts": last_row_ts,
    }


def seed_rule_detections(window_rows: list, s: DivergenceSettings, observed: Observed | None = None) -> list[dict]:
    """The seed's rules per agent over its last `window` predicted rows (needs >= min_rows):

    mean_abs_error: mean(abs_error_bps) >= abs_error_threshold_bps
    mean_error:     |mean(pnl_error_bps)| >= mean_error_threshold_bps
    each "high" at statistic >= high_severity_factor * threshold (the seed's 1.3).
    `observed`: `Observed(window_rows)`, to skip doing it twice.
    """
    obs = observed if observed is not None else Observed(window_rows, s)
    out = []
    for agent, ix in sorted(_positions(obs.agent).items()):
        tail = ix[-s.window :]
        if len(tail) < s.min_rows:
            continue
        errors = obs.error[tail].tolist()
        m_abs = sum(abs(e) for e in errors) / len(errors)
        m_err = sum(errors) / len(errors)
        last = tail[-1]
        stream = {"scope": "agent", "name": agent, "strategy_class": obs.strategy[last]}
        since = f"over the last {len(tail)} rows to {_short_ts(obs.ts[last])}"
        for trigger, stat, thr, detail in (
            (
                "mean_abs_error",
                m_abs,
                s.abs_error_threshold_bps,
                f"mean |error| {m_abs:.1f} bps >= {s.abs_error_threshold_bps:g} {since}",
            ),
            (
                "mean_error",
                m_err,
                s.mean_error_threshold_bps,
                f"mean error {m_err:+.1f} bps, |.| >= {s.mean_error_threshold_bps:g} {since}",
            ),
        ):
            if abs(stat) >= thr:
                out.append(
                    _detection(
                        f"agent:{agent}",
                        stream,
                        trigger,
                        abs(stat) >= s.high_severity_factor * thr,
                        None,
                        stat,
                        "bps",
                        stat,
                        thr,
                        len(tail),
                        detail,
                        obs.ts[last],
                    )
                )
    return out


def _short_ts(ts) -> str:
    """'2026-11-23T18:00:00Z' -> '2026-11-23T18:00Z' (for one-line details)."""
    if isinstance(ts, str) and len(ts) == 20 and ts.endswith(":00Z"):
        return ts[:16] + "Z"
    return str(ts)
