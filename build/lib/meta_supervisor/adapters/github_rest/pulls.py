"""Pull requests, labels and comments on GitHub.

A proposal's PR is found by its head branch (`owner:auto/disable-<strategy>`), so a second run, or a
concurrent one, converges on the same PR: `create` adopts a PR that appeared meanwhile, labels and
comments are found before they are created (a comment by a marker it contains, `upsert_comment`).

A PR from the branch that a reviewer closed without merging is a decision (`recently_declined`):
re-opening it every hour would be a fight with a person, so the proposer waits
(`reopen_declined_after_hours`, a week by default) and then asks again.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from github import GithubException

from meta_supervisor.adapters.github_rest.git_data import BRANCH_PREFIX
from meta_supervisor.adapters.github_rest.transport import PullsError, Transport, refused

LABEL_COLOR, LABEL_DESCRIPTION = "d73a4a", "Opened by meta-supervisor"
CLOSED_LABEL = "auto-closed"  # a PR meta-supervisor closed itself: not a reviewer's decision


class Pulls:
    def __init__(self, transport: Transport):
        self._t = transport

    def find_open(self, branch: str) -> Any:
        """The open PR from `branch` of this repository, or None."""
        repo = self._t.repo()
        owner = repo.owner.login
        pulls = self._t.call("find PR", lambda: list(repo.get_pulls(state="open", head=f"{owner}:{branch}")))
        pulls = [p for p in pulls if p.head.ref == branch]
        return pulls[0] if pulls else None

    def recently_declined(self, branch: str, hours: float) -> Any:
        """The newest PR from `branch` closed without merging less than `hours` ago, if any."""
        if hours <= 0:
            return None
        repo = self._t.repo()
        owner = repo.owner.login
        closed = self._t.call("find closed PRs", lambda: list(repo.get_pulls(state="closed", head=f"{owner}:{branch}")))
        now = self._t.clock()
        for p in closed:
            if p.head.ref != branch or p.merged_at is not None or p.closed_at is None or has_label(p, CLOSED_LABEL):
                continue
            closed_at = p.closed_at if p.closed_at.tzinfo else p.closed_at.replace(tzinfo=UTC)
            if now - closed_at.timestamp() < hours * 3600:
                return p
        return None

    def create(self, branch: str, base: str, title: str, body: str) -> tuple[Any, bool]:
        """(pull, created by this call). A PR that appeared concurrently is adopted."""
        create = lambda: self._t.repo().create_pull(base=base, head=branch, title=title, body=body)
        try:
            return self._t.write(f"create PR for {branch}", create, lambda: self.find_open(branch)), True
        except GithubException as e:
            if not refused(e, 422, "already exists"):
                raise
        self._t.log(f"a PR for {branch} was opened concurrently; adopting it")
        pr = self.find_open(branch)
        if pr is None:
            raise PullsError(f"GitHub says a PR exists for {branch} but none is open")
        return pr, False

    def edit(self, pr: Any, title: str, body: str) -> Any:
        """Set the title and body of `pr` (a PATCH: idempotent)."""
        return self._t.call(f"edit PR #{pr.number}", lambda: (pr.edit(title=title, body=body), pr)[1])

    def add_label(self, pr: Any, label: str) -> None:
        """Label `pr`, creating the label in the repository first if it does not exist."""
        repo = self._t.repo()
        existing = lambda: self._t.get_or_none(f"read label {label}", lambda: repo.get_label(label))
        if existing() is None:
            try:
                self._t.write(
                    f"create label {label}", lambda: repo.create_label(label, LABEL_COLOR, LABEL_DESCRIPTION), existing
                )
            except GithubException as e:
                if e.status != 422:  # already_exists: created concurrently
                    raise
        self._t.call(f"label PR #{pr.number}", lambda: pr.add_to_labels(label))  # adding a label is idempotent

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create or update the comment on issue/PR `number` whose body contains `marker`."""
        if marker not in body:
            body = f"{marker}\n{body}"
        issue = self._t.call(f"read #{number}", lambda: self._t.repo().get_issue(number))

        def find():
            found = [c for c in issue.get_comments() if marker in (c.body or "")]
            return found[0] if found else None

        comment = self._t.call(f"read comments of #{number}", find)
        if comment is None:
            self._t.write(f"comment on #{number}", lambda: issue.create_comment(body), find)
            return "created"
        if comment.body == body:
            return "unchanged"
        self._t.call(f"edit comment {comment.id}", lambda: comment.edit(body))  # PATCH is idempotent
        return "updated"

    def close(self, pr: Any) -> None:
        """Close `pr` as meta-supervisor's own decision (labelled CLOSED_LABEL first, so it is never
        read as a reviewer declining it)."""
        self.add_label(pr, CLOSED_LABEL)
        self._t.call(f"close PR #{pr.number}", lambda: pr.edit(state="closed"))  # a PATCH: idempotent

    def open_auto(self, label: str, prefix: str = BRANCH_PREFIX) -> dict[str, int]:
        """strategy -> number of each open PR from this repo's `<prefix><strategy>` carrying `label`."""
        repo = self._t.repo()
        pulls = self._t.call("list open PRs", lambda: list(repo.get_pulls(state="open")))
        return {
            p.head.ref.removeprefix(prefix): p.number
            for p in pulls
            if p.head.ref.startswith(prefix)
            and p.head.repo is not None
            and p.head.repo.full_name == repo.full_name
            and has_label(p, label)
        }


def has_label(pr: Any, label: str) -> bool:
    """Whether `pr` (a PR as last read) carries `label`."""
    return any(x.name == label for x in pr.labels)
