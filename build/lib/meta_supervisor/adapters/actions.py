"""GitHub Actions workflow commands: groups, annotations, job summary, step outputs.

Outside Actions (no GITHUB_ACTIONS) groups print nothing, annotations print as plain lines and the summary
and outputs are skipped, so local runs stay readable. Annotation text is escaped as the runner
requires (% \\r \\n; plus : and , in properties), so data can never inject a workflow command.
"""

from __future__ import annotations

import contextlib
import os
import sys
import uuid


def _escape_data(text: str) -> str:
    return str(text).replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


class Actions:
    def __init__(self, env=None, out=None):
        self.env = os.environ if env is None else env
        self.out = out or sys.stderr
        self.enabled = self.env.get("GITHUB_ACTIONS") == "true"

    def _print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    @contextlib.contextmanager
    def group(self, title: str):
        if self.enabled:  # locally a group is just noise between the lines that matter
            self._print(f"::group::{_escape_data(title)}")
        try:
            yield
        finally:
            if self.enabled:
                self._print("::endgroup::")

    def annotate(
        self, level: str, message: str, file: str | None = None, line: int | None = None, title: str | None = None
    ) -> None:
        """level: notice | warning | error."""
        if not self.enabled:
            where = f"{file}:{line}: " if file and line else f"{file}: " if file else ""
            self._print(f"{level}: {where}{message}")
            return
        props = [f"{k}={_escape_prop(str(v))}" for k, v in (("file", file), ("line", line), ("title", title)) if v]
        head = f"::{level} {','.join(props)}" if props else f"::{level}"
        self._print(f"{head}::{_escape_data(message)}")

    def summary(self, markdown: str) -> None:
        path = self.env.get("GITHUB_STEP_SUMMARY")
        if path:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write(markdown.rstrip() + "\n\n")

    def output(self, name: str, value) -> None:
        path = self.env.get("GITHUB_OUTPUT")
        if not path:
            return
        text = str(value)
        with open(path, "a", encoding="utf-8") as handle:
            if "\n" in text:  # multi-line values use a random heredoc delimiter
                delim = f"ghadelim_{uuid.uuid4().hex}"
                handle.write(f"{name}<<{delim}\n{text}\n{delim}\n")
            else:
                handle.write(f"{name}={text}\n")
