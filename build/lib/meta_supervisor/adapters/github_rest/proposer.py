"""Auto-disable pull requests on GitHub: the story, told with `git_data` (branches, contents,
commits) and `pulls` (PRs, labels, comments), every request through `transport`.

`PullRequests` is the GitHub implementation of `adapters.proposals.Proposals`. A proposal converges:
nothing is proposed when the default branch already disables the strategy; a PR a reviewer closed
unmerged recently is respected ("declined"); a branch someone else pushed to is left alone and the
evidence goes to a PR comment ("human_edited"). A bot-only branch is kept when it already disables
the strategy and has an open PR (or is based on the current default head). Otherwise, with an open
PR a new commit goes on top; without one (e.g. the PR was closed unmerged) the branch is reset
(force) to the default head plus one fresh commit. The default branch is never written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from meta_supervisor.adapters.deadline import Deadlines
from meta_supervisor.adapters.github_rest.git_data import PREFIXES, TRAILERS, Edit, GitData, branch_for, edited
from meta_supervisor.adapters.github_rest.pulls import Pulls, has_label
from meta_supervisor.adapters.github_rest.transport import PullsError, Transport
from meta_supervisor.core.errors import UserError

EVIDENCE_MARKER = "<!-- meta-supervisor:evidence -->"
AUTOCLOSE_MARKER = "<!-- meta-supervisor:autoclose -->"
LABELS = {"disable": "auto-disable", "enable": "auto-enable"}


@dataclass(frozen=True)
class PullResult:
    strategy: str
    # "created" | "updated" | "unchanged" | "already_disabled" | "already_enabled" | "human_edited" | "declined"
    action: str
    number: int | None
    url: str | None
    branch: str
    note: ClassVar[str] = ""  # nothing to add on the console line

    @property
    def where(self) -> str:
        """Where the proposal is, for the console and the job summary."""
        return f"PR #{self.number} {self.action} ({self.url})" if self.number else self.action


class PullRequests:
    """The auto-disable PRs of one repository (`adapters.proposals.Proposals` on GitHub)."""

    # Anything expected that goes wrong while proposing (GitHub refused or is away, the kill list
    # on the default branch cannot be edited) is a proposal not made: the run records it, goes on.
    proposal_errors: ClassVar[tuple[type[Exception], ...]] = (UserError,)

    def __init__(
        self,
        token: str,
        repository: str,
        api_url: str = "https://api.github.com",
        *,
        kill_list_path: str = "policy/strategy_kill_list.yaml",
        log: Callable[[str], None] = lambda msg: None,
        max_rate_limit_wait_s: float = 60.0,
        timeout_s: float = 15.0,
        retry_delays: Sequence[float] = (1.0, 2.0, 4.0),
        seconds_between_writes: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        deadlines: Deadlines | None = None,
    ):
        self._t = Transport(
            token,
            repository,
            api_url,
            log=log,
            max_rate_limit_wait_s=max_rate_limit_wait_s,
            timeout_s=timeout_s,
            retry_delays=retry_delays,
            seconds_between_writes=seconds_between_writes,
            sleep=sleep,
            clock=clock,
            deadlines=deadlines,
        )
        self.repository, self.kill_list_path = repository, kill_list_path
        self._git, self._pulls = GitData(self._t, kill_list_path), Pulls(self._t)

    def __repr__(self) -> str:
        return f"PullRequests(repository={self.repository!r})"

    # ---- public API --------------------------------------------------------------------------
    def propose_disable(
        self,
        strategy: str,
        *,
        title: str,
        body: str,
        edit: Edit,
        commit_message: str,
        label: str = "auto-disable",
        respect_declined_hours: float = 168.0,
    ) -> PullResult:
        """Open (or converge) the PR on `auto/disable-<strategy>`. `edit(text)` must be pure: it may be
        called on the default branch's kill list and on the branch's. It returns the edited text, or
        None when the strategy is already disabled in `text` (an unchanged text counts the same)."""
        return self._proposal("disable", strategy, title, body, edit, commit_message, label, respect_declined_hours)

    def propose_enable(
        self,
        strategy: str,
        *,
        title: str,
        body: str,
        edit: Edit,
        commit_message: str,
        respect_declined_hours: float = 168.0,
    ) -> PullResult:
        """The same convergence on `auto/enable-<strategy>`, label `auto-enable`; `edit` returns None
        when the strategy is not DISABLED in the text (nothing to re-enable)."""
        label, hours = LABELS["enable"], respect_declined_hours
        return self._proposal("enable", strategy, title, body, edit, commit_message, label, hours)

    def close_stale(self, strategy: str, kind: str, body: str) -> str:
        """The open `kind` PR of `strategy` no longer says what is true: comment `body`, and close it and
        delete its branch if only meta-supervisor wrote to it; a person's commits are never deleted (the
        comment only). Returns "closed", "commented" or "none" (no open PR)."""
        branch = branch_for(strategy, kind)
        with self._t.failing(f"closing the stale {kind} PR of {strategy}"):
            pr = self._pulls.find_open(branch)
            if pr is None:
                return "none"
            self._pulls.upsert_comment(pr.number, AUTOCLOSE_MARKER, f"{AUTOCLOSE_MARKER}\n{body}")
            head, base = self._git.head(branch), self._git.head(self._t.repo().default_branch)
            bot_only = head is not None and base is not None and self._git.branch_state(base, head)[0]
            if not bot_only:
                self._t.log(f"{strategy}: PR #{pr.number} is stale but a person pushed to {branch}: comment only")
                return "commented"
            self._pulls.close(pr)
            self._git.delete_branch(branch)
            self._t.log(f"{strategy}: PR #{pr.number} closed as stale, {branch} deleted")
            return "closed"

    def _proposal(self, kind, strategy, title, body, edit, commit_message, label, declined_hours) -> PullResult:
        branch = branch_for(strategy, kind)
        with self._t.failing(f"proposing to {kind} {strategy}"):
            return self._propose(strategy, branch, title, body, edit, commit_message, label, declined_hours, kind)

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create or update the comment on issue/PR `number` whose body contains `marker`."""
        with self._t.failing(f"commenting on #{number}"):
            return self._pulls.upsert_comment(number, marker, body)

    def open_auto_prs(self, kind: str = "disable") -> dict[str, int]:
        """strategy -> number of each open PR from this repo's `auto/<kind>-<strategy>` with its label."""
        with self._t.failing("listing open PRs"):
            return self._pulls.open_auto(LABELS[kind], PREFIXES[kind])

    # ---- the story ---------------------------------------------------------------------------
    def _propose(
        self,
        strategy: str,
        branch: str,
        title: str,
        body: str,
        edit: Edit,
        commit_message: str,
        label: str,
        declined_hours: float,
        kind: str = "disable",
    ) -> PullResult:
        git, pulls, log = self._git, self._pulls, self._t.log
        default = self._t.repo().default_branch
        base_sha = git.head(default)
        if base_sha is None:
            raise PullsError(f"default branch {default} of {self.repository} not found")
        if edited(edit, git.read(base_sha)[0]) is None:
            state = "DISABLED" if kind == "disable" else "not DISABLED"
            log(f"{strategy}: already {state} on {default}; no pull request")
            return PullResult(strategy, f"already_{kind}d", None, None, branch)
        pr = pulls.find_open(branch)
        if pr is None:
            declined = pulls.recently_declined(branch, declined_hours)
            if declined is not None:  # a person's decision: wait, then ask again (see pulls.py)
                log(
                    f"{strategy}: PR #{declined.number} was closed unmerged less than "
                    f"{declined_hours:g} h ago; not proposing again yet"
                )
                return PullResult(strategy, "declined", declined.number, declined.html_url, branch)
        head_sha = git.head(branch)
        if head_sha is None:
            head_sha = git.create_branch(branch, base_sha)
        bot_only, behind = git.branch_state(base_sha, head_sha)
        if not bot_only:
            return self._human_edited(strategy, branch, pr, body)
        changed = False
        if edited(edit, git.read(head_sha)[0]) is None and (pr is not None or behind == 0):
            log(f"{strategy}: {branch} already disables it")
        else:
            # Never reset a branch that has an open PR: while its head sits on the default head, GitHub
            # would consider the PR merged. Without a PR, a fresh start off the default head is cleaner.
            if pr is None and head_sha != base_sha:
                git.reset_branch(branch, base_sha)
            git.commit(branch, edit, commit_message, TRAILERS[kind])
            changed = True
        created = False
        if pr is None:
            pr, created = pulls.create(branch, default, title, body)
        if pr.title != title or (pr.body or "") != body:
            pr = pulls.edit(pr, title, body)
            changed = True
        if not has_label(pr, label):
            pulls.add_label(pr, label)
            changed = True
        action = "created" if created else "updated" if changed else "unchanged"
        log(f"{strategy}: PR #{pr.number} {action} ({pr.html_url})")
        return PullResult(strategy, action, pr.number, pr.html_url, branch)

    def _human_edited(self, strategy: str, branch: str, pr: Any, body: str) -> PullResult:
        """Someone else pushed to the branch: leave it, and post the evidence on the PR if there is one."""
        if pr is None:
            self._t.log(f"{strategy}: {branch} has commits not made by meta-supervisor and no open PR; left alone")
            return PullResult(strategy, "human_edited", None, None, branch)
        note = "Someone else has pushed to this branch, so meta-supervisor leaves it as it is. Latest evidence:\n\n"
        self._pulls.upsert_comment(pr.number, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\n{note}{body}")
        self._t.log(f"{strategy}: PR #{pr.number} was edited by a person; evidence posted as a comment")
        return PullResult(strategy, "human_edited", pr.number, pr.html_url, branch)


def pulls_from_env(env: Mapping[str, str], **kw: Any) -> PullRequests | None:
    """A client from the Actions environment, or None without GITHUB_TOKEN and GITHUB_REPOSITORY."""
    token, repository = env.get("GITHUB_TOKEN", "").strip(), env.get("GITHUB_REPOSITORY", "").strip()
    if not token or not repository:
        return None
    return PullRequests(token, repository, env.get("GITHUB_API_URL") or "https://api.github.com", **kw)
