"""timeutil.parse_ts_array is parse_ts of each timestamp, whatever the form."""

import random

import pytest

from meta_supervisor.core.timeutil import format_ts, parse_ts, parse_ts_array


def test_canonical_timestamps_parse_as_parse_ts():
    rng = random.Random(7)
    texts = [format_ts(rng.randrange(-(2**34), 2**34)) for _ in range(5000)]
    assert parse_ts_array(texts).tolist() == [parse_ts(t) for t in texts]


def test_other_forms_fall_back_to_parse_ts():
    texts = ["2026-11-24T10:00:00Z", "2026-11-24T11:00:00+01:00", "2026-11-24T10:00:00.9Z", "0001-01-01T00:00:00Z"]
    assert parse_ts_array(texts).tolist() == [parse_ts(t) for t in texts]
    assert parse_ts_array([]).tolist() == []


@pytest.mark.parametrize(
    "bad",
    [
        "2026-11-24T10:00:00",
        "2026-13-24T10:00:00Z",
        "2026-11-24T24:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-11-24T10:00:00ZZ",
    ],
)
def test_invalid_timestamps_raise_as_parse_ts(bad):
    with pytest.raises(ValueError) as expected:
        parse_ts(bad)
    with pytest.raises(ValueError, match=str(expected.value)):
        parse_ts_array(["2026-11-24T10:00:00Z", bad])
