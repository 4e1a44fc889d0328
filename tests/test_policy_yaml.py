"""policy_yaml / kill_list_edit: real ruamel on real files, pinned byte for byte (golden files)."""

import pathlib
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meta_supervisor.core.errors import ConfigError, UserError
from meta_supervisor.files.policy_yaml import edit as kill_list_edit
from meta_supervisor.files.policy_yaml.edit import disable_strategy
from meta_supervisor.files.policy_yaml.load import YamlDoc, load_yaml, parse_yaml_text, roundtrip_text

GOLDEN = pathlib.Path(__file__).parent / "golden"
AT = "2026-11-25T00:00:00Z"
P = "policy/strategy_kill_list.yaml"


def golden(name: str) -> str:
    return (GOLDEN / name).read_bytes().decode("utf-8")


def one_line_error(exc_info) -> str:
    msg = str(exc_info.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# --- golden files ------------------------------------------------------------------------------------


def test_disable_status_enabled_matches_golden():
    reason = "CVaR95 184.2 bps > limit 120 bps in regime TREND (n=412, window 8000 rows)"
    out = disable_strategy(golden("kill_list_before.yaml"), "macro", AT, reason)
    assert out == golden("kill_list_after_macro.yaml")


def test_disable_without_status_matches_golden():
    reason = "CVaR95 151.0 bps > limit 140 bps in regime TREND (n=230)"
    out = disable_strategy(golden("kill_list_before.yaml"), "arb", AT, reason)
    assert out == golden("kill_list_after_arb.yaml")


def test_already_disabled_is_none():
    assert disable_strategy(golden("kill_list_before.yaml"), "legacy_momo", AT, "again") is None
    assert disable_strategy(golden("kill_list_after_macro.yaml"), "macro", AT, "again") is None
    assert disable_strategy('s:\n  status: "DISABLED"\n', "s", AT, "again") is None


def test_inline_comment_keeps_its_column():
    before, after = golden("kill_list_before.yaml"), golden("kill_list_after_macro.yaml")
    old = next(line for line in before.split("\n") if line.startswith("  status: ENABLED"))
    new = next(line for line in after.split("\n") if line.startswith("  status: DISABLED"))
    assert old.index("#") == new.index("#") and old[old.index("#") :] == new[new.index("#") :]


@pytest.mark.parametrize("name", ["kill_list_before.yaml", "kill_list_after_macro.yaml", "kill_list_after_arb.yaml"])
def test_roundtrip_is_byte_identical(name):
    text = golden(name)
    assert any(len(line) > 120 for line in text.split("\n"))  # ruamel would wrap it at its default width
    assert roundtrip_text(text) == text


def test_roundtrip_four_spaces_document_marker_no_final_newline():
    text = "---\n# c\nmacro:\n    status: ENABLED  # x\n    tags:\n        - 'a'\n        - \"b\"\n    lim: 1.50"
    assert roundtrip_text(text) == text


# --- disable_strategy: cases -------------------------------------------------------------------------


def test_four_space_indent_missing_status_and_document_marker():
    text = "---\nmacro:\n    by_regime:\n        TREND:\n            max_cvar_error_bps: 120\n"
    assert disable_strategy(text, "macro", AT, "r") == (
        '---\nmacro:\n    status: DISABLED\n    disabled_at: "2026-11-25T00:00:00Z"\n'
        '    disabled_reason: "r"\n    by_regime:\n        TREND:\n            max_cvar_error_bps: 120\n'
    )


def test_stale_fields_are_moved_after_status_and_keep_comments():
    text = (
        "macro:\n  disabled_reason: 'old reason'   # kept\n  status: ENABLED\n  by_regime: {}\n"
        "  disabled_at: 2026-01-01T00:00:00Z\nnext:\n  status: ENABLED\n"
    )
    assert disable_strategy(text, "macro", AT, "new") == (
        'macro:\n  status: DISABLED\n  disabled_at: "2026-11-25T00:00:00Z"\n'
        '  disabled_reason: "new"   # kept\n  by_regime: {}\nnext:\n  status: ENABLED\n'
    )


def test_stale_fields_right_after_status_are_updated_in_place():
    text = 'm:\n  status: ENABLED\n  disabled_at: "2026-01-01T00:00:00Z"\n  disabled_reason: "old"\n  x: 1\n'
    assert disable_strategy(text, "m", AT, "new") == (
        'm:\n  status: DISABLED\n  disabled_at: "2026-11-25T00:00:00Z"\n  disabled_reason: "new"\n  x: 1\n'
    )


def test_stale_block_scalar_reason_is_replaced():
    text = "m:\n  status: ENABLED\n  disabled_reason: >\n    old\n    text\n  x: 1\n"
    assert disable_strategy(text, "m", AT, "new") == (
        'm:\n  status: DISABLED\n  disabled_at: "2026-11-25T00:00:00Z"\n  disabled_reason: "new"\n  x: 1\n'
    )


def test_awkward_reason_is_one_valid_double_quoted_line():
    reason = "CVaR \"95\": 1.5\\2 # not a comment 'q' — é 日本\n second line\r\n\tthird \x07 \u2028end"
    out = disable_strategy("s:\n  status: ENABLED\n", "s", AT, reason)
    line = out.split("\n")[3]
    assert line.startswith('  disabled_reason: "') and out.count("\n") == 4
    expected = "CVaR \"95\": 1.5\\2 # not a comment 'q' — é 日本 second line third \x07 end"
    assert yaml.safe_load(out)["s"]["disabled_reason"] == expected
    assert parse_yaml_text(out, P).data["s"]["disabled_reason"] == expected
    assert "é 日本" in line  # printable non-ASCII stays readable


@pytest.mark.parametrize(
    "name,key", [("mean-rev: v2", '"mean-rev: v2"'), ("a#b", "'a#b'"), ("123", "123"), ("yes", "'yes'")]
)
def test_strategy_names_that_need_quoting(name, key):
    text = f"{key}:\n  status: ENABLED\nother:\n  status: ENABLED\n"
    assert disable_strategy(text, name, AT, "r") == (
        f'{key}:\n  status: DISABLED\n  disabled_at: "{AT}"\n  disabled_reason: "r"\nother:\n  status: ENABLED\n'
    )


def test_crlf_and_no_final_newline_are_kept():
    text = "a:\r\n  x: 1\r\nb:\r\n  status: 'ENABLED'"
    assert disable_strategy(text, "b", AT, "r") == (
        f'a:\r\n  x: 1\r\nb:\r\n  status: DISABLED\r\n  disabled_at: "{AT}"\r\n  disabled_reason: "r"'
    )


def test_anchor_tag_and_comment_lines_around_the_strategy_key():
    text = "s: &s   # the s strategy\n  # limits below\n  by_regime: {}\n"
    assert disable_strategy(text, "s", AT, "r") == (
        f's: &s   # the s strategy\n  status: DISABLED\n  disabled_at: "{AT}"\n  disabled_reason: "r"\n'
        "  # limits below\n  by_regime: {}\n"
    )


def test_crlf_stale_last_line_moves_up_without_final_newline():
    text = 's:\r\n  lim: 1\r\n  disabled_at: "old"'
    assert disable_strategy(text, "s", AT, "r") == (
        f's:\r\n  status: DISABLED\r\n  disabled_at: "{AT}"\r\n  disabled_reason: "r"\r\n  lim: 1'
    )


def test_empty_status_value_gets_one():
    text = "s:\n  status:\n  x: 1\n"
    assert disable_strategy(text, "s", AT, "r") == (
        f's:\n  status: DISABLED\n  disabled_at: "{AT}"\n  disabled_reason: "r"\n  x: 1\n'
    )


@pytest.mark.parametrize(
    "text,needle",
    [
        ("", "1: strategy 'macro' not found: the kill list is empty"),
        ("# only a comment\n", "1: strategy 'macro' not found: the kill list is empty"),
        ("arb:\n  status: ENABLED\n", "1: strategy 'macro' not found in the kill list (has: arb)"),
        ("x: 1\nmacro: {status: ENABLED}\n", "2: strategy 'macro' is a flow mapping"),
        ("{macro: {status: ENABLED}}\n", "1: the kill list must be a block mapping"),
        ("- macro\n", "1: the kill list must be a block mapping"),
        ("macro:\n", "1: strategy 'macro' is not a mapping"),
        ("macro: &m\n  status: ENABLED\nclone: *m\n", "3: YAML aliases (*m) are not allowed in policy files"),
        ("base: &b {x: 1}\nmacro:\n  <<: *b\n", "3: YAML aliases (*b) are not allowed in policy files"),
        ("macro:\n  status:\n    - ENABLED\n", "2: macro.status: expected a single value"),
        ("? macro\n: status: ENABLED\n", "1: strategy 'macro': write the key as `macro:` alone on its line"),
        ("macro:\n  status: ENABLED\n  status: DISABLED\n", "3: found duplicate key"),
        ("macro:\n  status: [\n", f"{P}:"),
    ],
)
def test_refusals_are_one_line_user_errors(text, needle):
    with pytest.raises(UserError) as exc_info:
        disable_strategy(text, "macro", AT, "r")
    msg = one_line_error(exc_info)
    assert msg.startswith(f"{P}:") and needle in msg


def test_verification_catches_a_wrong_value(monkeypatch):
    monkeypatch.setattr(kill_list_edit, "yaml_double_quoted", lambda s: '"tampered"')
    with pytest.raises(RuntimeError, match="changed more than"):
        disable_strategy("s:\n  status: ENABLED\n", "s", AT, "r")


def test_verification_catches_a_touched_line():
    old = "# header\ns:\n  status: ENABLED\n"
    new = f'# header!\ns:\n  status: DISABLED\n  disabled_at: "{AT}"\n  disabled_reason: "r"\n'
    with pytest.raises(RuntimeError, match="touched other lines"):
        kill_list_edit._verify(old, new, parse_yaml_text(old, P).data, 0, "s", AT, "r", P)


# --- property: only the three lines change -----------------------------------------------------------

NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).map(lambda s: "s" + s)


