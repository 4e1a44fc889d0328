"""The one choke point between meta-supervisor and the GitHub REST API (docs/architecture.md, "Layers").

`Transport` builds the PyGithub client once and every request of `git_data` and `pulls` goes
through its `call`. PyGithub's own retry is switched off (`retry=0`): its default `GithubRetry`
retries POSTs on 5xx and sleeps until a primary rate limit resets however far away that is.
Here instead
- reads (and idempotent PATCHes) are retried on 5xx/connection errors with short backoff;
- writes that are not idempotent are never retried blindly: `write` re-finds the object first and
  repeats the write once only if it is absent (find-then-create: converge, never duplicate);
- a rate limit (403/429 with `X-RateLimit-Remaining: 0`, `Retry-After`, or a secondary-limit message)
  is waited out only if that is at most `max_rate_limit_wait_s`, else a one-line `PullsError`.
  A rate-limited request was refused, not performed, so it is repeated after the wait.

The token lives in a `_Secret` (no repr shows it) and is redacted from every log line and error
message, as are credentials inside GITHUB_API_URL; `failing` is the only place an API failure
becomes an error the caller sees: one `PullsError` line, never a traceback of PyGithub internals.

Every request runs under a wall-clock deadline and the run's budget (adapters/deadline.py): the
client's own timeout is per socket read, so a server trickling bytes held a run for minutes.
A request past its deadline counts as a connection failure (retried, then `_Transient`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from github import Auth, Github, GithubException

from meta_supervisor.adapters.deadline import DeadlineExceeded, Deadlines, shared
from meta_supervisor.adapters.redact import redact, safe_url
from meta_supervisor.core.errors import UserError


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


class Transport:
    """One repository through one PyGithub client, with the retry, rate-limit and redaction policy."""

    def __init__(
        self,
        token: str,
        repository: str,
        api_url: str,
        *,
        log: Callable[[str], None],
        max_rate_limit_wait_s: float,
        timeout_s: float,
        retry_delays: Sequence[float],
        seconds_between_writes: float,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        deadlines: Deadlines | None = None,
    ):
        if not token:
            raise PullsError("GITHUB_TOKEN is empty")
        if not re.fullmatch(r"[\w.-]+/[\w.-]+", repository or ""):
            raise PullsError(f"GITHUB_REPOSITORY must look like owner/name, got {repository!r}")
        url = safe_url(api_url.rstrip("/"))
        self._secret = _Secret(token)
        self._url_secrets = url.secrets
        self._deadlines = deadlines or shared()
        self.repository = repository
        self._log_sink, self._max_wait, self._delays = log, max_rate_limit_wait_s, tuple(retry_delays)
        self._sleep, self.clock = sleep, clock
        # retry=0: no urllib3 retries at all (see the module docstring); GitHub asks for >= 1 s between
        # content-creating requests to avoid secondary rate limits, reads are not throttled.
        self._gh = Github(
            base_url=url.url,
            auth=Auth.Token(token),
            timeout=max(1, math.ceil(timeout_s)),
            retry=0,
            per_page=100,
            user_agent="meta-supervisor",
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes or None,
        )
        self._repo_obj: Any = None

    def __repr__(self) -> str:
        return f"Transport(repository={self.repository!r})"

    def repo(self) -> Any:
        """The repository object (read once, then cached for the client's lifetime)."""
        if self._repo_obj is None:
            self._repo_obj = self.call("read repository", lambda: self._gh.get_repo(self.repository))
        return self._repo_obj

    @contextmanager
    def failing(self, what: str) -> Iterator[None]:
        """Turn every API failure into one PullsError line (the only place that does)."""
        try:
            yield
        except (GithubException, _Transient, requests.RequestException, DeadlineExceeded) as e:
            hint = ""
            if isinstance(e, GithubException) and e.status in (403, 404) and "rate limit" not in describe(e):
                hint = " (does the token have contents: write and pull-requests: write on this repository?)"
            raise PullsError(self.redact(f"GitHub: {what} failed: {describe(e)}{hint}")) from e

    def get_or_none(self, what: str, fn: Callable[[], Any]) -> Any:
        """`call`, with a 404 meaning "there is none"."""
        try:
            return self.call(what, fn)
        except GithubException as e:
            if e.status == 404:
                return None
            raise

    def write(self, what: str, do: Callable[[], Any], find: Callable[[], Any]) -> Any:
        """Do a non-idempotent write; after a transient failure, look before writing again (once)."""
        try:
            return self.call(what, do, retry=False)
        except _Transient as e:
            found = self.call(f"re-check after failed {what}", find)
            if found is not None:
                self.log(f"{what}: the failed request ({describe(e)}) had taken effect")
                return found
            self.log(f"{what}: failed ({describe(e)}); trying once more")
            return self.call(what, do, retry=False)

    def call(self, what: str, fn: Callable[[], Any], *, retry: bool = True) -> Any:
        """`fn()`, waiting out near rate limits and (with `retry`) retrying 5xx/connection errors."""
        attempt = waits = 0
        while True:
            try:
                return self._deadlines.call(f"GitHub: {what}", fn)
            except GithubException as e:
                wait = self._rate_limit_wait(e)
                if wait is not None and waits < 3:
                    self.log(f"GitHub rate limit during {what}; waiting {wait:.0f}s")
                    self._sleep(wait)
                    waits += 1
                    continue
                if e.status < 500:
                    raise
                error: Exception = e
            except (requests.RequestException, DeadlineExceeded) as e:
                error = e
            if not retry or attempt >= len(self._delays):
                raise _Transient(describe(error)) from error
            self.log(f"{what}: {describe(error)}; retrying in {self._delays[attempt]:g}s")
            self._sleep(self._delays[attempt])
            attempt += 1

    def _rate_limit_wait(self, e: GithubException) -> float | None:
        """Seconds to wait before repeating a rate-limited request, None if `e` is no rate limit.
        Raises PullsError when the wait would exceed the configured maximum."""
        if e.status not in (403, 429):
            return None
        headers = {k.lower(): str(v) for k, v in (e.headers or {}).items()}
        message = describe(e).lower()
        if "retry-after" in headers and headers["retry-after"].isdigit():
            wait, until = float(headers["retry-after"]), f"retry after {headers['retry-after']}s"
        elif headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset", "").isdigit():
            reset = int(headers["x-ratelimit-reset"])
            wait = max(0.0, reset - self.clock()) + 1  # +1: the reset lands somewhere within that second
            until = "resets at " + datetime.fromtimestamp(reset, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        elif "secondary rate limit" in message or e.status == 429:
            wait, until = 60.0, "secondary limit, retry after 60s"
        else:
            return None
        if wait > self._max_wait:
            raise PullsError(f"GitHub API rate limit exhausted; {until}, more than {self._max_wait:g}s away")
        return wait

    def redact(self, text: str) -> str:
        return redact(text, (self._secret.value, *self._url_secrets))

    def log(self, msg: str) -> None:
        self._log_sink(self.redact(msg))


def describe(e: BaseException) -> str:
    """One line: HTTP status and GitHub's message (with validation details), or the error type."""
    if isinstance(e, GithubException):
        data = e.data if isinstance(e.data, dict) else {}
        parts = [str(data.get("message") or e.message or "")]
        parts += [str(x.get("message") or x.get("code")) for x in data.get("errors") or [] if isinstance(x, dict)]
        return " ".join(f"HTTP {e.status}: {'; '.join(p for p in parts if p)}".split())
    if isinstance(e, _Transient | DeadlineExceeded):
        return str(e)
    request = getattr(e, "request", None)
    # hostname, not netloc: a netloc may carry user:password
    where = (urlsplit(request.url).hostname or "GitHub") if request is not None and request.url else "GitHub"
    errno = re.search(r"\[Errno -?\d+\] ([^'\"()]+)", str(e))  # e.g. "Connection refused"
    return f"{type(e).__name__} talking to {where}" + (f": {errno.group(1).strip()}" if errno else "")


def refused(e: GithubException, status: int, words: str = "") -> bool:
    """Whether GitHub answered `status` with `words` in its message (e.g. 422 "already exists")."""
    return e.status == status and words in describe(e)
