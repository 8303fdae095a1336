"""DECISION steps, ``routes`` on any step, and WorkflowJumpDirective."""

from __future__ import annotations

import pytest
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus

ROUTED = """\
workflow_type: "Routed"
initial_state_model: "steps_kit.State"
steps:
  - name: "Decide"
    type: "decision"
    automate_next: true
    routes:
      - condition: "state.amount > 100"
        target: "Big"
      - condition: "state.route == 'small'"
        next_step: "Small"
      - default: true
        target: "Other"
  - name: "Big"
    function: "steps_kit.visit"
    routes:
      - default: true
        target: "End"
  - name: "Small"
    function: "steps_kit.visit"
    routes:
      - default: true
        target: "End"
  - name: "Other"
    function: "steps_kit.visit"
  - name: "End"
    function: "steps_kit.visit"
"""


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"amount": 500}, ["Big", "End"]),
        ({"amount": 5, "route": "small"}, ["Small", "End"]),
        ({"amount": 5}, ["Other", "End"]),
    ],
)
async def test_decision_takes_first_matching_route_else_default(
    env: Env, data: dict[str, object], path: list[str]
) -> None:
    workflow = await env.start(ROUTED, data=data)
    assert await workflow.run_to_completion() == WorkflowStatus.COMPLETED
    assert workflow.state.path == path
    saved = await env.store.load_workflow(workflow.id)
    assert saved.status == "COMPLETED" and saved.state["path"] == path


async def test_routes_without_match_and_default_fall_through_to_next_step(env: Env) -> None:
    text = """\
    workflow_type: "FallThrough"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "First"
        function: "steps_kit.visit"
        automate_next: true
        routes:
          - condition: "state.n > 10"
            target: "Last"
      - name: "Middle"
        function: "steps_kit.visit"
        automate_next: true
      - name: "Last"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    _result, next_name = await workflow.next_step()
    assert next_name is None and workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.path == ["First", "Middle", "Last"]


async def test_route_on_standard_step_sees_the_state_the_step_produced(env: Env) -> None:
    text = """\
    workflow_type: "AfterStep"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Count"
        function: "steps_kit.increment"
        automate_next: true
        routes:
          - condition: "state.n == 1"
            target: "End"
      - name: "Skipped"
        function: "steps_kit.visit"
      - name: "End"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    await workflow.run_to_completion()
    assert (workflow.state.n, workflow.state.path) == (1, ["End"])


async def test_jump_directive_continues_at_target_with_its_result(env: Env) -> None:
    text = """\
    workflow_type: "Jump"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Start"
        type: DECISION
        function: "steps_kit.jump_to_end"
      - name: "Skipped"
        function: "steps_kit.visit"
      - name: "End"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    result, next_name = await workflow.next_step()
    assert next_name == "End" and result == {"path": ["jumped"]}
    await workflow.run_to_completion()
    assert workflow.state.path == ["jumped", "End"]
    assert (await env.store.load_workflow(workflow.id)).state["path"] == ["jumped", "End"]


async def test_jump_to_unknown_step_fails_the_workflow_naming_the_target(env: Env) -> None:
    text = """\
    workflow_type: "BadJump"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Start"
        function: "steps_kit.jump_nowhere"
      - name: "End"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "'NoSuchStep'" in workflow.error
    assert (await env.store.load_workflow(workflow.id)).status == "FAILED"


async def test_condition_that_fails_at_runtime_fails_the_workflow(env: Env) -> None:
    text = """\
    workflow_type: "BadCondition"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Decide"
        type: DECISION
        routes:
          - condition: "state.no_such_field > 1"
            target: "End"
      - name: "End"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "no_such_field" in workflow.error


async def test_bad_routes_are_all_reported_at_load_with_file_and_line(env: Env) -> None:
    text = """\
    workflow_type: "BadRoutes"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Decide"
        type: DECISION
        routes:
          - condition: "state.amount >"
            target: "End"
          - condition: "state.amount > 1"
            target: "Nowhere"
          - target: "End"
      - name: "Empty"
        type: DECISION
      - name: "End"
        function: "steps_kit.visit"
    """
    with pytest.raises(DefinitionError) as caught:
        await env.start(text)
    message = str(caught.value)
    assert "has 4 problems" in message
    assert "wf0.yaml, line 7" in message and "does not parse" in message
    assert "wf0.yaml, line 9" in message and "unknown step 'Nowhere'" in message
    assert "Steps: Decide, Empty, End" in message
    assert "wf0.yaml, line 11" in message and "neither 'condition' nor 'default: true'" in message
    assert "step 'Empty' has neither 'routes' nor 'function'" in message
