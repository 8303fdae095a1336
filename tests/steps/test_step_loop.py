"""LOOP steps: ITERATE over a state list, WHILE a condition holds, max_iterations, resume."""

from __future__ import annotations

import pytest
import steps_kit
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus

ITERATE = """\
workflow_type: "Sum"
initial_state_model: "steps_kit.State"
steps:
  - name: "SumItems"
    type: LOOP
    mode: iterate
    iterate_over: "state.items"
    item_var_name: "item"
    automate_next: true
    loop_body:
      - name: "Add"
        function: "steps_kit.add_item"
  - name: "Done"
    function: "steps_kit.visit"
"""


async def test_iterate_passes_item_kwarg_and_context_loop_item(env: Env) -> None:
    workflow = await env.start(ITERATE, data={"items": [5, 7, 9]})
    result, next_name = await workflow.next_step()
    assert result == {"path": ["Done"]} and next_name is None
    assert workflow.status == WorkflowStatus.COMPLETED
    assert (workflow.state.total, workflow.state.seen) == (21, [5, 7, 9])
    assert steps_kit.CONTEXTS == [(5, 0), (7, 1), (9, 2)]
    saved = await env.store.load_workflow(workflow.id)
    assert saved.state["total"] == 21 and "SumItems" not in saved.engine.get("loop_progress", {})


async def test_item_var_name_names_the_keyword_argument(env: Env) -> None:
    text = """\
    workflow_type: "Orders"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "EachOrder"
        type: LOOP
        iterate_over: "items"
        item_var_name: "order"
        loop_body:
          - name: "Record"
            function: "steps_kit.add_order"
    """
    workflow = await env.start(text, data={"items": ["a", "b"]})
    await workflow.run_to_completion()
    assert workflow.state.seen == ["0:a", "1:b"]


async def test_empty_list_runs_no_iteration(env: Env) -> None:
    workflow = await env.start(ITERATE)
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.COMPLETED and steps_kit.CONTEXTS == []


WHILE = """\
workflow_type: "Count"
initial_state_model: "steps_kit.State"
steps:
  - name: "CountUp"
    type: LOOP
    mode: WHILE
    while_condition: "state.n < 3"
    max_iterations: 3
    loop_body:
      - name: "Inc"
        function: "steps_kit.increment"
      - name: "Trace"
        function: "steps_kit.visit"
"""


async def test_while_runs_body_steps_in_order_until_condition_is_false(env: Env) -> None:
    workflow = await env.start(WHILE)
    result, next_name = await workflow.next_step()
    assert result == {"iterations": 3} and next_name is None
    assert workflow.state.n == 3 and workflow.state.path == ["Trace"] * 3
    assert steps_kit.CALLS == ["Inc", "Trace"] * 3


async def test_while_exceeding_max_iterations_fails_with_a_clear_message(env: Env) -> None:
    workflow = await env.start(WHILE.replace("state.n < 3", "state.n < 100"))
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None
    assert "step 'CountUp'" in workflow.error and "max_iterations (3)" in workflow.error
    saved = await env.store.load_workflow(workflow.id)
    assert saved.status == "FAILED" and saved.state["n"] == 3


async def test_failure_in_iteration_k_resumes_at_k_after_retry(env: Env) -> None:
    steps_kit.FAIL["item"] = 3
    workflow = await env.start(ITERATE, data={"items": [1, 2, 3, 4]})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "item 3 is bad" in workflow.error
    assert workflow.state.total == 3, "iterations 1 and 2 were checkpointed"
    saved = await env.store.load_workflow(workflow.id)
    assert saved.state["total"] == 3 and saved.engine["loop_progress"] == {"SumItems": 2}

    steps_kit.FAIL.clear()
    again = await env.reload(workflow)
    await again.retry()
    await again.run_to_completion()
    assert again.status == WorkflowStatus.COMPLETED
    assert (again.state.total, again.state.seen) == (10, [1, 2, 3, 4])
    assert steps_kit.CALLS == ["add:1", "add:2", "add:3", "add:3", "add:4", "Done"]


async def test_parallel_body_runs_its_tasks_again_in_every_iteration(env: Env) -> None:
    text = """\
    workflow_type: "LoopParallel"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Repeat"
        type: LOOP
        iterate_over: "items"
        loop_body:
          - name: "Both"
            type: PARALLEL
            tasks:
              - name: "One"
                function: "steps_kit.state_plus_one"
              - name: "Ten"
                function: "steps_kit.state_plus_ten"
    """
    workflow = await env.start(text, data={"items": [1, 2, 3]})
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert (workflow.state.n, workflow.state.total) == (3, 30)


async def test_iterate_over_a_non_list_fails_the_workflow(env: Env) -> None:
    text = ITERATE.replace('"state.items"', '"state.n"')
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "'iterate_over: state.n' is int, not a list" in (
        workflow.error
    )


async def test_bad_loop_definitions_are_reported_together(env: Env) -> None:
    text = """\
    workflow_type: "BadLoops"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "NoList"
        type: LOOP
        loop_body:
          - name: "A"
            function: "steps_kit.visit"
      - name: "NoCondition"
        type: LOOP
        mode: WHILE
        loop_body:
          - name: "B"
            type: HUMAN_IN_LOOP
      - name: "Empty"
        type: LOOP
        iterate_over: "items"
    """
    with pytest.raises(DefinitionError) as caught:
        await env.start(text)
    message = str(caught.value)
    assert "has 4 problems" in message
    assert "wf0.yaml, line 4: LOOP step 'NoList' in ITERATE mode needs 'iterate_over'" in message
    assert "wf0.yaml, line 9: LOOP step 'NoCondition' in WHILE mode needs a 'while_condition'" in (
        message
    )
    assert "body step 'B' is HUMAN_IN_LOOP" in message
    assert "wf0.yaml, line 15: LOOP step 'Empty' has an empty 'loop_body'" in message


async def test_iterate_over_must_name_a_state_field(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(ITERATE.replace('"state.items"', '"state.itemz"'))
    message = str(caught.value)
    assert "wf0.yaml, line 7" in message
    assert "'iterate_over: state.itemz' of step 'SumItems' names no field of State" in message


async def test_body_function_with_required_item_parameter_loads(env: Env) -> None:
    workflow = await env.start(
        ITERATE.replace("steps_kit.add_item", "steps_kit.required_item"), data={"items": [1]}
    )
    await workflow.run_to_completion()
    assert workflow.state.seen == [1]
