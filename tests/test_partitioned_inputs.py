"""Partitioned inputs: reconcile reads only the price days its pending events can need and only
the event files that grew since its cursor; the folder layout reconciles exactly like single files.

No timing here: the work is measured by counting the files opened (and the report's lists).
"""

from __future__ import annotations

import builtins
import io
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from meta_supervisor.core.config import InputSettings
from meta_supervisor.core.timeutil import HOUR, day_of, format_ts, parse_ts
from meta_supervisor.jobs import reconcile

FIRST_DAY = date(2026, 1, 1)
DAYS = 365  # price partitions 2026-01-01 .. 2026-12-31
SYMBOLS = {"BTC": 60000.0, "ETH": 3000.0}
LOOKBACK_H = InputSettings().entry_lookback_hours  # 72 by default
SUPERVISOR_YAML = "inputs:\n  alpha_events: data/alpha_events\n  prices: data/prices\n"
AGENTS_YAML = "macro-1: macro\narb-1: arb\n"


def _day(i: int) -> str:
    return (FIRST_DAY + timedelta(days=i)).isoformat()


def _price(symbol: str, ts: int) -> float:
    """A deterministic wiggle so PnL is not zero."""
    h = ts // HOUR
    return round(SYMBOLS[symbol] * (1 + 0.001 * ((h * 7919 + len(symbol)) % 41 - 20)), 6)


def _ticks(day: str) -> list[dict]:
    start = parse_ts(f"{day}T00:00:00Z")
    return [
        {"ts": format_ts(start + k * HOUR), "symbol": s, "price": _price(s, start + k * HOUR)}
        for k in range(24)
        for s in SYMBOLS
    ]


def _events(day: str, hours, tag: str) -> list[dict]:
    out = []
    for hour in hours:
        for j, (agent, symbol) in enumerate((("macro-1", "BTC"), ("arb-1", "ETH"))):
            ts = f"{day}T{hour:02d}:{7 + 13 * j:02d}:00Z"
            ev = {
                "event_id": f"{tag}-{day}-{hour:02d}-{j}",
                "ts": ts,
                "agent": agent,
                "symbol": symbol,
                "side": "long" if (hour + j) % 2 else "short",
                "score_final": round(0.1 + 0.03 * hour, 4),
                "confidence": 0.6,
                "regime": "TREND" if hour % 3 else "RANGE",
            }
            if j == 0 and hour % 2:
                ev["price"] = _price(symbol, parse_ts(ts))  # some carry their entry price
            out.append(ev)
    return out


def _lines(objs) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


def _write(path: Path, objs, mode: str = "w") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, mode, encoding="utf-8") as handle:
        handle.write(_lines(objs))


class _World:
    """The same data in two layouts: folders of daily files (root `split`) and single files (`flat`)."""

    def __init__(self, tmp: Path):
        self.split, self.flat = tmp / "split", tmp / "flat"
        (self.split / "policy").mkdir(parents=True)
        (self.split / "policy" / "supervisor.yaml").write_text(SUPERVISOR_YAML)
        for root in (self.split, self.flat):
            (root / "policy").mkdir(parents=True, exist_ok=True)
            (root / "policy" / "agents.yaml").write_text(AGENTS_YAML)
        # A year of prices, one file a day; events on every day but the last two hours of the year
        # (signals of 2026-12-31 early hours stay pending: their 24h exit is in 2027).
        for i in range(DAYS):
            self.add_prices(_day(i), _ticks(_day(i)))
        for i in range(DAYS):
            self.add_events(_day(i), _events(_day(i), (1, 9, 17) if i < DAYS - 1 else (0, 1), "a"))

    def add_prices(self, day: str, ticks) -> None:
        _write(self.split / "data" / "prices" / f"{day}.jsonl", ticks, "a")
        _write(self.flat / "data" / "prices.jsonl", ticks, "a")

    def add_events(self, day: str, events) -> None:
        _write(self.split / "data" / "alpha_events" / f"{day}.jsonl", events, "a")
        _write(self.flat / "data" / "alpha_events.jsonl", events, "a")

    def run(self, now: str):
        return reconcile.run(self.split, now=now), reconcile.run(self.flat, now=now)


