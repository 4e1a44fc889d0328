"""Poison lines: an input line, however hostile, is one rejection naming its file and line; the
good lines around it are reconciled, and later runs go on (the cursor moves past it)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import read_rows, run_script, write_jsonl
from tests.test_reconcile import ev

GOOD = ev("good", "2026-11-24T10:00:00Z")
LATER = dict(GOOD, event_id="later", ts="2026-11-24T10:30:00Z")


def _event_bytes(**override) -> bytes:
    return json.dumps(dict(GOOD, event_id="poison", **override)).encode()


POISON = {
    "invalid UTF-8": (_event_bytes(agent="a1").replace(b'"poison"', b'"p\xffison"'), "not valid UTF-8"),
    "nested 30k deep": (b"[" * 30_000 + b"]" * 30_000, "nested too deeply"),
    "nested 100k deep (then also too long)": (b"[" * 100_000 + b"]" * 100_000, "more than 65536"),
    "400-digit integer": (_event_bytes().replace(b'"score_final": 0.5', b'"score_final": ' + b"9" * 400), "too large"),
    "ts in year 1": (_event_bytes(ts="0001-01-01T00:00:00Z"), "outside 1970..2199"),
    "ts in year 9999": (_event_bytes(ts="9999-12-31T23:59:59Z"), "outside 1970..2199"),
    "5000-digit integer": (_event_bytes(agent=1).replace(b'"agent": 1', b'"agent": ' + b"7" * 5000), "out of range"),
    "duplicate key": (
        _event_bytes().replace(b'"score_final": 0.5', b'"score_final": 0.5, "score_final": 9'),
        "duplicate key 'score_final'",
    ),
    "duplicate key, escaped": (
        _event_bytes().replace(b'"score_final": 0.5', b'"score_final": 0.5, "sc\\u006fre_final": 9'),
        "duplicate key 'score_final'",
    ),
    "side is a list (found by tests/test_line_fuzz.py)": (_event_bytes(side=[]), "field 'side' must be"),
    "a 1 MB line": (_event_bytes(regime="R" * 1_000_000), "more than 65536"),
    "ts in 2100": (_event_bytes(ts="2100-01-01T00:00:00Z"), "more than max_clock_skew_hours (1) after this run's time"),
}


def _prices(root):
    write_jsonl(
        root / "data/prices.jsonl",
        [
            {"ts": t, "symbol": "BTC", "price": p}
            for t, p in (("2026-11-24T09:00:00Z", 100.0), ("2026-11-24T12:00:00Z", 101.0))
        ],
    )


@pytest.mark.parametrize("kind", sorted(POISON))
def test_a_poison_line_is_one_rejection_and_later_runs_go_on(root, kind):
    raw, reason = POISON[kind]
    _prices(root)
    path = root / "data/alpha_events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(json.dumps(GOOD).encode() + b"\n" + raw + b"\n")
    proc = run_script("reconcile", root, check=True)
    lines = [ln for ln in proc.stderr.splitlines() if "rejected:" in ln]
    assert len(lines) == 1 and lines[0].startswith("warning: data/alpha_events.jsonl:2: rejected: "), proc.stderr
    assert reason in lines[0] and len(lines[0]) < 200
    assert "Traceback" not in proc.stderr
    # the next run reads only what was appended: the poison line is behind the cursor
    write_jsonl(path, [LATER])
    again = run_script("reconcile", root, check=True)
    assert "rejected:" not in again.stderr
    assert sorted({r["event_id"] for r in read_rows(root)}) == ["good", "later"]
    assert run_script("evaluate", root, "--dry-run").returncode == 0


def test_a_utf8_byte_order_mark_does_not_lose_line_1(root):
    _prices(root)
    path = root / "data/alpha_events.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(GOOD).encode() + b"\n")
    proc = run_script("reconcile", root, check=True)
    assert "rejected:" not in proc.stderr
    assert {r["event_id"] for r in read_rows(root)} == {"good"}


def test_a_poison_price_line_is_rejected_and_the_join_goes_on(root):
    path = root / "data/prices.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    tick = lambda t, p: json.dumps({"ts": t, "symbol": "BTC", "price": p}).encode()
    path.write_bytes(
        tick("2026-11-24T09:00:00Z", 100.0)
        + b"\n"
        + tick("2026-11-24T11:00:00Z", 1).replace(b'"price": 1', b'"price": ' + b"1" * 400)
        + b"\n"
        + tick("2026-11-24T12:00:00Z", 101.0)
        + b"\n"
    )
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD])
    proc = run_script("reconcile", root, check=True)
    assert "data/prices.jsonl:2: rejected: field 'price' is too large a number (400 digits)" in proc.stderr
    assert [(r["horizon_hours"], r["exit_price"]) for r in read_rows(root)] == [(1, 100.0)]


def test_a_key_written_twice_only_inside_a_string_is_not_a_duplicate(root):
    _prices(root)
    write_jsonl(root / "data/alpha_events.jsonl", [dict(GOOD, agent='a "price" agent', price=100.0)])
    proc = run_script("reconcile", root, check=True)
    assert "rejected:" not in proc.stderr
    assert {r["agent"] for r in read_rows(root)} == {'a "price" agent'}


def test_a_far_future_tick_neither_matures_a_pair_nor_prices_it(root):
    _prices(root)
    write_jsonl(root / "data/prices.jsonl", [{"ts": "2030-01-01T00:00:00Z", "symbol": "BTC", "price": 500.0}])
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD])
    proc = run_script("reconcile", root, "--now", "2026-11-24T13:00:00Z", check=True)
    assert "data/prices.jsonl:3: rejected: field 'ts' 2030-01-01T00:00:00Z is more than max_clock_skew_hours" in (
        proc.stderr
    )
    # without the bound the 2030 tick "matured" the 4 h and 24 h pairs at 101.0
    assert [(r["horizon_hours"], r["exit_price"]) for r in read_rows(root)] == [(1, 100.0)]


def test_an_event_sent_again_after_all_its_horizons_were_written_is_a_duplicate(root):
    write_jsonl(
        root / "data/prices.jsonl",
        [{"ts": t, "symbol": "BTC", "price": 100.0} for t in ("2026-11-24T09:00:00Z", "2026-11-25T11:00:00Z")],
    )
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD])
    run_script("reconcile", root, check=True)
    assert len(read_rows(root)) == 3  # 1, 4 and 24 h: nothing pending
    write_jsonl(root / "data/alpha_events.jsonl", [GOOD, dict(GOOD, event_id="other")])
    proc = run_script("reconcile", root, check=True)
    assert (
        "data/alpha_events.jsonl:2: rejected: duplicate event_id 'good': already reconciled "
        "(state/reconciled/2026-11-24.jsonl)" in proc.stderr
    )
    assert sorted((r["event_id"], r["horizon_hours"]) for r in read_rows(root)) == [
        ("good", 1),
        ("good", 4),
        ("good", 24),
        ("other", 1),
        ("other", 4),
        ("other", 24),
    ]
