"""Settings from `policy/supervisor.yaml`, every one with a documented default.

Pure: takes the already-parsed mapping. Each section is a frozen dataclass owned by the module that
uses it; this file only composes them and checks types, so a typo (`widow_rows: 10`) or a wrong type
is a `ConfigError` naming the key instead of a silent default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Literal

from meta_supervisor.core.alerts import AlertSettings
from meta_supervisor.core.divergence import DivergenceSettings
from meta_supervisor.core.errors import ConfigError
from meta_supervisor.core.lifecycle import LifecycleSettings
from meta_supervisor.core.regime import RegimeSettings


@dataclass(frozen=True)
class InputSettings:
    # A path may be a single JSONL file or a folder of *.jsonl files (e.g. one per day).
    alpha_events: str = "data/alpha_events.jsonl"
    prices: str = "data/prices.jsonl"
    # How far before a signal to look for its entry tick (when the event carries no price).
    entry_lookback_hours: int = 72
    # A pending pair whose symbol has had no tick this long past maturity, while other symbols
    # moved on, is dropped and reported (a delisted symbol must not stay pending forever).
    stale_after_hours: int = 168
    # A signal or tick stamped later than the run's time by more than this is rejected: clocks of
    # synced machines differ by seconds, a local time written with "Z" east of UTC is hours
    # ahead, and a far-future `ts` would stay pending for ever (or mature a pair on a bogus tick).
    max_clock_skew_hours: float = 1.0

    def __post_init__(self):
        if self.entry_lookback_hours < 0 or self.stale_after_hours < 1:
            raise ValueError("entry_lookback_hours must be >= 0 and stale_after_hours >= 1")
        if not self.max_clock_skew_hours >= 0:
            raise ValueError("max_clock_skew_hours must be >= 0")


@dataclass(frozen=True)
class TrainSettings:
    features: tuple[str, ...] = ("score_final", "confidence")
    min_rows: int = 250
    max_rows: int = 12000
    # Penalties tried by walk-forward validation (on standardized features; 0 = least squares).
    ridge_grid: tuple[float, ...] = (0.0, 0.1, 1.0, 5.0, 10.0, 100.0, 1000.0)
    validation_folds: int = 5
    # A challenger replaces the champion only if its out-of-sample RMSE on the same recent rows
    # is at most champion * (1 + tolerance).
    promotion_tolerance: float = 0.0
    # The scale model (core/scale_model.py, docs/sigma.md): each row's expected sigma is the
    # time-weighted RMS of the current model's residuals for its symbol, times a per-regime factor
    # if `scale_by_regime`. Rows weigh half as much every `scale_half_life_days_1h` x sqrt(h) days
    # at horizon h (2.5 / 5 / 12.2 days at 1 / 4 / 24 h: longer horizons give fewer independent
    # errors a day); a symbol with little recent weight is shrunk toward the pooled RMS by
    # `scale_shrink_rows` fresh-row equivalents. Chosen by a causal replay on real hourly bars
    # (bench/sigma_calibration.py): within 0.01 nats of the best log score at every horizon.
    scale_half_life_days_1h: float = 2.5
    scale_shrink_rows: float = 2.0
    scale_by_regime: bool = True
    # The level from the shortest horizon (core/scale_model.fit_level, docs/sigma.md): a longer
    # horizon's sigmas are rescaled by how volatile each symbol's market is now, read off the
    # shortest-horizon rows' exit prices (EWMA with this half-life), against its average over the
    # longer horizon's scale window.
    # 0 turns it off. Chosen by bench/sigma_calibration.py on the real-market replay.
    scale_level_half_life_days: float = 1.5
    # An agent whose residuals on a symbol have more than this multiple of the median agent's mean
    # square leaves that symbol's scale fit (its noisy fills would widen everyone's sigma); 0: off.
    # Chosen from the real-market replay (docs/sigma.md): honest agents reach 1.65x, faults 2.6-15x.
    scale_outlier_ratio: float = 3.0

    def __post_init__(self):
        if self.min_rows < 2 or self.max_rows < self.min_rows:
            raise ValueError("need 2 <= min_rows <= max_rows")
        if not (self.scale_half_life_days_1h > 0 and self.scale_shrink_rows > 0):
            raise ValueError("scale_half_life_days_1h and scale_shrink_rows must be > 0")
        if not self.scale_level_half_life_days >= 0:
            raise ValueError("scale_level_half_life_days must be >= 0 (0: off)")
        if not (self.scale_outlier_ratio == 0 or 1 < self.scale_outlier_ratio < float("inf")):
            raise ValueError("scale_outlier_ratio must be 0 (off) or > 1")
        if self.validation_folds < 2:
            raise ValueError("validation_folds must be >= 2")
        if not self.features:
            raise ValueError("features must not be empty")
        if any(a < 0 for a in self.ridge_grid) or not self.ridge_grid:
            raise ValueError("ridge_grid needs non-negative penalties")


@dataclass(frozen=True)
class EvaluateSettings:
    horizon: int = 24
    # Each (strategy, regime) cell is judged on its rows of the last window_days signal days, at
    # most cell_window_rows of them spread evenly over the days (core/cell_windows.py): 14 days of
    # 96 rows a day is the window bench/tail_risk.py measured the false-breach rates on.
    window_days: int = 14
    cell_window_rows: int = 1344
    # The current regime votes on this many newest rows of the shortest horizon (core/regime.py).
    window_rows: int = 8000
    cvar_alpha: float = 0.95
    # Evidence a breach needs: model rows and distinct UTC signal days in the current-regime cell.
    # Defaults from bench/tail_risk.py (docs/tail-risk.md), 50 calibrated 30-day runs from a cold
    # start: 5 days cut false proposals from 6/50 to 1/50 (t3) and 3/50 to 2/50 (t4) against 3 days,
    # the steady-state rate; a cold-start 1.6x breach then waits 223 h (t3) / 145 h (t4), not 99 / 122.
    cvar_min_rows: int = 200
    cvar_min_days: int = 5
    # Day-block bootstrap of the ES: replicates (about 0.1 s per 8000 rows at 1000) and the one-sided
    # confidence of its bounds; a breach needs the lower bound above the limit.
    cvar_bootstrap_reps: int = 1000
    cvar_confidence: float = 0.95
    # "Fleet-wide" when more than this share of the judged strategies are above their limit at once.
    fleet_wide_share: float = 0.5
    # Overrides the market regime (core/regime.py, settings under `regime:`).
    current_regime: str | None = None
    # A proposal a reviewer closed without merging is not re-opened for this long (0: always re-open).
    reopen_declined_after_hours: float = 168.0
    # A `stale_input` alert when the newest signal or price is older than this. 72 h: in two years
    # of real hourly bars (US equities, FX, gold) the newest tick of any symbol was never older
    # than 50 h (FX weekends); an equities-only fleet has 90 h gaps (3-day weekends): use 120.
    max_input_age_hours: float = 72.0
    # The PR lifecycle (core/lifecycle.py): an open disable PR is closed once the breach has been
    # cleared this long; a strategy meta-supervisor disabled is proposed for re-enabling once its
    # whole ES interval has stayed under reenable_margin x its limit for reenable_after_hours.
    autoclose_after_hours: float = 24.0
    reenable_after_hours: float = 72.0
    reenable_margin: float = 0.8
    # state/history/: one compact record per run that changed anything, kept this many days.
    history_days: float = 90.0

    @property
    def lifecycle(self) -> LifecycleSettings:
        return LifecycleSettings(self.autoclose_after_hours, self.reenable_after_hours, self.reenable_margin)

    def __post_init__(self):
        if not self.max_input_age_hours > 0:
            raise ValueError("max_input_age_hours must be > 0")
        if not self.history_days > 0:
            raise ValueError("history_days must be > 0")
        _ = self.lifecycle  # checks autoclose_after_hours, reenable_after_hours, reenable_margin
        if not 0.5 <= self.cvar_alpha < 1:
            raise ValueError("cvar_alpha must be in [0.5, 1)")
        if self.reopen_declined_after_hours < 0:
            raise ValueError("reopen_declined_after_hours must be >= 0")
        if self.window_days < 2 or self.cell_window_rows < self.window_days:
            raise ValueError("window_days must be >= 2 and cell_window_rows >= window_days")
        if self.window_rows < 1 or self.cvar_min_rows < 1:
            raise ValueError("window_rows and cvar_min_rows must be >= 1")
        if self.cvar_min_days < 2:  # one day has no day-block interval: such a cell could never breach
            raise ValueError("cvar_min_days must be >= 2")
        if self.cvar_bootstrap_reps < 100:
            raise ValueError("cvar_bootstrap_reps must be >= 100")
        if not 0.5 < self.cvar_confidence < 1:
            raise ValueError("cvar_confidence must be in (0.5, 1)")
        if not 0 < self.fleet_wide_share < 1:
            raise ValueError("fleet_wide_share must be in (0, 1)")


@dataclass(frozen=True)
class HistorySettings:
    # Where the reconciled rows live: `state/reconciled` (committed to git, the default) or
    # `s3://bucket/prefix` (Parquet on S3-compatible storage, files/object_history.py; credentials
    # from the standard AWS_* variables, never from this file).
    location: str = "state/reconciled"
    # In git, a month's file continues in a new segment before it would pass this size: GitHub
    # warns at 50 MB and refuses a push with a file over 100 MB (files/history.py).
    max_file_mb: float = 45.0
    # The git store's files: `day` (state/reconciled/YYYY-MM-DD.jsonl, by UTC day of the signal)
    # or `month` (YYYY-MM.jsonl). Daily files keep git's pack about 5x smaller under hourly commits
    # (docs/performance.md). Only a new history takes this: an existing one keeps the layout
    # state/reconcile_state.json records (docs/history.md). The object store is by month.
    partition: Literal["day", "month"] = "day"
    # Days of signals the git store keeps in its working tree, back from the newest signal: reconcile
    # deletes the partition files all of whose rows are older (and older than every pending event),
    # after its commit; git's history keeps them. None: keep everything (docs/history.md, "Retention").
    retain_days: int | None = None

    @property
    def in_object_store(self) -> bool:
        return self.location.startswith("s3://")

    def __post_init__(self):
        if self.location != "state/reconciled" and not self.in_object_store:
            raise ValueError("location must be state/reconciled or s3://bucket/prefix")
        if self.in_object_store and not self.location[len("s3://") :].split("/", 1)[0]:
            raise ValueError("location s3:// needs a bucket: s3://bucket/prefix")
        if not 0 < self.max_file_mb <= 50:
            raise ValueError("max_file_mb must be in (0, 50]: GitHub warns about files over 50 MB")
        if self.partition not in ("day", "month"):
            raise ValueError(f"partition must be day or month, not {self.partition!r}")
        if self.retain_days is not None and self.retain_days < 1:
            raise ValueError("retain_days must be a whole number of days >= 1 (or empty: keep all)")
        if self.retain_days is not None and self.in_object_store:
            raise ValueError(
                "retain_days applies to the git store; expire old month= prefixes with bucket lifecycle rules"
            )


@dataclass(frozen=True)
class Settings:
    horizons: tuple[int, ...] = (1, 4, 24)
    inputs: InputSettings = field(default_factory=InputSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    divergence: DivergenceSettings = field(default_factory=DivergenceSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    regime: RegimeSettings = field(default_factory=RegimeSettings)
    history: HistorySettings = field(default_factory=HistorySettings)

    def __post_init__(self):
        if not self.horizons or any(h <= 0 for h in self.horizons):
            raise ValueError("horizons must be positive whole hours")
        if len(set(self.horizons)) != len(self.horizons):
            raise ValueError("horizons must not repeat")
        if self.evaluate.horizon not in self.horizons:
            raise ValueError(f"evaluate.horizon {self.evaluate.horizon} is not one of horizons")
        if self.history.retain_days is not None and self.history.retain_days < self.evaluate.window_days:
            raise ValueError(
                f"history.retain_days {self.history.retain_days} is less than evaluate.window_days "
                f"{self.evaluate.window_days}: the cell windows read that many signal days"
            )


def settings_from_mapping(data) -> Settings:
    """Build `Settings` from a parsed supervisor.yaml (None or {} gives all defaults).

    >>> settings_from_mapping({"evaluate": {"cvar_min_rows": 50}}).evaluate.cvar_min_rows
    50
    >>> settings_from_mapping({"evaluate": {"widow_rows": 1}})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    meta_supervisor.core.errors.ConfigError: evaluate.widow_rows: unknown setting (known: autoclose_after_hours, ...)
    """
    return _build(Settings, {} if data is None else data, ())


def _build(cls, data, keypath):
    if not isinstance(data, dict):
        raise ConfigError(keypath, f"expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise ConfigError(keypath + (key,), f"unknown setting (known: {', '.join(sorted(fields))})")
        default = _default(fields[key])
        kwargs[key] = _coerce(hints[key], default, value, keypath + (key,))
    try:
        return cls(**kwargs)
    except ValueError as err:
        raise ConfigError(keypath, str(err)) from None


def _default(f):
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def _coerce(hint, default, value, keypath):
    if dataclasses.is_dataclass(default):
        return _build(type(default), value, keypath)
    if value is None:
        if _optional(hint):
            return None
        raise ConfigError(keypath, "must not be empty")
    if isinstance(default, tuple):
        if not isinstance(value, list):
            raise ConfigError(keypath, "expected a list")
        sample = default[0] if default else value[0] if value else None
        return tuple(_scalar(type(sample), v, keypath + (i,)) for i, v in enumerate(value))
    if _optional(hint):  # str | None, int | None
        inner = next(a for a in typing.get_args(hint) if a is not type(None))
        return _scalar(inner if inner in (int, float) else str, value, keypath)
    return _scalar(type(default), value, keypath)


def _optional(hint) -> bool:
    """`X | None` (types.UnionType) or `Optional[X]` (typing.Union)."""
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _scalar(kind, value, keypath):
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and value == value
            and abs(value) != float("inf")
        ):
            return float(value)
    elif kind is str:
        if isinstance(value, str) and value:
            return value
    else:
        return value
    raise ConfigError(keypath, f"expected {kind.__name__}, got {value!r}")
