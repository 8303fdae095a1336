"""Registry files (``workflows:`` lists) are read as registries."""

from __future__ import annotations

from pathlib import Path

import yaml

from ruvon.registry_file import is_registry, registry_problems

PAGES = Path(__file__).resolve().parent / "pages"


def test_the_getting_started_registry_is_a_registry_without_problems() -> None:
    path = PAGES / "getting_started" / "config" / "workflow_registry.yaml"
    raw = yaml.safe_load(path.read_text("utf-8"))
    assert is_registry(raw)
    assert registry_problems(path, raw) == []
    definition = yaml.safe_load((path.parent / "hello_workflow.yaml").read_text("utf-8"))
    assert not is_registry(definition)


def test_registry_problems_name_the_entry_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("workflow_type: A\ninitial_state_model: m.S\nsteps: []\n")
    raw = {
        "workflows": [
            {"type": "B", "config_file": "a.yaml", "initial_state_model": "m.Other"},
            {"type": "C", "config_file": "missing.yaml", "colour": "red"},
            {"config_file": "a.yaml"},
        ],
        "requires": ["some-package"],
        "extra": 1,
    }
    problems = registry_problems(tmp_path / "reg.yaml", raw)
    text = "\n".join(problems)
    assert "unknown key 'extra' in a registry file" in text
    assert "entry 1 registers type 'B', but" in text and "workflow_type 'A'" in text
    assert "entry 1 gives initial_state_model 'm.Other', but" in text
    assert "entry 2: unknown key 'colour'" in text and "missing.yaml, which does not exist" in text
    assert "entry 3 needs 'type' and 'config_file'" in text
    assert len(problems) == 6


def test_ruvon_validate_reads_a_registry_in_config_as_a_registry(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ruvon.cli.main import app

    config = tmp_path / "config"
    config.mkdir()
    page = PAGES / "getting_started" / "config"
    for name in ("hello_workflow.yaml", "workflow_registry.yaml"):
        (config / name).write_text((page / name).read_text("utf-8"), "utf-8")
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code == 0, result.output
    assert "workflow_registry.yaml  (registry, 1 workflow)" in result.output
    (config / "workflow_registry.yaml").write_text(
        "workflows:\n  - {type: Other, config_file: hello_workflow.yaml}\n", "utf-8"
    )
    result = CliRunner().invoke(app, ["validate", str(config)])
    assert result.exit_code != 0
    assert "registers type 'Other'" in result.output
