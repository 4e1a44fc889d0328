"""Regenerate the screenshots in docs/img/ from a fresh demo: the report, the disable PR body and the
re-enable PR body, in headless Chromium (Debian's `chromium`; markdown rendered by markdown-it-py with
GitHub-like tables). Usage: .venv/bin/python -m tests.screenshots  (needs requirements-dev.txt)."""

import sys
import tempfile
from html import escape
from pathlib import Path

from markdown_it import MarkdownIt  # a dev dependency

from meta_supervisor.jobs import demo
from tests.browser import screenshot

REPO = Path(__file__).resolve().parents[1]

CSS = """body{font:14px/1.5 system-ui,sans-serif;margin:24px;max-width:900px;color:#1f2328}
table{border-collapse:collapse}td,th{border:1px solid #d0d7de;padding:4px 10px}
code{background:#eff1f3;padding:1px 4px;border-radius:4px}pre{background:#f6f8fa;padding:10px;overflow:auto}
h1{font-size:20px;border-bottom:1px solid #d0d7de}"""


def _markdown_page(md_file: Path, out: Path) -> Path:
    title, _, body = md_file.read_text().partition("\n\n")
    html = MarkdownIt("commonmark", {"html": False}).enable("table").render(body)
    out.write_text(f"<!DOCTYPE html><meta charset='utf-8'><style>{CSS}</style><h1>{escape(title)}</h1>{html}")
    return out


def main() -> int:
    img = REPO / "docs/img"
    img.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "demo"
        demo.run(root)
        screenshot(root / "report/index.html", img / "report.png", 1100, 2200)
        for name in ("macro", "macro.enable"):
            page = _markdown_page(root / f"outbox/pulls/{name}.md", Path(tmp) / f"{name}.html")
            screenshot(page, img / f"pr_{name.replace('.', '_')}.png", 1000, 1500)
    print(f"screenshots written to {img}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
