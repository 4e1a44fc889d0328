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
- `pending_files`: {file under `state/pending/`: sha256 of its bytes}, the files holding, in name
  order, the accepted events with the horizons that have not matured yet (below); a record
  written before them holds the list inline as `pending`;
- `newest_input_ts`: the newest `ts` accepted so far from each input (`alpha_events`, `prices`),
  which evaluate's freshness check reads (core/freshness.py).

Pending events live in their own files because they grow with the fleet: ~380 B an event, a
day's signals while the 24 h horizon matures, so 38 MB at 100,000 signals a day, past GitHub's
50 MB warning at ~130,000 (docs/performance.md "Fleet"). `state/pending/<bank>.NNN.jsonl` holds
one event a line, each file under `history.max_file_mb`. The commit point stays one atomic rename,
by double buffering: a run that changes the list writes its files in the bank (`a` or `b`) the
current record does not name, then the record naming them with their sha256, and only then deletes the files no record
names (the other bank, or what a run that died before its commit left). A crash at any point
leaves the previous record and every file it names intact. Two banks rather than a fresh name per
run: git deltas a file's versions against each other when they share a path (every other run
here), which keeps the ~hourly rewrites of the list small in the repository.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TypedDict

import msgspec

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.reconcile import Pending
from meta_supervisor.core.records import Event, Rejected, event_from_json
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.files.jsonio import compact, read_json, write_atomic, write_json

PATH = "state/reconcile_state.json"
PENDING_DIR = "state/pending"
VERSION = 1
DEFAULT_MAX_FILE_BYTES = 45 * 1024 * 1024  # history.max_file_mb's default


class _Cursor(TypedDict):
    offset: int
    line: int


class _Pending(TypedDict):
    event: dict[str, Any]  # an input event, checked by the same validator as an input line
    strategy_class: str
    horizons_left: list[int]


class _StoredEvent(msgspec.Struct):
    """An event as `Event.to_dict` wrote it into a pending file (side already normalized)."""

    event_id: str
    ts: str
    agent: str
    symbol: str
    side: Literal["long", "short"]
    score_final: float
    confidence: float
    regime: str
    price: float | None = None


class _StoredPending(msgspec.Struct):
    event: _StoredEvent
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
    pending_files: dict[str, str]
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


def history_start(commit: Commit | None) -> str | None:
    """The oldest signal time of the committed history (None when no span is recorded)."""
    firsts = [span[0] for span in (commit.spans.values() if commit else ()) if span]
    return min(firsts) if firsts else None


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
    pending = _pending(doc.get("pending", []), PATH)
    for name, digest in sorted(doc.get("pending_files", {}).items()):
        pending += _stored_pending(_read_pending_file(root, name, digest), f"{PENDING_DIR}/{name}")
    partitions = doc.get("partitions")
    commit = None if partitions is None else _commit(doc, partitions)
    return ReconcileState(commit, doc.get("events_cursor", {}), pending, _newest(doc))


def _pending(docs: list, where: str) -> list[Pending]:
    try:
        return [Pending(event_from_json(d["event"]), d["strategy_class"], list(d["horizons_left"])) for d in docs]
    except Rejected as err:
        raise UserError(f"{where}: a pending event is not valid ({err}); restore it from git") from None


def _stored_pending(docs: list[_StoredPending], where: str) -> list[Pending]:
    """Events of a pending file, built without re-validating each field: this run's own output, its
    bytes checked against the committed sha256 and its types by the typed decode (re-validating
    100,000 pending events took 2 of an hourly reconcile's 7 s at fleet scale)."""
    out = []
    try:
        for d in docs:
            e = d.event
            moment = datetime.fromisoformat(e.ts)  # parse_ts without its checks (a third of the time)
            if moment.tzinfo is None:
                raise ValueError(f"timestamp has no timezone: {e.ts!r}")
            event = Event(
                e.event_id,
                int(moment.timestamp()),
                e.ts,
                e.agent,
                e.symbol,
                e.side,
                1 if e.side == "long" else -1,
                e.score_final,
                e.confidence,
                e.regime,
                e.price,
            )
            out.append(Pending(event, d.strategy_class, d.horizons_left))
    except ValueError as err:  # a time parse_ts refuses: the file was not written by reconcile
        raise UserError(f"{where}: a pending event is not valid ({err}); restore it from git") from None
    return out


