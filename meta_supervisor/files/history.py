"""The reconciled history in git: `state/reconciled/YYYY-MM-DD.jsonl`, appended and read in windows.

Layout: a file per UTC day of the signal (`day`, the default for a new history) or per month
(`month`, `YYYY-MM.jsonl`: every history written before daily files existed). Daily files keep
git's pack about 5x smaller under hourly commits: git deltas each version of a file against the
previous one and stores a full copy every ~50 versions, and a day's file stops changing a day
after its signals, so its full copies stay small (docs/performance.md "Repository growth of the
git store"). The layout is recorded in `state/reconcile_state.json` when a history starts and
kept for its life (`history.partition` only chooses it for a new history): readers never see
both. Below, a "period" is a day or a month, whichever the layout makes a file of.

Crash safety: rows are appended, then the partition sizes are committed in
`state/reconcile_state.json` (files/reconcile_state.py) with an atomic rename. Bytes past the
committed size belong to a run that died before its commit: readers never look at them and the
next reconcile truncates them, so no torn or duplicated row is ever seen. Appending (not
rewriting) keeps a run's cost proportional to what it adds, not to the size of the period.

Windows are the most recent rows by signal time (ts, then event_id). Partitions are by period of
the signal, so reading periods newest-first and stopping once every requested horizon has enough
rows is exact, and a run reads the same few periods whatever the length of the history.

Bounded files: a period whose file would pass `history.max_file_mb` (45 MB, under GitHub's 50 MB
warning; the push limit is 100 MB) continues in segments `YYYY-MM-DD.001.jsonl`,
`YYYY-MM-DD.002.jsonl`, ... (`YYYY-MM.001.jsonl` by month) in append order. A new segment starts
with a checkpoint at offset 0 holding the newest signal time of the period's earlier segments, so
the early stop stays exact across segments.

Rows are decoded typed, in one call per block of lines (msgspec): about twice as fast as orjson
decoding the same bytes line by line into dicts, which made parsing the largest part of a cycle
(docs/performance.md). A row that does not match the schema stops the run with its file and line.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from operator import attrgetter
from pathlib import Path

import msgspec

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.reconcile import partition_of
from meta_supervisor.core.records import Row
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.files import reconcile_state
from meta_supervisor.files.reconcile_state import Commit

RECONCILED_DIR = "state/reconciled"
DEFAULT_MAX_FILE_BYTES = 45 * 1024 * 1024
_SEGMENT = re.compile(r"^(\d{4}-\d{2}(-\d{2})?)(?:\.(\d{3,}))?\.jsonl$")


def period_of(name: str) -> str:
    """The period a partition file holds: `2026-11-05` for `2026-11-05.jsonl` and
    `2026-11-05.004.jsonl`, `2026-11` for `2026-11.jsonl`."""
    return name.split(".", 1)[0]


def period_of_ts(ts: str, layout: str) -> str:
    """The period of a signal time (ISO 8601 Z text) in `layout`."""
    return ts[:10] if layout == "day" else ts[:7]


def period_start(ts: str, layout: str) -> str:
    """The first instant of the period holding signal time `ts`."""
    return f"{ts[:10]}T00:00:00Z" if layout == "day" else f"{ts[:7]}-01T00:00:00Z"


def _order(name: str) -> tuple[str, int, str]:
    """Sort key of partition files: period, then segment number (append order)."""
    m = _SEGMENT.match(name)
    return (m.group(1), int(m.group(3) or 0), "") if m else (period_of(name), 0, name)


def segment_name(period: str, number: int) -> str:
    return f"{period}.jsonl" if number == 0 else f"{period}.{number:03d}.jsonl"


def layout_of_files(names) -> str | None:
    """The layout hand-placed files are in (no commit record names it), None for no file. Both
    at once is refused: a reader would otherwise count the same signals' period twice."""
    kinds = {"day" if (m := _SEGMENT.match(n)) and m.group(2) else "month" for n in names}
    if len(kinds) > 1:
        days = sorted(n for n in names if (m := _SEGMENT.match(n)) and m.group(2))
        months = sorted(set(names) - set(days))
        raise UserError(
            f"{RECONCILED_DIR}/ holds daily files ({days[0]}, ...) and monthly ones ({months[0]}, ...) and "
            "state/reconcile_state.json records neither: keep one layout (docs/history.md, 'Layout')"
        )
    return kinds.pop() if kinds else None