@pytest.fixture
def opened(monkeypatch):
    """Every path opened through builtins.open / io.open (pathlib uses io.open) during a test."""
    seen: list[str] = []
    real = io.open

    def recording_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)):
            seen.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", recording_open)
    monkeypatch.setattr(io, "open", recording_open)
    return seen


def _under(paths, root: Path, rel: str) -> list[str]:
    base = str(root / rel) + "/"
    return sorted({p[len(base) :] for p in paths if p.startswith(base)})


def _report(root: Path) -> dict:
    return json.loads((root / "state" / "reconcile_report.json").read_text())


def _state(root: Path) -> dict:
    """The commit record, with its pending events (kept in the files it names) as `pending`."""
    doc = json.loads((root / "state" / "reconcile_state.json").read_text())
    files = [root / "state/pending" / name for name in sorted(doc.get("pending_files", {}))]
    doc["pending"] = [json.loads(line) for path in files for line in path.read_text().splitlines()]
    return doc


def _reconciled(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "state" / "reconciled").glob("*.jsonl"))}


def test_reconcile_reads_only_the_partitions_it_needs(tmp_path, opened):
    world = _World(tmp_path)
    split, flat = world.run("2027-01-01T00:30:00Z")
    assert split.rows_written == flat.rows_written > 3000
    assert split.pending == flat.pending > 0  # 2026-12-31's signals wait for 2027 prices
    assert _report(world.split)["price_files_read"] == [f"data/prices/{_day(i)}.jsonl" for i in range(DAYS)]

    # One new hour of signals (appended to today's file) and the prices they need to mature.
    new_day = "2027-01-01"
    pending_ts = [parse_ts(p["event"]["ts"]) for p in _state(world.split)["pending"]]
    new = _events(new_day, (10,), "b")
    world.add_events(new_day, _events(new_day, (0,), "a"))  # today's file already existed ...
    world.run("2027-01-01T01:00:00Z")  # ... and was read once
    world.add_events(new_day, new)  # then the hour arrives
    world.add_prices(new_day, _ticks(new_day))
    world.add_prices("2027-01-02", _ticks("2027-01-02"))
    pending_ts = [parse_ts(p["event"]["ts"]) for p in _state(world.split)["pending"]] + [parse_ts(e["ts"]) for e in new]

    opened.clear()
    split, flat = world.run("2027-01-02T23:30:00Z")
    assert split.rows_written == flat.rows_written > 0
    assert split.pending == flat.pending == 0

    # Price partitions: exactly the days from the oldest pending signal's on (every entry here has
    # a tick earlier the same day, so no lookback day is read: see the weekend test below).
    first = day_of(min(pending_ts))
    all_days = sorted(p.stem for p in (world.split / "data" / "prices").glob("*.jsonl"))
    needed = [f"{d}.jsonl" for d in all_days if d >= first]
    assert len(needed) == 3, needed  # 2026-12-31 .. 2027-01-02, not 367
    assert _under(opened, world.split, "data/prices") == needed
    assert _report(world.split)["price_files_read"] == [f"data/prices/{n}" for n in needed]

    # Event files: only the one that grew since the cursor; 365 unchanged days are not opened.
    assert _under(opened, world.split, "data/alpha_events") == [f"{new_day}.jsonl"]
    assert _report(world.split)["files_read"] == [f"data/alpha_events/{new_day}.jsonl"]
    assert _report(world.split)["events_read"] == len(new)

    # The same data in single files reconciles to the same rows, byte for byte.
    assert _reconciled(world.split) == _reconciled(world.flat)
    assert _state(world.split)["pending"] == _state(world.flat)["pending"]


