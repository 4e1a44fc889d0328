"""Reading the trading system's inputs (a shell): events from a cursor, prices by date.

Events are read once: a cursor per file (byte offset and line number) means a run parses only
what was appended since the last one. Prices are re-read each run but only from the daily
partitions that can hold the entry and exit ticks of the events still pending.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.records import Rejected, event_from_json, tick_from_json, tick_from_line, ticks_from_lines
from meta_supervisor.core.timeutil import day_of

_DATED = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")
BOM = b"\xef\xbb\xbf"
# A signal or a tick is a few hundred bytes; a longer line is not one (a runaway producer, a binary
# file) and is refused unparsed, so no line costs more than this much work.
MAX_LINE_BYTES = 64 * 1024


class Line(msgspec.Struct, frozen=True, gc=False):  # built in C: ~150,000 an hourly run at fleet scale
    file: str  # display path
    number: int  # 1-based
    raw: bytes


def input_files(path: Path, from_day: str | None = None, before_day: str | None = None) -> list[Path]:
    """A JSONL input is a file or a folder of `*.jsonl` files (sorted by name: date-named files
    then read in time order). A missing input is an empty one. `from_day` (YYYY-MM-DD) leaves out
    a folder's files named by an earlier day; `before_day` keeps only files named by an earlier
    day (no undated file, no single-file input)."""
    if path.is_dir():
        # scandir: the file type comes with the directory entry (no stat), and names are filtered
        # before any Path is built: a year of daily files costs next to nothing.
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".jsonl") and e.is_file())
        if from_day is not None:
            names = [n for n in names if (day := file_day(n)) is None or day >= from_day]
        if before_day is not None:
            names = [n for n in names if (day := file_day(n)) is not None and day < before_day]
        return [path / name for name in names]
    return [path] if path.exists() and before_day is None else []


def file_day(path: Path | str) -> str | None:
    """`YYYY-MM-DD` named in a daily partition's file name, if any."""
    m = _DATED.search(path if isinstance(path, str) else path.name)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def read_lines(path: Path, display: str, offset: int = 0, first_line: int = 1):
    """Yield complete lines (`Line`) from byte `offset`; returns the offset and line number after
    the last complete line. A final line without newline is still being written by the producer:
    it is left for the next run."""
    with open(path, "rb") as handle:
        handle.seek(offset)
        data = handle.read()
    return split_lines(data, display, offset, first_line)


def split_lines(data: bytes, display: str, offset: int = 0, first_line: int = 1):
    """`read_lines` of bytes already read (`data` starts at byte `offset` of the file)."""
    end = data.rfind(b"\n") + 1
    number = first_line
    # A UTF-8 byte order mark (editors on Windows write one) is not part of the first line:
    # skipped, not rejected, so line 1 is not lost. Offsets still count it.
    start = len(BOM) if offset == 0 and data.startswith(BOM) else 0
    lines = []
    while start < end:
        stop = data.index(b"\n", start)
        if stop > start and not data[start:stop].isspace():
            lines.append(Line(display, number, data[start:stop]))
        number += 1
        start = stop + 1
    return lines, offset + end, number


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
    records: list = field(default_factory=list)  # (Line, record)
    rejected: list = field(default_factory=list)  # Rejection
    files_read: list = field(default_factory=list)  # display paths


def _parse(line, validate, batch: Batch) -> None:
    """One line into `batch`: a record, or a rejection naming the line. Nothing a line holds may
    raise past here: a line that crashed the run would crash every later run at the same place."""
    if len(line.raw) > MAX_LINE_BYTES:
        why = f"line is {len(line.raw)} bytes, more than {MAX_LINE_BYTES} (not a signal or a tick)"
        batch.rejected.append(Rejection(line.file, line.number, why))
        return
    try:
        obj = msgspec.json.decode(line.raw)
    except msgspec.DecodeError as err:
        why = str(err).split(" - at ")[0]  # msgspec's "- at `$[...]`" adds nothing on one line
        if b"NaN" in line.raw or b"Infinity" in line.raw:
            why = "NaN and Infinity are not JSON numbers"
        batch.rejected.append(Rejection(line.file, line.number, f"not valid JSON ({why})"))
        return
    except UnicodeDecodeError as err:
        batch.rejected.append(Rejection(line.file, line.number, f"not valid UTF-8 (at byte {err.start} of the line)"))
        return
    except RecursionError:  # msgspec's decoder recurses per nesting level
        batch.rejected.append(Rejection(line.file, line.number, "not valid JSON (nested too deeply)"))
        return
    duplicate = _duplicate_key(line.raw, obj)
    if duplicate is not None:
        batch.rejected.append(Rejection(line.file, line.number, duplicate))
        return
    try:
        batch.records.append((line, validate(obj)))
    except Rejected as err:
        batch.rejected.append(Rejection(line.file, line.number, str(err)))


