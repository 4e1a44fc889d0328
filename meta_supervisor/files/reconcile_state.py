"""`state/reconcile_state.json`: reconcile's commit record. This module alone knows its layout.

It holds what one reconcile run hands to the next, written in one atomic rename (the commit
point of a run, docs/architecture.md "State files"):
- `layout`: `day` or `month`, the files the git history is written in (files/history.py); a
  record without it was written before daily files existed: `month`;
- `partitions`: the committed size of every history partition (bytes past it are a crashed run's);
- `checksums`: per partition, the sha256 of its committed bytes (an edit in place is refused);
- `checkpoints`, `max_ts`: per partition, where each append started and the newest signal time
  before it, so readers can stop early (files/history.py);
- `spans`: per partition, the oldest and newest signal time of its rows (the already-reconciled
  check reads only the partitions whose span holds a new event's time);
- `events_cursor`: per input file, the byte offset and line number read so far;
- `pending`: accepted events with the horizons that have not matured yet;
- `newest_input_ts`: the newest `ts` accepted so far from each input (`alpha_events`, `prices`),
  which evaluate's freshness check reads (core/freshness.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.reconcile import Pending
from meta_supervisor.core.records import Rejected, event_from_json
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.files.jsonio import read_json, write_json

PATH = "state/reconcile_state.json"
VERSION = 1


class _Cursor(TypedDict):
    offset: int
    line: int


class _Pending(TypedDict):
    event: dict[str, Any]  # an input event, checked by the same validator as an input line
    strategy_class: str
    horizons_left: list[int]


class Schema(TypedDict, total=False):
    """The layout of the file (validated on every read: files/jsonio.read_json)."""

    version: int
    layout: str
    partitions: dict[str, int]
    checkpoints: dict[str, list[tuple[int, str]]]
    max_ts: dict[str, str]
    checksums: dict[str, str]
    spans: dict[str, tuple[str, str]]
    events_cursor: dict[str, _Cursor]
    pending: list[_Pending]
    newest_input_ts: dict[str, str]


@dataclass(frozen=True)
class Commit:
    """The part readers need: which bytes of the history are committed."""

    partitions: dict[str, int]
    checkpoints: dict = field(default_factory=dict)
    max_ts: dict = field(default_factory=dict)
    checksums: dict = field(default_factory=dict)  # {partition: "sha256:<hex>" of its committed bytes}
    spans: dict = field(default_factory=dict)  # {partition: [oldest, newest] signal ts of its rows}
    layout: str | None = None  # the git store's "day" or "month"; None: not recorded (the object store)


@dataclass
class ReconcileState:
    commit: Commit | None  # None: no commit record yet (first run, or lost)
    events_cursor: dict = field(default_factory=dict)
    pending: list[Pending] = field(default_factory=list)
    newest_input_ts: dict = field(default_factory=dict)  # {"alpha_events"|"prices": epoch seconds}


def _read(root: Path) -> dict | None:
    return read_json(Path(root) / PATH, display=PATH, schema=Schema)


def read_commit(root: Path) -> Commit | None:
    """The commit record as readers need it; None when there is none, or when it records no
    partition sizes (a hand-written record): readers then trust the files, as `load` does."""
    return read_view(root)[0]


def read_view(root: Path) -> tuple[Commit | None, dict[str, int]]:
    """(`read_commit`, {input: epoch seconds of the newest ts reconcile accepted from it}) from one
    read of the file: evaluate needs both, and the file holds every pending event."""
    doc = _read(root)
    if doc is None:
        return None, {}
    partitions = doc.get("partitions")
    return (None if partitions is None else _commit(doc, partitions)), _newest(doc)


def _commit(doc: dict, partitions: dict) -> Commit:
    layout = doc.get("layout")
    if layout not in (None, "day", "month"):
        raise UserError(f"{PATH}: layout {layout!r} is neither day nor month; restore it from git")
    return Commit(
        partitions,
        doc.get("checkpoints") or {},
        doc.get("max_ts") or {},
        doc.get("checksums") or {},
        {k: list(v) for k, v in (doc.get("spans") or {}).items()},
        layout,
    )


def load(root: Path) -> ReconcileState:
    """Reconcile's record. Missing beside a non-empty history, it is refused: starting over would
    re-read every input from the start and append all of it again (24,300 rows became 48,690)."""
    doc = _read(root)
    if doc is None:
        history = sorted(p.name for p in (Path(root) / "state/reconciled").glob("*.jsonl") if p.stat().st_size)
        if history:
            raise UserError(
                f"{PATH} is missing but state/reconciled/ holds {len(history)} partition(s) ({history[0]} .. "
                f"{history[-1]}): restore it (git checkout -- {PATH}), or move state/reconciled/ away to rebuild "
                "the history from the inputs"
            )
        return ReconcileState(None)
    try:
        pending = [
            Pending(event_from_json(d["event"]), d["strategy_class"], list(d["horizons_left"]))
            for d in doc.get("pending", [])
        ]
    except Rejected as err:
        raise UserError(f"{PATH}: a pending event is not valid ({err}); restore it from git") from None
    partitions = doc.get("partitions")
    commit = None if partitions is None else _commit(doc, partitions)
    return ReconcileState(commit, doc.get("events_cursor", {}), pending, _newest(doc))


def _newest(doc: dict) -> dict[str, int]:
    try:
        return {k: parse_ts(v) for k, v in doc.get("newest_input_ts", {}).items()}
    except ValueError as err:
        raise UserError(f"{PATH}: newest_input_ts holds a time that is not ISO 8601 UTC ({err})") from None


def exists(root: Path) -> bool:
    return (Path(root) / PATH).exists()


def save(
    root: Path, commit: Commit, events_cursor: dict, pending: list[Pending], newest_input_ts: dict | None = None
) -> None:
    """Write the whole record in one atomic rename: after it, the run's rows are committed."""
    write_json(
        Path(root) / PATH,
        {
            "version": VERSION,
            **({"layout": commit.layout} if commit.layout else {}),
            "partitions": commit.partitions,
            "checkpoints": commit.checkpoints,
            "max_ts": commit.max_ts,
            "checksums": commit.checksums,
            "spans": commit.spans,
            "events_cursor": events_cursor,
            "newest_input_ts": {k: format_ts(v) for k, v in sorted((newest_input_ts or {}).items())},
            "pending": [
                {"event": p.event.to_dict(), "strategy_class": p.strategy_class, "horizons_left": p.horizons_left}
                for p in pending
            ],
        },
    )