def _read_pending_file(root: Path, name: str, digest: str) -> list[_StoredPending]:
    """The pending records of `state/pending/<name>`, checked against the sha256 committed."""
    display = f"{PENDING_DIR}/{name}"
    try:
        data = (Path(root) / PENDING_DIR / name).read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"{display} is missing but {PATH} names it: restore it (git checkout -- {PENDING_DIR}/)"
        ) from None
    if _digest(data) != digest:
        raise UserError(
            f"{display}: its bytes are not the ones committed (sha256 recorded in {PATH}): the file was "
            f"edited; restore it (git checkout -- {display})"
        )
    try:  # one call for the whole file (~20% less CPU than a call per line, 100k events: 0.33 s)
        return _pending_decoder.decode_lines(data)
    except msgspec.MsgspecError:
        pass
    for number, line in enumerate(data.splitlines(), 1):  # slow path, only to name the bad line
        try:
            _pending_decoder.decode(line)
        except msgspec.MsgspecError as err:
            raise UserError(f"{display}:{number}: not a pending event ({err}); restore it from git") from None
    raise AssertionError("decode_lines failed but every line decodes")  # pragma: no cover


_pending_decoder = msgspec.json.Decoder(_StoredPending)


def _digest(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def _pending_files(pending: list[Pending], max_file_bytes: int) -> list[bytes]:
    """The contents of the pending files: one event a line, in order, a new file before one
    would pass `max_file_bytes` (an event longer than that still gets a file of its own)."""
    files: list[bytes] = []
    lines: list[bytes] = []
    size = 0
    for p in pending:
        line = compact(
            {"event": p.event.to_dict(), "strategy_class": p.strategy_class, "horizons_left": p.horizons_left}
        )
        line += b"\n"
        if lines and size + len(line) > max_file_bytes:
            files.append(b"".join(lines))
            lines, size = [], 0
        lines.append(line)
        size += len(line)
    if lines:
        files.append(b"".join(lines))
    return files


def _newest(doc: dict) -> dict[str, int]:
    try:
        return {k: parse_ts(v) for k, v in doc.get("newest_input_ts", {}).items()}
    except ValueError as err:
        raise UserError(f"{PATH}: newest_input_ts holds a time that is not ISO 8601 UTC ({err})") from None


def exists(root: Path) -> bool:
    return (Path(root) / PATH).exists()


def save(
    root: Path,
    commit: Commit,
    events_cursor: dict,
    pending: list[Pending],
    newest_input_ts: dict | None = None,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> None:
    """Write the whole record in one atomic rename: after it, the run's rows are committed. The
    pending files it names are written before it, and those it no longer names deleted after."""
    folder = Path(root) / PENDING_DIR
    previous = (_read(root) or {}).get("pending_files", {})
    files = _pending_files(pending, max_file_bytes)
    if [_digest(data) for data in files] == [previous[n] for n in sorted(previous)]:
        # Unchanged (load checked those files' bytes): named again, nothing written, so a run with
        # nothing new leaves state/ byte-identical (no state commit).
        names = dict(previous)
    else:
        bank = "b" if any(n.startswith("a.") for n in previous) else "a"  # the one the record does not name
        names = {}
        for number, data in enumerate(files):
            name = f"{bank}.{number:03d}.jsonl"
            write_atomic(folder / name, data)
            names[name] = _digest(data)
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
            "pending_files": names,
        },
    )
    # After the commit point: what no record names any more (a crash here leaves files the next
    # save deletes; temp files are those of a write that died).
    for path in folder.iterdir() if folder.is_dir() else []:
        if path.name not in names:
            path.unlink()
