"""Auto-disable pull requests on GitHub: the only module that imports PyGithub.

Every request goes through one choke point, `_call` (STYLE 3). PyGithub's own retry is switched off
(`retry=0`): its default `GithubRetry` retries POSTs on 5xx and sleeps until a primary rate limit
resets however far away that is. Here instead
- reads (and idempotent PATCHes) are retried on 5xx/connection errors with short backoff;
- writes that are not idempotent are never retried blindly: `_write` re-finds the object first and
  repeats the write once only if it is absent (find-then-create, STYLE 11);
- a rate limit (403/429 with `X-RateLimit-Remaining: 0`, `Retry-After`, or a secondary-limit message)
  is waited out only if that is at most `max_rate_limit_wait_s`, else a one-line `PullsError`.
  A rate-limited request was refused, not performed, so it is repeated after the wait.

Bot commits carry the trailer line `Meta-Supervisor: auto-disable` (and author "meta-supervisor").
A branch is *bot-only* when every commit it has beyond the default branch carries that trailer and
the only file it changes is the kill list. Only bot-only branches are ever moved: one with a commit
from anyone else is left alone and the new evidence goes to a PR comment instead ("human_edited").
A bot-only branch is kept when it already disables the strategy and has an open PR (or is based on
the current default head). Otherwise, with an open PR a new commit goes on top; without one (e.g. the
PR was closed unmerged) the branch is reset (force) to the default head plus one fresh commit.
The default branch is never written.
"""

from __future__ import annotations

import math
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException, InputGitAuthor

from meta_supervisor.core.errors import UserError

BOT_TRAILER = "Meta-Supervisor: auto-disable"
BRANCH_PREFIX = "auto/disable-"
EVIDENCE_MARKER = "<!-- meta-supervisor:evidence -->"
LABEL_COLOR, LABEL_DESCRIPTION = "d73a4a", "Opened by meta-supervisor"
_BOT_AUTHOR = ("meta-supervisor", "meta-supervisor@users.noreply.github.com")
_STRATEGY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class PullsError(UserError):
    """A GitHub call failed in an expected way; the message is one line and never holds the token."""


class _Secret:
    """Holds the token so that no repr, vars() dump or traceback local shows it."""

    __slots__ = ("value",)

    def __init__(self, value: str):
        self.value = value

    def __repr__(self) -> str:
        return "<redacted>"


class _Transient(Exception):
    """A 5xx or connection failure that outlived its retries (the write may or may not have happened)."""


@dataclass(frozen=True)
class PullResult:
    strategy: str
    action: str  # "created" | "updated" | "unchanged" | "already_disabled" | "human_edited" | "declined"
    number: int | None
    url: str | None
    branch: str


