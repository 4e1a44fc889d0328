"""The byte format of state files: stable, so an unchanged state is an unchanged file in git."""

from __future__ import annotations

import json

import numpy as np
import pytest

from meta_supervisor.files.jsonio import compact, dumps, loads


def test_state_json_is_sorted_indented_and_ends_with_a_newline():
    doc = {
        "b": [1, {}],
        "a": np.float64(0.5),
        "c": np.array([1.0, 2.5]),
        "z": None,
        "é": "ü",
        "n": {"y": 1e-05, "x": np.int64(3)},
    }
    assert dumps(doc) == (
        b'{\n  "a": 0.5,\n  "b": [\n    1,\n    {}\n  ],\n  "c": [\n    1.0,\n    2.5\n  ],\n'
        b'  "n": {\n    "x": 3,\n    "y": 0.00001\n  },\n  "z": null,\n  "\xc3\xa9": "\xc3\xbc"\n}\n'
    )
    assert (
        json.loads(dumps(doc))
        == loads(dumps(doc))
        == json.loads(json.dumps({**doc, "a": 0.5, "c": [1.0, 2.5], "n": {"y": 1e-05, "x": 3}}))
    )


def test_a_row_is_one_compact_line_in_its_key_order():
    row = {"event_id": "e1", "ts": "2026-11-24T10:00:00Z", "horizon_hours": 24, "expected_sigma_bps": None}
    assert compact(row) == b'{"event_id":"e1","ts":"2026-11-24T10:00:00Z","horizon_hours":24,"expected_sigma_bps":null}'


def test_values_json_cannot_hold_are_refused():
    with pytest.raises(TypeError, match="cannot write object as JSON"):
        dumps({"x": object()})
