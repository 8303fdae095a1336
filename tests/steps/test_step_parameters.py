"""Load-time substitution: ``{{ parameters.x }}`` and ``${ENV_VAR:-default}`` in definitions."""

from __future__ import annotations

import textwrap

import pytest
import steps_kit
import yaml
from steps_env import Env

from ruvon.definition import load_definition
from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus
from ruvon.step_models import StandardStep

PARAMETERIZED = """\
workflow_type: "Params"
initial_state_model: "steps_kit.State"
description: "threshold {{ parameters.threshold }} in ${RUVON_TEST_REGION:-eu}"
parameters:
  threshold: 10
  attempts: 3
steps:
  - name: "Call"
    function: "steps_kit.flaky"
    retry:
      max_attempts: "{{ parameters.attempts }}"
      backoff_seconds: "${RUVON_TEST_BACKOFF:-0}"
    automate_next: true
    routes:
      - condition: "state.n >= {{ parameters.threshold }}"
        target: "Big"
  - name: "Small"
    function: "steps_kit.visit"
  - name: "Big"
    function: "steps_kit.visit"
"""


async def test_defaults_apply(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUVON_TEST_REGION", raising=False)
    monkeypatch.delenv("RUVON_TEST_BACKOFF", raising=False)
    workflow = await env.start(PARAMETERIZED)
    definition = workflow.loaded.definition
    assert definition.description == "threshold 10 in eu"
    step = definition.steps[0]
    assert step.retry is not None
    assert (step.retry.max_attempts, step.retry.backoff_seconds) == (3, 0.0)
    assert step.routes[0].condition == "state.n >= 10"
    await workflow.run_to_completion()
    assert workflow.state.path == ["Small", "Big"], "n is 3, below the threshold"


async def test_builder_parameters_override_defaults(env: Env) -> None:
    workflow = await env.start(PARAMETERIZED, parameters={"threshold": 2, "attempts": 4})
    step = workflow.loaded.definition.steps[0]
    assert step.retry is not None and step.retry.max_attempts == 4
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.COMPLETED and workflow.state.path == ["Big"]
    assert steps_kit.COUNTS["flaky"] == 3


async def test_a_reloaded_workflow_keeps_the_values_it_started_with(env: Env) -> None:
    workflow = await env.start(PARAMETERIZED, parameters={"threshold": 2})
    again = await env.reload(workflow)  # a builder without parameters
    assert again.loaded.definition.steps[0].routes[0].condition == "state.n >= 2"


def test_load_definition_takes_parameters_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUVON_TEST_REGION", "us")
    monkeypatch.setenv("RUVON_TEST_BACKOFF", "0.25")
    loaded = load_definition(
        yaml.safe_load(PARAMETERIZED), source="params.yaml", parameters={"threshold": 99}
    )
    assert loaded.definition.description == "threshold 99 in us"
    step = loaded.definition.steps[0]
    assert isinstance(step, StandardStep) and step.retry is not None
    assert step.retry.backoff_seconds == 0.25
    # The stored definition records the values used (defaults overridden), not only the defaults.
    assert loaded.raw["parameters"] == {"threshold": 99, "attempts": 3}


def test_unknown_parameter_names_it_and_the_known_ones() -> None:
    raw = yaml.safe_load(PARAMETERIZED.replace('parameters.threshold }}"', 'parameters.limit }}"'))
    with pytest.raises(DefinitionError) as caught:
        load_definition(raw, source="params.yaml")
    message = str(caught.value)
    assert "params.yaml" in message and "unknown parameter 'limit'" in message
    assert "(known: attempts, threshold)" in message


def test_unset_variable_without_default_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUVON_TEST_UNSET", raising=False)
    raw = yaml.safe_load(PARAMETERIZED.replace("${RUVON_TEST_REGION:-eu}", "${RUVON_TEST_UNSET}"))
    with pytest.raises(DefinitionError) as caught:
        load_definition(raw, source="params.yaml")
    assert "RUVON_TEST_UNSET" in str(caught.value) and ":-value" in str(caught.value)


def test_runtime_templates_are_left_alone() -> None:
    raw = yaml.safe_load(
        textwrap.dedent(
            """\
            workflow_type: "T"
            initial_state_model: "steps_kit.State"
            description: "{{ state.n }} and {{ parameters.x }}"
            parameters: {x: 1}
            steps:
              - name: "A"
                function: "steps_kit.visit"
            """
        )
    )
    loaded = load_definition(raw, source="t.yaml")
    assert loaded.definition.description == "{{ state.n }} and 1"


def test_parameters_must_be_a_mapping() -> None:
    raw = yaml.safe_load(PARAMETERIZED.replace("  threshold: 10\n  attempts: 3\n", "  - 10\n"))
    with pytest.raises(DefinitionError, match="'parameters' must be a mapping"):
        load_definition(raw, source="params.yaml")