@st.composite
def kill_lists(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=5, unique=True))
    step = draw(st.sampled_from([2, 4]))
    nl = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["# kill list", ""] if draw(st.booleans()) else []
    model = {}
    for name in names:
        pad, pad2 = " " * step, " " * (2 * step)
        block, entry = [f"{name}:"], {}
        body = []
        status = draw(st.sampled_from([None, "ENABLED", "'ENABLED'", "DISABLED"]))
        if status is not None:
            comment = "   # ENABLED | DISABLED" if draw(st.booleans()) else ""
            body.append(f"{pad}status: {status}{comment}")
            entry["status"] = status.strip("'")
        if draw(st.booleans()):
            body.append(f'{pad}disabled_at: "2025-0{draw(st.integers(1, 9))}-01T00:00:00Z"')
            entry["disabled_at"] = body[-1].split('"')[1]
        regimes = draw(
            st.dictionaries(
                st.sampled_from(["TREND", "RANGE", "CRASH"]),
                st.integers(1, 500) | st.floats(1, 500).map(lambda x: round(x, 2)),
                min_size=1,
            )
        )
        limits = [f"{pad}by_regime:"]
        for regime, limit in regimes.items():
            limits += [f"{pad2}{regime}:", f"{pad2}{' ' * step}max_cvar_error_bps: {limit}"]
        entry["by_regime"] = {r: {"max_cvar_error_bps": v} for r, v in regimes.items()}
        if draw(st.booleans()):
            body.append(f"{pad}disabled_reason: 'stale: it''s old'  # why")
            entry["disabled_reason"] = "stale: it's old"
        cut = draw(st.integers(0, len(body)))  # stale/status lines before or after the limits
        block += body[:cut] + limits + body[cut:]
        if draw(st.booleans()):
            block.append(f"{pad}# trailing comment for {name}")
        lines += block + ([""] if draw(st.booleans()) else [])
        model[name] = entry
    text = nl.join(lines) + (nl if draw(st.booleans()) else "")
    return text, model, draw(st.sampled_from(names)), nl, step


