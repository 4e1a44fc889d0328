"""One battery for every registered chart (in the manner of river's `checks/`): a chart added to
`detectors.CHARTS` is covered here with no new test.

Each trigger's chart is built as a stream builds it (`Trigger.new`), at a low in-control ARL so
that simulations are cheap, and fed rows from its own `simulate`: the in-control model its
threshold is calibrated for, and blocks of the change it is designed to catch.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random

import numpy as np
import pytest

from meta_supervisor.core.detectors import CHARTS, KINDS, MEANINGS, TRIGGERS, Alarm, LatchedCusum
from meta_supervisor.core.divergence import DivergenceSettings, Observed
from tests.rows import rows as as_rows

LOW = DivergenceSettings(arl0_rows=50)
ARL0 = float(len(TRIGGERS)) * LOW.arl0_rows  # each chart's in-control ARL: 200 rows
EACH = [pytest.param(t, id=name) for name, t in TRIGGERS.items()]


def _chart(trigger) -> LatchedCusum:
    return trigger.new(LOW, ARL0)


def _rows(det, rng, n, block=250) -> list[tuple]:
    """n rows (one tuple of update arguments each) in blocks of `block`, in control and shifted
    by turns: alarms, re-alarms and latch clears."""
    parts = [det.simulate(rng, min(block, n - start), shifted=start // block % 2 == 1) for start in range(0, n, block)]
    return [row for part in parts for row in zip(*part)]


def _columns(rows: list[tuple]) -> list[list]:
    return [list(col) for col in zip(*rows)] if rows else []


def _ctor_args(det) -> dict:
    d = det.to_dict()
    return {"h": d["h"], "clear_hours": d["clear_hours"], **{name: d[name] for name in det._params}}


# --- the registry ---------------------------------------------------------------------------------
def test_registry_names_each_chart_once_with_its_settings():
    assert [KINDS[c.kind] for c in CHARTS] == list(CHARTS)
    assert len({c.kind for c in CHARTS}) == len(CHARTS)
    fields = {f.name for f in dataclasses.fields(DivergenceSettings)}
    for chart in CHARTS:
        assert chart.triggers and all(t.chart is chart for t in chart.triggers)
        assert set(chart.settings) <= fields, chart.settings
    assert list(MEANINGS) == list(TRIGGERS)


# --- per trigger --------------------------------------------------------------------------------
@pytest.mark.parametrize("trigger", EACH)
def test_has_a_one_line_meaning(trigger):
    text = trigger.meaning
    assert isinstance(text, str) and len(text) > 20 and "\n" not in text and text.endswith(".")


@pytest.mark.parametrize("trigger", EACH)
def test_json_round_trip_continues_identically(trigger):
    rng = np.random.default_rng(9)
    a = _chart(trigger)
    rows = _rows(a, rng, 600, block=100)
    for t, row in enumerate(rows[:300]):
        a.update(*row, ts=f"t{t}", hour=t * 0.5)
    for load in (LatchedCusum.from_dict, type(a).from_dict):
        b = load(json.loads(json.dumps(a.to_dict())))
        assert b == a and type(b) is type(a)
    crossings = 0
    for t, row in enumerate(rows[300:], 300):
        crossings += a.update(*row, ts=f"t{t}", hour=t * 0.5).drift_detected
        b.update(*row, ts=f"t{t}", hour=t * 0.5)
        assert a.to_dict() == b.to_dict()
    assert crossings > 0


@pytest.mark.parametrize("trigger", EACH)
def test_batched_updates_equal_one_row_at_a_time_bit_for_bit(trigger):
    """The evaluate path feeds each chart a whole batch; the definition is the per-row update.
    Batches of any size, alarms and time-based clears included, must give the very same floats.
    Rows come at irregular times (0.1 to 3 hours apart), as a slow or bursty agent's do."""
    rng = np.random.default_rng(11)
    sizes = random.Random(11)
    one = _chart(trigger)
    rows = _rows(one, rng, 3000)
    hours = np.cumsum(rng.uniform(0.1, 3.0, len(rows))).tolist()
    crossings = clears = 0
    for t, row in enumerate(rows):
        was = one.alarm
        crossings += one.update(*row, ts=t, hour=hours[t]).drift_detected
        clears += was and not one.alarm
    batched, t = _chart(trigger), 0
    while t < len(rows):
        chunk = rows[t : t + sizes.choice([1, 2, 7, 50, 400])]
        batched.update_many(*_columns(chunk), list(range(t, t + len(chunk))), hours[t : t + len(chunk)])
        t += len(chunk)
    assert crossings > 10 and clears > 2
    assert batched.to_dict() == one.to_dict()  # == on floats: exact


@pytest.mark.parametrize("trigger", EACH)
def test_parameters_are_validated_by_name(trigger):
    det = _chart(trigger)
    args = _ctor_args(det)
    assert type(det)(**args) is not None
    for name in ("h", *det._params):
        with pytest.raises(ValueError, match=f"^{name}:"):
            type(det)(**{**args, name: math.nan})
    with pytest.raises(ValueError, match="^h:"):
        type(det)(**{**args, "h": -1.0})
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="^clear_hours:"):
            type(det)(**{**args, "clear_hours": bad})


