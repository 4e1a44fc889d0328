"""Reading reconciled history in bounded windows (a shell).

Windows are the most recent rows by signal time (ts, then event_id). Partitions are by month of
the signal, so reading months newest-first and stopping once every requested horizon has enough
rows is exact, and a run reads the same few months whatever the length of the history.
"""
from __future__ import annotations

import orjson

from .store import Partitions


def _key(row: dict):
    return (row["ts"], row["event_id"])


def recent_rows(parts: Partitions, need: dict[int, int]) -> dict[int, list[dict]]:
    """{horizon: last `need[h]` rows of that horizon, oldest first}."""
    got: dict[int, list[dict]] = {h: [] for h in need}
    if not need:
        return got
    # When one horizon is asked for, skip other horizons' lines before parsing them (we write
    # rows with orjson, so the bytes `"horizon_hours":24,` are exact).
    only = next(iter(need)) if len(need) == 1 else None
    marker = f'"horizon_hours":{only},'.encode() if only is not None else None
    for name in parts.names_newest_first():
        month: dict[int, list[dict]] = {h: [] for h in need}
        for raw in parts.read(name).splitlines():
            if marker is not None and marker not in raw:
                continue
            row = orjson.loads(raw)
            bucket = month.get(row.get("horizon_hours"))
            if bucket is not None:
                bucket.append(row)
        for h, rows in month.items():
            got[h][:0] = rows  # older month goes in front
        if all(len(got[h]) >= need[h] for h in need):
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
    marker = f'"horizon_hours":{horizon},'.encode()
    for name, size in parts.committed.items():
        start = min(cursor.get(name, 0), size)
        if start >= size:
            continue
        for raw in parts.read(name, start).splitlines():
            if marker in raw:
                row = orjson.loads(raw)
                if row.get("horizon_hours") == horizon:
                    rows.append(row)
        new_cursor[name] = size
    rows.sort(key=_key)
    return rows, new_cursor
