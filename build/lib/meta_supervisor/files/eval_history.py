"""`state/history/YYYY-MM-DD.jsonl`: one compact record per evaluate run that changed anything
(core/history_record.py has the format), in a file per UTC day of the run; this module alone knows
the layout. Bounded whatever the run count: files older than `history_days` are deleted, and an
unchanged run appends nothing (so an idle fleet adds no bytes and no commit). Size: at most
history_days x runs a day x one record, and a record grows with the fleet (cells and streams), not
with the run count. A line that does not parse is skipped by readers (history is evidence shown to
people, never an input to a decision).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import msgspec

from meta_supervisor.core.history_record import same_evidence
from meta_supervisor.core.timeutil import to_datetime

DIR = "state/history"


def _files(root: Path) -> list[Path]:
    folder = Path(root) / DIR
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def read(root: Path, days: float | None = None, now: str | None = None) -> list[dict]:
    """The records, oldest first (those of the last `days` before `now` when both are given)."""
    files = _files(root)
    if days is not None and now is not None:
        first = (to_datetime(now) - timedelta(days=days)).strftime("%Y-%m-%d")
        files = [f for f in files if f.stem >= first]
    out = []
    for path in files:
        for line in path.read_bytes().splitlines():
            try:
                rec = msgspec.json.decode(line)
            except (msgspec.DecodeError, RecursionError):
                continue
            if isinstance(rec, dict) and isinstance(rec.get("at"), str):
                out.append(rec)
    return out


def append(root: Path, rec: dict, days: float) -> bool:
    """Append `rec` unless it repeats the last record's evidence; drop files older than `days`.
    Returns whether a line was written."""
    files = _files(root)
    last = None
    if files:
        lines = files[-1].read_bytes().splitlines()
        if lines:
            try:
                last = msgspec.json.decode(lines[-1])
            except (msgspec.DecodeError, RecursionError):
                last = None
    day = rec["at"][:10]
    cutoff = (to_datetime(rec["at"]) - timedelta(days=days)).strftime("%Y-%m-%d")
    for old in files:
        if old.stem < cutoff:
            old.unlink()
    if same_evidence(last, rec) and not rec.get("actions"):
        return False
    path = Path(root) / DIR / f"{day}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    torn = path.exists() and path.stat().st_size > 0 and not path.read_bytes().endswith(b"\n")
    with open(path, "ab") as handle:  # a torn last line (a killed run) is closed off, then skipped
        handle.write((b"\n" if torn else b"") + msgspec.json.encode(rec) + b"\n")
        handle.flush()
        os.fsync(handle.fileno())
    return True