@pytest.mark.parametrize("trigger", EACH)
def test_in_control_arl_is_near_its_calibration_target(trigger):
    """Rows from the chart's own null. The chart restarts at every crossing, so crossings are
    renewals and ARL ~ rows / crossings; a latch that never clears makes `alarms` count them all.
    About 2,000 crossings: the standard error is ~2.3 %, the tolerance 8 % (seeded)."""
    d = _chart(trigger).to_dict()
    det = LatchedCusum.from_dict({**d, "clear_hours": 1e12})
    n = 2000 * int(ARL0)
    det.update_many(*det.simulate(np.random.default_rng(3), n), [None] * n)
    assert n / det.alarms == pytest.approx(ARL0, rel=0.08)


@pytest.mark.parametrize("trigger", EACH)
def test_describes_its_alarm(trigger):
    det = _chart(trigger)
    rng = np.random.default_rng(5)
    for _ in range(20):
        det.update_many(*det.simulate(rng, 50, shifted=True), [None] * 50)
        if det.alarm:
            break
    assert det.alarm
    alarm = det.describe(LOW)
    assert isinstance(alarm, Alarm)
    assert isinstance(alarm.what, str) and alarm.what and "\n" not in alarm.what
    assert isinstance(alarm.unit, str) and alarm.unit and isinstance(alarm.high, bool)


@pytest.mark.parametrize("trigger", EACH)
def test_observes_a_streams_rows(trigger):
    """`observe` gives update_many arguments for a stream's rows of a divergence.Observed."""
    ts = [f"2026-01-01T{h:02d}:00:00Z" for h in range(6)]
    rows = as_rows(
        {
            "event_id": f"e{i}",
            "ts": t,
            "sim_version": "ridge_h24@abc",
            "expected_sigma_bps": 60.0,
            "expected_pnl_bps": 5.0,
            "realized_pnl_bps": 5.0 + e,
            "pnl_error_bps": e,
            "abs_error_bps": abs(e),
        }
        for i, (t, e) in enumerate(zip(ts, [30.0, -90.0, 10.0, 0.0, 200.0, -5.0]))
    )
    obs = Observed(rows, LOW)
    ix = [0, 2, 3, 5]
    det = _chart(trigger)
    seen = det.observe(obs, ix, [obs.ts[i] for i in ix], LOW)
    assert seen is not None and list(seen[-2]) == [ts[i] for i in ix]
    assert list(seen[-1]) == [obs.hours[i] for i in ix] and obs.hours[ix[1]] - obs.hours[ix[0]] == 2.0
    assert det.update_many(*seen).n == len(ix)


@pytest.mark.parametrize("trigger", EACH)
def test_retuning_keeps_the_statistic_and_the_episode(trigger):
    """A new h (budget or dependence moved) changes when the chart alarms, never what it has summed."""
    rng = np.random.default_rng(13)
    a, b = _chart(trigger), _chart(trigger)
    rows = _rows(a, rng, 400, block=200)
    cols = _columns(rows)
    a.update_many(*cols, list(range(400)), [float(t) for t in range(400)])
    b.update_many(*cols, list(range(400)), [float(t) for t in range(400)])
    b.retune(2 * a.h, 3 * a.clear_hours)
    assert (b.statistic, b.alarm, b.report, b.change_ts) == (a.statistic, a.alarm, a.report, a.change_ts)
    assert (b.h, b.clear_hours) == (2 * a.h, 3 * a.clear_hours)


@pytest.mark.parametrize("trigger", EACH)
def test_an_alarm_report_keeps_the_threshold_it_crossed(trigger):
    """The evidence says "CUSUM s > h" with the h it crossed, whatever a later retune sets."""
    rng = np.random.default_rng(19)
    det, hour = _chart(trigger), 0.0
    while not det.alarm:
        det.update_many(*det.simulate(rng, 10, shifted=True), [None] * 10, [hour] * 10)
        hour += 1.0
    crossed = det.h
    assert det.report["statistic"] > det.report["threshold"] == crossed
    det.retune(10 * crossed, det.clear_hours)
    assert det.report["threshold"] == crossed


@pytest.mark.parametrize("trigger", EACH)
def test_an_episode_clears_on_time_not_on_rows(trigger):
    """clear_hours after the latest crossing: by row times, or by `advance(now)` with no row."""
    rng = np.random.default_rng(17)
    det = _chart(trigger)
    hour = 0.0
    while not det.alarm:
        det.update_many(*det.simulate(rng, 10, shifted=True), [None] * 10, [hour] * 10)
        hour += 1.0
    crossed = det.last_alarm_hour
    assert det.advance(crossed + 0.999 * det.clear_hours).alarm
    # a null row that does not cross again (the restarted statistic may sit near h after the
    # shifted batch, and a crossing would rightly open a new episode)
    while True:
        quiet = [c[0] for c in det.simulate(rng, 1)]
        probe = copy.deepcopy(det).update(*quiet, ts="late", hour=crossed + 0.5 * det.clear_hours)
        if probe.last_alarm_hour == crossed:
            break
    assert det.update(*quiet, ts="late", hour=crossed + det.clear_hours).alarm is False
    det2 = _chart(trigger)
    for _ in range(1000):
        det2.update_many(*det2.simulate(rng, 10, shifted=True), [None] * 10, [0.0] * 10)
        if det2.alarm:
            break
    assert not det2.advance(det2.last_alarm_hour + det2.clear_hours).alarm and det2.report is None