def _without_edited(text: str, strategy: str) -> list:
    """Lines of `text` minus the strategy's status/disabled_* lines (the only ones allowed to differ)."""
    out, inside = [], False
    for line in text.split("\n"):
        line = line.rstrip("\r")  # CRLF: a line that becomes the last one loses its whole terminator
        if line and not line[0].isspace():
            inside = line == f"{strategy}:"
        if not (inside and re.match(r"\s+(status|disabled_at|disabled_reason):", line)):
            out.append(line)
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(kill_lists(), st.text(max_size=30))
def test_disable_changes_only_three_lines(case, reason):
    text, model, strategy, nl, step = case
    out = disable_strategy(text, strategy, AT, reason)
    if model[strategy].get("status") == "DISABLED":
        assert out is None
        return
    expected = {k: dict(v) for k, v in model.items()}
    expected[strategy].update(status="DISABLED", disabled_at=AT, disabled_reason=kill_list_edit.one_line(reason))
    assert yaml.safe_load(out) == expected
    assert _without_edited(out, strategy) == _without_edited(text, strategy)
    new_lines = out.split("\n")
    block_start = new_lines.index(f"{strategy}:" + nl[:-1])
    status_at = next(j for j in range(block_start, len(new_lines)) if "status: DISABLED" in new_lines[j])
    pad = " " * step
    assert new_lines[status_at].startswith(f"{pad}status: DISABLED")
    assert new_lines[status_at + 1] == f'{pad}disabled_at: "{AT}"' + nl[:-1]
    assert new_lines[status_at + 2].startswith(f'{pad}disabled_reason: "')
    assert out.endswith("\n") == text.endswith("\n")
    assert (out.count("\n") == out.count("\r\n")) if nl == "\r\n" else ("\r" not in out)


