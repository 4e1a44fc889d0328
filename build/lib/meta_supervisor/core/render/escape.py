"""Untrusted strings in markdown people read (PR bodies, PR comments, the job summary). Pure.

Agent, strategy and regime names come from the trading system's data. Pasted as they are into
GitHub-flavoured markdown, a newline or `|` broke the tables, `@org/team` pinged people,
`[x](https://evil.example)` made a link, `<!--` hid the "What merging does" text from the reviewer
and `## APPROVED` faked a heading. `code` renders any string as one inline code span, where
CommonMark/GFM interpret nothing (no emphasis, links, HTML, headings; GitHub links no mention or
issue reference in code):

- every character that is not printable (newlines, tabs, other control characters, bidirectional
  overrides, zero-width characters) becomes a space, and runs of spaces one space, so the span
  stays on its line;
- the fence is one backtick longer than the longest run of backticks inside, padded with a space
  when the text starts or ends with one (CommonMark 6.1), so no text can close it;
- in a table cell `|` becomes `\\|` (GFM splits cells before it parses inlines, code spans
  included, and un-escapes `\\|` inside them);
- at most `limit` characters (then `…`), so a hostile name cannot flood the page.
"""

from __future__ import annotations

import re

_RUNS = re.compile(r"`+")


def code(value, *, cell: bool = False, limit: int = 80) -> str:
    """`value` as a safe inline code span (see the module docstring).

    >>> code("macro")
    '`macro`'
    >>> code("a|b\\n## APPROVED", cell=True)
    '`a\\\\|b ## APPROVED`'
    >>> code("x`y")
    '``x`y``'
    >>> code("")
    '` `'
    """
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(value)).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    if not text:
        return "` `"
    if cell:
        text = text.replace("|", "\\|")
    longest = max((len(run) for run in _RUNS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text[0] == "`" or text[-1] == "`" else ""
    return f"{fence}{pad}{text}{pad}{fence}"
