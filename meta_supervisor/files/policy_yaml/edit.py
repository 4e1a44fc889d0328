"""Set one strategy to DISABLED in the kill-list text and change nothing else (README "The auto-disable PR").

Why a targeted text edit and not ruamel load/modify/dump: a dump re-emits the whole file and can move
comment columns, re-indent sequences or re-quote values; splicing the three lines at the positions
ruamel's parser reports touches nothing else by construction. The result is then checked twice:
PyYAML (an independent parser) must read the old data with exactly the three keys changed, and a line
diff must touch only that strategy's `status`/`disabled_at`/`disabled_reason` lines. A failed check is
a bug (RuntimeError), never a silently wrong pull request.

Supported: `status` present (value replaced, an inline comment keeps its column when the gap allows),
`status` missing (inserted as the first key of the block), stale `disabled_at`/`disabled_reason`
anywhere in the block (rewritten right after `status`, inline comments kept), 2/4/... space indents,
CRLF files, files with or without `---` or a final newline, quoted strategy names.
Refused with a one-line UserError: empty file, strategy not found, a flow-style file or strategy block
(`macro: {status: ENABLED}`), an empty strategy (`arb:`), merge keys, anchors/aliases shared with the
edited nodes, a non-scalar `status`/`disabled_*` value.
"""

from __future__ import annotations

import copy
import difflib
import functools
import math
import re
from typing import Any

import yaml  # PyYAML, only as the independent checker
from ruamel.yaml.nodes import MappingNode, ScalarNode

from meta_supervisor.core.errors import ConfigError, UserError
from meta_supervisor.core.policy import parse_kill_list
from meta_supervisor.files.policy_yaml import load as policy_yaml

EDITED_KEYS = ("status", "disabled_at", "disabled_reason")
_LINE_BREAKS = re.compile(r"\s*[\r\n\x85\u2028\u2029]\s*")


def disable_strategy(
    text: str, strategy: str, disabled_at: str, reason: str, display_path: str = "policy/strategy_kill_list.yaml"
) -> str | None:
    """The kill list `text` with `strategy` set to DISABLED, or None if it already is `status: DISABLED`.

    `disabled_at` and `reason` are written as one-line double-quoted YAML strings (line breaks collapse
    to one space; quotes, backslashes and control characters are escaped; other non-ASCII is kept).
    """
    doc = _parse(text, display_path)  # duplicate keys, bad tags -> UserError
    root = _compose(text, display_path)
    index, key, block = _find_block(root, text, strategy, display_path)
    entries = _entries(root, block, text, strategy, display_path)
    status = entries.get("status")
    if status is not None and status[1].value == "DISABLED":
        return None
    at, why = one_line(disabled_at), one_line(reason)
    nl = "\r\n" if "\r\n" in text else "\n"
    indent = " " * block.value[0][0].start_mark.column  # a block mapping's keys share one column
    edits = []  # (start, end, replacement) on character indexes of `text`
    new_lines = []
    if status is not None:
        start = end = _value_end(text, *status)
        if status[1].value != "" or status[1].style is not None:
            start = status[1].start_mark.index
        gap = re.compile(r"( +)#").match(text, end)
        replacement = "DISABLED" if start < end else " DISABLED"  # `status:` with no value gets one
        if gap:  # keep the inline comment's column when there is room for it
            spaces = len(gap.group(1)) - (len(replacement) - (end - start))
            replacement += " " * max(1, spaces)
            end = gap.end(1)
        edits.append((start, end, replacement))
        insert_at = _next_line_start(text, end)
    else:
        new_lines.append(f"{indent}status: DISABLED")
        insert_at = _next_line_start(text, key.end_mark.index)
    for name, value in (("disabled_at", at), ("disabled_reason", why)):
        tail = ""
        if name in entries:
            start, stop, tail = _entry_extent(text, *entries[name])
            edits.append((start, stop, ""))
        new_lines.append(f"{indent}{name}: {yaml_double_quoted(value)}{tail}")
    insertion = "".join(line + nl for line in new_lines)
    if insert_at == len(text) and not text.endswith("\n"):
        insertion = nl + insertion  # the status line was the last one; the final newline is fixed below
    edits.append((insert_at, insert_at, insertion))
    new = text
    for start, end, replacement in sorted(edits, reverse=True):  # back to front: indexes stay valid
        new = new[:start] + replacement + new[end:]
    if not text.endswith("\n") and new.endswith(nl):
        new = new[: -len(nl)]
    _verify(text, new, doc.data, index, strategy, at, why, display_path)
    return new


