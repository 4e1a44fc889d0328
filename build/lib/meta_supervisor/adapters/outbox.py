"""The dry-run proposals: the pull request that would be opened, as files in `outbox/pulls/`.

For each proposal (`adapters.proposals.Proposals`), `outbox/pulls/<name>.md` holds the PR title on
its first line, a blank line, then the body; `outbox/pulls/<name>.yaml` the whole kill list as the
PR would leave it (not written when the strategy is already disabled). `<name>` is the strategy
name made safe for a file name (`safe_name`). The edit starts from the root's own kill list, as the
PR's starts from the default branch's. There are no PRs here, so none to list or comment on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from meta_supervisor.files.jsonio import write_atomic
from meta_supervisor.files.workspace import KILL_LIST

PULLS = "outbox/pulls"


def safe_name(strategy: str) -> str:
    """A strategy name as a file/branch component (anything outside [A-Za-z0-9._-] becomes -)."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in strategy).strip(".-") or "strategy"


@dataclass(frozen=True)
class Drafted:
    strategy: str
    action: str  # "created" | "written" | "unchanged" | "already_disabled" | "already_enabled" (the .md only)
    where: str  # outbox/pulls/<name>.md
    number: None = None
    url: None = None
    note: str = "dry run: no PR opened"


class Outbox:
    # Writing to the local disk has no expected failure of its own; a kill list the edit refuses
    # is a policy problem and stops the run like every other one.
    proposal_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, root: Path, kill_list_path: str = KILL_LIST):
        self.root, self.kill_list_path = Path(root), kill_list_path

    def __repr__(self) -> str:
        return f"Outbox({(self.root / PULLS).as_posix()!r})"

    def propose_disable(
        self,
        strategy: str,
        *,
        title: str,
        body: str,
        edit: Callable[[str], str | None],
        commit_message: str,
        respect_declined_hours: float = 168.0,
    ) -> Drafted:
        """Write the PR `title`/`body` and the edited kill list (`commit_message` is not kept)."""
        return self._draft(strategy, "", title, body, edit, "already_disabled")

    def propose_enable(
        self,
        strategy: str,
        *,
        title: str,
        body: str,
        edit: Callable[[str], str | None],
        commit_message: str,
        respect_declined_hours: float = 168.0,
    ) -> Drafted:
        """The re-enable PR as `outbox/pulls/<name>.enable.md` (+ `.enable.yaml`)."""
        return self._draft(strategy, ".enable", title, body, edit, "already_enabled")

    def _draft(self, strategy, suffix, title, body, edit, already) -> Drafted:
        """ "created" for a new draft, "written" when a file changed, "unchanged" when both already were."""
        edited = edit((self.root / self.kill_list_path).read_bytes().decode("utf-8"))
        where = f"{PULLS}/{safe_name(strategy)}{suffix}.md"
        new = not (self.root / where).exists()
        changed = write_atomic(self.root / where, f"{title}\n\n{body}".encode())
        if edited is None:
            return Drafted(strategy, already, where)
        changed |= write_atomic(self.root / PULLS / f"{safe_name(strategy)}{suffix}.yaml", edited.encode())
        return Drafted(strategy, "created" if new else "written" if changed else "unchanged", where)

    def open_auto_prs(self, kind: str = "disable") -> dict[str, int]:
        return {}

    def close_stale(self, strategy: str, kind: str, body: str) -> str:
        return "none"  # no PRs here

    def upsert_comment(self, number: int, marker: str, body: str) -> str:
        return "unchanged"
