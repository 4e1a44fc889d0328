"""Validate: check the policy files without running anything (CI on PRs that touch policy/, and the
pre-commit hook in .pre-commit-hooks.yaml). Every file is checked, not only up to the first problem;
each problem is one `file:line: key: reason` line on stderr. Exit 0 when all are valid, 1 otherwise.
Read only: it takes no lock and writes nothing."""

from __future__ import annotations

import sys
from pathlib import Path

from meta_supervisor.files.workspace import POLICY_FILES, check_policy_file


def run(root, files: list[str] | None = None) -> int:
    root = Path(root).resolve()
    wanted = list(POLICY_FILES)
    if files:  # pre-commit passes the changed files: check those that are policy files
        names = {Path(f).name for f in files}
        wanted = [rel for rel in POLICY_FILES if Path(rel).name in names]
    problems = [p for rel in wanted if (p := check_policy_file(root, rel)) is not None]
    for line in problems:
        print(line, file=sys.stderr)
    checked = ", ".join(wanted) or "no policy file"
    print(f"validate: {len(problems)} problem(s) in {checked}", file=sys.stderr)
    return 1 if problems else 0
