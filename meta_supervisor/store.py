"""Files: atomic JSON, JSONL inputs read from a cursor, and the reconciled partitions.

Crash safety of `state/reconciled/YYYY-MM.jsonl`: rows are appended, then the partition sizes are
committed in `state/reconcile_state.json` with an atomic rename. Bytes past the committed size
belong to a run that died before its commit: readers never look at them and the next reconcile
truncates them, so no torn or duplicated row is ever seen. Appending (not rewriting) keeps a
run's cost proportional to what it adds, not to the size of the month.
"""
from __future__ import annotations

import mmap
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np

from .errors import UserError

RECONCILED_DIR = "state/reconciled"
RECONCILE_STATE = "state/reconcile_state.json"
_DATED = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})")


def dumps(obj) -> bytes:
    """Stable pretty JSON (sorted keys, 2-space indent, trailing newline) so unchanged state is
    byte-identical and git shows real diffs."""
    return msgspec.json.format(msgspec.json.encode(obj, order="sorted", enc_hook=_numpy), indent=2) + b"\n"


def compact(obj) -> bytes:
    """One-line JSON (a reconciled row), keys in their order."""
    return msgspec.json.encode(obj, enc_hook=_numpy)


def loads(data):
    """Parsed JSON; raises msgspec.DecodeError."""
    return msgspec.json.decode(data)


def _numpy(obj):
    """numpy values in state (model cards) as plain JSON numbers and lists."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def write_atomic(path: Path, data: bytes) -> bool:
    """Replace `path` with `data` via a temp file in the same folder + rename (never torn).
    Returns False and writes nothing when the content is already identical."""
    path = Path(path)
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_json(path: Path, obj) -> bool:
    return write_atomic(path, dumps(obj))


def read_json(path: Path, default=None, display: str | None = None):
    """Parsed JSON of `path`, or `default` when it does not exist; a corrupt file is a UserError."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return default
    try:
        return msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        raise UserError(f"{display or path}: not valid JSON ({err})") from None


# ---------------------------------------------------------------------------------------------
# Inputs: one JSONL file or a folder of them, read from a cursor.

@dataclass(frozen=True)
class Line:
    file: str   # display path
    number: int  # 1-based
    raw: bytes


def input_files(path: Path, from_day: str | None = None) -> list[Path]:
    """A JSONL input is a file or a folder of `*.jsonl` files (sorted by name: date-named files
    then read in time order). A missing input is an empty one. `from_day` (YYYY-MM-DD) leaves out
    a folder's files named by an earlier day."""
    if path.is_dir():
        # scandir: the file type comes with the directory entry (no stat), and names are filtered
        # before any Path is built: a year of daily files costs next to nothing.
        with os.scandir(path) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".jsonl") and e.is_file())
        if from_day is not None:
            names = [n for n in names if (day := file_day(n)) is None or day >= from_day]
        return [path / name for name in names]
    return [path] if path.exists() else []


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
    end = data.rfind(b"\n") + 1
    number = first_line
    start = 0
    lines = []
    while start < end:
        stop = data.index(b"\n", start)
        if stop > start and not data[start:stop].isspace():
            lines.append(Line(display, number, data[start:stop]))
        number += 1
        start = stop + 1
    return lines, offset + end, number


# ---------------------------------------------------------------------------------------------
# Reconciled partitions.

def _trim_to_newline(path: Path, size: int) -> int:
    """Largest size <= `size` that ends on a line boundary."""
    if size == 0:
        return 0
    with open(path, "rb") as handle:
        handle.seek(max(0, size - 65536))
        chunk = handle.read(min(size, 65536))
    return size - len(chunk) + chunk.rfind(b"\n") + 1


CHECKPOINTS_KEPT = 200  # per partition: about 8 days of hourly runs


@dataclass
class Appended:
    """What one append changes in the commit record (committed together, atomically)."""
    partitions: dict      # name -> committed size
    checkpoints: dict     # name -> [[offset, max ts of every row before offset], ...] ascending
    max_ts: dict          # name -> max ts of every committed row


class Partitions:
    """The committed view of `state/reconciled/*.jsonl`.

    Checkpoints let readers stop early, exactly: each append records where it started and the
    newest signal time of every row before that point. A reader going backwards that already holds
    N rows newer than a checkpoint's time knows no earlier byte can enter an N-row window; no clock
    is trusted (a backfill may reconcile old data at any time)."""

    def __init__(self, root: Path, committed: dict[str, int] | None, checkpoints: dict | None = None,
                 max_ts: dict | None = None):
        self.dir = Path(root) / RECONCILED_DIR
        files = {p.name: p.stat().st_size for p in self.dir.glob("*.jsonl")} if self.dir.is_dir() else {}
        if committed is None:
            # No commit record (state copied by hand, or written by an older version): trust the
            # files, minus a torn last line.
            committed = {n: _trim_to_newline(self.dir / n, s) for n, s in files.items()}
        self.committed = {n: min(s, files.get(n, 0)) for n, s in committed.items() if n in files}
        # (offset, ts) tuples, not the decoded lists: the garbage collector stops tracking tuples
        # of plain values, so two years of checkpoints do not slow every collection of a run.
        self.checkpoints = {n: kept for n, s in self.committed.items()
                            if (kept := [(c[0], c[1]) for c in (checkpoints or {}).get(n, []) if c[0] <= s])}
        self.max_ts = {n: t for n, t in (max_ts or {}).items() if n in self.committed}

    @classmethod
    def open(cls, root: Path) -> "Partitions":
        state = read_json(Path(root) / RECONCILE_STATE, display=RECONCILE_STATE)
        if state is None:
            return cls(root, None)
        return cls(root, state.get("partitions", {}), state.get("checkpoints"), state.get("max_ts"))

    def names_newest_first(self) -> list[str]:
        return sorted(self.committed, reverse=True)

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
        with open(self.dir / name, "rb") as handle, \
                mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapping, \
                memoryview(mapping) as whole, whole[:size] as view:
            yield view

    def recover(self) -> list[str]:
        """Truncate bytes a crashed run appended after the last commit (writer side only)."""
        fixed = []
        for path in self.dir.glob("*.jsonl") if self.dir.is_dir() else []:
            keep = self.committed.get(path.name, 0)
            if path.stat().st_size > keep:
                with open(path, "r+b") as handle:
                    handle.truncate(keep)
                fixed.append(path.name)
        return fixed

    def append(self, rows_by_partition: dict[str, list[tuple[str, bytes]]]) -> Appended:
        """Append serialized rows, given as (ts, bytes); returns the commit record to write
        (nothing is committed yet)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        out = Appended(dict(self.committed), {n: list(c) for n, c in self.checkpoints.items()},
                       dict(self.max_ts))
        for name in sorted(rows_by_partition):
            rows = rows_by_partition[name]
            if not rows:
                continue
            start = out.partitions.get(name, 0)
            with open(self.dir / name, "ab") as handle:
                handle.write(b"".join(line + b"\n" for _, line in rows))
                handle.flush()
                os.fsync(handle.fileno())
                out.partitions[name] = handle.tell()
            newest = max(ts for ts, _ in rows)
            if start == 0 or name in out.max_ts:  # else: history from before checkpoints existed
                if start > 0:
                    out.checkpoints.setdefault(name, []).append([start, out.max_ts[name]])
                    out.checkpoints[name] = out.checkpoints[name][-CHECKPOINTS_KEPT:]
                out.max_ts[name] = max(newest, out.max_ts.get(name, newest))
        return out
