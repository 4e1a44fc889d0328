"""The object-store history (Parquet on S3) against a real S3-compatible server on 127.0.0.1:
every job gives the same results on it as on git; crashes, replaced objects and an unreachable
store are handled as on git."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from meta_supervisor.adapters.object_history import ObjectHistory
from meta_supervisor.adapters.parquet_s3 import ObjectStore
from meta_supervisor.core import synth
from meta_supervisor.core.errors import UserError
from meta_supervisor.core.timeutil import HOUR, format_ts, parse_ts
from meta_supervisor.files import reconcile_state
from meta_supervisor.files.history import recent_rows
from meta_supervisor.jobs import demo, evaluate, reconcile, train
from tests.rows import row
from tests.s3_server import s3_server

START = parse_ts("2026-09-01T00:00:00Z")


@pytest.fixture(scope="module")
def s3_env():
    with s3_server() as env:
        ObjectStore("s3://history", env).create_bucket()
        yield env


@pytest.fixture
def aws(s3_env, monkeypatch):
    for k, v in s3_env.items():
        monkeypatch.setenv(k, v)
    return s3_env


def demo_root(base: Path, **history: str) -> Path:
    """A root with the demo's policy files; `history` settings (e.g. location=..., partition=...)
    added to its supervisor.yaml."""
    (base / "policy").mkdir(parents=True)
    (base / "data").mkdir()
    (base / "policy/strategy_kill_list.yaml").write_text(demo.KILL_LIST)
    agents = "".join(f"{a}: {s}\n" for s, ags in synth.STRATEGIES.items() for a in ags)
    (base / "policy/agents.yaml").write_text(agents)
    extra = "".join(f"  {k}: {v}\n" for k, v in history.items())
    (base / "policy/supervisor.yaml").write_text(demo.SUPERVISOR + (f"\nhistory:\n{extra}" if extra else ""))
    return base


def _root(base: Path, location: str | None) -> Path:
    return demo_root(base, **({"location": location} if location else {}))


def _feed(root: Path, events, prices) -> None:
    demo._append_jsonl(root / "data/alpha_events.jsonl", events)
    demo._append_jsonl(root / "data/prices.jsonl", prices)


def replay_world(roots: list[Path], run_jobs) -> str:
    """The demo's world, shortened to 40 days, fed to every root in five steps; after each step
    `run_jobs(root, cut)` runs the jobs on it at the step's time. Returns the last step's time."""
    world = synth.make_world(START, 40, seed=11, diverge_from=START + 30 * 24 * HOUR)
    sent_e = sent_p = 0
    cut = ""
    for day in (20, 26, 32, 36, 40):
        cut = format_ts(START + day * 24 * HOUR)
        events = [e for e in world.events[sent_e:] if e["ts"] < cut]
        prices = [p for p in world.prices[sent_p:] if p["ts"] < cut]
        sent_e, sent_p = sent_e + len(events), sent_p + len(prices)
        for root in roots:
            _feed(root, events, prices)
            run_jobs(root, cut)
    return cut


def _outputs(root: Path) -> dict[str, bytes]:
    """Everything the jobs leave that a person or the next run reads, but where the history is:
    the commit record and the cursors name partitions, which differ by store by design."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not rel.startswith(("data/", "policy/", "state/reconciled/")):
            if rel not in ("state/reconcile_state.json", "state/reconcile_report.json"):
                out[rel] = path.read_bytes()
    for rel in ("state/detectors.json", "state/windows/cursor.json"):
        doc = json.loads(out[rel])
        assert doc.pop("cursor")
        out[rel] = json.dumps(doc).encode()
    return out