def disable_in_kill_list(
    text: str, strategy: str, disabled_at: str, reason: str, display_path: str = "policy/strategy_kill_list.yaml"
) -> str | None:
    """`disable_strategy`, then the edited file must still be a kill list evaluate accepts
    (`core/policy.parse_kill_list`: statuses, limits in bps and/or sigma); otherwise a RuntimeError
    (a bug: the input passed the same check before the edit)."""
    new = disable_strategy(text, strategy, disabled_at, reason, display_path)
    return _still_a_kill_list(new, strategy, "DISABLED", "disable_strategy", display_path)


def _still_a_kill_list(new: str | None, strategy: str, status: str, edit: str, display_path: str) -> str | None:
    """`new` (an edited kill list, or None for no edit) after checking that evaluate accepts it
    and that it gives `strategy` `status`; a RuntimeError otherwise (a bug in the edit)."""
    if new is not None:
        try:
            policies = parse_kill_list(_parse(new, display_path).data)
        except ConfigError as exc:
            raise RuntimeError(f"{edit}({strategy!r}) produced an invalid kill list: {exc}") from exc
        if policies[strategy].status != status:
            raise RuntimeError(f"{edit}({strategy!r}) did not set status {status}")
    return new


def enable_strategy(text: str, strategy: str, display_path: str = "policy/strategy_kill_list.yaml") -> str | None:
    """The kill list `text` with `strategy` set back to `status: ENABLED` and its `disabled_at` /
    `disabled_reason` lines removed; None when it is not `status: DISABLED` (nothing to re-enable).
    The same checks as the disable edit: both parsers must read exactly that change, and the line
    diff may touch only those lines (RuntimeError otherwise: a bug)."""
    doc = _parse(text, display_path)
    root = _compose(text, display_path)
    index, _, block = _find_block(root, text, strategy, display_path)
    entries = _entries(root, block, text, strategy, display_path)
    status = entries.get("status")
    if status is None or status[1].value != "DISABLED":
        return None
    start, end = status[1].start_mark.index, _value_end(text, *status)
    replacement = "ENABLED"
    gap = re.compile(r"( +)#").match(text, end)
    if gap:  # keep the inline comment's column
        replacement += " " * max(1, len(gap.group(1)) - (len(replacement) - (end - start)))
        end = gap.end(1)
    edits = [(start, end, replacement)]
    for name in ("disabled_at", "disabled_reason"):
        if name in entries:
            line_start, stop, _ = _entry_extent(text, *entries[name])
            edits.append((line_start, stop, ""))
    new = text
    for a, b, r in sorted(edits, reverse=True):
        new = new[:a] + r + new[b:]
    _verify_enable(text, new, doc.data, index, strategy, display_path)
    return new


def enable_in_kill_list(text: str, strategy: str, display_path: str = "policy/strategy_kill_list.yaml") -> str | None:
    """`enable_strategy`, then the edited file must still be a kill list evaluate accepts."""
    return _still_a_kill_list(
        enable_strategy(text, strategy, display_path), strategy, "ENABLED", "enable_strategy", display_path
    )


def _verify_enable(old, new, old_data, index, strategy, display):
    before = _safe_load(old)
    try:
        after, after_rt = _safe_load(new), _parse(new, display).data
    except Exception as exc:
        raise RuntimeError(f"enable_strategy({strategy!r}) produced unreadable YAML: {exc}") from exc
    for parsed, after_data in ((before, after), (old_data, after_rt)):
        key = list(parsed)[index]
        expected = copy.deepcopy(parsed)
        expected[key] = {
            k: ("ENABLED" if k == "status" else v) for k, v in expected[key].items() if k not in EDITED_KEYS[1:]
        }
        if not _same(expected, after_data):
            raise RuntimeError(f"enable_strategy({strategy!r}) changed more than {EDITED_KEYS}: {after_data!r}")
    old_ok, new_ok = _edited_lines(old, strategy, display), _edited_lines(new, strategy, display)
    old_lines, new_lines = old.split("\n"), new.split("\n")
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal" and not (set(range(i1, i2)) <= old_ok and set(range(j1, j2)) <= new_ok):
            raise RuntimeError(
                f"enable_strategy({strategy!r}) touched other lines: {old_lines[i1:i2]!r} -> {new_lines[j1:j2]!r}"
            )


def one_line(s: str) -> str:
    """`s` with every run of whitespace containing a line break replaced by one space, then stripped."""
    return _LINE_BREAKS.sub(" ", str(s)).strip()


def yaml_double_quoted(s: str) -> str:
    """`s` as a YAML double-quoted scalar on one line, readable by YAML 1.1 (PyYAML) and 1.2 (ruamel).

    Printable characters (ASCII and non-ASCII) stay literal; `"`, `\\` and everything else is escaped.
    """
    out = []
    for c in s:
        if c in '"\\':
            out.append("\\" + c)
        elif " " <= c <= "~" or (c > "\x7f" and c.isprintable() and c != "\ufeff"):
            out.append(c)
        elif ord(c) < 0x100:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) < 0x10000:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    return '"' + "".join(out) + '"'


