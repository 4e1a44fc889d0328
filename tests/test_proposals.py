"""Both proposal implementations keep the one contract evaluate relies on (adapters/proposals.py):
the same calls, on GitHub (real PyGithub against the fake GitHub API) and on the outbox."""

from __future__ import annotations

import inspect

import pytest

from meta_supervisor.adapters.github_rest.proposer import PullRequests
from meta_supervisor.adapters.outbox import Outbox
from meta_supervisor.adapters.proposals import Proposals
from meta_supervisor.core.errors import UserError
from tests.conftest import make_root
from tests.fakes.github_api import FakeGitHub
from tests.test_pulls import KILL, KILL_TEXT, TOKEN, disable

MARKER = "<!-- meta-supervisor:alerts -->"


class GitHubSide:
    """The GitHub implementation, and what it is expected to report."""

    def __init__(self, tmp_path):
        self.fake = FakeGitHub(files={KILL: KILL_TEXT}, token=TOKEN).start()
        self.impl = PullRequests(
            TOKEN, "acme/trading", self.fake.url, seconds_between_writes=0, retry_delays=(0,), timeout_s=2
        )

    def where(self, number: int | None, action: str) -> str:
        return f"PR #{number} {action} (https://github.com/acme/trading/pull/{number})" if number else action

    def proposed_text(self, strategy: str) -> str | None:
        branch = f"auto/disable-{strategy}"
        return self.fake.file_at(branch, KILL) if self.fake.branch_head(branch) else None

    def close(self):
        self.fake.stop()


class OutboxSide:
    def __init__(self, tmp_path):
        self.root = make_root(tmp_path / "root", kill_list=KILL_TEXT)
        self.impl = Outbox(self.root)

    def where(self, number: int | None, action: str) -> str:
        return "outbox/pulls/macro.md"

    def proposed_text(self, strategy: str) -> str | None:
        path = self.root / f"outbox/pulls/{strategy}.yaml"
        return path.read_text() if path.exists() else None

    def close(self):
        pass


@pytest.fixture(params=[GitHubSide, OutboxSide], ids=["github", "outbox"])
def side(request, tmp_path):
    s = request.param(tmp_path)
    yield s
    s.close()


def propose(impl: Proposals, strategy: str = "macro", body: str = "| regime | TREND |"):
    return impl.propose_disable(
        strategy,
        title=f"[AUTO] Disable strategy: {strategy}",
        body=body,
        edit=disable(strategy),
        commit_message=f"Disable {strategy}",
        respect_declined_hours=168.0,
    )


def test_satisfies_the_protocol(side):
    impl = side.impl
    assert isinstance(impl, Proposals)
    assert isinstance(impl.proposal_errors, tuple) and all(issubclass(e, Exception) for e in impl.proposal_errors)
    # evaluate's calls bind to the implementation's signatures
    inspect.signature(impl.propose_disable).bind(
        "macro", title="t", body="b", edit=disable("macro"), commit_message="m", respect_declined_hours=1.0
    )
    inspect.signature(impl.open_auto_prs).bind()
    inspect.signature(impl.upsert_comment).bind(1, MARKER, "body")


def test_a_proposal_then_the_same_again(side):
    first = propose(side.impl)
    assert first.where == side.where(first.number, first.action)
    assert isinstance(first.note, str) and (first.number is None) == (first.url is None)
    assert side.proposed_text("macro") == disable("macro")(KILL_TEXT)
    again = propose(side.impl)
    assert (again.where, again.number) == (side.where(again.number, again.action), first.number)
    assert side.proposed_text("macro") == disable("macro")(KILL_TEXT)


def test_already_disabled_proposes_no_change(side):
    result = propose(side.impl, "old_arb")
    assert result.action == "already_disabled" and result.number is None and result.url is None
    assert side.proposed_text("old_arb") is None


def test_open_prs_and_their_comments(side):
    first = propose(side.impl)
    prs = side.impl.open_auto_prs()
    assert prs == ({"macro": first.number} if first.number else {})
    for number in prs.values():
        assert side.impl.upsert_comment(number, MARKER, f"{MARKER}\nalerts") in ("created", "updated")
        assert side.impl.upsert_comment(number, MARKER, f"{MARKER}\nalerts") == "unchanged"


def test_what_a_failed_proposal_means():
    # GitHub: anything expected (refused, away, a remote kill list the edit refuses) skips that
    # one proposal; the outbox edits the local kill list, and a refusal there stops the run.
    assert PullRequests.proposal_errors == (UserError,)
    assert Outbox.proposal_errors == ()