def test_every_job_gives_the_same_results_on_either_store(tmp_path, aws):
    """One world (the demo's, shortened), fed in five steps with reconcile, train and evaluate at
    each: the git root and the object-store root end with the same models, cells, windows,
    detectors, alerts, history records and proposals, byte for byte, and hold the same rows."""
    git = _root(tmp_path / "git", None)
    obj = _root(tmp_path / "obj", f"s3://history/{uuid.uuid4().hex}/rows")

    def jobs(root, cut):
        reconcile.run(root, now=cut)
        train.run(root, now=cut)
        evaluate.run(root, dry_run=True, env=dict(aws), now=cut)

    replay_world([git, obj], jobs)
    got, want = _outputs(obj), _outputs(git)
    assert sorted(got) == sorted(want)
    assert [k for k in want if got[k] != want[k]] == []
    assert any(k.startswith("outbox/pulls/") for k in want) and "state/models/ridge_h24.json" in want
    assert not (obj / "state/reconciled").exists()
    need = {1: 10**6, 4: 10**6, 24: 10**6}
    git_rows = recent_rows(ObjectHistoryOrGit(git), need)
    obj_rows = recent_rows(ObjectHistoryOrGit(obj), need)
    assert git_rows == obj_rows and sum(map(len, git_rows.values())) > 5000


def ObjectHistoryOrGit(root: Path):
    from meta_supervisor.adapters.object_history import open_history
    from meta_supervisor.files.workspace import Workspace

    return open_history(root, Workspace.open(root).settings.history, reconcile_state.read_commit(root))


def _rows(n, month="2026-11"):
    return [row(event_id=f"e{i}", ts=f"{month}-0{1 + i % 9}T00:00:00Z", horizon_hours=24) for i in range(n)]


def test_objects_of_a_run_that_died_before_its_commit_are_deleted(aws):
    location = f"s3://history/{uuid.uuid4().hex}"
    first = ObjectHistory(location, None, aws).append(_rows(10))
    ObjectHistory(location, first, aws).append(_rows(5))  # PUT, but the record is never saved
    history = ObjectHistory(location, first, aws)
    assert len(history.store.keys()) == 2
    assert history.recover() == [f"{location}/month=2026-11/part-000002.parquet"]
    assert history.store.keys() == ["month=2026-11/part-000001.parquet"]
    assert recent_rows(history, {24: 100})[24] == sorted(_rows(10), key=lambda r: (r.ts, r.event_id))


def test_an_object_replaced_after_its_commit_is_refused(aws):
    location = f"s3://history/{uuid.uuid4().hex}"
    commit = ObjectHistory(location, None, aws).append(_rows(10))
    ObjectStore(location, aws).put_rows("month=2026-11/part-000001.parquet", _rows(9))
    with pytest.raises(UserError, match="part-000001.parquet: its bytes differ from the ones committed"):
        recent_rows(ObjectHistory(location, commit, aws), {24: 5})


def test_a_git_history_is_not_silently_read_as_an_empty_store(tmp_path, aws):
    commit = reconcile_state.Commit({"2026-11.jsonl": 443})
    with pytest.raises(UserError, match="records git partitions"):
        ObjectHistory("s3://history/x", commit, aws)


def test_an_unreachable_store_is_one_line_without_the_secret_and_bounded(aws):
    dead = dict(aws, AWS_ENDPOINT_URL="http://127.0.0.1:9")  # nothing listens on port 9
    started = time.monotonic()
    with pytest.raises(UserError) as err:
        ObjectHistory("s3://history/x", None, dead).store.keys()
    message = str(err.value)
    assert message.startswith("history store s3://history/x: listing: ") and "\n" not in message
    assert aws["AWS_SECRET_ACCESS_KEY"] not in message
    assert time.monotonic() - started < 30


def test_a_backfill_is_split_into_bounded_objects_and_windows_stay_exact(aws, monkeypatch):
    from meta_supervisor.adapters import object_history

    monkeypatch.setattr(object_history, "OBJECT_ROWS", 7)
    location = f"s3://history/{uuid.uuid4().hex}"
    rows = _rows(30)
    history = ObjectHistory(location, ObjectHistory(location, None, aws).append(rows), aws)
    assert len(history.committed) == 5 and max(history.committed.values()) == 7
    assert recent_rows(history, {24: 100})[24] == sorted(rows, key=lambda r: (r.ts, r.event_id))
    assert recent_rows(history, {24: 4})[24] == sorted(rows, key=lambda r: (r.ts, r.event_id))[-4:]