_SPACED_COLON = re.compile(rb'"\s+:')


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs):
    seen = set()
    for key, _ in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen.add(key)
    return dict(pairs)


def _duplicate_key(raw: bytes, obj) -> str | None:
    """Why the line is refused if its object names a key twice, else None. JSON leaves a repeated
    key undefined and decoders keep the last value silently: `{"price": 1, "price": 100}` is
    refused rather than guessed. Fast path: without a backslash no string can hold a quote, so
    every `":` ends a key; with no space between a key and its colon, as many `":` as the object
    has keys means no key is written twice (a nested object adds `":`, and goes the slow way).
    Only the other lines (rare) are parsed again, exactly."""
    if not isinstance(obj, dict):
        return None
    if b"\\" not in raw and raw.count(b'":') == len(obj) and not _SPACED_COLON.search(raw):
        return None
    try:
        json.loads(raw, object_pairs_hook=_no_duplicates)
    except _Duplicate as err:
        return f"duplicate key {str(err.args[0])[:60]!r} in a JSON object (which value is meant is undefined)"
    except (ValueError, RecursionError):  # decoded by msgspec already; nothing more to say
        return None
    return None


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
            raise UserError(
                f"{name}: file shrank to {size} bytes but {pos['offset']} were already "
                "read; inputs must be append-only (see README, 'Inputs')"
            )
        if size == pos["offset"]:
            continue
        lines, offset, number = read_lines(path, name, pos["offset"], pos["line"])
        batch.files_read.append(name)
        for line in lines:
            _parse(line, event_from_json, batch)
        new_cursor[name] = {"offset": offset, "line": number}
    return batch, new_cursor


def read_prices(root: Path, rel: str, since_ts: int, before_ts: int | None = None) -> Batch:
    """Ticks from the files that can hold times >= since_ts: every dated daily file from that
    day on, every undated file. A single prices file is read whole. With `before_ts`: only the
    dated files of days before its day (the earlier part of a read done in two steps)."""
    batch = Batch()
    first_day = day_of(since_ts)
    last_day = None if before_ts is None else day_of(before_ts)
    for path in input_files(root / rel, from_day=first_day, before_day=last_day):
        name = _display(root, path)
        batch.files_read.append(name)
        data = path.read_bytes()
        if _clean_prices(data, name, batch):
            continue
        lines, _, _ = split_lines(data, name)
        for line in lines:
            tick = tick_from_line(line.raw) if len(line.raw) <= MAX_LINE_BYTES else None
            if tick is not None:
                batch.records.append((line, tick))
            else:  # anything unusual takes the general path, which names the problem
                _parse(line, tick_from_json, batch)
    return batch


def _clean_prices(data: bytes, name: str, batch: Batch) -> bool:
    """A prices file whose every complete line is a plain valid tick, decoded at once (True);
    False, having added nothing, for any other file. A fleet's hourly reconcile re-reads ~150,000
    ticks of its last days: this path takes a quarter of the time of the line-by-line one."""
    data = data[: data.rfind(b"\n") + 1]  # a last line without newline is still being written
    if data.startswith(BOM):
        return False
    raw = data.split(b"\n")[:-1]
    if not raw or max(map(len, raw)) > MAX_LINE_BYTES:
        return False
    ticks = ticks_from_lines(data)
    if ticks is None:
        return False
    batch.records.extend((Line(name, number, line), tick) for number, (line, tick) in enumerate(zip(raw, ticks), 1))
    return True