def _trim_to_newline(path: Path, size: int) -> int:
    """Largest size <= `size` that ends on a line boundary."""
    if size == 0:
        return 0
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 65536))
        chunk = handle.read(min(size, 65536))
    return size - len(chunk) + chunk.rfind(b"\n") + 1


CHECKPOINTS_KEPT = 200  # per partition: about 8 days of hourly runs


class Partitions:
    """The committed view of `state/reconciled/*.jsonl`.

    Checkpoints let readers stop early, exactly: each append records where it started and the
    newest signal time of every row before that point. A reader going backwards that already holds
    N rows newer than a checkpoint's time knows no earlier byte can enter an N-row window; no clock
    is trusted (a backfill may reconcile old data at any time)."""

    def __init__(
        self,
        root: Path,
        commit: Commit | None,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        partition: str = "day",
    ):
        self.max_file_bytes = max_file_bytes
        committed, checkpoints, max_ts = (
            (None, None, None) if commit is None else (commit.partitions, commit.checkpoints, commit.max_ts)
        )
        self.dir = Path(root) / RECONCILED_DIR
        files = {p.name: p.stat().st_size for p in self.dir.glob("*.jsonl")} if self.dir.is_dir() else {}
        # The layout: the recorded one (a record from before layouts were recorded: month), else
        # that of the files found, else (a new history) the setting's.
        if commit is not None:
            self.layout = commit.layout or "month"
        else:
            self.layout = layout_of_files([n for n, s in files.items() if s]) or partition
        # What a job should say when the setting asks for another layout (kept: not migrated).
        self.layout_note = (
            None
            if self.layout == partition
            else f"history.partition is {partition} but {RECONCILED_DIR}/ is written by {self.layout} "
            f"(state/reconcile_state.json): keeping {self.layout}; moving a history is not automated "
            "(docs/history.md, 'Layout')"
        )
        if committed is None:
            # No commit record (state copied by hand, or written by an older version): trust the
            # files, minus a torn last line.
            committed = {n: _trim_to_newline(self.dir / n, s) for n, s in files.items()}
        # A committed partition that is gone or shorter than committed lost rows (a hand edit, a bad
        # merge, a deleted month): refused, not silently read as less history.
        lost = sorted(n for n, s in committed.items() if s > 0 and n not in files)
        short = sorted(n for n, s in committed.items() if n in files and files[n] < s)
        if lost or short:
            what = [f"{RECONCILED_DIR}/{n} is missing" for n in lost]
            what += [f"{RECONCILED_DIR}/{n} has {files[n]} bytes, {committed[n]} were committed" for n in short]
            raise UserError(
                f"{'; '.join(what)}: the history lost rows since state/reconcile_state.json recorded it; "
                "restore the file(s) from git (git checkout -- state/reconciled/)"
            )
        self.committed = {n: s for n, s in committed.items() if n in files}
        # (offset, ts) tuples, not the decoded lists: the garbage collector stops tracking tuples
        # of plain values, so two years of checkpoints do not slow every collection of a run.
        self.checkpoints = {
            n: kept
            for n, s in self.committed.items()
            if (kept := [(c[0], c[1]) for c in (checkpoints or {}).get(n, []) if c[0] <= s])
        }
        self.max_ts = {n: t for n, t in (max_ts or {}).items() if n in self.committed}
        self.checksums = {n: c for n, c in (commit.checksums if commit else {}).items() if n in self.committed}
        self.spans = {n: v for n, v in (commit.spans if commit else {}).items() if n in self.committed}
        self._verified: set[str] = set()

    @classmethod
    def open(cls, root: Path) -> Partitions:
        """The committed view as readers (train, evaluate) see it."""
        return cls(root, reconcile_state.read_commit(root))

    def period_files(self, period: str) -> list[str]:
        """The committed files of `period`, in append order."""
        return sorted((n for n in self.committed if period_of(n) == period), key=_order)

    def commit(self) -> Commit:
        """The committed view as a commit record (what a first run records before appending)."""
        return Commit(
            dict(self.committed),
            {n: list(c) for n, c in self.checkpoints.items()},
            dict(self.max_ts),
            dict(self.checksums),
            {n: list(v) for n, v in self.spans.items()},
            self.layout,
        )

    def _verify(self, name: str, data) -> None:
        """Refuse a partition whose committed bytes are not the ones recorded at commit (an edit
        in place keeps the size, so only a checksum shows it). Once per partition and process:
        sha256 reads about 1.3 GB/s here, a month of 50 MB in under 40 ms."""
        want = self.checksums.get(name)
        if want is None or name in self._verified:
            return
        if _digest(data) != want:
            raise UserError(
                f"{RECONCILED_DIR}/{name}: its bytes differ from the ones committed (sha256 recorded in "
                f"state/reconcile_state.json): the file was edited in place; restore it from git "
                f"(git checkout -- {RECONCILED_DIR}/{name})"
            )
        self._verified.add(name)

    def chunks_newest_first(self):
        return _chunks_newest_first(self)

    def rows_since(self, cursor: dict[str, int], horizon: int) -> tuple[list[Row], dict[str, int]]:
        return rows_since(self, cursor, horizon)

    def names_newest_first(self) -> list[str]:
        """Newest period first and, inside a period, the last segment first."""
        return sorted(self.committed, key=_order, reverse=True)

    def read(self, name: str, start: int = 0, end: int | None = None) -> bytes:
        end = self.committed.get(name, 0) if end is None else min(end, self.committed.get(name, 0))
        if start >= end:
            return b""
        with open(self.dir / name, "rb") as handle:
            handle.seek(start)
            return handle.read(end - start)

    @contextmanager
    def mapped(self, name: str) -> Iterator[memoryview]:
        """The committed bytes of a partition, memory-mapped: no copy into fresh memory, which for
        a month of rows cost a tenth of a cycle. Slices must not outlive the `with` block."""
        size = self.committed.get(name, 0)
        if size == 0:
            yield memoryview(b"")
            return
        with (
            open(self.dir / name, "rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapping,
            memoryview(mapping) as whole,
            whole[:size] as view,
        ):
            self._verify(name, view)
            yield view

    def event_ids(self, name: str) -> set[bytes]:
        """The event ids of the committed rows of partition file `name`, each as its JSON string
        (quotes and escapes included: compare with `msgspec.json.encode(event_id)`). Every row
        starts with its event_id (Row's first field), so one scan of the bytes finds them all,
        without decoding a row: the exact record of what is already reconciled."""
        with self.mapped(name) as data:
            return set(_EVENT_ID.findall(data))

    def reconciled_ids(self, events) -> dict[str, str]:
        """{event_id: the file holding its rows} of `events` (core.records.Event) already reconciled."""
        out = {}
        for name, wanted in files_to_scan(self, events):
            ids = self.event_ids(name)
            out.update({e: f"{RECONCILED_DIR}/{name}" for e in wanted if _encoder.encode(e) in ids})
        return out

    def recover(self) -> list[str]:
        """Truncate bytes a crashed run appended after the last commit, and delete the files no
        commit names (a crashed run's new file, or one retired by a run that died before deleting
        it) (writer side only)."""
        fixed = []
        for path in self.dir.glob("*.jsonl") if self.dir.is_dir() else []:
            if path.name not in self.committed:
                path.unlink()
                fixed.append(f"{RECONCILED_DIR}/{path.name}")
                continue
            keep = self.committed[path.name]
            if path.stat().st_size > keep:
                with open(path, "r+b") as handle:
                    handle.truncate(keep)
                fixed.append(f"{RECONCILED_DIR}/{path.name}")
        return fixed

    def append(self, rows: list[Row]) -> Commit:
        """Append `rows` to the files of their periods (the period's last segment, continued in a
        new one before a file would pass `max_file_bytes`); returns the commit record to write
        (nothing is committed until reconcile_state.save writes it)."""
        by_period: dict[str, list[Row]] = {}
        for row in rows:
            by_period.setdefault(partition_of(row, self.layout), []).append(row)
        self.dir.mkdir(parents=True, exist_ok=True)
        out = self.commit()
        for period in sorted(by_period):
            files = sorted((n for n in out.partitions if period_of(n) == period), key=_order)
            name = files[-1] if files else segment_name(period, 0)
            period_rows = by_period[period]
            lines = [_encoder.encode(row) + b"\n" for row in period_rows]
            while lines:
                size = out.partitions.get(name, 0)
                take, total = 0, 0
                while take < len(lines) and size + total + len(lines[take]) <= self.max_file_bytes:
                    total += len(lines[take])
                    take += 1
                if take == 0 and size == 0:  # one row longer than the cap: it still has to go somewhere
                    take = 1
                if take == 0:  # this segment is full: the period continues in the next one
                    before = max(out.max_ts[n] for n in files if n in out.max_ts) if files else None
                    name = segment_name(period, _order(name)[1] + 1)
                    files.append(name)
                    if before is not None:
                        out.max_ts[name] = before
                        out.checkpoints[name] = [[0, before]]
                    out.partitions[name] = 0
                    continue
                self._append_file(out, name, lines[:take], period_rows[:take])
                lines, period_rows = lines[take:], period_rows[take:]
        for name in self.committed:  # history committed before checksums existed: recorded once
            if name not in out.checksums:
                with self.mapped(name) as committed:
                    out.checksums[name] = _digest(committed)
        return out

    def _append_file(self, out: Commit, name: str, lines: list[bytes], rows: list[Row]) -> None:
        start = out.partitions.get(name, 0)
        newest, oldest = max(r.ts for r in rows), min(r.ts for r in rows)
        if start == 0 or name in out.spans:  # else: rows from before spans were recorded
            span = out.spans.get(name, [oldest, newest])
            out.spans[name] = [min(span[0], oldest), max(span[1], newest)]
        digest = hashlib.sha256()
        with self.mapped(name) as committed:  # verified against its checksum on the way
            digest.update(committed)
        data = b"".join(lines)
        with open(self.dir / name, "ab") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
            out.partitions[name] = handle.tell()
        digest.update(data)
        out.checksums[name] = f"sha256:{digest.hexdigest()}"
        if start == 0 and name not in out.max_ts:  # a period's first file: nothing before it
            out.max_ts[name] = newest
        elif name in out.max_ts:  # else: history from before checkpoints existed
            if start > 0:
                out.checkpoints.setdefault(name, []).append([start, out.max_ts[name]])
                # keep a new segment's offset-0 checkpoint (what its earlier segments hold)
                kept = out.checkpoints[name]
                head = [kept[0]] if kept[0][0] == 0 else []
                out.checkpoints[name] = head + kept[len(head) :][-CHECKPOINTS_KEPT:]
            out.max_ts[name] = max(newest, out.max_ts[name])


def retire(commit: Commit, retain_days: int, pending_ts: list[int]) -> tuple[Commit, list[str]]:
    """(`commit` without them, the partition files to delete) for `history.retain_days`: files
    all of whose rows have a signal time more than `retain_days` days before the newest signal
    and before the period of every pending event (whose rows may still come). A file's newest signal is its
    span's end, else its `max_ts` (the newest of its period up to it, so never earlier); a file
    with neither is kept. Every window a job reads is younger: train's and evaluate's row
    windows unless the retained days hold fewer rows, the cell windows always (retain_days >=
    window_days). The files are deleted only after the record without them is committed."""
    if not commit.max_ts:
        return commit, []
    keep_since = format_ts(parse_ts(max(commit.max_ts.values())) - retain_days * 86400)
    if pending_ts:  # from the start of the oldest pending event's period: its rows go there
        keep_since = min(keep_since, period_start(format_ts(min(pending_ts)), commit.layout or "month"))
    gone = sorted(
        n
        for n in commit.partitions
        if (end := (commit.spans.get(n) or [None, commit.max_ts.get(n)])[1]) is not None and end < keep_since
    )
    drop = set(gone)

    def kept(d: dict) -> dict:
        return {k: v for k, v in d.items() if k not in drop}

    return (
        Commit(
            kept(commit.partitions),
            kept(commit.checkpoints),
            kept(commit.max_ts),
            kept(commit.checksums),
            kept(commit.spans),
            commit.layout,
        ),
        gone,
    )


def files_to_scan(history, events) -> list[tuple[str, list[str]]]:
    """(partition, event ids) for the already-reconciled check, on either store: the files of each
    event's period whose span of signal times holds the event's `ts` (a file without a recorded
    span: always). `history` has `layout`, `period_files(period)` and `spans`."""
    by_period: dict[str, list] = {}
    for event in events:
        ts = format_ts(event.ts)
        by_period.setdefault(period_of_ts(ts, history.layout), []).append((ts, event.event_id))
    out = []
    for period, group in by_period.items():
        for name in history.period_files(period):
            span = history.spans.get(name)
            wanted = [e for ts, e in group if span is None or span[0] <= ts <= span[1]]
            if wanted:
                out.append((name, wanted))
    return out


def _digest(data) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def rows_by_partition(rows: list[Row], layout: str = "month") -> dict[str, int]:
    """{partition (period) file name: how many of `rows` go there} (for the reconcile report)."""
    out: dict[str, int] = {}
    for row in rows:
        name = f"{partition_of(row, layout)}.jsonl"
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items()))


