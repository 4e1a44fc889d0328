"""The Actions adapter writes what the runner reads, and data cannot inject workflow commands."""

from __future__ import annotations

import io

from meta_supervisor.adapters.actions import Actions
from meta_supervisor.jobs import evaluate
from tests.test_evaluate import _world


def _actions(tmp_path, enabled=True):
    env = {"GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"), "GITHUB_OUTPUT": str(tmp_path / "output")}
    if enabled:
        env["GITHUB_ACTIONS"] = "true"
    out = io.StringIO()
    return Actions(env=env, out=out), out


def test_annotations_escape_data_and_properties(tmp_path):
    actions, out = _actions(tmp_path)
    actions.annotate("warning", "bad line\n::error::injected 100%", file="data/a,b:c.jsonl", line=7)
    assert out.getvalue() == ("::warning file=data/a%2Cb%3Ac.jsonl,line=7::bad line%0A::error::injected 100%25\n")


def test_groups_only_under_actions(tmp_path):
    actions, out = _actions(tmp_path)
    with actions.group("load"):
        print("inside", file=out)
    assert out.getvalue() == "::group::load\ninside\n::endgroup::\n"
    local, out2 = _actions(tmp_path, enabled=False)
    with local.group("load"):
        pass
    assert out2.getvalue() == ""


def test_outputs_single_and_multiline(tmp_path):
    actions, _ = _actions(tmp_path)
    actions.output("count", 3)
    actions.output("text", "a\nb")
    lines = (tmp_path / "output").read_text().splitlines()
    assert lines[0] == "count=3"
    assert lines[1].startswith("text<<ghadelim_") and lines[2:4] == ["a", "b"] and lines[4] == lines[1][6:]


def test_evaluate_writes_summary_outputs_and_breach_annotation(root, tmp_path):
    _world(root)
    actions, out = _actions(tmp_path)
    evaluate.run(root, dry_run=True, actions=actions, now="2026-11-28T01:00:00Z")
    summary = (tmp_path / "summary.md").read_text()
    assert "## Evaluate" in summary and "| `macro` | `TREND` (current) |" in summary
    assert "### Breaches: 1" in summary and "outbox/pulls/macro.md" in summary
    assert "### Divergence alerts" in summary
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines() if "=" in line)
    assert outputs["breaches"] == "1" and outputs["breached_strategies"] == "macro"
    assert "::error file=policy/strategy_kill_list.yaml,title=CVaR breach::macro: CVaR95" in out.getvalue()
    assert "::group::measure" in out.getvalue()