# --- load_yaml / YamlDoc -----------------------------------------------------------------------------


def test_line_numbers_of_nested_keys():
    doc = load_yaml(GOLDEN / "kill_list_before.yaml", P)
    assert doc.line(("macro",)) == 7
    assert doc.line(("macro", "by_regime", "TREND", "max_cvar_error_bps")) == 12
    assert doc.line(("macro", "by_regime", "RANGE", "max_cvar_error_bps")) == 14
    assert doc.line(("macro", "by_regime", "CRASH", "max_cvar_error_bps")) == 10  # deepest existing key
    assert doc.line(("arb", "notes", "deeper")) == 22  # cannot go below a scalar
    assert doc.line(("nope",)) == doc.line(()) == 1


def test_line_of_list_items_and_empty_document():
    doc = parse_yaml_text("a:\n  - x\n  -\n    b: 1\n", "f.yaml")
    assert doc.line(("a", 0)) == 2 and doc.line(("a", 1, "b")) == 4 and doc.line(("a", 5)) == 1
    assert doc.line(("a", True)) == 1  # a bool is not an index: stops at "a"
    empty = parse_yaml_text("", "f.yaml")
    assert empty.data is None and empty.line(("a",)) == 1
    assert parse_yaml_text("# nothing\n", "f.yaml").data is None


def test_data_is_plain_python():
    doc = parse_yaml_text("a: 1.50\nb: 0x1F\nc: 'q'\nd: [true, null]\ne: {f: 2026-01-01T00:00:00Z}\n", "f")
    assert doc.data["a"] == 1.5 and type(doc.data["a"]) is float
    assert doc.data["b"] == 31 and type(doc.data["b"]) is int
    assert type(doc.data["c"]) is str and type(doc.data) is dict and type(doc.data["d"]) is list
    assert doc.data["d"] == [True, None] and type(doc.data["e"]["f"]).__module__ == "datetime"


