"""Fuzz of the input line parser (hypothesis): whatever a line holds, parsing it never raises and
gives exactly one outcome, a validated record or one short rejection; an accepted record holds
only values in range. This is the property that keeps a poison line from stopping later runs."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta_supervisor.core.records import TS_MAX, TS_MIN, event_from_json, tick_from_json
from meta_supervisor.files.inputs import Batch, Line, _parse

FIELDS = ["event_id", "ts", "agent", "symbol", "side", "score_final", "confidence", "regime", "price"]
GOOD = {
    "event_id": "e1",
    "ts": "2026-11-24T10:00:00Z",
    "agent": "a",
    "symbol": "BTC",
    "side": "long",
    "score_final": 0.5,
    "confidence": 0.7,
    "regime": "TREND",
    "price": 100.0,
}
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
timestamps = st.datetimes().map(lambda d: d.isoformat() + "Z") | st.text(max_size=30)
field_values = st.one_of(json_values, timestamps, st.sampled_from(["long", "short", "buy", "sell", "1", "-1", 1, -1]))


def _one(raw: bytes, validate=event_from_json) -> Batch:
    batch = Batch()
    _parse(Line("data/x.jsonl", 7, raw), validate, batch)
    assert len(batch.records) + len(batch.rejected) == 1
    for r in batch.rejected:
        text = str(r)
        assert text.startswith("data/x.jsonl:7: ") and "\n" not in text and len(text) < 300
    return batch


def _check_event(e) -> None:
    assert TS_MIN <= e.ts < TS_MAX
    assert e.side in ("long", "short") and e.sign in (1, -1)
    assert math.isfinite(e.score_final) and math.isfinite(e.confidence)
    assert e.price is None or (math.isfinite(e.price) and e.price > 0)
    for text in (e.event_id, e.agent, e.symbol, e.regime):
        assert isinstance(text, str) and text.strip()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_bytes_give_one_outcome(raw):
    _one(raw)
    _one(raw, tick_from_json)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), field_values, max_size=len(FIELDS)), st.booleans())
def test_any_object_of_the_fields_gives_one_outcome_and_accepted_values_are_in_range(obj, over_good):
    doc = {**GOOD, **obj} if over_good else obj
    batch = _one(json.dumps(doc).encode())
    for _, e in batch.records:
        _check_event(e)


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 200), st.binary(min_size=1, max_size=12))
def test_a_valid_line_with_bytes_spliced_in_gives_one_outcome(at, junk):
    raw = json.dumps(GOOD).encode()
    at = min(at, len(raw))
    batch = _one(raw[:at] + junk + raw[at:])
    for _, e in batch.records:
        _check_event(e)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(FIELDS), field_values)
def test_a_key_given_twice_is_refused_whatever_its_values(key, value):
    raw = json.dumps(GOOD).encode()[:-1] + b", " + json.dumps(key).encode() + b": " + json.dumps(value).encode() + b"}"
    (rejection,) = _one(raw).rejected
    assert f"duplicate key '{key}'" in rejection.reason


TIMES = ["2026-11-24T10:00:00Z", "2026-11-24T10:05:00Z", "2026-11-24T11:00:00+01:00", "0001-01-01T00:00:00Z"]
tick_lines = st.one_of(
    # the common line, sometimes out of range
    st.builds(
        lambda ts, symbol, price: json.dumps({"ts": ts, "symbol": symbol, "price": price}, separators=(",", ":")),
        st.sampled_from(TIMES) | timestamps,
        st.sampled_from(["BTC", "ETH", "", " ", "B\\TC", 'B"C', "é"]) | st.text(max_size=6),
        st.sampled_from([100.0, 1, 0, -1.5, 1e308, True]) | st.floats(allow_nan=False, allow_infinity=False),
    ),
    # the same shape written otherwise: spaces, another key, a key twice, an escape
    st.sampled_from(
        [
            '{"ts": "2026-11-24T10:00:00Z", "symbol": "BTC", "price": 101}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":101,"venue":"X"}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":101,"a":1,"b":2,"c":3}',  # + a blank: 3 keys a line
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":1,"price":100}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price" :1,"price":100}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"B\\u0054C","price":101}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":1e400}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":NaN}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":"BTC"}',
            '{"ts":"2026-11-24T10:00:00Z","symbol":{"a":1},"price":2}',
            "[1,2,3]",
            "",
            "   ",
            '{"ts":"2026-11-24T10:00:00Z","symbol":"' + "X" * 70_000 + '","price":1}',
        ]
    ),
    st.text(max_size=40),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tick_lines, max_size=8), st.booleans(), st.booleans())
def test_a_prices_file_reads_as_its_lines_one_by_one_would(lines, bom, unfinished):
    """read_prices takes a clean file in one decode and other lines by a typed fast path: whatever
    the file holds, the ticks, their line numbers and the rejections are the general path's."""
    import tempfile
    from pathlib import Path

    from meta_supervisor.files.inputs import read_lines, read_prices

    data = (b"\xef\xbb\xbf" if bom else b"") + "".join(line + "\n" for line in lines).encode()
    if unfinished:
        data += b'{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":1'
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prices").mkdir()
        (root / "prices/2026-11-24.jsonl").write_bytes(data)
        got = read_prices(root, "prices", 0)
        want = Batch()
        for line in read_lines(root / "prices/2026-11-24.jsonl", "prices/2026-11-24.jsonl")[0]:
            _parse(line, tick_from_json, want)
    assert [(line.number, tick) for line, tick in got.records] == [(line.number, tick) for line, tick in want.records]
    assert [str(r) for r in got.rejected] == [str(r) for r in want.rejected]
