"""The life of an automatic proposal, with the real PyGithub client against the fake GitHub on
127.0.0.1: a disable PR whose breach has cleared is closed (bot-only) or only commented (a person
pushed), a recovered strategy gets one re-enable PR after the hysteresis held through a flap, and
a PR meta-supervisor closed is not read as a reviewer declining it."""

from __future__ import annotations

import json

import pytest

from meta_supervisor.adapters.github_rest.proposer import pulls_from_env
from meta_supervisor.core.timeutil import format_ts, parse_ts
from meta_supervisor.jobs import evaluate
from tests.conftest import KILL_LIST
from tests.fakes.github_api import FakeGitHub
from tests.test_evaluate import _world

TOKEN = "ghs_lifecycle_token_7a1b"
T0 = "2026-11-28T01:00:00Z"
PATH = "policy/strategy_kill_list.yaml"
DISABLED = KILL_LIST.replace(
    "  status: ENABLED   # ENABLED | DISABLED\n",
    "  status: DISABLED  # ENABLED | DISABLED\n"
    '  disabled_at: "2026-11-20T00:00:00Z"\n'
    '  disabled_reason: "CVaR95 breach"\n',
)


def at(hours: float) -> str:
    return format_ts(parse_ts(T0) + round(hours * 3600))


def _limit(text: str, bps: int) -> str:
    return text.replace("      max_cvar_error_bps: 120\n", f"      max_cvar_error_bps: {bps}\n")


@pytest.fixture
def github():
    with FakeGitHub(files={PATH: KILL_LIST}, token=TOKEN) as fake:
        yield fake


def _run(root, github, hours):
    env = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/trading", "GITHUB_API_URL": github.url}
    pulls = pulls_from_env(env, seconds_between_writes=0, retry_delays=(0,))
    result = evaluate.run(root, env=env, pulls=pulls, mailer=None, now=at(hours))
    assert not result.failures, result.failures
    return result


def _clear_breach(root):
    (root / PATH).write_text(_limit(KILL_LIST, 5000))  # the desk raised the limit


def test_a_disable_pr_whose_breach_cleared_is_closed_and_its_branch_deleted(root, github):
    _world(root)
    assert _run(root, github, 0).proposals[0][1].startswith("PR #1 created")
    _clear_breach(root)
    _run(root, github, 1)  # cleared from here on
    assert _run(root, github, 24).closed == []  # 23 h: not yet
    result = _run(root, github, 25)
    assert result.closed == [("macro", "disable", "closed")]
    (pr,) = github.pulls
    assert pr["state"] == "closed" and "auto-closed" in pr["labels"]
    assert github.branch_head("auto/disable-macro") is None  # bot-only branch deleted
    (comment,) = [c for c in github.comments(1) if "meta-supervisor:autoclose" in c["body"]]
    assert "This proposal is stale: `macro`" in comment["body"] and "| 5000 |" in comment["body"]
    lifecycle = json.loads((root / "state/lifecycle.json").read_text())
    assert lifecycle["macro"]["cleared_since"] == at(1)
    # the breach comes back: a fresh PR, not "declined" (meta-supervisor closed the old one itself)
    (root / PATH).write_text(KILL_LIST)
    again = _run(root, github, 26)
    assert again.proposals[0][1].startswith("PR #2 created")
    assert [p["state"] for p in github.pulls] == ["closed", "open"]


def test_a_stale_disable_pr_a_person_pushed_to_gets_the_comment_only(root, github):
    _world(root)
    _run(root, github, 0)
    github.add_commit("auto/disable-macro", PATH, github.file_at("auto/disable-macro", PATH) + "# reviewed\n")
    _clear_breach(root)
    _run(root, github, 1)
    result = _run(root, github, 26)
    assert result.closed == [("macro", "disable", "commented")]
    (pr,) = github.pulls
    assert pr["state"] == "open" and github.branch_head("auto/disable-macro") is not None
    assert any("meta-supervisor:autoclose" in c["body"] for c in github.comments(1))


def test_a_recovered_strategy_gets_one_re_enable_pr_after_the_hysteresis_held_through_a_flap(root, github):
    github.add_commit("main", PATH, _limit(DISABLED, 5000), message="Disable strategy macro (merged)")
    (root / PATH).write_text(_limit(DISABLED, 5000))
    _world(root)
    assert _run(root, github, 0).enables == []  # recovered from here
    (root / PATH).write_text(_limit(DISABLED, 450))  # a flap: the interval is not under 0.8 x 450
    assert _run(root, github, 30).enables == []
    (root / PATH).write_text(_limit(DISABLED, 5000))
    _run(root, github, 31)  # the clock starts again
    assert _run(root, github, 31 + 71).enables == []  # 71 h: not yet
    result = _run(root, github, 31 + 73)
    assert result.enables == [("macro", "PR #1 created (https://github.com/acme/trading/pull/1)")]
    (pr,) = github.pulls
    assert pr["title"] == "[AUTO] Re-enable strategy: macro" and pr["head"] == "auto/enable-macro"
    assert "auto-enable" in pr["labels"] and "What merging does" in pr["body"]
    text = github.file_at("auto/enable-macro", PATH)
    assert text == _limit(KILL_LIST, 5000)  # status ENABLED, disabled_* gone, every other byte kept
    assert _run(root, github, 31 + 74).enables == [
        ("macro", "PR #1 unchanged (https://github.com/acme/trading/pull/1)")
    ]
    assert len(github.pulls) == 1  # one PR per strategy


def test_a_strategy_disabled_by_hand_is_never_proposed_for_re_enabling(root, github):
    by_hand = _limit(KILL_LIST, 5000).replace("  status: ENABLED   # ENABLED | DISABLED\n", "  status: DISABLED\n")
    github.add_commit("main", PATH, by_hand)
    (root / PATH).write_text(by_hand)
    _world(root)
    _run(root, github, 0)
    assert _run(root, github, 100).enables == [] and github.pulls == []


def test_a_disable_and_a_re_enable_pr_of_one_strategy_never_both_stay_open(root, github):
    github.add_commit("main", PATH, _limit(DISABLED, 5000), message="Disable strategy macro (merged)")
    (root / PATH).write_text(_limit(DISABLED, 5000))
    _world(root)
    _run(root, github, 0)
    assert _run(root, github, 73).enables  # the re-enable PR #1 is open
    # a person re-enables macro on main by hand (not through the PR), and macro breaches again
    github.add_commit("main", PATH, KILL_LIST, message="re-enable macro by hand")
    (root / PATH).write_text(KILL_LIST)
    result = _run(root, github, 74)
    assert result.proposals[0][1].startswith("PR #2 created")
    assert ("macro", "enable", "closed") in result.closed
    assert [(p["head"], p["state"]) for p in github.pulls] == [
        ("auto/enable-macro", "closed"),
        ("auto/disable-macro", "open"),
    ]
