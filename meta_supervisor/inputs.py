"""Reading the trading system's inputs (a shell): events from a cursor, prices by date.

Events are read once: a cursor per file (byte offset and line number) means a run parses only
what was appended since the last one. Prices are re-read each run but only from the daily
partitions that can hold the entry and exit ticks of the events still pending.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from .errors import UserError
from .records import Rejected, event_from_json, tick_from_json
from .store import input_files, read_lines
from .timeutil import day_of


@dataclass
class Rejection:
    file: str
    line: int
    reason: str

    def to_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class Batch:
    records: list = field(default_factory=list)       # (Line, record)
    rejected: list = field(default_factory=list)      # Rejection
    files_read: list = field(default_factory=list)    # display paths


def _parse(line, validate, batch: Batch) -> None:
    try:
        obj = msgspec.json.decode(line.raw)
    except msgspec.DecodeError as err:
        why = str(err).split(" - at ")[0]   # msgspec's "- at `$[...]`" adds nothing on one line
        if b"NaN" in line.raw or b"Infinity" in line.raw:
            why = "NaN and Infinity are not JSON numbers"
        batch.rejected.append(Rejection(line.file, line.number, f"not valid JSON ({why})"))
        return
    try:
        batch.records.append((line, validate(obj)))
    except Rejected as err:
        batch.rejected.append(Rejection(line.file, line.number, str(err)))


def _display(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def read_events(root: Path, rel: str, cursor: dict) -> tuple[Batch, dict]:
    """New event lines since `cursor` ({display: {"offset", "line"}}); returns the new cursor.
    A file that shrank below its cursor was rewritten, which would silently re-read or lose
    events: refuse with a clear message rather than guess."""
    batch, new_cursor = Batch(), dict(cursor)
    for path in input_files(root / rel):
        name = _display(root, path)
        pos = cursor.get(name, {"offset": 0, "line": 1})
        size = path.stat().st_size
        if size < pos["offset"]:
            raise UserError(f"{name}: file shrank to {size} bytes but {pos['offset']} were already "
                            "read; inputs must be append-only (see README, 'Inputs')")
        if size == pos["offset"]:
            continue
        lines, offset, number = read_lines(path, name, pos["offset"], pos["line"])
        batch.files_read.append(name)
        for line in lines:
            _parse(line, event_from_json, batch)
        new_cursor[name] = {"offset": offset, "line": number}
    return batch, new_cursor


def read_prices(root: Path, rel: str, since_ts: int) -> Batch:
    """Ticks from the files that can hold times >= since_ts: every dated daily file from that
    day on, every undated file. A single prices file is read whole."""
    batch = Batch()
    first_day = day_of(since_ts)
    for path in input_files(root / rel, from_day=first_day):
        name = _display(root, path)
        lines, _, _ = read_lines(path, name)
        batch.files_read.append(name)
        for line in lines:
            _parse(line, tick_from_json, batch)
    return batch


def latest_event_regime(root: Path, rel: str) -> str | None:
    """Regime of the most recent valid event (by ts), reading only the last MiB of the newest
    non-empty file: the current regime must not cost a scan of the whole event history."""
    for path in reversed(input_files(root / rel)):
        size = path.stat().st_size
        with open(path, "rb") as handle:
            handle.seek(max(0, size - (1 << 20)))
            lines = handle.read().split(b"\n")
        if size > (1 << 20):
            lines = lines[1:]  # the first line of the tail is probably cut
        best = None
        for raw in lines:
            if not raw.strip():
                continue
            try:
                event = event_from_json(msgspec.json.decode(raw))
            except (msgspec.DecodeError, Rejected):
                continue
            if best is None or event.ts >= best.ts:
                best = event
        if best is not None:
            return best.regime
    return None
