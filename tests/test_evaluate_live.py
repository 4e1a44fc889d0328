"""Evaluate with its real adapters: PyGithub against the fake GitHub, sendgrid against the fake
SendGrid, both on 127.0.0.1. Convergence, alert comments, exactly-once mail."""

from __future__ import annotations

import json

import pytest

from meta_supervisor.adapters.github_rest.proposer import pulls_from_env
from meta_supervisor.adapters.mail.sendgrid_mailer import SendgridMailer
from meta_supervisor.jobs import evaluate
from tests.conftest import KILL_LIST
from tests.fakes.github_api import FakeGitHub
from tests.fakes.sendgrid_api import FakeSendGrid
from tests.test_evaluate import _world, put_rows, rows_for

TOKEN = "ghs_test_token_5f2a9c"
KEY = "SG.test-key-9d8e7f"
RECIPIENTS = ["risk@example.com", "oncall@example.com"]


def _diverging_agent(root):
    # 2026-11-27, the day before; in RANGE: TREND evidence of three weeks ago must stay in its cell window
    rows = rows_for("macro", "RANGE", 150, start=37440, seed=9, agent="macro-bad")
    for r in rows:  # live falls 2 sigma short of the sim
        r["realized_pnl_bps"] -= 40.0
        r["pnl_error_bps"] -= 40.0
        r["abs_error_bps"] = abs(r["pnl_error_bps"])
    put_rows(root, rows)


@pytest.fixture
def github():
    with FakeGitHub(files={"policy/strategy_kill_list.yaml": KILL_LIST}, token=TOKEN) as fake:
        yield fake


@pytest.fixture
def sendgrid():
    with FakeSendGrid(api_key=KEY) as fake:
        yield fake


def _adapters(github, sendgrid):
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/trading", "GITHUB_API_URL": github.url}
    pulls = pulls_from_env(env, seconds_between_writes=0, retry_delays=(0,))
    mailer = SendgridMailer(
        KEY, "supervisor@example.com", RECIPIENTS, host=sendgrid.url, timeout_s=2, backoff_s=0, sleep=lambda s: None
    )
    return env, pulls, mailer


def _state(root):
    return {p.name: p.read_bytes() for p in (root / "state").glob("*.json")}


def test_pr_comment_and_mail_then_an_unchanged_rerun_changes_nothing(root, github, sendgrid, capsys):
    _world(root)
    _diverging_agent(root)
    env, pulls, mailer = _adapters(github, sendgrid)
    first = evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T01:00:00Z")
    assert first.exit_code == 0, first.failures
    (pr,) = github.pulls
    assert pr["title"] == "[AUTO] Disable strategy: macro" and pr["head"] == "auto/disable-macro"
    assert "auto-disable" in pr["labels"]
    assert "status: DISABLED" in github.file_at("auto/disable-macro", "policy/strategy_kill_list.yaml")
    assert "status: ENABLED" in github.file_at("main", "policy/strategy_kill_list.yaml")
    assert all(ref != "main" for ref, _, _ in github.ref_writes)
    (comment,) = [c for c in github.comments(pr["number"]) if "meta-supervisor:alerts" in c["body"]]
    assert "macro-bad" in comment["body"]
    (mail,) = sendgrid.received
    assert mail["subject"].startswith("DIVERGENCE ALERT")
    assert sorted(t["email"] for p in mail["personalizations"] for t in p["to"]) == sorted(RECIPIENTS)
    alerts = json.loads((root / "state/divergence_alerts.json").read_text())["alerts"]
    assert any(a["agent"] == "macro-bad" and a["last_notified"] for a in alerts)

    state, requests, comments = _state(root), sendgrid.requests, github.comments(pr["number"])
    commits = github.commits_on("auto/disable-macro")
    second = evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T02:00:00Z")
    assert second.exit_code == 0
    assert _state(root) == state  # byte-identical state
    assert sendgrid.requests == requests  # nothing sent
    assert len(github.pulls) == 1 and github.comments(pr["number"]) == comments
    assert github.commits_on("auto/disable-macro") == commits and github.pulls[0]["body"] == pr["body"]
    out = capsys.readouterr()
    assert TOKEN not in out.out + out.err and KEY not in out.out + out.err
    url = "https://github.com/acme/trading/pull/1"
    assert (first.proposals, second.proposals) == (
        [("macro", f"PR #1 created ({url})")],
        [("macro", f"PR #1 unchanged ({url})")],
    )
    assert first.pull_numbers == second.pull_numbers == [1]
    assert f"proposal: [AUTO] Disable strategy: macro -> PR #1 created ({url})\n" in out.err
    assert f"proposal: [AUTO] Disable strategy: macro -> PR #1 unchanged ({url})\n" in out.err


def test_mail_outage_keeps_the_alert_pending_and_the_next_run_delivers_it(root, github, sendgrid):
    _diverging_agent(root)
    env, pulls, mailer = _adapters(github, sendgrid)
    sendgrid.down()
    result = evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T01:00:00Z")
    assert result.exit_code == 2 and any("mail" in f for f in result.failures)
    pending = json.loads((root / "state/mail_pending.json").read_text())
    assert len(pending) == 1 or len(pending.get("messages", pending)) == 1
    assert list((root / "outbox/mail").glob("*.eml"))
    assert sendgrid.received == []
    sendgrid.up()
    again = evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T02:00:00Z")
    assert again.exit_code == 0
    assert len(sendgrid.received) == 1
    third = evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T03:00:00Z")
    assert third.exit_code == 0 and len(sendgrid.received) == 1


