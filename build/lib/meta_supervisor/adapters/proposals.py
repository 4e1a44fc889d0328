"""Where a proposal to disable a strategy goes: one interface, two implementations.

Evaluate proposes through `Proposals` and does not know which one it holds, as it delivers mail
through `mail.mailbox.deliver` without knowing whether SendGrid is configured:
- `github_rest.proposer.PullRequests` opens (or converges) a pull request on GitHub;
- `outbox.Outbox` writes the PR it would open to `outbox/pulls/` (dry run, or no token).
`proposals_from_env` picks one; PyGithub is imported only when a PR can be opened.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from meta_supervisor.adapters.outbox import Outbox


class Proposed(Protocol):
    """What became of one proposal."""

    @property
    def action(
        self,
    ) -> (
        str
    ): ...  # GitHub: "created", "updated", "unchanged", "declined", ...; outbox: "created", "written", "unchanged"

    @property
    def number(self) -> int | None: ...  # the PR's number, if there is a PR

    @property
    def url(self) -> str | None: ...

    @property
    def where(self) -> str: ...  # where it went, as the console and the job summary say it

    @property
    def note(self) -> str: ...  # a remark for the console line ("" for none)


@runtime_checkable
class Proposals(Protocol):
    # The errors that mean one proposal was not made: evaluate records them (exit 2) and goes on.
    # Any other error stops the run.
    proposal_errors: ClassVar[tuple[type[Exception], ...]]

    def propose_disable(
        self,
        strategy: str,
        *,
        title: str,
        body: str,
        edit: Callable[[str], str | None],
        commit_message: str,
        respect_declined_hours: float = 168.0,
    ) -> Proposed:
        """Propose `edit` of the kill list (None: already disabled) as the change titled `title`."""
        ...

    def propose_enable(
        self,
        strategy: str,
        *,
        title: str,
        body: str,
        edit: Callable[[str], str | None],
        commit_message: str,
        respect_declined_hours: float = 168.0,
    ) -> Proposed:
        """Propose `edit` that re-enables a strategy (None: not DISABLED)."""
        ...

    def open_auto_prs(self, kind: str = "disable") -> dict[str, int]:
        """strategy -> number of each open automatic PR of `kind` ("disable" or "enable")."""
        ...

    def close_stale(self, strategy: str, kind: str, body: str) -> str:
        """Comment on (and, if only meta-supervisor wrote to it, close) the open `kind` PR of `strategy`."""
        ...

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        """Create or update the comment on PR `number` holding `marker`: "created", "updated", "unchanged"."""
        ...


def proposals_from_env(env: Mapping[str, str], root: Path, dry_run: bool, log: Callable[[str], None]) -> Proposals:
    """Pull requests when GITHUB_TOKEN and GITHUB_REPOSITORY are set and this is no dry run, else the outbox."""
    if not dry_run and env.get("GITHUB_TOKEN", "").strip() and env.get("GITHUB_REPOSITORY", "").strip():
        from meta_supervisor.adapters.github_rest.proposer import pulls_from_env  # loads PyGithub

        pulls = pulls_from_env(env, log=log)
        if pulls is not None:
            return pulls
    return Outbox(root)
