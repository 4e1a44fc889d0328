"""Reading reconciled history in bounded windows (a shell).

Windows are the most recent rows by signal time (ts, then event_id). Partitions are by month of
the signal, so reading months newest-first and stopping once every requested horizon has enough
rows is exact, and a run reads the same few months whatever the length of the history.

Rows are decoded typed, in one call per block of lines (msgspec): about twice as fast as orjson
decoding the same bytes line by line into dicts, which made parsing the largest part of a cycle
(docs/performance.md). A row that does not match the schema stops the run with its file and line.
"""
from __future__ import annotations

from operator import attrgetter

import msgspec

from .errors import UserError
from .store import RECONCILED_DIR, Partitions


class Row(msgspec.Struct, frozen=True, gc=False):
    """One reconciled row (DESIGN "Reconcile"; the fields of `reconcile.ROW_FIELDS`).

    It reads like the dict it was decoded from (`row["ts"]`, `row.get("regime")`), so the pure
    core takes either; hot loops use attribute access. Unknown fields are ignored; only
    `expected_sigma_bps` may be null (no model)."""

    event_id: str
    ts: str
    agent: str
    strategy_class: str
    symbol: str
    side: str
    regime: str
    horizon_hours: int
    score_final: float
    confidence: float
    entry_price: float
    exit_price: float
    realized_pnl_bps: float
    expected_pnl_bps: float
    expected_sigma_bps: float | None
    pnl_error_bps: float
    abs_error_bps: float
    sim_version: str
    reconciled_at: str

    def __getitem__(self, name: str):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default=None):
        return getattr(self, name, default)


_decoder = msgspec.json.Decoder(Row)
_ts, _event_id = attrgetter("ts"), attrgetter("event_id")


def _sort(rows: list[Row]) -> None:
    """In place by (ts, event_id); ISO 8601 Z text sorts as time. Two stable sorts on single
    keys: twice as fast as one on a (ts, event_id) tuple."""
    rows.sort(key=_event_id)
    rows.sort(key=_ts)


def _decode(parts: Partitions, name: str, start: int, data) -> list[Row]:
    """Rows of `data` (bytes or a memoryview), which starts at byte `start` of partition `name`."""
    try:
        return _decoder.decode_lines(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass
    # Slow path, only to name the first bad line. A copy: no slice of the mapping may stay
    # referenced (by this frame, in the traceback) when the mapping closes.
    data = bytes(data)
    line = parts.read(name, 0, start).count(b"\n") + 1
    for raw in data.split(b"\n"):
        if raw.strip():
            try:
                _decoder.decode(raw)
            except (msgspec.ValidationError, msgspec.DecodeError) as err:
                raise UserError(f"{RECONCILED_DIR}/{name}:{line}: not a reconciled row ({err})") from None
        line += 1
    raise AssertionError("decode_lines failed but every line decodes")  # pragma: no cover


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


def _complete(blocks: list, held: dict, need: dict, before: str) -> bool:
    """True when every horizon already holds `need[h]` rows newer than `before`: then no row at
    or before it (all that is left unread) can enter any window. `held`: rows per horizon."""
    if any(held[h] < need[h] for h in need):
        return False
    return all(sum(1 for block in blocks for r in block[h] if r.ts > before) >= need[h] for h in need)


def recent_rows(parts: Partitions, need: dict[int, int]) -> dict[int, list[Row]]:
    """{horizon: last `need[h]` rows of that horizon, oldest first}.

    Newest partition first and, inside one, newest segment first (see Partitions); stops as soon
    as the windows are provably complete, so the cost follows the window, not the month."""
    if not need or not any(need.values()):
        return {h: [] for h in need}
    blocks = []  # per segment read, newest first: {horizon: rows in file order}
    held = dict.fromkeys(need, 0)
    done = False
    for name in parts.names_newest_first():
        with parts.mapped(name) as data:
            for start, end, before in _segments(parts, name):
                block = {h: [] for h in need}
                for row in _decode(parts, name, start, data[start:end]):
                    bucket = block.get(row.horizon_hours)
                    if bucket is not None:
                        bucket.append(row)
                blocks.append(block)
                for h, rows in block.items():
                    held[h] += len(rows)
                if before is not None and _complete(blocks, held, need, before):
                    done = True
                    break
        # Older partitions hold older months only: once every window is full, stop.
        if done or all(held[h] >= need[h] for h in need):
            break
    out = {}
    for h in need:
        # Oldest block first: rows are then nearly in order (appended as they matured), which
        # the sort runs through in one pass instead of merging hundreds of runs.
        rows = [row for block in reversed(blocks) for row in block[h]]
        _sort(rows)
        out[h] = rows[-need[h]:] if need[h] else []
    return out


def rows_since(parts: Partitions, cursor: dict[str, int], horizon: int) -> tuple[list[Row], dict[str, int]]:
    """Rows of `horizon` appended after `cursor` ({partition: byte offset}), sorted by (ts,
    event_id), and the cursor after them. Only the new bytes of each partition are read."""
    rows, new_cursor = [], dict(cursor)
    for name, size in parts.committed.items():
        start = min(cursor.get(name, 0), size)
        if start >= size:
            continue
        with parts.mapped(name) as data:
            rows += [r for r in _decode(parts, name, start, data[start:]) if r.horizon_hours == horizon]
        new_cursor[name] = size
    _sort(rows)
    return rows, new_cursor


def cycle_windows(parts: Partitions, settings) -> dict[int, list[Row]]:
    """One read for a whole cycle: train's window of every horizon and evaluate's, which is the
    tail of the evaluation horizon's (pass `windows` to train.run and
    `windows[h][-window_rows:]` to evaluate.run)."""
    need = {h: settings.train.max_rows for h in settings.horizons}
    h = settings.evaluate.horizon
    need[h] = max(need[h], settings.evaluate.window_rows)
    return recent_rows(parts, need)
