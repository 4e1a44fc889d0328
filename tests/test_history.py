"""Windows read with checkpoints equal a full read, even when rows arrive late; and they read less."""

from __future__ import annotations

import random

import msgspec
import pytest

from meta_supervisor.core.errors import UserError
from meta_supervisor.core.records import Row
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.files import history
from meta_supervisor.files.history import Partitions, recent_rows, rows_since
from meta_supervisor.files.reconcile_state import Commit
from tests.rows import row

START = parse_ts("2026-09-20T00:00:00Z")
LAYOUTS = ["day", "month"]  # history.partition: every reader must give the same rows on both


def _row(event_id: str, ts: str, h: int, **extra) -> Row:
    """A reconciled row (values are not the point here)."""
    return row(
        event_id=event_id,
        ts=ts,
        horizon_hours=h,
        entry_price=100.0,
        exit_price=101.0,
        realized_pnl_bps=100.0,
        expected_pnl_bps=2.5,
        pnl_error_bps=97.5,
        abs_error_bps=97.5,
        reconciled_at=ts,
        **extra,
    )


def _simulate(root, seed, runs=300, per_run=30, cap=history.DEFAULT_MAX_FILE_BYTES, layout="day"):
    """Hourly reconcile runs: each appends rows that matured, mostly recent signals, some late
    (a symbol that did not tick for days), committing the record after each run."""
    rng = random.Random(seed)
    state = Commit({}, {}, {}, layout=layout)
    k = 0
    for run in range(runs):
        parts = Partitions(root, state, cap)
        now = START + run * 3600
        new = []
        for _ in range(rng.randint(0, per_run)):
            h = rng.choice([1, 4, 24])
            lag = rng.choice([h * 3600] * 9 + [rng.randint(h * 3600, 6 * 86400)])
            ts = format_ts(now - lag - rng.randint(0, 3599))
            new.append(_row(f"e{k:06d}", ts, h))
            k += 1
        state = parts.append(sorted(new, key=lambda r: (r.ts, r.event_id)))
    return state


def _bare(state: Commit) -> Commit:
    """The record without checkpoints: readers then read every byte."""
    return Commit(state.partitions, layout=state.layout)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("need", [{24: 50}, {1: 300, 4: 200, 24: 100}, {24: 2000}, {4: 1}])
def test_checkpointed_windows_equal_a_full_read(tmp_path, seed, need, layout):
    state = _simulate(tmp_path, seed, layout=layout)
    fast = Partitions(tmp_path, state)
    full = Partitions(tmp_path, _bare(state))
    assert recent_rows(fast, need) == recent_rows(full, need)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("need", [{24: 50}, {1: 300, 4: 200, 24: 100}, {24: 2000}])
