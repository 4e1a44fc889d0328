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

import functools
import math
import re

import msgspec

from meta_supervisor.core.timeutil import parse_ts

SIDES = {"long": 1, "buy": 1, "1": 1, 1: 1, "short": -1, "sell": -1, "-1": -1, -1: -1}


class Rejected(ValueError):
    """Why one input line was refused (the message is the reason shown to the user)."""


class Event(msgspec.Struct, frozen=True, gc=False):
    """A validated signal (a Struct, not a dataclass: 100k pending events are built every hourly run
    at fleet scale, and a frozen dataclass spends most of its construction in `object.__setattr__`)."""

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


class Tick(msgspec.Struct, frozen=True, gc=False):
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


class _TickLine(msgspec.Struct):
    ts: str
    symbol: str
    price: float


_tick_line = msgspec.json.Decoder(_TickLine)
_SPACED_COLON = re.compile(rb'"\s+:')


@functools.lru_cache(maxsize=4096)
def _tick_time(text: str) -> int:
    # Every symbol's tick at one time carries the same text (200 symbols a time in the fleet
    # benchmark), so a day of prices has a few hundred distinct times, parsed once each.
    return parse_ts(text)


def tick_from_line(raw: bytes) -> Tick | None:
    """The common prices line (exactly `ts`, `symbol`, `price`, each valid) in one typed decode,
    or None for anything else: `tick_from_json` then decides and names the problem. A fleet's
    hourly reconcile re-reads ~200,000 ticks; this is ~3x cheaper than the general path.

    No backslash means no string holds a quote, so every `":` ends a key: three of them (and no
    `"key" :`) with all three fields decoded means no key is written twice or unknown.

    >>> tick_from_line(b'{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":101.5}')
    Tick(ts=1795514400, symbol='BTC', price=101.5)
    >>> tick_from_line(b'{"ts":"2026-11-24T10:00:00Z","symbol":"BTC","price":0}') is None
    True
    """
    if b"\\" in raw or raw.count(b'":') != 3 or _SPACED_COLON.search(raw):
        return None
    try:
        return _valid_tick(_tick_line.decode(raw))
    except msgspec.MsgspecError:
        return None


def ticks_from_lines(data: bytes) -> list[Tick] | None:
    """Every line of `data` (each ending in a newline) as a tick, in one decode, or None as soon as
    one line is not the common shape `tick_from_line` takes; the caller then goes line by line.

    Three `":` a line on average and every line decoding its three fields means three keys on each
    (see `tick_from_line`); `decode_lines` skips blank lines, so as many ticks as newlines means
    tick i is line i + 1.
    """
    count = data.count(b"\n")
    if b"\\" in data or data.count(b'":') != 3 * count or _SPACED_COLON.search(data):
        return None
    try:
        lines = _tick_line.decode_lines(data)
    except msgspec.MsgspecError:
        return None
    if len(lines) != count:
        return None
    ticks = []
    for line in lines:
        tick = _valid_tick(line)
        if tick is None:
            return None
        ticks.append(tick)
    return ticks


def _valid_tick(line: _TickLine) -> Tick | None:
    """The tick of a decoded line if every value is in range (what `tick_from_json` checks)."""
    try:
        ts = _tick_time(line.ts)
    except (ValueError, OverflowError):
        return None
    price = line.price
    if not (TS_MIN <= ts < TS_MAX and line.symbol.strip() and math.isfinite(price) and price > 0):
        return None
    return Tick(ts, line.symbol, price)


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
