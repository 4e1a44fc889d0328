"""The dry-run proposals (adapters/outbox.py) and the choice between them and GitHub
(adapters/proposals.py), then evaluate through the interface."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.adapters.github_rest.proposer import PullRequests
from meta_supervisor.adapters.github_rest.transport import PullsError
from meta_supervisor.adapters.outbox import Outbox, safe_name
from meta_supervisor.adapters.proposals import proposals_from_env
from meta_supervisor.core.errors import UserError
from meta_supervisor.jobs import evaluate
from tests.conftest import KILL_LIST, REPO, make_root
from tests.test_evaluate import _world
from tests.test_pulls import KILL_TEXT, TOKEN, disable

ENV = {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/trading", "GITHUB_API_URL": "http://127.0.0.1:9"}


def files(root) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_writes_the_pr_and_the_edited_kill_list_and_nothing_else(tmp_path):
    root = make_root(tmp_path / "r", kill_list=KILL_TEXT)
    before = files(root)
    result = Outbox(root).propose_disable(
        "macro",
        title="[AUTO] Disable strategy: macro",
        body="| a |\n| b |\n",
        edit=disable("macro"),
        commit_message="Disable macro",
    )
    assert (result.action, result.number, result.url) == ("created", None, None)
    assert (result.where, result.note) == ("outbox/pulls/macro.md", "dry run: no PR opened")
    assert files(root) == {
        **before,
        "outbox/pulls/macro.md": b"[AUTO] Disable strategy: macro\n\n| a |\n| b |\n",
        "outbox/pulls/macro.yaml": disable("macro")(KILL_TEXT).encode(),
    }
    kw = {"title": "[AUTO] Disable strategy: macro", "edit": disable("macro"), "commit_message": "Disable macro"}
    again = Outbox(root).propose_disable("macro", body="| a |\n| b |\n", **kw)
    assert again.action == "unchanged"
    assert Outbox(root).propose_disable("macro", body="| c |\n", **kw).action == "written"


def test_already_disabled_writes_the_pr_text_only(tmp_path):
    root = make_root(tmp_path / "r", kill_list=KILL_TEXT)
    before = files(root)
    result = Outbox(root).propose_disable("old_arb", title="t", body="b", edit=disable("old_arb"), commit_message="m")
    assert (result.action, result.where) == ("already_disabled", "outbox/pulls/old_arb.md")
    assert files(root) == {**before, "outbox/pulls/old_arb.md": b"t\n\nb"}


def test_no_prs_to_list_or_comment_on(tmp_path):
    root = make_root(tmp_path / "r")
    before = files(root)
    outbox = Outbox(root)
    assert outbox.open_auto_prs() == {}
    assert outbox.upsert_comment(1, "<!-- m -->", "x") == "unchanged"
    assert files(root) == before


@pytest.mark.parametrize(
    "strategy, name",
    [
        ("macro", "macro"),
        ("mean rev/2", "mean-rev-2"),
        ("..hidden", "hidden"),
        ("/", "strategy"),
        ("a.b_c-d", "a.b_c-d"),
    ],
)
def test_safe_name(strategy, name):
    assert safe_name(strategy) == name


def test_proposals_from_env_opens_prs_only_with_a_token_a_repository_and_no_dry_run(tmp_path):
    log: list[str] = []
    assert isinstance(proposals_from_env(ENV, tmp_path, False, log.append), PullRequests)
    assert isinstance(proposals_from_env(ENV, tmp_path, True, log.append), Outbox)
    assert isinstance(proposals_from_env({}, tmp_path, False, log.append), Outbox)
    assert isinstance(proposals_from_env({"GITHUB_TOKEN": TOKEN}, tmp_path, False, log.append), Outbox)
    assert isinstance(proposals_from_env({**ENV, "GITHUB_TOKEN": " "}, tmp_path, False, log.append), Outbox)
    with pytest.raises(PullsError, match="owner/name"):
        proposals_from_env({**ENV, "GITHUB_REPOSITORY": "trading"}, tmp_path, False, log.append)


def test_pygithub_is_imported_only_when_a_pr_can_be_opened(tmp_path):
    code = (
        "import sys; from meta_supervisor.jobs import evaluate; from meta_supervisor.adapters.proposals import "
        "proposals_from_env as p; p({}, '.', False, print); p({'GITHUB_TOKEN': 't'}, '.', True, print); "
        "assert 'github' not in sys.modules; p({'GITHUB_TOKEN': 't', 'GITHUB_REPOSITORY': 'a/b'}, '.', False, "
        "print); assert 'github' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


def test_evaluate_dry_run_console_line_and_summary_entry(root):
    _world(root)
    out = io.StringIO()
    result = evaluate.run(root, dry_run=True, env=ENV, now="2026-11-28T01:00:00Z", actions=Actions(env={}, out=out))
    assert result.proposals == [("macro", "outbox/pulls/macro.md")] and result.pull_numbers == []
    line = "proposal: [AUTO] Disable strategy: macro -> outbox/pulls/macro.md (dry run: no PR opened)\n"
    assert line in out.getvalue()


class Refusing:
    """A Proposals implementation whose every proposal fails the way GitHub can."""

    proposal_errors = (UserError,)

    def propose_disable(self, strategy, **kw):
        raise PullsError("GitHub: proposing to disable macro failed: HTTP 502: Bad Gateway")

    def propose_enable(self, strategy, **kw):
        raise PullsError("GitHub: proposing to enable failed: HTTP 502: Bad Gateway")

    def open_auto_prs(self, kind="disable"):
        return {}

    def close_stale(self, strategy, kind, body):
        raise AssertionError("no PRs to close")

    def upsert_comment(self, number, marker, body):
        raise AssertionError("no PRs, no comments")


def test_a_failed_proposal_is_recorded_and_the_run_goes_on(root):
    _world(root)
    out = io.StringIO()
    result = evaluate.run(
        root, env={}, pulls=Refusing(), mailer=None, now="2026-11-28T01:00:00Z", actions=Actions(env={}, out=out)
    )
    assert result.exit_code == 2 and result.proposals == []
    assert result.failures == ["disable PR for macro: GitHub: proposing to disable macro failed: HTTP 502: Bad Gateway"]
    assert (root / "state/strategy_cvar_regime.json").exists() and not (root / "outbox/pulls").exists()


def test_a_kill_list_the_edit_refuses_stops_the_dry_run(tmp_path):
    flow = KILL_LIST.replace(
        "macro:\n  status: ENABLED   # ENABLED | DISABLED\n  by_regime:\n    TREND:\n"
        "      max_cvar_error_bps: 120\n    RANGE:\n      max_cvar_error_bps: 90\n",
        "macro: {status: ENABLED, by_regime: {TREND: {max_cvar_error_bps: 120}}}\n",
    )
    assert flow != KILL_LIST
    root = make_root(tmp_path / "r", kill_list=flow)
    _world(root)
    with pytest.raises(UserError, match="flow mapping"):
        evaluate.run(root, dry_run=True, now="2026-11-28T01:00:00Z", actions=Actions(env={}, out=io.StringIO()))
    assert not (root / "outbox/pulls").exists() and not (root / "state/strategy_cvar_regime.json").exists()