def test_size_capped_segments_keep_windows_exact_and_files_bounded(tmp_path, seed, need, layout):
    """A day (month) continues in YYYY-MM-DD.NNN.jsonl (YYYY-MM.NNN.jsonl) segments before a file
    passes the cap; windows read across segments (late rows land in a later segment of an older
    period) equal a full read of every byte, and a re-opened view appends to the last segment."""
    cap = 6000 + seed * 1500  # a few rows' worth: hundreds of segments
    state = _simulate(tmp_path, seed, runs=200, cap=cap, layout=layout)
    files = sorted((tmp_path / "state/reconciled").glob("*.jsonl"))
    assert len(files) > 50
    assert max(f.stat().st_size for f in files) <= cap
    assert any(".001.jsonl" in f.name for f in files) and all(history._SEGMENT.match(f.name) for f in files)
    assert {len(history.period_of(f.name)) for f in files} == {10 if layout == "day" else 7}
    fast = Partitions(tmp_path, state, cap)
    full = Partitions(tmp_path, _bare(state), cap)
    assert recent_rows(fast, need) == recent_rows(full, need)
    every = sorted(
        (msgspec.json.decode(line, type=Row) for f in files for line in f.read_bytes().splitlines()),
        key=lambda r: (r.ts, r.event_id),
    )
    for h, n in need.items():
        assert recent_rows(fast, need)[h] == [r for r in every if r.horizon_hours == h][-n:]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_segments_let_windows_stop_early(tmp_path, monkeypatch, layout):
    """A new segment starts with a checkpoint at offset 0 holding the newest signal of the
    period's earlier segments: a window the last segment fills never reads the earlier ones."""
    old = [_row(f"a{i}", f"2026-11-05T{i:02d}:00:00Z", 24) for i in range(10)]
    new = [_row(f"b{i}", f"2026-11-05T{i + 10:02d}:00:00Z", 24) for i in range(10)]
    cap = sum(len(msgspec.json.encode(r)) + 1 for r in old) + 10  # one run's rows per file
    state = Partitions(tmp_path, None, cap, layout).append(old)
    state = Partitions(tmp_path, state, cap).append(new)
    period = "2026-11-05" if layout == "day" else "2026-11"
    assert sorted(state.partitions) == [f"{period}.001.jsonl", f"{period}.jsonl"]
    read = []
    original = history._decode
    monkeypatch.setattr(
        history, "_decode", lambda parts, name, start, data: read.append(name) or original(parts, name, start, data)
    )
    assert [r.event_id for r in recent_rows(Partitions(tmp_path, state, cap), {24: 5})[24]] == [
        f"b{i}" for i in range(5, 10)
    ]
    assert read == [f"{period}.001.jsonl"]
    read.clear()
    assert len(recent_rows(Partitions(tmp_path, state, cap), {24: 12})[24]) == 12
    assert read == [f"{period}.001.jsonl", f"{period}.jsonl"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_checkpoints_read_only_what_the_window_needs(tmp_path, monkeypatch, layout):
    state = _simulate(tmp_path, 1, runs=600, layout=layout)
    read = []  # bytes decoded
    original = history._decode
    monkeypatch.setattr(
        history,
        "_decode",
        lambda parts, name, start, data: read.append(len(data)) or original(parts, name, start, data),
    )
    recent_rows(Partitions(tmp_path, state), {24: 50})
    fast = sum(read)
    read.clear()
    recent_rows(Partitions(tmp_path, _bare(state)), {24: 50})
    total = sum(state.partitions.values())
    if layout == "month":
        assert fast * 4 < sum(read)
    else:  # a day's file is already small: checkpoints can only trim it, and both read a few days
        assert fast <= sum(read) and sum(read) * 4 < total


@pytest.mark.parametrize("layout", LAYOUTS)
def test_rows_since_reads_only_new_bytes(tmp_path, layout):
    state = _simulate(tmp_path, 2, runs=50, layout=layout)
    parts = Partitions(tmp_path, _bare(state))
    rows, cursor = rows_since(parts, {}, 24)
    again, cursor2 = rows_since(parts, cursor, 24)
    assert rows and all(r.horizon_hours == 24 for r in rows) and again == [] and cursor2 == cursor


def _line(**fields) -> bytes:
    """One partition line as a writer might have written it (any fields, any types)."""
    return msgspec.json.encode({**msgspec.structs.asdict(_row("e9", "2026-11-03T00:00:00Z", 24)), **fields})


def test_rows_decode_to_what_the_writer_wrote(tmp_path):
    """The typed decoder reads back exactly the values reconcile serialized (ints stay numbers,
    null sigma stays None); an unknown field is ignored."""
    rows = [
        _row("e1", "2026-11-02T10:00:00Z", 24, expected_sigma_bps=12.5, sim_version="ridge_h24@ab"),
        _row("e2", "2026-11-02T10:00:00Z", 24),
    ]
    commit = Partitions(tmp_path, None, partition="month").append(rows)  # then replaced by hand
    assert recent_rows(Partitions(tmp_path, commit), {24: 10})[24] == rows
    path = tmp_path / "state/reconciled/2026-11.jsonl"
    path.write_bytes(_line(event_id="e3", realized_pnl_bps=-3, score_final=1, unknown_extra_field="x") + b"\n")
    got = recent_rows(Partitions(tmp_path, None), {24: 10})[24][0]
    assert (got.realized_pnl_bps, got.score_final, got.expected_sigma_bps) == (-3.0, 1.0, None)


@pytest.mark.parametrize(
    "bad, reason",
    [
        (b'{"event_id":"e9","ts":"2026-11-03T00:00:00Z"', "truncated"),
        (_line(realized_pnl_bps="12"), "Expected `float`"),
        (
            msgspec.json.encode(
                {
                    k: v
                    for k, v in msgspec.structs.asdict(_row("e9", "2026-11-03T00:00:00Z", 24)).items()
                    if k != "regime"
                }
            ),
            "missing required field `regime`",
        ),
    ],
)
def test_a_corrupt_row_is_named_by_file_and_line(tmp_path, bad, reason):
    good = [msgspec.json.encode(_row(f"e{i}", f"2026-11-02T1{i}:00:00Z", 24)) for i in range(3)]
    path = tmp_path / "state/reconciled/2026-11.jsonl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\n".join(good[:2] + [bad] + good[2:]) + b"\n")
    with pytest.raises(UserError, match=rf"^state/reconciled/2026-11.jsonl:3: not a reconciled row \(.*{reason}"):
        recent_rows(Partitions(tmp_path, None), {24: 10})


