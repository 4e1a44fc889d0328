"""What every chart shares: Page's CUSUM recursion, the alarm latch and the JSON round trip.

Every chart is a one-sided CUSUM on a log-likelihood-ratio-like increment w_t:

    S_t = max(0, S_{t-1} + w_t),   alarm when S_t > h,   then S restarts at 0.

Change time = the first row after the statistic was last 0; shift = the mean of the charted value
over the rows since then (MLE of the mean of z, of the variance ratio, or win rate vs expected).
An alarm latches an *episode*: the chart restarts and keeps measuring; each re-alarm refreshes the
episode's report, and the episode clears once `clear_hours` have passed since its latest crossing
without a new one (measured on row times, and on the evaluation's `now` through `advance`).

Thresholds may change between runs (the fleet budget and the dependence estimate move them): the
statistic S does not depend on h, so `retune` sets a new h and clear_hours and the chart goes on.

A chart is a subclass in a module of its own (see mean.py): it names its `kind` (the JSON tag),
the `triggers` it provides, and implements the hooks below. Defining the class registers its kind
(`__init_subclass__`), so `from_dict` needs no list of charts; the stream's order of charts is
`CHARTS` in the package's `__init__`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Self

from meta_supervisor.core.detectors.calibration import lookup

KINDS: dict[str, type[LatchedCusum]] = {}  # kind -> chart class, filled by the classes as they are defined


class Tuning(NamedTuple):
    """What a stream brings to its charts' calibration beyond the settings: the long-run variance
    factor V of the chart's charted values (dependence), the stream's rows per hour and its horizon
    (for the clearing time)."""

    factor: float = 1.0
    rows_per_hour: float = 1.0
    horizon_hours: float = 24.0


@dataclass(frozen=True)
class Trigger:
    """One named chart of a stream: `chart.for_stream(s, arl0, **options)`, e.g. cusum_bias_up =
    MeanCusum with direction +1. `meaning` is the one line the alert mail prints for it."""

    name: str
    meaning: str
    options: dict = field(default_factory=dict)
    chart: type[LatchedCusum] | None = None  # set by the chart class that lists the trigger

    def new(self, s, arl0: float, tuning: Tuning = Tuning()) -> LatchedCusum:
        if self.chart is None:
            raise TypeError(f"trigger {self.name!r} is not listed by a chart class")
        return self.chart.for_stream(s, arl0, tuning, **self.options)


class Alarm(NamedTuple):
    """How a chart describes its current alarm: `what` changed (the start of the detail line),
    the shift's unit, and whether the shift is large enough for severity "high"."""

    what: str
    unit: str
    high: bool


def long_run_factor(rho: float) -> float:
    """V = (1 + rho) / (1 - rho): the long-run variance factor of an AR(1) with lag-1 correlation
    rho (the floor `error_autocorrelation` sets; see each chart's `phi_factor`)."""
    return (1 + rho) / (1 - rho)


def dependent_calibration(calibrate, design: float, cap: float, arl0: float, v: float) -> tuple[float, float, float]:
    """(k, h, ARL1) of a chart whose increments have long-run variance factor V, in-control ARL arl0.

    Brownian approximation: a CUSUM path with drift mu and variance V per row, time-scaled by V and
    space-scaled by 1 / V, is one with drift mu and variance 1; so ARL_V(V h) = V ARL_1(h), at any
    drift. Hence h = V h_1(arl0 / V) and ARL1 = V ARL1_1; k (the designed change) is unchanged, so
    the statistic does not depend on V."""
    k, h, arl1 = calibrate(design, cap, arl0 / v)
    return k, v * h, v * arl1


def clear_hours_for(s, arl1: float, tuning: Tuning) -> float:
    """clear_hours = clear_multiple x ARL1 / rows_per_hour (the designed-shift delay in hours), at
    least one horizon (errors of overlapping trades keep arriving for that long) and at most
    clear_max_hours: the latch outlives a persisting change without outliving the evidence."""
    hours = s.clear_multiple * arl1 / max(tuning.rows_per_hour, 1e-9)
    return float(min(s.clear_max_hours, max(tuning.horizon_hours, hours)))


