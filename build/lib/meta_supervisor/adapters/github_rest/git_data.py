"""Branches and file contents on GitHub: the kill list at a ref, the bot's branch, its commits.

Bot commits carry the trailer line `Meta-Supervisor: auto-disable` (and author "meta-supervisor").
A branch is *bot-only* when every commit it has beyond the default branch carries that trailer and
the only file it changes is the kill list. Only bot-only branches are ever moved: one with a commit
from anyone else is left alone (the proposer posts the new evidence as a PR comment instead).
Every write goes to a branch named `auto/disable-<strategy>` (`_guard`): the default branch is never
written. Whether a branch is kept, gets a commit on top or is reset is decided by the proposer.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from github import GithubException, InputGitAuthor

from meta_supervisor.adapters.github_rest.transport import PullsError, Transport, refused

BOT_TRAILER = "Meta-Supervisor: auto-disable"
BRANCH_PREFIX = "auto/disable-"
# The two kinds of proposal: branch prefix and commit trailer of each.
PREFIXES = {"disable": BRANCH_PREFIX, "enable": "auto/enable-"}
TRAILERS = {"disable": BOT_TRAILER, "enable": "Meta-Supervisor: auto-enable"}
_BOT_AUTHOR = ("meta-supervisor", "meta-supervisor@users.noreply.github.com")
_STRATEGY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")

Edit = Callable[[str], str | None]


def branch_for(strategy: str, kind: str = "disable") -> str:
    """`auto/disable-<strategy>` (or `auto/enable-<strategy>`), or a PullsError when the name cannot
    be part of a branch name."""
    if not _STRATEGY.fullmatch(strategy) or strategy.endswith(".lock") or ".." in strategy:
        raise PullsError(f"strategy name {strategy!r} cannot be used in a branch name")
    return PREFIXES[kind] + strategy


def edited(edit: Edit, text: str) -> str | None:
    """The edited text, or None when `edit` leaves `text` as it is (already disabled)."""
    new = edit(text)
    return None if new is None or new == text else new


class GitData:
    def __init__(self, transport: Transport, kill_list_path: str):
        self._t, self.kill_list_path = transport, kill_list_path

    def head(self, branch: str) -> str | None:
        """The commit sha `branch` points at, None when there is no such branch."""
        ref = self._t.get_or_none(f"read branch {branch}", lambda: self._t.repo().get_git_ref(f"heads/{branch}"))
        return None if ref is None else ref.object.sha

    def read(self, ref: str) -> tuple[str, str]:
        """(text, blob sha) of the kill list at `ref`."""
        path = self.kill_list_path
        f = self._t.get_or_none(f"read {path}", lambda: self._t.repo().get_contents(path, ref=ref))
        if f is None:
            raise PullsError(f"{path} not found in {self._t.repository} at {ref[:12]}")
        if isinstance(f, list):
            raise PullsError(f"{path} is a directory in {self._t.repository}")
        return f.decoded_content.decode("utf-8"), f.sha

    def branch_state(self, base_sha: str, head_sha: str) -> tuple[bool, int]:
        """(bot-only, commits behind the default head)."""
        if head_sha == base_sha:
            return True, 0
        cmp = self._t.call("compare branch", lambda: self._t.repo().compare(base_sha, head_sha))
        commits = self._t.call("compare branch", lambda: list(cmp.commits))
        trailers = set(TRAILERS.values())
        bot_only = all(trailers & set((c.commit.message or "").splitlines()) for c in commits) and all(
            f.filename == self.kill_list_path for f in cmp.files
        )
        return bot_only, cmp.behind_by

    def create_branch(self, branch: str, sha: str) -> str:
        """Create `branch` at `sha` (adopting one created concurrently); returns its head."""
        self._guard(branch)
        try:
            self._t.write(
                f"create branch {branch}",
                lambda: self._t.repo().create_git_ref(f"refs/heads/{branch}", sha),
                lambda: self.head(branch),
            )
        except GithubException as e:
            if not refused(e, 422, "already exists"):
                raise
            self._t.log(f"{branch} was created concurrently; adopting it")
        head = self.head(branch)
        if head is None:
            raise PullsError(f"branch {branch} vanished right after it was created")
        return head

    def reset_branch(self, branch: str, sha: str) -> None:
        """Force `branch` to `sha` (the caller checked that it is bot-only)."""
        self._guard(branch)
        self._t.log(f"resetting bot-only branch {branch} to the default head")
        ref = self._t.call(f"read branch {branch}", lambda: self._t.repo().get_git_ref(f"heads/{branch}"))
        self._t.call(f"reset branch {branch}", lambda: ref.edit(sha, force=True))  # idempotent

    def delete_branch(self, branch: str) -> None:
        """Delete `branch` (the caller checked that it is bot-only); gone already is fine."""
        self._guard(branch)
        ref = self._t.get_or_none(f"read branch {branch}", lambda: self._t.repo().get_git_ref(f"heads/{branch}"))
        if ref is not None:
            self._t.call(f"delete branch {branch}", ref.delete)

    def commit(self, branch: str, edit: Edit, message: str, trailer: str = BOT_TRAILER) -> None:
        """Commit `edit` of the branch's kill list with the bot trailer; nothing when it is a no-op."""
        self._guard(branch)
        text, blob = self.read(branch)
        new = edited(edit, text)
        if new is None:
            return
        if trailer not in message.splitlines():
            message = f"{message.rstrip()}\n\n{trailer}\n"
        author = InputGitAuthor(*_BOT_AUTHOR)
        path = self.kill_list_path
        put = lambda: self._t.repo().update_file(path, message, new, blob, branch=branch, author=author)
        landed = lambda: True if edited(edit, self.read(branch)[0]) is None else None
        try:
            self._t.write(f"commit to {branch}", put, landed)
        except GithubException as e:
            if e.status != 409 or landed() is None:  # 409: the blob moved; fine if a racer disabled it
                raise

    def _guard(self, branch: str) -> None:
        if not branch.startswith(tuple(PREFIXES.values())) or branch == self._t.repo().default_branch:
            raise RuntimeError(f"refusing to write branch {branch}")  # a bug, not a user error