class PullRequests:
    def __init__(self, token: str, repository: str, api_url: str = "https://api.github.com", *,
                 kill_list_path: str = "policy/strategy_kill_list.yaml", log: Callable[[str], None] = lambda msg: None,
                 max_rate_limit_wait_s: float = 60.0, timeout_s: float = 15.0,
                 retry_delays: Sequence[float] = (1.0, 2.0, 4.0), seconds_between_writes: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time):
        if not token:
            raise PullsError("GITHUB_TOKEN is empty")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository or ""):
            raise PullsError(f"GITHUB_REPOSITORY must look like owner/name, got {repository!r}")
        self._secret = _Secret(token)
        self.repository, self.kill_list_path = repository, kill_list_path
        self._log_sink, self._max_wait, self._delays = log, max_rate_limit_wait_s, tuple(retry_delays)
        self._sleep, self._clock = sleep, clock
        # retry=0: no urllib3 retries at all (see the module docstring); GitHub asks for >= 1 s between
        # content-creating requests to avoid secondary rate limits, reads are not throttled.
        self._gh = Github(base_url=api_url.rstrip("/"), auth=Auth.Token(token), timeout=max(1, math.ceil(timeout_s)),
                          retry=0, per_page=100, user_agent="meta-supervisor", seconds_between_requests=None,
                          seconds_between_writes=seconds_between_writes or None)
        self._repo_obj: Any = None

    def __repr__(self) -> str:
        return f"PullRequests(repository={self.repository!r})"

    # ---- public API --------------------------------------------------------------------------
    def propose_disable(self, strategy: str, *, title: str, body: str, edit: Callable[[str], str | None],
                        commit_message: str, label: str = "auto-disable",
                        respect_declined_hours: float = 168.0) -> PullResult:
        """Open (or converge) the PR on `auto/disable-<strategy>`. `edit(text)` must be pure: it may be
        called on the default branch's kill list and on the branch's. It returns the edited text, or
        None when the strategy is already disabled in `text` (an unchanged text counts the same)."""
        if not _STRATEGY.fullmatch(strategy) or strategy.endswith(".lock") or ".." in strategy:
            raise PullsError(f"strategy name {strategy!r} cannot be used in a branch name")
        with self._failing(f"proposing to disable {strategy}"):
            return self._propose(strategy, BRANCH_PREFIX + strategy, title, body, edit, commit_message, label,
                                 respect_declined_hours)

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create or update the comment on issue/PR `number` whose body contains `marker`."""
        with self._failing(f"commenting on #{number}"):
            return self._upsert_comment(number, marker, body)

    def open_auto_prs(self, label: str = "auto-disable") -> dict[str, int]:
        """strategy -> number of each open PR from this repo's `auto/disable-<strategy>` carrying `label`."""
        with self._failing("listing open PRs"):
            repo = self._repo()
            pulls = self._call("list open PRs", lambda: list(repo.get_pulls(state="open")))
            return {p.head.ref.removeprefix(BRANCH_PREFIX): p.number for p in pulls
                    if p.head.ref.startswith(BRANCH_PREFIX) and p.head.repo is not None
                    and p.head.repo.full_name == repo.full_name and any(x.name == label for x in p.labels)}

    @contextmanager
    def _failing(self, what: str):
        """Turn every API failure into one PullsError line (the only place that does)."""
        try:
            yield
        except (GithubException, _Transient, requests.RequestException) as e:
            hint = ""
            if isinstance(e, GithubException) and e.status in (403, 404) and "rate limit" not in _describe(e):
                hint = " (does the token have contents: write and pull-requests: write on this repository?)"
            raise PullsError(self._redact(f"GitHub: {what} failed: {_describe(e)}{hint}")) from e

    # ---- the story ---------------------------------------------------------------------------
    def _propose(self, strategy, branch, title, body, edit, commit_message, label, declined_hours) -> PullResult:
        repo = self._repo()
        base_sha = self._head(repo.default_branch)
        if base_sha is None:
            raise PullsError(f"default branch {repo.default_branch} of {self.repository} not found")
        if _edited(edit, self._read(base_sha)[0]) is None:
            self._log(f"{strategy}: already DISABLED on {repo.default_branch}; no pull request")
            return PullResult(strategy, "already_disabled", None, None, branch)
        pr = self._find_pr(branch)
        if pr is None:
            declined = self._recently_declined(branch, declined_hours)
            if declined is not None:
                # A reviewer closed the last proposal without merging: that is a decision, and
                # re-opening it every hour would be a fight with a person. Wait, then ask again.
                self._log(f"{strategy}: PR #{declined.number} was closed unmerged less than "
                          f"{declined_hours:g} h ago; not proposing again yet")
                return PullResult(strategy, "declined", declined.number, declined.html_url, branch)
        head_sha = self._head(branch)
        if head_sha is None:
            head_sha = self._create_branch(branch, base_sha)
        bot_only, behind = self._branch_state(base_sha, head_sha)
        if not bot_only:
            return self._human_edited(strategy, branch, pr, body)
        changed = False
        if _edited(edit, self._read(head_sha)[0]) is None and (pr is not None or behind == 0):
            self._log(f"{strategy}: {branch} already disables it")
        else:
            # Never reset a branch that has an open PR: while its head sits on the default head, GitHub
            # would consider the PR merged. Without a PR, a fresh start off the default head is cleaner.
            if pr is None and head_sha != base_sha:
                self._reset_branch(branch, base_sha)
            self._commit(branch, edit, commit_message)
            changed = True
        created = False
        if pr is None:
            pr, created = self._create_pr(branch, repo.default_branch, title, body)
        if pr.title != title or (pr.body or "") != body:
            pr = self._call(f"edit PR #{pr.number}", lambda: (pr.edit(title=title, body=body), pr)[1])
            changed = True
        if not any(x.name == label for x in pr.labels):
            self._add_label(pr, label)
            changed = True
        action = "created" if created else "updated" if changed else "unchanged"
        self._log(f"{strategy}: PR #{pr.number} {action} ({pr.html_url})")
        return PullResult(strategy, action, pr.number, pr.html_url, branch)

    def _human_edited(self, strategy, branch, pr, body) -> PullResult:
        if pr is None:
            self._log(f"{strategy}: {branch} has commits not made by meta-supervisor and no open PR; left alone")
            return PullResult(strategy, "human_edited", None, None, branch)
        note = ("Someone else has pushed to this branch, so meta-supervisor leaves it as it is. "
                "Latest evidence:\n\n")
        self._upsert_comment(pr.number, EVIDENCE_MARKER, f"{EVIDENCE_MARKER}\n{note}{body}")
        self._log(f"{strategy}: PR #{pr.number} was edited by a person; evidence posted as a comment")
        return PullResult(strategy, "human_edited", pr.number, pr.html_url, branch)

    # ---- git ---------------------------------------------------------------------------------
    def _repo(self):
        if self._repo_obj is None:
            self._repo_obj = self._call("read repository", lambda: self._gh.get_repo(self.repository))
        return self._repo_obj

    def _head(self, branch: str) -> str | None:
        ref = self._get_or_none(f"read branch {branch}", lambda: self._repo().get_git_ref(f"heads/{branch}"))
        return None if ref is None else ref.object.sha

    def _read(self, ref: str) -> tuple[str, str]:
        """(text, blob sha) of the kill list at `ref`."""
        f = self._get_or_none(f"read {self.kill_list_path}", lambda: self._repo().get_contents(self.kill_list_path, ref=ref))
        if f is None:
            raise PullsError(f"{self.kill_list_path} not found in {self.repository} at {ref[:12]}")
        if isinstance(f, list):
            raise PullsError(f"{self.kill_list_path} is a directory in {self.repository}")
        return f.decoded_content.decode("utf-8"), f.sha

    def _branch_state(self, base_sha: str, head_sha: str) -> tuple[bool, int]:
        """(bot-only, commits behind the default head)."""
        if head_sha == base_sha:
            return True, 0
        cmp = self._call("compare branch", lambda: self._repo().compare(base_sha, head_sha))
        commits = self._call("compare branch", lambda: list(cmp.commits))
        bot_only = (all(BOT_TRAILER in (c.commit.message or "").splitlines() for c in commits)
                    and all(f.filename == self.kill_list_path for f in cmp.files))
        return bot_only, cmp.behind_by

    def _create_branch(self, branch: str, sha: str) -> str:
        self._guard(branch)
        try:
            self._write(f"create branch {branch}", lambda: self._repo().create_git_ref(f"refs/heads/{branch}", sha),
                        lambda: self._head(branch))
        except GithubException as e:
            if not (e.status == 422 and "already exists" in _describe(e)):
                raise
            self._log(f"{branch} was created concurrently; adopting it")
        head = self._head(branch)
        if head is None:
            raise PullsError(f"branch {branch} vanished right after it was created")
        return head

    def _reset_branch(self, branch: str, sha: str) -> None:
        self._guard(branch)
        self._log(f"resetting bot-only branch {branch} to the default head")
        ref = self._call(f"read branch {branch}", lambda: self._repo().get_git_ref(f"heads/{branch}"))
        self._call(f"reset branch {branch}", lambda: ref.edit(sha, force=True))  # idempotent

    def _commit(self, branch: str, edit, message: str) -> None:
        self._guard(branch)
        text, blob = self._read(branch)
        new = _edited(edit, text)
        if new is None:
            return
        if BOT_TRAILER not in message.splitlines():
            message = f"{message.rstrip()}\n\n{BOT_TRAILER}\n"
        author = InputGitAuthor(*_BOT_AUTHOR)
        put = lambda: self._repo().update_file(self.kill_list_path, message, new, blob, branch=branch, author=author)  # noqa: E731
        landed = lambda: True if _edited(edit, self._read(branch)[0]) is None else None  # noqa: E731
        try:
            self._write(f"commit to {branch}", put, landed)
        except GithubException as e:
            if e.status != 409 or landed() is None:  # 409: the blob moved; fine if a racer disabled it
                raise

    def _guard(self, branch: str) -> None:
        if not branch.startswith(BRANCH_PREFIX) or branch == self._repo().default_branch:
            raise RuntimeError(f"refusing to write branch {branch}")  # a bug, not a user error

    # ---- pull requests, labels, comments -----------------------------------------------------
    def _find_pr(self, branch: str):
        owner = self._repo().owner.login
        pulls = self._call("find PR", lambda: list(self._repo().get_pulls(state="open", head=f"{owner}:{branch}")))
        pulls = [p for p in pulls if p.head.ref == branch]
        return pulls[0] if pulls else None

    def _recently_declined(self, branch: str, hours: float):
        """The newest PR from `branch` closed without merging less than `hours` ago, if any."""
        if hours <= 0:
            return None
        owner = self._repo().owner.login
        closed = self._call("find closed PRs", lambda: list(
            self._repo().get_pulls(state="closed", head=f"{owner}:{branch}")))
        now = self._clock()
        for p in closed:
            if p.head.ref != branch or p.merged_at is not None or p.closed_at is None:
                continue
            closed_at = p.closed_at if p.closed_at.tzinfo else p.closed_at.replace(tzinfo=timezone.utc)
            if now - closed_at.timestamp() < hours * 3600:
                return p
        return None

    def _create_pr(self, branch: str, base: str, title: str, body: str):
        """(pull, created by this call). A PR that appeared concurrently is adopted."""
        create = lambda: self._repo().create_pull(base=base, head=branch, title=title, body=body)  # noqa: E731
        try:
            return self._write(f"create PR for {branch}", create, lambda: self._find_pr(branch)), True
        except GithubException as e:
            if not (e.status == 422 and "already exists" in _describe(e)):
                raise
        self._log(f"a PR for {branch} was opened concurrently; adopting it")
        pr = self._find_pr(branch)
        if pr is None:
            raise PullsError(f"GitHub says a PR exists for {branch} but none is open")
        return pr, False

    def _add_label(self, pr, label: str) -> None:
        repo = self._repo()
        existing = lambda: self._get_or_none(f"read label {label}", lambda: repo.get_label(label))  # noqa: E731
        if existing() is None:
            try:
                self._write(f"create label {label}", lambda: repo.create_label(label, LABEL_COLOR, LABEL_DESCRIPTION),
                            existing)
            except GithubException as e:
                if e.status != 422:  # already_exists: created concurrently
                    raise
        self._call(f"label PR #{pr.number}", lambda: pr.add_to_labels(label))  # adding a label is idempotent

    def _upsert_comment(self, number: int, marker: str, body: str) -> str:
        if marker not in body:
            body = f"{marker}\n{body}"
        issue = self._call(f"read #{number}", lambda: self._repo().get_issue(number))

        def find():
            found = [c for c in issue.get_comments() if marker in (c.body or "")]
            return found[0] if found else None
        comment = self._call(f"read comments of #{number}", find)
        if comment is None:
            self._write(f"comment on #{number}", lambda: issue.create_comment(body), find)
            return "created"
        if comment.body == body:
            return "unchanged"
        self._call(f"edit comment {comment.id}", lambda: comment.edit(body))  # PATCH is idempotent
        return "updated"

    # ---- the choke point ---------------------------------------------------------------------
    def _get_or_none(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return self._call(what, fn)
        except GithubException as e:
            if e.status == 404:
                return None
            raise

    def _write(self, what: str, do: Callable[[], Any], find: Callable[[], Any]) -> Any:
        """Do a non-idempotent write; after a transient failure, look before writing again (once)."""
        try:
            return self._call(what, do, retry=False)
        except _Transient as e:
            found = self._call(f"re-check after failed {what}", find)
            if found is not None:
                self._log(f"{what}: the failed request ({_describe(e)}) had taken effect")
                return found
            self._log(f"{what}: failed ({_describe(e)}); trying once more")
            return self._call(what, do, retry=False)

    def _call(self, what: str, fn: Callable[[], Any], *, retry: bool = True) -> Any:
        attempt = waits = 0
        while True:
            try:
                return fn()
            except GithubException as e:
                wait = self._rate_limit_wait(e)
                if wait is not None and waits < 3:
                    self._log(f"GitHub rate limit during {what}; waiting {wait:.0f}s")
                    self._sleep(wait)
                    waits += 1
                    continue
                if e.status < 500:
                    raise
                error: Exception = e
            except requests.RequestException as e:
                error = e
            if not retry or attempt >= len(self._delays):
                raise _Transient(_describe(error)) from error
            self._log(f"{what}: {_describe(error)}; retrying in {self._delays[attempt]:g}s")
            self._sleep(self._delays[attempt])
            attempt += 1

    def _rate_limit_wait(self, e: GithubException) -> float | None:
        """Seconds to wait before repeating a rate-limited request, None if `e` is no rate limit.
        Raises PullsError when the wait would exceed the configured maximum."""
        if e.status not in (403, 429):
            return None
        headers = {k.lower(): str(v) for k, v in (e.headers or {}).items()}
        message = _describe(e).lower()
        if "retry-after" in headers and headers["retry-after"].isdigit():
            wait, until = float(headers["retry-after"]), f"retry after {headers['retry-after']}s"
        elif headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
            reset = int(headers["x-ratelimit-reset"])
            wait = max(0.0, reset - self._clock()) + 1  # +1: the reset lands somewhere within that second
            until = "resets at " + datetime.fromtimestamp(reset, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif "secondary rate limit" in message or e.status == 429:
            wait, until = 60.0, "secondary limit, retry after 60s"
        else:
            return None
        if wait > self._max_wait:
            raise PullsError(f"GitHub API rate limit exhausted; {until}, more than {self._max_wait:g}s away")
        return wait

    def _redact(self, text: str) -> str:
        return text.replace(self._secret.value, "***")

    def _log(self, msg: str) -> None:
        self._log_sink(self._redact(msg))


def _edited(edit: Callable[[str], str | None], text: str) -> str | None:
    new = edit(text)
    return None if new is None or new == text else new


def _describe(e: BaseException) -> str:
    """One line: HTTP status and GitHub's message (with validation details), or the error type."""
    if isinstance(e, GithubException):
        data = e.data if isinstance(e.data, dict) else {}
        parts = [str(data.get("message") or e.message or "")]
        parts += [str(x.get("message") or x.get("code")) for x in data.get("errors") or [] if isinstance(x, dict)]
        return " ".join(f"HTTP {e.status}: {'; '.join(p for p in parts if p)}".split())
    if isinstance(e, _Transient):
        return str(e)
    request = getattr(e, "request", None)
    where = urlsplit(request.url).netloc if request is not None and request.url else "GitHub"
    errno = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", str(e))  # e.g. "Connection refused"
    return f"{type(e).__name__} talking to {where}" + (f": {errno.group(1).strip()}" if errno else "")


def pulls_from_env(env: Mapping[str, str], **kw: Any) -> PullRequests | None:
    """A client from the Actions environment, or None without GITHUB_TOKEN and GITHUB_REPOSITORY."""
    token, repository = env.get("GITHUB_TOKEN", "").strip(), env.get("GITHUB_REPOSITORY", "").strip()
    if not token or not repository:
        return None
    return PullRequests(token, repository, env.get("GITHUB_API_URL") or "https://api.github.com", **kw)