def test_ongoing_alert_is_mailed_again_after_renotify_hours(root, github, sendgrid):
    _diverging_agent(root)
    env, pulls, mailer = _adapters(github, sendgrid)
    evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T01:00:00Z")
    evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T23:00:00Z")
    assert len(sendgrid.received) == 1
    evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-29T01:30:00Z")
    assert len(sendgrid.received) == 2


def test_alert_comment_is_updated_when_the_alerts_clear(root, github, sendgrid):
    _world(root)
    _diverging_agent(root)
    env, pulls, mailer = _adapters(github, sendgrid)
    evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T01:00:00Z")
    (pr,) = github.pulls
    # the agent recovers, and time passes: an episode clears after its clear_hours without a
    # re-alarm (at most divergence.clear_max_hours, 14 days, counted in signal time: rows mature a day late)
    put_rows(root, rows_for("macro", "TREND", 1200, start=37640, seed=11, agent="macro-bad"))
    evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-12-13T01:00:00Z")
    alerts = json.loads((root / "state/divergence_alerts.json").read_text())
    assert not [a for a in alerts["alerts"] if a.get("agent") == "macro-bad"]
    assert any(t["to"] == "cleared" for t in alerts["history"])
    (comment,) = [c for c in github.comments(pr["number"]) if "meta-supervisor:alerts" in c["body"]]
    assert "macro-bad" not in comment["body"]


def test_a_dry_run_records_nothing_as_done(root, github, sendgrid):
    """A dry run before the hourly run: the real run still opens the PR and mails the alert."""
    _world(root)
    _diverging_agent(root)
    dry = evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    assert dry.alerts and (root / "outbox/mail").exists()
    saved = json.loads((root / "state/divergence_alerts.json").read_text())["alerts"]
    assert saved and not any(a.get("last_notified") for a in saved)
    env, pulls, mailer = _adapters(github, sendgrid)
    real = evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T01:30:00Z")
    assert real.exit_code == 0, real.failures
    assert [p["head"] for p in github.pulls] == ["auto/disable-macro"]
    (mail,) = sendgrid.received
    assert "macro-bad" in mail["content"][0]["value"]


def test_the_alert_mail_lists_breaches_with_their_prs_what_was_done_and_the_run(root, github, sendgrid):
    _world(root)
    _diverging_agent(root)
    env, pulls, mailer = _adapters(github, sendgrid)
    env = {**env, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_RUN_ID": "4242"}
    assert evaluate.run(root, env=env, pulls=pulls, mailer=mailer, now="2026-11-28T01:00:00Z").exit_code == 0
    (mail,) = sendgrid.received
    text = next(c["value"] for c in mail["content"] if c["type"] == "text/plain")
    html = next(c["value"] for c in mail["content"] if c["type"] == "text/html")
    assert "Breaches: proposals to disable (a person reviews and merges)" in text
    (row,) = [line for line in text.splitlines() if line.strip().startswith("macro ") and "TREND" in line]
    assert "120.0" in row and "PR #1 created (https://github.com/acme/trading/pull/1)" in row
    # both limits have their columns: a breach of the sigma limit alone must not read "Limit (bps) -"
    (header,) = [line for line in text.splitlines() if "CVaR95 (bps)" in line]
    assert header.split() == "Strategy Regime CVaR95 (bps) Limit (bps) CVaR95 (sigma) Limit (sigma) Proposal".split()
    assert "Done by this run:\n  - disable PR macro: PR #1 created" in text
    assert "Recommended: REVIEW_DISABLE_PR" in text and "Recommended: REDUCE_ALLOC_AND_BLOCK_PROMOTION" in text
    assert text.rstrip().endswith("Workflow run: https://github.com/acme/trading/actions/runs/4242")
    assert '<a href="https://github.com/acme/trading/actions/runs/4242">Workflow run</a>' in html


def test_detectors_do_not_chart_the_warm_up_of_a_young_history(root, capsys):
    """The history's first `warmup_days` are not charted (the sigmas rest on a few days of errors):
    evaluate reads the history's start from the commit record's spans and says it is warming up."""
    _world(root)
    _diverging_agent(root)
    part = root / "state/reconciled/2026-11.jsonl"
    record = {"version": 1, "partitions": {part.name: part.stat().st_size}}
    record["spans"] = {part.name: ["2026-11-01T00:00:00Z", "2026-11-27T23:59:00Z"]}
    (root / "state/reconcile_state.json").write_text(json.dumps(record))
    (root / "policy/supervisor.yaml").write_text("divergence:\n  warmup_days: 30\n")
    evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    out = capsys.readouterr().err
    assert "detectors: warming up, rows signalled from 2026-12-01T00:00:00Z on are charted" in out
    alerts = json.loads((root / "state/divergence_alerts.json").read_text())["alerts"]
    assert not any(a.get("agent") == "macro-bad" for a in alerts)
    # ten days of warm-up: the agent's rows of Nov 27 are charted, and it alarms
    (root / "policy/supervisor.yaml").write_text("divergence:\n  warmup_days: 10\n")
    (root / "state/detectors.json").unlink()
    evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z")
    assert "warming up" not in capsys.readouterr().err
    alerts = json.loads((root / "state/divergence_alerts.json").read_text())["alerts"]
    assert any(a.get("agent") == "macro-bad" for a in alerts)
