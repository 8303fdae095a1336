"""Parameters, ${ENV} values and whole workflows: data never becomes code (issue 9, item 3)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from security_kit import definition, gadget, run_definition

from ruvon.cli.validate import validate_file
from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus


def _touch(canary: Path) -> str:
    return f"__import__('pathlib').Path({str(canary)!r}).touch()"


def test_validate_reports_the_gadget_with_file_and_step(tmp_path: Path) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text(definition(gadget(tmp_path / "pwned")), encoding="utf-8")
    report = validate_file(path)
    assert not report.ok
    (problem,) = report.problems
    assert str(path) in problem and "step 'Decide'" in problem and "not allowed" in problem
    assert not (tmp_path / "pwned").exists()


async def test_a_workflow_routing_on_the_gadget_fails_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the load-time check switched off, the run-time evaluator still refuses it."""
    from ruvon import definition_checks, step_models

    monkeypatch.setattr(definition_checks, "expression_problems", lambda *args: [])
    monkeypatch.setattr(step_models, "expression_problems", lambda *args: [])
    canary = tmp_path / "pwned"
    workflow = await run_definition(tmp_path / "config", definition(gadget(canary)))
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "step 'Decide'" in workflow.error
    assert "not allowed" in workflow.error
    assert not canary.exists()


async def test_a_string_parameter_is_a_literal_in_a_condition(tmp_path: Path) -> None:
    canary = tmp_path / "pwned"
    text = definition(
        "state.tier == '{{ parameters.tier }}'", extra='parameters:\n  tier: "gold"\n'
    )
    evil = f"x' or {_touch(canary)} or '"
    workflow = await run_definition(tmp_path / "config", text, parameters={"tier": evil})
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.path == ["No"], "the tier is compared with the whole text"
    assert not canary.exists()
    condition = workflow.loaded.definition.steps[0].routes[0].condition
    assert condition is not None and "__import__" in condition  # inside a string literal


async def test_an_env_value_is_a_literal_in_a_condition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = tmp_path / "pwned"
    monkeypatch.setenv("RUVON_TEST_LIMIT", f"1 or {_touch(canary)}")
    text = definition("state.amount > ${RUVON_TEST_LIMIT:-3}")
    workflow = await run_definition(tmp_path / "config", text)
    assert workflow.status == WorkflowStatus.FAILED  # an int compared with a string
    assert workflow.error is not None and "Decide" in workflow.error
    assert not canary.exists()
    monkeypatch.setenv("RUVON_TEST_LIMIT", "4")
    workflow = await run_definition(tmp_path / "config2", text)
    assert workflow.state.path[0] == "Yes", "a number in the environment is a number"


async def test_a_numeric_parameter_keeps_working(tmp_path: Path) -> None:
    text = definition("state.amount >= {{ parameters.limit }}", extra="parameters:\n  limit: 10\n")
    workflow = await run_definition(tmp_path / "a", text, parameters={"limit": 3})
    assert workflow.state.path[0] == "Yes"
    workflow = await run_definition(tmp_path / "b", text)
    assert workflow.state.path == ["No"]


def test_a_parameter_of_the_wrong_type_is_refused_by_name(tmp_path: Path) -> None:
    from ruvon.builder import WorkflowBuilder

    config = tmp_path / "config"
    config.mkdir()
    text = definition("state.amount >= {{ parameters.limit }}", extra="parameters:\n  limit: 10\n")
    (config / "probe.yaml").write_text(text, encoding="utf-8")
    builder = WorkflowBuilder(config_dir=config, parameters={"limit": "1 or True"})
    with pytest.raises(DefinitionError, match="parameter 'limit' was given '1 or True'"):
        builder.get_definition("Probe")


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("state.{{ parameters.field }} > 1", "where a value cannot go"),
        ("{{ parameters.field }}(1)", "."),
    ],
)
def test_a_placeholder_cannot_stand_for_a_name(
    tmp_path: Path, condition: str, message: str
) -> None:
    path = tmp_path / "probe.yaml"
    path.write_text(
        definition(condition, extra='parameters:\n  field: "amount"\n'), encoding="utf-8"
    )
    report = validate_file(path)
    assert report.problems and any(message in p for p in report.problems), report.problems


def test_a_placeholder_cannot_choose_a_function(tmp_path: Path) -> None:
    path = tmp_path / "probe.yaml"
    text = definition("state.amount > 1", extra='parameters:\n  fn: "security_kit.visit"\n')
    path.write_text(
        text.replace('function: "security_kit.visit"', 'function: "{{ parameters.fn }}"', 1)
    )
    report = validate_file(path)
    assert any("names code to import" in p for p in report.problems), report.problems


def test_values_bring_no_template_code_and_are_not_rescanned(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ruvon.parameters import substitute

    monkeypatch.setenv("RUVON_TEST_SECRET", "hunter2")
    raw = {"parameters": {"host": "api"}, "url": "https://{{ parameters.host }}/{{ state.id }}"}
    with pytest.raises(DefinitionError, match="template delimiters"):
        substitute(raw, source="probe.yaml", overrides={"host": "{{ state.secret }}"})
    done = substitute(raw, source="probe.yaml", overrides={"host": "${RUVON_TEST_SECRET}"})
    assert done["url"] == "https://${RUVON_TEST_SECRET}/{{ state.id }}"


def _loop_definition(condition: str) -> str:
    return f"""\
workflow_type: "Looping"
initial_state_model: "security_kit.Order"
steps:
  - name: "Repeat"
    type: LOOP
    mode: WHILE
    while_condition: {json.dumps(condition)}
    max_iterations: 3
    loop_body:
      - name: "Body"
        function: "security_kit.visit"
"""


def _sub_workflow_definition(expression: str) -> str:
    return f"""\
workflow_type: "Parent"
initial_state_model: "security_kit.Order"
steps:
  - name: "Child"
    type: SUB_WORKFLOW
    workflow_type: "Probe"
    input_mapping:
      amount: {json.dumps(expression)}
"""


@pytest.mark.parametrize(
    ("make", "step"),
    [(_loop_definition, "Repeat"), (_sub_workflow_definition, "Child")],
    ids=["while_condition", "input_mapping"],
)
def test_validate_reports_the_gadget_in_every_kind_of_expression(
    tmp_path: Path, make: Any, step: str
) -> None:
    canary = tmp_path / "pwned"
    path = tmp_path / "probe.yaml"
    path.write_text(make(gadget(canary)), encoding="utf-8")
    report = validate_file(path)
    assert any(
        str(path) in p and f"step '{step}'" in p and "not allowed" in p for p in report.problems
    ), report.problems
    assert not canary.exists()


async def test_a_while_condition_gadget_fails_the_loop_at_run_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ruvon import definition_checks, step_models

    monkeypatch.setattr(definition_checks, "expression_problems", lambda *args: [])
    monkeypatch.setattr(step_models, "expression_problems", lambda *args: [])
    canary = tmp_path / "pwned"
    workflow = await run_definition(tmp_path / "config", _loop_definition(gadget(canary)))
    assert workflow.status == WorkflowStatus.FAILED and workflow.state.path == []
    assert workflow.error is not None and "not allowed" in workflow.error
    assert not canary.exists()