def test_locate_message():
    doc = load_yaml(GOLDEN / "kill_list_before.yaml", P)
    err = ConfigError(("macro", "by_regime", "TREND", "max_cvar_error_bps"), "expected a number, got 'abc'")
    located = doc.locate(err)
    assert isinstance(located, UserError)
    assert str(located) == f"{P}:12: macro.by_regime.TREND.max_cvar_error_bps: expected a number, got 'abc'"
    assert str(doc.locate(ConfigError((), "expected a mapping"))) == f"{P}:1: expected a mapping"


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a: 1\nb:\n  c: 2\n  c: 3\n", 'k.yaml:4: found duplicate key "c" with value "3" (original value: "2")'),
        (
            "a:\n\tb: 1\n",
            "k.yaml:2: found character '\\t' that cannot start any token (while scanning for the "
            "next token); indent with spaces, not tabs",
        ),
        (
            "a: [1,\n",
            "k.yaml:2: expected the node content, but found '<stream end>' (while parsing a flow node at line 2)",
        ),
        ("a: b: c\n", "k.yaml:1: mapping values are not allowed here"),
        (
            "a: 1\n---\nb: 2\n",
            "k.yaml:2: but found another document (expected a single document in the stream at line 1)",
        ),
        ("a: 1\nb: \x07\n", "k.yaml:2: special characters are not allowed (character #x0007)"),
        ("a: !custom x\n", "k.yaml:1: unsupported YAML tag !custom on value 'x'"),
    ],
)
def test_yaml_errors_are_one_line(text, expected):
    with pytest.raises(UserError) as exc_info:
        parse_yaml_text(text, "k.yaml")
    assert one_line_error(exc_info) == expected


def test_load_yaml_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(UserError) as exc_info:
        load_yaml(bad, "policy/bad.yaml")
    assert one_line_error(exc_info) == "policy/bad.yaml:2: invalid UTF-8 (byte 0xe9); save the file as UTF-8"
    with pytest.raises(FileNotFoundError):
        load_yaml(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("")
    doc = load_yaml(tmp_path / "empty.yaml")
    assert isinstance(doc, YamlDoc) and doc.data is None and doc.path == str(tmp_path / "empty.yaml")


def test_disable_keeps_a_sigma_limit_and_the_result_is_a_valid_kill_list():
    from meta_supervisor.core.policy import parse_kill_list

    text = (
        "macro:\n  status: ENABLED\n  by_regime:\n    TREND:\n      max_cvar_error_bps: 120\n"
        "      max_cvar_error_sigma: 2.6   # sigma units\n    RANGE:\n      max_cvar_error_sigma: 3\n"
    )
    out = kill_list_edit.disable_in_kill_list(text, "macro", AT, "r")
    assert out == text.replace(
        "status: ENABLED\n", f'status: DISABLED\n  disabled_at: "{AT}"\n  disabled_reason: "r"\n'
    )
    pol = parse_kill_list(parse_yaml_text(out, P).data)["macro"]
    assert pol.status == "DISABLED" and pol.sigma_limits == {"TREND": 2.6, "RANGE": 3.0}
    assert kill_list_edit.disable_in_kill_list(out, "macro", AT, "r") is None


BILLION_LAUGHS = (
    "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['lol'] * 9)}]\n" for i in range(9))
    + "macro:\n  status: ENABLED\n  notes: *l8\n"
)


def test_an_alias_bomb_is_refused_at_once_by_the_loader_and_the_edit(tmp_path):
    """Nine levels of nine aliases expand to 9^9 nodes; the edit's checkers used to walk them."""
    import time

    path = tmp_path / "kill.yaml"
    path.write_text(BILLION_LAUGHS)
    started = time.monotonic()
    with pytest.raises(UserError, match=r"kill.yaml:2: YAML aliases \(\*l0\) are not allowed"):
        load_yaml(path, display_path="kill.yaml")
    with pytest.raises(UserError, match="YAML aliases"):
        disable_strategy(BILLION_LAUGHS, "macro", AT, "r")
    assert time.monotonic() - started < 5