_NUMBER, _COUNT = (int, float), (int,)
# The JSON types of the shared state (a saved chart is checked against them: a wrong type would
# surface as a TypeError deep inside the next run's recursion).
_STATE_TYPES: dict[str, tuple] = {
    **dict.fromkeys(("statistic", "run_sum", "run_sum2", "ep_sum", "ep_sum2"), _NUMBER),
    **dict.fromkeys(("n", "run_n", "alarms", "ep_n"), _COUNT),
    **dict.fromkeys(("drift_detected", "alarm"), (bool,)),
    **dict.fromkeys(("run_start_ts", "change_ts"), (str, type(None))),
    "last_alarm_hour": (int, float, type(None)),
    "report": (dict, type(None)),
}


def _expect(data: dict, name: str, types: tuple):
    value = data[name]
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        raise TypeError(f"field {name!r} is {type(value).__name__}")
    return value


class LatchedCusum:
    """Shared mechanics: the recursion, change-time bookkeeping and the alarm latch.

    A chart subclass sets `kind`, `_params` (its constructor's parameters beyond h and clear_rows,
    in JSON order), `triggers` and `settings` (the DivergenceSettings fields its calibration reads
    beyond the shared ones; its first is the designed change), and implements `update`/`update_many`
    and the hooks `solve_calibration`, `for_stream`, `observe`, `charted`, `phi_factor`, `describe`
    and `simulate`. `s` below is a DivergenceSettings, read by attribute (the detectors
    do not import divergence)."""

    kind = ""
    # Whether the chart's dependence estimate takes overlapping rows of different symbols too
    # (dependence.py). A chart of the error's level (bias, hit rate) does: an agent's book on
    # symbols that move together sums one market move several times. The variance chart does not
    # (variance.py says why).
    dependence_across_symbols = True
    _params: tuple = ()
    triggers: tuple = ()
    settings: tuple = ()
    _state = (
        "statistic",
        "n",
        "run_n",
        "run_sum",
        "run_sum2",
        "run_start_ts",
        "drift_detected",
        "alarm",
        "alarms",
        "change_ts",
        "ep_n",
        "ep_sum",
        "ep_sum2",
        "last_alarm_hour",
        "report",
    )

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "kind" not in cls.__dict__:
            return
        known = KINDS.get(cls.kind)
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"detector kind {cls.kind!r} is already {known.__qualname__}")
        KINDS[cls.kind] = cls
        cls.triggers = tuple(replace(t, chart=cls) for t in cls.triggers)

    def __init__(self, h: float, clear_hours: float):
        self.retune(h, clear_hours)
        self.statistic = 0.0
        self.n = 0  # rows charted
        self.run_n = 0  # rows since the statistic was last 0
        self.run_sum = self.run_sum2 = 0.0
        self.run_start_ts = None
        self.drift_detected = False  # True only on the row that crossed h
        self.alarm = False  # latched episode
        self.alarms = 0  # crossings in this episode
        self.change_ts = None
        self.ep_n, self.ep_sum, self.ep_sum2 = 0, 0.0, 0.0
        self.last_alarm_hour: float | None = None  # time (hours) of the episode's latest crossing
        self.report: dict[str, Any] | None = None  # snapshot at the latest crossing

    def retune(self, h: float, clear_hours: float) -> Self:
        """Set a new threshold and clearing time; the statistic and the episode carry on."""
        if not (h > 0 and math.isfinite(h)):
            raise ValueError(f"h: must be a positive number, got {h!r}")
        if not (clear_hours > 0 and math.isfinite(clear_hours)):
            raise ValueError(f"clear_hours: must be a positive number, got {clear_hours!r}")
        self.h, self.clear_hours = float(h), float(clear_hours)
        return self

    def advance(self, hour: float) -> Self:
        """The clock moves to `hour` with no new row (an evaluation's `now`): a quiet episode clears."""
        if self.alarm and self.last_alarm_hour is not None and hour - self.last_alarm_hour >= self.clear_hours:
            self._clear()
        return self

    def _clear(self) -> None:
        self.alarm, self.change_ts, self.report = False, None, None
        self.ep_n, self.ep_sum, self.ep_sum2 = 0, 0.0, 0.0

    def _feed(self, ws, vs, v2s, tss, hours=None) -> Self:
        """Advance over rows with increments `ws`, charted values `vs`, `v2s`, times `tss` (as
        reported) and `hours` (the same times in hours, for clearing; None: the clock stays).

        One tight loop on local variables: a method call per row and chart was most of a cold
        evaluate. Rows are processed one after another with the same float operations in the same
        order whatever the batching, so feeding rows in two calls equals feeding them in one."""
        h, clear = self.h, self.clear_hours
        s, n, crossed = self.statistic, self.n, self.drift_detected
        run_n, run_sum, run_sum2, run_start = self.run_n, self.run_sum, self.run_sum2, self.run_start_ts
        alarm, alarms, change_ts, report = self.alarm, self.alarms, self.change_ts, self.report
        ep_n, ep_sum, ep_sum2, last = self.ep_n, self.ep_sum, self.ep_sum2, self.last_alarm_hour
        if hours is None:
            hours = [None] * len(ws)
        for w, v, v2, ts, hr in zip(ws, vs, v2s, tss, hours):
            n += 1
            crossed = False
            s += w
            if s > 0.0:
                if run_n == 0:
                    run_start = ts
                run_n += 1
                run_sum += v
                run_sum2 += v2
            else:  # max(0, S + w); also maps a NaN statistic to 0
                s, run_n, run_sum, run_sum2, run_start = 0.0, 0, 0.0, 0.0, None
            if alarm:
                ep_n += 1
                ep_sum += v
                ep_sum2 += v2
            if s > h:
                if not alarm:  # a new episode starts at this run's change time
                    alarm, alarms, change_ts = True, 0, run_start
                    ep_n, ep_sum, ep_sum2 = run_n, run_sum, run_sum2
                crossed = True
                alarms += 1
                last = hr
                report = {
                    "statistic": s,
                    "threshold": h,  # h when it crossed: a later retune must not rewrite the evidence
                    "rows": ep_n,
                    "shift": self._shift(ep_n, ep_sum, ep_sum2),
                    "aux": ep_sum2 / ep_n,
                    "last_row_ts": ts,
                }
                s, run_n, run_sum, run_sum2, run_start = 0.0, 0, 0.0, 0.0, None
            elif alarm and hr is not None and last is not None and hr - last >= clear:
                alarm, change_ts, report = False, None, None
                ep_n, ep_sum, ep_sum2 = 0, 0.0, 0.0
        self.statistic, self.n, self.drift_detected = s, n, crossed
        self.run_n, self.run_sum, self.run_sum2, self.run_start_ts = run_n, run_sum, run_sum2, run_start
        self.alarm, self.alarms, self.change_ts, self.report = alarm, alarms, change_ts, report
        self.ep_n, self.ep_sum, self.ep_sum2, self.last_alarm_hour = ep_n, ep_sum, ep_sum2, last
        return self

    @staticmethod
    def _shift(ep_n: int, ep_sum: float, ep_sum2: float) -> float:
        return ep_sum / ep_n

    @property
    def shift(self):
        """The episode's shift estimate at its latest alarm (None when not firing)."""
        return None if self.report is None else self.report["shift"]

    def _alarm_report(self) -> dict[str, Any]:
        """The report of the current alarm, for `describe` (ValueError when not firing)."""
        if self.report is None:
            raise ValueError(f"{type(self).__name__} is not alarmed: nothing to describe")
        return self.report

    # ---------------------------------------------------------------- JSON round trip

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "h": self.h, "clear_hours": self.clear_hours}
        out.update({name: getattr(self, name) for name in self._params})
        out.update({name: getattr(self, name) for name in self._state})
        return out

    @classmethod
    def from_dict(cls, data: dict) -> LatchedCusum:
        """A chart from `to_dict`; called on LatchedCusum, the class comes from `data["kind"]`."""
        if cls is LatchedCusum:
            cls = KINDS[data["kind"]]
        for name in ("h", "clear_hours"):
            _expect(data, name, _NUMBER)
        obj = cls(h=data["h"], clear_hours=data["clear_hours"], **{name: data[name] for name in cls._params})
        for name in cls._state:
            value = _expect(data, name, _STATE_TYPES[name])
            setattr(obj, name, dict(value) if isinstance(value, dict) else value)
        return obj

    def __eq__(self, other):
        return type(self) is type(other) and self.to_dict() == other.to_dict()

    # ---------------------------------------------------------------- hooks of a chart

    @classmethod
    def calibrate(cls, design: float, cap: float, arl0: float) -> tuple[float, float, float]:
        """(k, h, ARL at the designed change) for an in-control ARL `arl0`: the PRECOMPUTED table
        for the default settings, else the chart's Brook-Evans solve (cached)."""
        return lookup(cls.kind, design, cap, arl0, cls.solve_calibration)

    @staticmethod
    def solve_calibration(design: float, cap: float, arl0: float) -> tuple[float, float, float]:
        """`calibrate` without the table."""
        raise NotImplementedError

    @classmethod
    def tuned(cls, s, arl0: float, tuning: Tuning) -> tuple[float, float, float]:
        """(k, h, clear_hours) for settings `s` at in-control ARL `arl0` (the chart's share of the
        budget), widened for the dependence: V = max(tuning.factor, phi_factor(error_autocorrelation))."""
        v = max(tuning.factor, cls.phi_factor(s.error_autocorrelation))
        design = getattr(s, cls.settings[0])
        k, h, arl1 = dependent_calibration(cls.calibrate, design, s.winsor_sigma, arl0, v)
        return k, h, clear_hours_for(s, arl1, tuning)

    def retune_for(self, s, arl0: float, tuning: Tuning) -> Self:
        """`retune` to this run's calibration (k is fixed by the design, so it does not move)."""
        _, h, clear = self.tuned(s, arl0, tuning)
        return self.retune(h, clear)

    @staticmethod
    def phi_factor(phi: float) -> float:
        """The long-run variance factor of this chart's charted values when z is a Gaussian AR(1)
        with coefficient phi (the `error_autocorrelation` floor)."""
        return long_run_factor(phi)

    @classmethod
    def for_stream(cls, s, arl0: float, tuning: Tuning = Tuning()) -> Self:
        """A fresh chart calibrated for settings `s` at in-control ARL `arl0` (`tuned`); a chart
        with several triggers takes their `options` as keyword arguments too."""
        raise NotImplementedError

    @classmethod
    def charted(cls, obs, ix: list[int], s) -> tuple[list[int], object]:
        """(positions, values) of what this chart sums for a stream's rows `ix`: the series whose
        dependence widens it (dependence.py)."""
        raise NotImplementedError

    def observe(self, obs, ix: list[int], ts: list, s) -> tuple | None:
        """The arguments of `update_many` for a stream's rows `ix` of a divergence.Observed (`ts`
        their times), or None when none of them is for this chart."""
        raise NotImplementedError

    def describe(self, s) -> Alarm:
        """The current alarm (`self.report`) in words, its shift's unit and its severity."""
        raise NotImplementedError

    def simulate(self, rng, n: int, shifted: bool = False) -> tuple:
        """n iid rows (the columns of `update_many` without the times, numpy Generator `rng`) from
        the in-control model the threshold is calibrated for, or with the kind of change the chart
        is designed to catch (`shifted`): the conformance tests run every chart on its own null."""
        raise NotImplementedError
