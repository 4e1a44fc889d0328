"""The records the system passes around: input events and ticks (validated), reconciled rows.

`Row` is the one shape of a reconciled row (docs/architecture.md, "One row type"): reconcile
builds it, the history store encodes and decodes it (msgspec, typed, in bulk), and every core
function takes it. It is a `msgspec.Struct` because that is a plain typed record with no I/O
here: decoding into it is 1.6x faster than into a slotted dataclass and its instances are not
tracked by the garbage collector (measured on a month of demo rows; docs/performance.md).

An input line is accepted only if every required field is present with the right type and range; the
seed's `_f()` turned bad values into 0.0 and biased the model, so here nothing is ever coerced:
a bad line is rejected with a reason and the caller reports it (file, line, why).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

from meta_supervisor.core.timeutil import parse_ts

SIDES = {"long": 1, "buy": 1, "1": 1, 1: 1, "short": -1, "sell": -1, "-1": -1, -1: -1}


class Rejected(ValueError):
    """Why one input line was refused (the message is the reason shown to the user)."""


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    ts: int  # epoch seconds
    ts_text: str
    agent: str
    symbol: str
    side: str  # normalized: "long" | "short"
    sign: int  # +1 long, -1 short
    score_final: float
    confidence: float
    regime: str
    price: float | None

    def to_dict(self) -> dict:
        return {
            "event_id": self.event_id,
            "ts": self.ts_text,
            "agent": self.agent,
            "symbol": self.symbol,
            "side": self.side,
            "score_final": self.score_final,
            "confidence": self.confidence,
            "regime": self.regime,
            "price": self.price,
        }


@dataclass(frozen=True, slots=True)
class Tick:
    ts: int
    symbol: str
    price: float


# Timestamps a trading record can carry: a year-1 `ts` broke later date arithmetic (a crash on
# every run); 2200 leaves room for any real horizon and still fits every datetime operation.
TS_MIN = 0  # 1970-01-01T00:00:00Z
TS_MAX = 7258118400  # 2200-01-01T00:00:00Z


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _show(value, limit: int = 60) -> str:
    """`repr` of a rejected value, cut to `limit` characters: a rejection is one short line,
    whatever the input holds (a 400-digit number, a megabyte string)."""
    return _cut(repr(value), limit)


def _string(obj: dict, key: str) -> str:
    if key not in obj:
        raise Rejected(f"missing field '{key}'")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise Rejected(f"field '{key}' must be a non-empty string, got {_show(value)}")
    return value


def _number(obj: dict, key: str, *, positive: bool = False) -> float:
    value = _optional_number(obj, key, positive=positive, required=True)
    assert value is not None  # required: a missing field raised
    return value


def _optional_number(obj: dict, key: str, *, positive: bool = False, required: bool = False) -> float | None:
    if key not in obj or (obj[key] is None and not required):
        if required:
            raise Rejected(f"missing field '{key}'")
        return None
    value = obj[key]
    # bool is an int subclass in Python; `true` is not a price.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"field '{key}' must be a number, got {_show(value)}")
    try:
        value = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows any number of digits)
        raise Rejected(f"field '{key}' is too large a number ({len(str(abs(value)))} digits)") from None
    if not math.isfinite(value):
        raise Rejected(f"field '{key}' must be finite, got {value!r}")
    if positive and value <= 0:
        raise Rejected(f"field '{key}' must be > 0, got {value!r}")
    return value


def _timestamp(obj: dict) -> int:
    text = _string(obj, "ts")
    try:
        ts = parse_ts(text)
    except (ValueError, OverflowError) as err:
        raise Rejected(f"field 'ts' is not an ISO 8601 UTC time: {_cut(str(err), 100)}") from None
    if not TS_MIN <= ts < TS_MAX:
        raise Rejected(f"field 'ts' {_show(text)} is outside 1970..2199")
    return ts


def event_from_json(obj) -> Event:
    """Validate one parsed `alpha_events` line.

    >>> e = event_from_json({"event_id": "e1", "ts": "2026-11-24T10:00:00Z", "agent": "a",
    ...     "symbol": "BTC", "side": "sell", "score_final": 0.4, "confidence": 0.7, "regime": "TREND"})
    >>> (e.side, e.sign, e.price)
    ('short', -1, None)
    >>> event_from_json({"event_id": "e1"})
    Traceback (most recent call last):
    ...
    meta_supervisor.core.records.Rejected: missing field 'ts'
    """
    if not isinstance(obj, dict):
        raise Rejected(f"expected a JSON object, got {type(obj).__name__}")
    event_id = _string(obj, "event_id")
    ts = _timestamp(obj)
    agent = _string(obj, "agent")
    symbol = _string(obj, "symbol")
    raw_side = obj.get("side")
    if "side" not in obj:
        raise Rejected("missing field 'side'")
    key = raw_side.lower() if isinstance(raw_side, str) else raw_side
    # only a str or an int can name a side (a list or an object is unhashable: it crashed here)
    if not isinstance(key, (str, int)) or isinstance(key, bool) or key not in SIDES:
        raise Rejected(f"field 'side' must be long/short, buy/sell or 1/-1, got {_show(raw_side)}")
    sign = SIDES[key]
    return Event(
        event_id=event_id,
        ts=ts,
        ts_text=obj["ts"],
        agent=agent,
        symbol=symbol,
        side="long" if sign > 0 else "short",
        sign=sign,
        score_final=_number(obj, "score_final"),
        confidence=_number(obj, "confidence"),
        regime=_string(obj, "regime"),
        price=_optional_number(obj, "price", positive=True),
    )


def tick_from_json(obj) -> Tick:
    """Validate one parsed `prices` line.

    >>> tick_from_json({"ts": "2026-11-24T10:00:00Z", "symbol": "BTC", "price": 0})
    Traceback (most recent call last):
    ...
    meta_supervisor.core.records.Rejected: field 'price' must be > 0, got 0.0
    """
    if not isinstance(obj, dict):
        raise Rejected(f"expected a JSON object, got {type(obj).__name__}")
    return Tick(ts=_timestamp(obj), symbol=_string(obj, "symbol"), price=_number(obj, "price", positive=True))


class Row(msgspec.Struct, frozen=True, gc=False):
    """One reconciled row, fields in the order they are written (README "The cycle" says what
    each means). Only `expected_sigma_bps` may be None (no model: `sim_version` "fallback_zero")."""

    event_id: str
    ts: str  # the signal's time, ISO 8601 UTC "Z" (sorts as time)
    agent: str
    strategy_class: str
    symbol: str
    side: str  # "long" | "short"
    regime: str
    horizon_hours: int
    score_final: float
    confidence: float
    entry_price: float
    exit_price: float
    realized_pnl_bps: float
    expected_pnl_bps: float
    expected_sigma_bps: float | None
    pnl_error_bps: float  # realized - expected
    abs_error_bps: float
    sim_version: str  # "ridge_h24@<hash>" or "fallback_zero"
    reconciled_at: str


ROW_FIELDS = Row.__struct_fields__