# --- locating the strategy ---------------------------------------------------------------------------


def _find_block(root, text, strategy, display):
    if root is None:
        raise UserError(f"{display}:1: strategy {strategy!r} not found: the kill list is empty")
    if not isinstance(root, MappingNode) or root.flow_style:
        raise UserError(
            f"{display}:{_line(text, root.start_mark.index)}: the kill list must be a block mapping "
            "of strategy names (flow style `{...}` is not edited automatically)"
        )
    if any(_is_merge(k) for k, _ in root.value):
        raise UserError(f"{display}:1: merge keys (<<) in the kill list are not edited automatically")
    for index, (key, block) in enumerate(root.value):  # noqa: B007 (the match is used after the break)
        if isinstance(key, ScalarNode) and key.value == strategy:
            break
    else:
        names = ", ".join(k.value for k, _ in root.value if isinstance(k, ScalarNode))
        raise UserError(f"{display}:1: strategy {strategy!r} not found in the kill list (has: {names})")
    where = f"{display}:{_line(text, key.start_mark.index)}: strategy {strategy!r}"
    if not isinstance(block, MappingNode):
        raise UserError(
            f"{where} is not a mapping; write it as a block (e.g. `status: ENABLED` on the next "
            "line, indented) to let the supervisor edit it"
        )
    if block.flow_style:
        raise UserError(f"{where} is a flow mapping ({{...}}); rewrite it in block style to let the supervisor edit it")
    # new keys go on the line after `name:`; an explicit `? name` key has no such line
    if not re.compile(r"[ \t]*:[ \t]*(?:[&!][^ \t\r\n]*[ \t]*)*(?:#[^\r\n]*)?\r?(?:\n|\Z)").match(
        text, key.end_mark.index
    ):
        raise UserError(f"{where}: write the key as `{strategy}:` alone on its line to let the supervisor edit it")
    if _refs(root, block) > 1:
        raise UserError(f"{where} is shared through a YAML anchor/alias; not edited automatically")
    return index, key, block


def _entries(root, block, text, strategy, display):
    """{name: (key_node, value_node)} of the block's scalar keys, checking the ones we edit."""
    entries = {}
    for key, value in block.value:
        if _is_merge(key):
            raise UserError(
                f"{display}:{_line(text, key.start_mark.index)}: strategy {strategy!r} uses a "
                "merge key (<<); not edited automatically"
            )
        if isinstance(key, ScalarNode) and key.value in EDITED_KEYS:
            where = f"{display}:{_line(text, key.start_mark.index)}: {strategy}.{key.value}"
            if not isinstance(value, ScalarNode):
                raise UserError(f"{where}: expected a single value, got a {value.id}")
            if _refs(root, value) > 1:
                raise UserError(f"{where}: value is shared through a YAML anchor/alias; not edited automatically")
            if key.value == "status" and _line(text, value.start_mark.index) != _line(text, value.end_mark.index):
                raise UserError(f"{where}: expected a one-line value")
            entries[key.value] = (key, value)
    return entries


def _entry_extent(text, key, value):
    """(start, stop, tail) of the whole lines holding `key: value`; tail = its inline comment with the gap."""
    start = text.rfind("\n", 0, key.start_mark.index) + 1
    end = _value_end(text, key, value)
    if value.style in ("|", ">") and (end == len(text) or text[end - 1] == "\n"):
        return start, end, ""  # a block scalar ends at the start of the next line
    tail = re.compile(r"[ \t]*(#[^\r\n]*)?").match(text, end)
    assert tail is not None  # the pattern matches the empty string
    return start, _next_line_start(text, tail.end()), (tail.group(0) if tail.group(1) else "")


# --- checks ------------------------------------------------------------------------------------------


