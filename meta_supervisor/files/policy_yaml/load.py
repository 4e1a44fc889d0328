"""Reading policy YAML with the line of every key (the `policy_yaml` package owns ruamel.yaml).

It turns a policy file into plain Python data plus the line of every key, so that the pure core can
raise `ConfigError(keypath, ...)` and the shell can report `file:line: message`. Every YAML problem
(syntax error, duplicate key, tab indentation, invalid UTF-8, ...) becomes ONE-line `UserError`.

The kill-list edit (`edit.py`, beside this module) splices text at the node positions that
`compose_text` reports.
"""

from __future__ import annotations

import datetime
import io
import os
import re
import sys

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.nodes import MappingNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.scalarbool import ScalarBoolean

from meta_supervisor.core.errors import ConfigError, UserError

__all__ = ["YamlDoc", "compose_text", "load_yaml", "parse_yaml_text", "roundtrip_text"]


class YamlDoc:
    """A parsed YAML file: `data` is plain Python (dict/list/str/int/float/bool/None, datetime/date for
    unquoted timestamps, bytes for !!binary), `path` is the name used in messages."""

    def __init__(self, data: object, path: str, root: object = None, text: str | None = None):
        self.data = data
        self.path = path
        self.text = text  # exactly what was parsed (an edit must start from these bytes)
        self._root = root  # the ruamel round-trip tree; it alone knows where keys sit

    def line(self, keypath: tuple) -> int:
        """1-based line of the deepest key of `keypath` that exists (for a list index: the item's line).

        Degenerate cases: empty keypath, empty document, a scalar document or a first key that does not
        exist -> 1. A key path that goes on below a scalar stops at the scalar's key.
        """
        line, node = 1, self._root
        for key in keypath:
            try:
                if isinstance(node, CommentedMap) and key in node:
                    line, node = node.lc.key(key)[0] + 1, node[key]
                elif (
                    isinstance(node, CommentedSeq)
                    and isinstance(key, int)
                    and not isinstance(key, bool)
                    and -len(node) <= key < len(node)
                ):
                    key %= len(node)
                    line, node = node.lc.item(key)[0] + 1, node[key]
                else:
                    break
            except (KeyError, IndexError, TypeError, AttributeError):  # merged keys carry no position
                break
        return line

    def locate(self, err: ConfigError) -> UserError:
        """`UserError("path:line: dotted.key.path: message")`; an empty key path points at line 1 and
        carries no key prefix."""
        where = ".".join(str(k) for k in err.keypath)
        prefix = f"{where}: " if where else ""
        return UserError(f"{self.path}:{self.line(err.keypath)}: {prefix}{err.message}")


