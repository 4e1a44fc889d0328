"""The reconciled history on S3-compatible object storage (`history.location: s3://bucket/prefix`).

Layout, readable as one Hive-partitioned Parquet dataset by DuckDB, Spark or Athena:

    s3://bucket/prefix/month=YYYY-MM/part-NNNNNN.parquet

one object per reconcile run and month of signal (NNNNNN counts up within the month, so key order
is append order). The git repository keeps only the small state: `state/reconcile_state.json`
records each committed object exactly as it does a git partition file (its rows for `partitions`,
sha256 for `checksums`, the newest signal time of the month up to it for `max_ts`, its span of
signal times for `spans`), so the same commit point, the same exact early stop and the same
cursors work on both stores, and every job gives the same results on either:
- append: objects are PUT (whole or not at all), then reconcile commits the record; a run that
  dies in between leaves objects no record names, which the next run deletes (`recover`);
- readers read only committed objects, verified against their checksums;
- windows read the newest objects first and stop once provably complete (files/history.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from meta_supervisor.adapters.parquet_s3 import ObjectStore
from meta_supervisor.core.config import HistorySettings
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.reconcile import partition_of
from meta_supervisor.core.records import Row
from meta_supervisor.files.history import Partitions, files_to_scan
from meta_supervisor.files.reconcile_state import Commit

# Rows per object at most: a backfill of days in one run becomes several objects, so a reader that
# needs the newest hours never decodes a whole backfill (measured in bench/fleet.py: one object of
# 900,000 rows took an evaluate to 1.3 GB; 100,000 rows are about 10 MB of Parquet, 100 MB decoded).
OBJECT_ROWS = 100_000
_KEY = re.compile(r"^month=(\d{4}-\d{2})/part-(\d{6,})\.parquet$")


def _month(key: str) -> str:
    return key[len("month=") : len("month=YYYY-MM")]


class ObjectHistory:
    """The committed view of the object store, with the reader and writer interface of
    files.history.Partitions."""

    def __init__(self, location: str, commit: Commit | None, env: Mapping[str, str] | None = None):
        self.location = location
        self.store = ObjectStore(location, env)
        commit = commit or Commit({})
        foreign = sorted(n for n in commit.partitions if not _KEY.match(n))
        if foreign:
            raise UserError(
                f"history.location is {location} but state/reconcile_state.json records git partitions "
                f"({foreign[0]}, ...): that history is in state/reconciled/, and moving it is not automated "
                "(docs/history.md, 'Switching stores'); set history.location back to state/reconciled"
            )
        self.committed = dict(commit.partitions)  # {key: rows}
        self.max_ts = dict(commit.max_ts)
        self.checksums = dict(commit.checksums)
        self.spans = {k: list(v) for k, v in commit.spans.items()}
        # Objects are by month whatever history.partition says: an object holds a run's rows of
        # its month (up to OBJECT_ROWS), not a file git rewrites, so daily keys would gain nothing.
        self.layout = "month"
        self.layout_note = None

    def commit(self) -> Commit:
        return Commit(dict(self.committed), {}, dict(self.max_ts), dict(self.checksums), dict(self.spans))

    def period_files(self, month: str) -> list[str]:
        return sorted(k for k in self.committed if _month(k) == month)

    def _rows(self, key: str) -> list[Row]:
        return self.store.get_rows(key, self.checksums.get(key))

    def chunks_newest_first(self):
        keys = sorted(self.committed, reverse=True)
        for i, key in enumerate(keys):
            first = i + 1 == len(keys) or _month(keys[i + 1]) != _month(key)
            before = None if first else self.max_ts.get(keys[i + 1])
            yield self._rows(key), before, first

    def rows_since(self, cursor: dict[str, int], horizon: int) -> tuple[list[Row], dict[str, int]]:
        rows, new_cursor = [], dict(cursor)
        for key, count in sorted(self.committed.items()):
            if key not in cursor:
                rows += [r for r in self._rows(key) if r.horizon_hours == horizon]
                new_cursor[key] = count
        rows.sort(key=lambda r: (r.ts, r.event_id))
        return rows, new_cursor

    def reconciled_ids(self, events) -> dict[str, str]:
        """{event_id: the object holding its rows}: reads only the event_id column."""
        out: dict[str, str] = {}
        for key, wanted in files_to_scan(self, events):
            ids = {v[0] for v in self.store.get_rows(key, self.checksums.get(key), columns=["event_id"])}
            out.update({e: f"{self.location}/{key}" for e in wanted if e in ids})
        return out

    def recover(self) -> list[str]:
        """Delete objects of this layout that no commit names (a run that died after its PUT)."""
        gone = [k for k in self.store.keys() if _KEY.match(k) and k not in self.committed]
        for key in gone:
            self.store.delete(key)
        return [f"{self.location}/{k}" for k in gone]

    def append(self, rows: list[Row]) -> Commit:
        by_month: dict[str, list[Row]] = {}
        for row in rows:
            by_month.setdefault(partition_of(row), []).append(row)
        out = self.commit()
        for month, month_rows in sorted(by_month.items()):
            for start in range(0, len(month_rows), OBJECT_ROWS):
                part = month_rows[start : start + OBJECT_ROWS]
                keys = sorted(k for k in out.partitions if _month(k) == month)
                last = _KEY.match(keys[-1]) if keys else None
                number = int(last.group(2)) + 1 if last else 1
                key = f"month={month}/part-{number:06d}.parquet"
                out.checksums[key] = self.store.put_rows(key, part)
                out.partitions[key] = len(part)
                newest = max(r.ts for r in part)
                out.max_ts[key] = max([newest] + [out.max_ts[k] for k in keys if k in out.max_ts])
                out.spans[key] = [min(r.ts for r in part), newest]
        return out


def open_history(root, settings: HistorySettings, commit: Commit | None, env: Mapping[str, str] | None = None):
    """The history store `history.location` names: git's Partitions (the default) or the object store."""
    if settings.in_object_store:
        return ObjectHistory(settings.location.rstrip("/"), commit, env)
    return Partitions(root, commit, round(settings.max_file_mb * 1024 * 1024), settings.partition)