def test_idle_run_opens_no_input(tmp_path, opened):
    world = _World(tmp_path)
    world.run("2027-01-01T00:30:00Z")
    before = _reconciled(world.split)
    pending_ts = min(parse_ts(p["event"]["ts"]) for p in _state(world.split)["pending"])

    opened.clear()
    result = reconcile.run(world.split, now="2027-01-01T01:30:00Z")
    assert result.rows_written == 0
    assert _under(opened, world.split, "data/alpha_events") == []
    # Still-pending signals need their own days and later (their entries are there), never the year.
    first = day_of(pending_ts)
    assert _under(opened, world.split, "data/prices") == sorted(
        f"{_day(i)}.jsonl" for i in range(DAYS) if _day(i) >= first
    )
    assert _reconciled(world.split) == before


@pytest.mark.parametrize("signal_at", ["08:30", "10:30"])
def test_an_entry_older_than_the_pending_days_is_read_from_the_lookback_files_only_when_needed(
    tmp_path, opened, signal_at
):
    """A Monday signal's entry is Friday's close: the files before the oldest pending signal's day
    are read (back to its time - entry_lookback_hours) only because that entry is missing there."""
    root = tmp_path / "r"
    (root / "policy").mkdir(parents=True)
    (root / "policy" / "supervisor.yaml").write_text(SUPERVISOR_YAML)
    (root / "policy" / "agents.yaml").write_text(AGENTS_YAML)
    friday, saturday, sunday, monday = "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"
    _write(root / "data/prices" / f"{friday}.jsonl", [t for t in _ticks(friday) if t["ts"] < f"{friday}T21"])
    for day in (saturday, sunday):  # only ETH trades at the weekend
        _write(root / "data/prices" / f"{day}.jsonl", [t for t in _ticks(day) if t["symbol"] == "ETH"])
    _write(root / "data/prices" / f"{monday}.jsonl", [t for t in _ticks(monday) if t["ts"] >= f"{monday}T09"])
    signal = {
        "event_id": "mon-1",
        "ts": f"{monday}T{signal_at}:00Z",  # 08:30 is before Monday's first BTC tick (09:00)
        "agent": "macro-1",
        "symbol": "BTC",
        "side": "long",
        "score_final": 0.5,
        "confidence": 0.6,
        "regime": "TREND",
    }
    _write(root / "data/alpha_events" / f"{monday}.jsonl", [signal])

    opened.clear()
    result = reconcile.run(root, now=f"{monday}T23:00:00Z")
    assert result.rows_written == 2  # 1 h and 4 h; 24 h waits for Tuesday
    rows = [json.loads(line) for line in (root / "state/reconciled" / f"{monday}.jsonl").read_text().splitlines()]
    entry_at = f"{friday}T20:00:00Z" if signal_at == "08:30" else f"{monday}T10:00:00Z"
    assert {r["entry_price"] for r in rows} == {_price("BTC", parse_ts(entry_at))}
    read = [friday, saturday, sunday, monday] if signal_at == "08:30" else [monday]
    assert _under(opened, root, "data/prices") == [f"{d}.jsonl" for d in read]


def test_folder_and_single_file_layouts_reconcile_alike(tmp_path):
    world = _World(tmp_path)
    for now in ("2026-07-01T00:00:00Z", "2027-01-01T00:30:00Z"):
        split, flat = world.run(now)
        assert (split.rows_written, split.pending, len(split.rejected)) == (
            flat.rows_written,
            flat.pending,
            len(flat.rejected),
        )
    assert _reconciled(world.split) == _reconciled(world.flat)
    rows = [json.loads(line) for blob in _reconciled(world.split).values() for line in blob.splitlines()]
    assert {r["horizon_hours"] for r in rows} == {1, 4, 24}
    assert len({(r["event_id"], r["horizon_hours"]) for r in rows}) == len(rows)  # written once