_encoder = msgspec.json.Encoder()
_EVENT_ID = re.compile(rb'^\{"event_id":("(?:[^"\\]|\\.)*")', re.MULTILINE)
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
    """(start, end, newest ts of the period before start) of a partition file, newest chunk first;
    the last one starts at 0 (before it: the period's earlier segment files, or nothing). Without
    checkpoints the whole file is one chunk."""
    end = parts.committed[name]
    out = []
    checkpoints = sorted(c for c in parts.checkpoints.get(name, []) if c[0] < end)
    first = checkpoints[0][1] if checkpoints and checkpoints[0][0] == 0 else None  # earlier segments' newest
    for offset, before in checkpoints[::-1]:
        if offset > 0:
            out.append((offset, end, before))
            end = offset
    out.append((0, end, first))
    return out


def _complete(blocks: list, held: dict, need: dict, before: str) -> bool:
    """True when every horizon already holds `need[h]` rows newer than `before`: then no row at
    or before it (all that is left unread) can enter any window. `held`: rows per horizon."""
    if any(held[h] < need[h] for h in need):
        return False
    return all(sum(1 for block in blocks for r in block[h] if r.ts > before) >= need[h] for h in need)


def _chunks_newest_first(parts: Partitions):
    """(rows, newest signal time of the period before them or None, last chunk of its period) per
    appended chunk of the git history, newest period first, newest chunk first inside a period."""
    names = parts.names_newest_first()
    for i, name in enumerate(names):
        first_file = i + 1 == len(names) or period_of(names[i + 1]) != period_of(name)
        with parts.mapped(name) as data:
            for start, end, before in _segments(parts, name):
                yield _decode(parts, name, start, data[start:end]), before, first_file and start == 0


