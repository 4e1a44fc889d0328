"""`make demo`'s script on a fresh folder leaves the artifacts the README promises."""

from __future__ import annotations

import json

from tests import demo_digest
from tests.conftest import run_script


def test_demo_leaves_its_workspace(tmp_path):
    root = tmp_path / "demo"
    proc = run_script("demo", root, check=True)
    card = json.loads((root / "state/models/ridge_h24.json").read_text())
    assert card["ok"] and card["skill_vs_zero"] > 0
    cells = json.loads((root / "state/strategy_cvar_regime.json").read_text())
    # the story's end: the desk raised macro's TREND limit to 150 after merging the disable
    assert cells["macro"]["TREND"]["limit_bps"] == 150 and cells["macro"]["TREND"]["cvar95_error_bps"] > 60
    # breaches only outside the current regime are reported, not proposed
    assert cells["arb"]["RANGE"]["cvar95_error_bps"] > cells["arb"]["RANGE"]["limit_bps"]
    assert sorted(p.name for p in (root / "outbox/pulls").glob("*.md")) == ["macro.enable.md", "macro.md"]
    assert "macro: outbox/pulls/macro.enable.md" in proc.stdout  # the re-enable proposal, after the hysteresis
    assert "status: ENABLED" in (root / "outbox/pulls/macro.enable.yaml").read_text().split("macro:")[1][:40]
    page = (root / "report/index.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count('<svg class="es"') >= 6
    alerts = json.loads((root / "state/divergence_alerts.json").read_text())["alerts"]
    # the planted drift only: with the errors' autocorrelation configured, no other agent alarms
    assert {a.get("agent") or a.get("strategy_class") for a in alerts} == {"mom-3"}
    assert "errors are autocorrelated" not in proc.stdout + proc.stderr
    assert "current regime: TREND" in proc.stdout and "macro" in proc.stdout
    assert list((root / "outbox/mail").glob("*.eml"))
    # running it again replaces the workspace instead of mixing two worlds
    run_script("demo", root, check=True)
    assert sorted(p.name for p in (root / "outbox/pulls").glob("*.md")) == ["macro.enable.md", "macro.md"]


def test_demo_refuses_a_folder_that_is_not_a_demo_workspace(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    proc = run_script("demo", tmp_path)
    assert proc.returncode == 1 and "not a demo workspace" in proc.stderr
    assert (tmp_path / "precious.txt").exists()


def test_demo_outputs_are_byte_identical_to_the_golden_digest(tmp_path):
    """Every file the demo leaves, and its stdout, hash as recorded in tests/golden/demo_digest.json
    (a refactoring keeps them; a deliberate change rewrites it with `python -m tests.demo_digest --write`)."""
    got = demo_digest.run_demo(tmp_path / "demo")
    want = json.loads(demo_digest.GOLDEN.read_text())
    assert {k: v for k, v in got.items() if want.get(k) != v} == {}
    assert set(got) == set(want)