def _verify(old, new, old_data, index, strategy, at, why, display):
    """Both parsers must read `new` as `old` with exactly the three keys changed, and the line diff must
    touch only those keys' lines. Raises RuntimeError otherwise (a bug in the edit)."""
    try:
        before = _safe_load(old)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise UserError(
            f"{display}:{mark.line + 1 if mark else 1}: PyYAML cannot read the kill list "
            f"({' '.join(str(getattr(exc, 'problem', exc)).split())}); fix it by hand"
        ) from None
    if not isinstance(before, dict) or len(before) != len(old_data):
        raise UserError(
            f"{display}:1: YAML 1.1 and 1.2 parsers read the kill list's keys differently "
            "(e.g. `yes:`/`on:`); quote the strategy names"
        )
    try:
        after = _safe_load(new)
        after_rt = _parse(new, display).data
    except Exception as exc:
        raise RuntimeError(f"disable_strategy({strategy!r}) produced unreadable YAML: {exc}") from exc
    pairs: tuple[tuple[Any, Any], ...] = ((before, after), (old_data, after_rt))
    for parsed, after_data in pairs:
        key = list(parsed)[index]
        expected = copy.deepcopy(parsed)
        block = {k: v for k, v in expected[key].items() if k not in EDITED_KEYS}
        expected[key] = {**block, "status": "DISABLED", "disabled_at": at, "disabled_reason": why}
        if not _same(expected, after_data):
            raise RuntimeError(f"disable_strategy({strategy!r}) changed more than {EDITED_KEYS}: {after_data!r}")
        keys = list(after_data[key])
        pos = keys.index("status")
        if keys[pos : pos + 3] != list(EDITED_KEYS):
            raise RuntimeError(f"disable_strategy({strategy!r}) wrote the keys out of order: {keys}")
    old_ok, new_ok = _edited_lines(old, strategy, display), _edited_lines(new, strategy, display)
    # lines compare without their "\r": when the last line (no final newline) moves up, the line before it
    # must lose its terminator, "\n" or "\r\n" alike; that every added break is the file's kind is checked apart
    old_lines, new_lines = [s.rstrip("\r") for s in old.split("\n")], [s.rstrip("\r") for s in new.split("\n")]
    added_breaks = new.count("\n") - old.count("\n")
    if new.count("\r\n") - old.count("\r\n") != (added_breaks if "\r\n" in old else 0):
        raise RuntimeError(f"disable_strategy({strategy!r}) mixed line endings")
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal" and not (set(range(i1, i2)) <= old_ok and set(range(j1, j2)) <= new_ok):
            raise RuntimeError(
                f"disable_strategy({strategy!r}) touched other lines: {old_lines[i1:i2]!r} -> {new_lines[j1:j2]!r}"
            )


def _edited_lines(text, strategy, display):
    """0-based numbers of the lines holding the strategy's status/disabled_* entries."""
    root = _compose(text, display)
    block = next((v for k, v in root.value if isinstance(k, ScalarNode) and k.value == strategy), None)
    if not isinstance(block, MappingNode):
        raise RuntimeError(f"disable_strategy({strategy!r}) lost the strategy block")
    lines: set[int] = set()
    for key, value in block.value:
        if isinstance(key, ScalarNode) and key.value in EDITED_KEYS:
            last = max(_value_end(text, key, value) - 1, key.start_mark.index)
            lines.update(range(_line(text, key.start_mark.index) - 1, _line(text, last)))
    return lines


def _same(a, b) -> bool:
    """Deep equality where NaN equals NaN (a `.nan` limit must not fail the check)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


# --- small helpers -----------------------------------------------------------------------------------

# Every proposal of a run edits the same kill list, and each edit is checked by reading the old and
# the new text again with both parsers (eight reads an edit; ruamel's pure-Python parser made that
# ~0.25 s an edit, 2.5 s for ten proposals at once). The reads are memoised per text: here their
# results are only read (the checks deep-copy before changing anything).


@functools.lru_cache(maxsize=16)
def _parse(text: str, display: str):
    return policy_yaml.parse_yaml_text(text, display)


@functools.lru_cache(maxsize=16)
def _compose(text: str, display: str):
    return policy_yaml.compose_text(text, display)


@functools.lru_cache(maxsize=16)
def _safe_load(text: str):
    return yaml.safe_load(text)


def _line(text, index) -> int:
    """1-based line of a character index; counts only '\\n' so it matches `text.split('\\n')`."""
    return text.count("\n", 0, index) + 1


def _value_end(text, key, value) -> int:
    """Index just after a scalar value's text; an empty value (`status:`) ends right after its colon
    (ruamel marks an empty scalar at the next token, which may be on a later line)."""
    if value.start_mark.index == value.end_mark.index and value.value == "" and value.style is None:
        return text.index(":", key.end_mark.index) + 1
    return value.end_mark.index


def _next_line_start(text, index) -> int:
    nl = text.find("\n", index)
    return len(text) if nl < 0 else nl + 1


def _is_merge(key) -> bool:
    return isinstance(key, ScalarNode) and (str(key.tag) == "tag:yaml.org,2002:merge" or key.value == "<<")


def _refs(root, target) -> int:
    """How many places of the node graph hold `target` (more than one = anchor/alias sharing)."""
    count, seen, stack = 0, set(), [root]
    while stack:
        node = stack.pop()
        if node is target:
            count += 1
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            stack.extend(x for pair in node.value for x in pair)
        elif isinstance(node.value, list):
            stack.extend(node.value)
    return count