def recent_rows(parts, need: dict[int, int]) -> dict[int, list[Row]]:
    """{horizon: last `need[h]` rows of that horizon, oldest first}, from either history store
    (`parts.chunks_newest_first()`: git's Partitions or the object store's).

    Newest period first and, inside one, newest chunk first; stops as soon as the windows are
    provably complete, so the cost follows the window, not the month."""
    if not need or not any(need.values()):
        return {h: [] for h in need}
    blocks: list[dict[int, list[Row]]] = []  # per chunk read, newest first: {horizon: rows in file order}
    held = dict.fromkeys(need, 0)
    with closing(parts.chunks_newest_first()) as chunks:  # closed at a break: no mapping left open
        _fill(chunks, blocks, held, need)
    out = {}
    for h in need:
        # Oldest block first: rows are then nearly in order (appended as they matured), which
        # the sort runs through in one pass instead of merging hundreds of runs.
        rows = [row for block in reversed(blocks) for row in block[h]]
        _sort(rows)
        out[h] = rows[-need[h] :] if need[h] else []
    return out


def rows_from(parts, horizon: int, since: str) -> list[Row]:
    """Every row of `horizon` with a signal time at or after `since`, sorted by (ts, event_id):
    newest chunk first, stopping once no earlier byte can hold such a row (a chunk's `before`,
    or the start of a period before `since`). The cost follows the span, not the history.
    `parts.layout` says whether a period is a day or a month."""
    rows: list[Row] = []
    with closing(parts.chunks_newest_first()) as chunks:
        for chunk, before, first_of_period in chunks:
            rows += [r for r in chunk if r.horizon_hours == horizon and r.ts >= since]
            if before is not None and before < since:
                break
            # a period read whole that began at or before `since`: older ones hold older signals
            if first_of_period and chunk and period_start(chunk[0].ts, parts.layout) <= since:
                break
    _sort(rows)
    return rows


def _fill(chunks, blocks: list, held: dict, need: dict) -> None:
    for chunk, before, first_of_period in chunks:
        block: dict[int, list[Row]] = {h: [] for h in need}
        for row in chunk:
            bucket = block.get(row.horizon_hours)
            if bucket is not None:
                bucket.append(row)
        blocks.append(block)
        for h, rows in block.items():
            held[h] += len(rows)
        if before is not None and _complete(blocks, held, need, before):
            break
        # Older periods hold older signals only: once every window is full at the start of a
        # period, stop (an earlier chunk of the same period may still hold newer signals).
        if first_of_period and all(held[h] >= need[h] for h in need):
            break


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
