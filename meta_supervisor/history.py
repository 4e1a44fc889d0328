"""Reading reconciled history in bounded windows (a shell).

Windows are the most recent rows by signal time (ts, then event_id). Partitions are by month of
the signal, so reading months newest-first and stopping once every requested horizon has enough
rows is exact, and a run reads the same few months whatever the length of the history.
"""
from __future__ import annotations

from operator import itemgetter

import orjson

from .store import Partitions


_key = itemgetter("ts", "event_id")  # ISO 8601 Z text sorts as time


def _marker(horizon: int) -> tuple[bytes, bytes]:
    """Bytes that a compact JSON row of this horizon contains (a cheap filter before parsing;
    the parsed value is still checked)."""
    return f'"horizon_hours":{horizon},'.encode(), f'"horizon_hours":{horizon}}}'.encode()


def _segments(parts: Partitions, name: str):
    """(start, end, newest ts before start) of a partition, newest segment first; the last one
    starts at 0 (nothing before it). Without checkpoints the whole file is one segment."""
    end = parts.committed[name]
    out = []
    for offset, before in sorted(c for c in parts.checkpoints.get(name, []) if 0 < c[0] < end)[::-1]:
        out.append((offset, end, before))
        end = offset
    out.append((0, end, None))
    return out


def _complete(got: dict, need: dict, before: str) -> bool:
    """True when every horizon already holds `need[h]` rows newer than `before`: then no row at
    or before it (all that is left unread) can enter any window."""
    if any(len(got[h]) < need[h] for h in need):
        return False
    return all(sum(1 for r in got[h] if r["ts"] > before) >= need[h] for h in need)


def recent_rows(parts: Partitions, need: dict[int, int]) -> dict[int, list[dict]]:
    """{horizon: last `need[h]` rows of that horizon, oldest first}.

    Newest partition first and, inside one, newest segment first (see Partitions); stops as soon
    as the windows are provably complete, so the cost follows the window, not the month."""
    got: dict[int, list[dict]] = {h: [] for h in need}
    if not need or not any(need.values()):
        return {h: [] for h in need}
    # When one horizon is asked for, skip other horizons' lines before parsing them (we write
    # rows with orjson, compact, so the bytes are exact).
    only = next(iter(need)) if len(need) == 1 else None
    marker = _marker(only) if only is not None else None
    done = False
    for name in parts.names_newest_first():
        for start, end, before in _segments(parts, name):
            for raw in parts.read(name, start, end).splitlines():
                if marker is not None and marker[0] not in raw and marker[1] not in raw:
                    continue
                row = orjson.loads(raw)
                bucket = got.get(row.get("horizon_hours"))
                if bucket is not None:
                    bucket.append(row)
            if before is not None and _complete(got, need, before):
                done = True
                break
        # Older partitions hold older months only: once every window is full, stop.
        if done or all(len(got[h]) >= need[h] for h in need):
            break
    out = {}
    for h, rows in got.items():
        rows.sort(key=_key)
        out[h] = rows[-need[h]:] if need[h] else []
    return out


def rows_since(parts: Partitions, cursor: dict[str, int], horizon: int) -> tuple[list[dict], dict[str, int]]:
    """Rows of `horizon` appended after `cursor` ({partition: byte offset}), sorted by (ts,
    event_id), and the cursor after them. Only the new bytes of each partition are read."""
    rows, new_cursor = [], dict(cursor)
    marker = _marker(horizon)
    for name, size in parts.committed.items():
        start = min(cursor.get(name, 0), size)
        if start >= size:
            continue
        for raw in parts.read(name, start).splitlines():
            if marker[0] in raw or marker[1] in raw:
                row = orjson.loads(raw)
                if row.get("horizon_hours") == horizon:
                    rows.append(row)
        new_cursor[name] = size
    rows.sort(key=_key)
    return rows, new_cursor


def cycle_windows(parts: Partitions, settings) -> dict[int, list[dict]]:
    """One read for a whole cycle: train's window of every horizon and evaluate's, which is the
    tail of the evaluation horizon's (pass `windows` to train.run and
    `windows[h][-window_rows:]` to evaluate.run)."""
    need = {h: settings.train.max_rows for h in settings.horizons}
    h = settings.evaluate.horizon
    need[h] = max(need[h], settings.evaluate.window_rows)
    return recent_rows(parts, need)