@pytest.mark.parametrize("layout", LAYOUTS)
def test_already_reconciled_ids_are_found_in_any_segment_and_only_spanning_files_are_scanned(
    tmp_path, monkeypatch, layout
):
    from meta_supervisor.core.records import Event

    state = _simulate(tmp_path, 5, runs=200, cap=8000, layout=layout)
    parts = Partitions(tmp_path, state, 8000)
    files = sorted((tmp_path / "state/reconciled").glob("*.jsonl"))
    where = {}
    for f in files:
        for line in f.read_bytes().splitlines():
            where.setdefault(
                msgspec.json.decode(line, type=Row).event_id, (f.name, msgspec.json.decode(line, type=Row))
            )
    newest = sorted(where, key=lambda e: where[e][1].ts)[-200:]  # a run's new events are recent
    picked = random.Random(0).sample(sorted(where), 20) + random.Random(1).sample(newest, 20)

    def event(e, ts):
        return Event(e, parse_ts(ts), ts, "a", "X", "long", 1, 0.5, 0.5, "R", None)

    events = [event(e, where[e][1].ts) for e in picked] + [event("never-seen", "2026-09-25T00:00:00Z")]
    found = parts.reconciled_ids(events)
    assert set(found) == set(picked)
    assert all(found[e] == f"state/reconciled/{where[e][0]}" for e in picked)
    scanned = []
    original = Partitions.event_ids
    monkeypatch.setattr(Partitions, "event_ids", lambda self, name: scanned.append(name) or original(self, name))
    assert set(parts.reconciled_ids([event(e, where[e][1].ts) for e in newest[-20:]])) == set(newest[-20:])
    assert len(set(scanned)) < len(files) / 3  # recent events: the spans spare the older files


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("cap", [history.DEFAULT_MAX_FILE_BYTES, 6000])
@pytest.mark.parametrize("since", ["2026-09-21T00:00:00Z", "2026-09-29T12:00:00Z", "2026-10-02T00:00:00Z", ""])
def test_rows_from_a_time_equal_a_full_read_and_stop_early(tmp_path, cap, since, layout):
    state = _simulate(tmp_path, 7, runs=300, cap=cap, layout=layout)
    files = sorted((tmp_path / "state/reconciled").glob("*.jsonl"))
    every = [msgspec.json.decode(line, type=Row) for f in files for line in f.read_bytes().splitlines()]
    want = sorted((r for r in every if r.horizon_hours == 24 and r.ts >= since), key=lambda r: (r.ts, r.event_id))
    assert history.rows_from(Partitions(tmp_path, state, cap), 24, since) == want
    assert history.rows_from(Partitions(tmp_path, _bare(state), cap), 24, since) == want


@pytest.mark.parametrize("cap", [history.DEFAULT_MAX_FILE_BYTES, 7000])
def test_both_layouts_give_every_reader_the_same_rows(tmp_path, cap):
    """The same hourly appends written by day and by month: windows, rows from a time, rows
    since a cursor and the already-reconciled check answer identically."""
    from meta_supervisor.core.records import Event

    parts = {}
    for layout in LAYOUTS:
        state = _simulate(tmp_path / layout, 3, runs=250, cap=cap, layout=layout)
        parts[layout] = Partitions(tmp_path / layout, state, cap)
        assert state.layout == layout
    names = {k: sorted(p.committed) for k, p in parts.items()}
    assert len(names["day"]) > len(names["month"]) and all(len(history.period_of(n)) == 10 for n in names["day"])

    def event(r):
        return Event(r.event_id, parse_ts(r.ts), r.ts, "a", "X", "long", 1, 0.5, 0.5, "R", None)

    def answers(p):
        rows, _ = rows_since(p, {}, 24)
        return (
            recent_rows(p, {1: 300, 4: 200, 24: 100}),
            recent_rows(p, {24: 5000}),
            [history.rows_from(p, h, t) for h in (1, 24) for t in ("", "2026-09-27T05:00:00Z", "2026-10-01T00:00:00Z")],
            rows,
            sorted(p.reconciled_ids([event(r) for r in rows])),
        )

    assert answers(parts["day"]) == answers(parts["month"])


def test_the_layout_is_recorded_kept_and_a_different_setting_is_named(tmp_path):
    rows = [_row("a", "2026-11-05T01:00:00Z", 24), _row("b", "2026-11-06T01:00:00Z", 24)]
    state = Partitions(tmp_path, None, partition="month").append(rows)
    assert state.layout == "month" and sorted(state.partitions) == ["2026-11.jsonl"]
    again = Partitions(tmp_path, state, partition="day")  # the setting changed: the record wins
    assert again.layout == "month" and "history.partition is day" in (again.layout_note or "")
    later = again.append([_row("c", "2026-11-07T01:00:00Z", 24)])
    assert sorted(later.partitions) == ["2026-11.jsonl"] and later.layout == "month"
    # a record written before layouts were recorded is monthly
    assert Partitions(tmp_path, Commit(state.partitions), partition="day").layout == "month"
    # a new history takes the setting
    fresh = Partitions(tmp_path / "new", None).append(rows)
    assert fresh.layout == "day" and sorted(fresh.partitions) == ["2026-11-05.jsonl", "2026-11-06.jsonl"]
    assert Partitions(tmp_path / "new", fresh, partition="day").layout_note is None


def test_hand_placed_files_give_their_layout_and_a_mix_is_refused(tmp_path):
    line = msgspec.json.encode(_row("a", "2026-11-05T01:00:00Z", 24)) + b"\n"
    folder = tmp_path / "state/reconciled"
    folder.mkdir(parents=True)
    (folder / "2026-11.jsonl").write_bytes(line)
    assert Partitions(tmp_path, None).layout == "month"
    (folder / "2026-11-05.jsonl").write_bytes(line)
    with pytest.raises(UserError, match=r"^state/reconciled/ holds daily files \(2026-11-05.jsonl, ...\) and monthly"):
        Partitions(tmp_path, None)