def load_yaml(path, display_path: str | None = None) -> YamlDoc:
    """Read and parse a YAML file. `display_path` (default: `str(path)`) names it in messages.

    Missing file -> FileNotFoundError (the caller decides whether that is an error); invalid UTF-8 ->
    UserError naming the line of the bad byte; an empty file (or only comments) -> `data is None`.
    """
    display = display_path if display_path is not None else os.fspath(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"{display}:{line}: invalid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None
    return parse_yaml_text(text, display)


def parse_yaml_text(text: str, display_path: str) -> YamlDoc:
    """Parse YAML text (one document) with the round-trip loader; same contract as `load_yaml`."""
    try:
        _refuse_aliases(text, display_path)
        root = _rt_yaml().load(text)
    except (YAMLError, RecursionError) as exc:
        raise _one_line_error(exc, text, display_path) from None
    return YamlDoc(_plain(root, display_path, {}), display_path, root, text)


def compose_text(text: str, display_path: str):
    """The node graph (ruamel `MappingNode`/`SequenceNode`/`ScalarNode`, each with `start_mark`/`end_mark`
    character indexes into `text`, `flow_style`, `style`), or None for an empty document. Syntax errors ->
    one-line UserError. Aliases are the same node object as their anchor."""
    try:
        _refuse_aliases(text, display_path)
        return _rt_yaml().compose(text)
    except (YAMLError, RecursionError) as exc:
        raise _one_line_error(exc, text, display_path) from None


def roundtrip_text(text: str) -> str:
    """Load and dump `text` with the round-trip settings a ruamel edit would use: indentation detected
    from the file, no line wrapping, quotes preserved, `---` kept if present, trailing newline kept or not.

    For a well-formatted policy file the result equals `text` byte for byte (the golden tests pin this).
    Degenerate cases: an empty or comment-only document comes back as ruamel emits it (not pinned).
    """
    yaml = _rt_yaml()
    node = yaml.compose(text)
    mapping, sequence, offset = _detect_indent(node)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = bool(re.match(r"\A\ufeff?(?:[ \t]*(?:#[^\n]*)?\n)*---(?:[ \t\n]|\Z)", text))
    data = yaml.load(text)
    out = io.StringIO()
    yaml.dump(data, out)
    result = out.getvalue()
    if not text.endswith("\n") and result.endswith("\n"):
        result = result[:-1]  # ruamel always ends with a newline; the file may not
    return result


# --- internals ---------------------------------------------------------------------------------------


def _rt_yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = sys.maxsize  # never re-wrap a long line
    yaml.allow_duplicate_keys = False  # a duplicated policy key is ambiguous: refuse it
    return yaml


def _refuse_aliases(text: str, display: str) -> None:
    """A policy file has no use for anchors and aliases, and nine nested aliases of ten each expand
    to a billion nodes (a "billion laughs"): the edit's checkers walked it for ever. Refused at the
    first alias, from the parser's events (linear in the text, nothing expanded)."""
    if "*" not in text:  # an alias is written `*name`: without an asterisk there is none (and no
        return  # second parse: half of reading a 1,000-agent agents.yaml)
    for event in _rt_yaml().parse(text):
        if isinstance(event, AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else 1
            raise UserError(f"{display}:{line}: YAML aliases (*{event.anchor}) are not allowed in policy files")


def _detect_indent(node) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as ruamel's `yaml.indent()` wants them, from the
    first nested block mapping / block sequence under a mapping key; defaults 2, 2, 0."""
    found: dict[str, int] = {}
    stack = [node] if node is not None else []
    while stack and len(found) < 3:
        parent = stack.pop(0)
        if not isinstance(parent, MappingNode):
            if isinstance(parent, SequenceNode):
                stack.extend(parent.value)
            continue
        for key, value in parent.value:
            col = key.start_mark.column
            if isinstance(value, MappingNode) and not value.flow_style and value.value and "map" not in found:
                found["map"] = value.value[0][0].start_mark.column - col
            elif isinstance(value, SequenceNode) and not value.flow_style and value.value and "seq" not in found:
                found["off"] = value.start_mark.column - col
                found["seq"] = value.value[0].start_mark.column - col
            stack.append(value)
    return found.get("map", 2), found.get("seq", 2), found.get("off", 0)


def _one_line_error(exc: BaseException, text: str, display: str) -> UserError:
    """Condense ruamel's multi-line message to `display:line: reason`."""
    if isinstance(exc, RecursionError):
        return UserError(f"{display}:1: YAML nested too deeply")
    if isinstance(exc, ReaderError):  # has a character position, not a mark
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character[:1] or "\0")
        return UserError(f"{display}:{line}: {_squash(exc.reason)} (character #x{char:04x})")
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        reason = _squash(exc.problem or exc.context or type(exc).__name__)
        if exc.problem and exc.context and type(exc).__name__ != "DuplicateKeyError":
            ctx_line = f" at line {exc.context_mark.line + 1}" if exc.context_mark else ""
            reason += f" ({_squash(exc.context)}{ctx_line})"
        if "'\\t'" in reason:
            reason += "; indent with spaces, not tabs"
        return UserError(f"{display}:{mark.line + 1 if mark else 1}: {reason}")
    return UserError(f"{display}:1: {_squash(str(exc)) or type(exc).__name__}")


def _squash(s: str) -> str:
    return " ".join(str(s).split())


def _plain(obj, display: str, memo: dict):
    """ruamel round-trip objects -> plain Python; aliases stay shared (memo), so recursion terminates."""
    if id(obj) in memo:
        return memo[id(obj)]
    if isinstance(obj, dict):
        out: dict = {}
        memo[id(obj)] = out
        for k, v in obj.items():
            try:
                out[_plain(k, display, memo)] = _plain(v, display, memo)
            except TypeError:  # a mapping used as a key: legal YAML, meaningless in a policy
                raise UserError(f"{display}:1: unsupported YAML mapping key {k!r}") from None
        return out
    if isinstance(obj, tuple):  # CommentedKeySeq: a flow sequence used as a key
        return tuple(_plain(v, display, memo) for v in obj)
    if isinstance(obj, list):
        out_l: list = []
        memo[id(obj)] = out_l
        out_l.extend(_plain(v, display, memo) for v in obj)
        return out_l
    if isinstance(obj, (bool, ScalarBoolean)):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str(obj)
    if isinstance(obj, datetime.datetime):
        return datetime.datetime(
            obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond, tzinfo=obj.tzinfo
        )
    if isinstance(obj, TaggedScalar):
        # a custom tag (`!foo bar`) means the author expects something we do not implement
        raise UserError(f"{display}:1: unsupported YAML tag {obj.tag!s} on value {obj.value!r}")
    return obj  # None, date, bytes
