"""`state/windows/`: the sampled evidence windows of the cells (core/cell_windows.py).

- `state/windows/YYYY-MM-DD.jsonl`: the sampled rows of one signal day, one reconciled row a line
  (the same encoding as the history). A day's file stops changing once its rows have matured, so
  git stores each day about once; only the last two days change hour by hour.
- `state/windows/cursor.json`: `{version, shape: {horizon, window_days, per_day}, cursor}`, with
  `cursor` the history position (the store's own cursor) already merged into the windows.

The windows are derived data: the history holds every row in them. A missing, unreadable or
differently shaped state is therefore rebuilt (a cold start, reported), never a stopped run.
Written day files first, the cursor last: a run that dies in between re-merges the same rows next
time, which changes nothing (merging is idempotent).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, TypedDict

import msgspec

from meta_supervisor.core.cell_windows import WindowShape
from meta_supervisor.core.records import Row
from meta_supervisor.files.jsonio import read_json, write_atomic, write_json

DIR = "state/windows"
CURSOR = f"{DIR}/cursor.json"
VERSION = 1
NO_WINDOWS = "no windows yet"  # `read`'s reason on a first run (nothing to report)


class Schema(TypedDict):
    version: int
    shape: dict[str, int]
    cursor: dict[str, Any]


_decoder = msgspec.json.Decoder(Row)
_encoder = msgspec.json.Encoder()


def read(root: Path, shape: WindowShape) -> tuple[dict[str, list[Row]], dict] | str:
    """({day: rows}, cursor), or why the windows must be rebuilt (a one-line reason)."""
    root = Path(root)
    try:
        doc = read_json(root / CURSOR, display=CURSOR, schema=Schema)
    except Exception as err:
        return f"{CURSOR} unreadable ({str(err)[:120]})"
    if doc is None:
        return NO_WINDOWS
    if doc["version"] != VERSION or doc["shape"] != asdict(shape):
        return f"window settings changed ({doc['shape']} -> {asdict(shape)})"
    days = {}
    for path in sorted((root / DIR).glob("????-??-??.jsonl")):
        try:
            days[path.stem] = _decoder.decode_lines(path.read_bytes())
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            return f"{DIR}/{path.name} unreadable ({str(err)[:120]})"
    return days, doc["cursor"]


def write(root: Path, days: dict[str, list[Row]], changed: set[str], shape: WindowShape, cursor: dict) -> None:
    root = Path(root)
    for day in sorted(changed):
        path = root / DIR / f"{day}.jsonl"
        if day in days:
            write_atomic(path, b"".join(_encoder.encode(r) + b"\n" for r in days[day]))
        else:
            path.unlink(missing_ok=True)
    write_json(root / CURSOR, {"version": VERSION, "shape": asdict(shape), "cursor": cursor})


def days_on_disk(root: Path) -> set[str]:
    """The days with a file (a rebuild deletes those it does not rewrite)."""
    return {p.stem for p in (Path(root) / DIR).glob("????-??-??.jsonl")}
