"""Sub-workflows: SUB_WORKFLOW steps (WAIT, FIRE_AND_FORGET) and StartSubWorkflowDirective."""

from __future__ import annotations

import asyncio

import pytest
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus

PARENT = """\
workflow_type: "Parent"
initial_state_model: "steps_kit.State"
steps:
  - name: "RunChild"
    type: SUB_WORKFLOW
    workflow_type: "Child"
    input_mapping:
      n: "state.n + 1"
    initial_data:
      note: "from parent"
    output_key: "child"
    automate_next: true
  - name: "Finish"
    function: "steps_kit.visit"
"""

CHILD = """\
workflow_type: "Child"
initial_state_model: "steps_kit.State"
steps:
  - name: "Double"
    function: "steps_kit.double"
"""

HUMAN_CHILD = """\
workflow_type: "Child"
initial_state_model: "steps_kit.State"
steps:
  - name: "Ask"
    type: HUMAN_IN_LOOP
    automate_next: true
  - name: "Double"
    function: "steps_kit.double"
"""


async def test_wait_gives_the_parent_the_childs_final_state_under_output_key(env: Env) -> None:
    parent = await env.start(PARENT, CHILD, data={"n": 4})
    await parent.next_step()
    assert parent.status == WorkflowStatus.COMPLETED
    child_state = parent.state.child
    assert child_state is not None and (child_state["n"], child_state["note"]) == (10, "child done")
    assert parent.state.path == ["Finish"] and parent.state.n == 4
    assert parent.engine.sub_workflows == {}, "the finished child is no longer pending"
    children = [r for r in await env.store.list_workflows() if r.workflow_type == "Child"]
    assert len(children) == 1
    assert (children[0].status, children[0].parent_id) == ("COMPLETED", parent.id)


async def test_without_output_key_shared_fields_are_copied(env: Env) -> None:
    parent = await env.start(PARENT.replace('    output_key: "child"\n', ""), CHILD, data={"n": 1})
    await parent.next_step()
    assert parent.status == WorkflowStatus.COMPLETED
    assert (parent.state.n, parent.state.note, parent.state.child) == (4, "child done", None)


async def test_failed_child_fails_the_parent_with_failed_child_workflow(env: Env) -> None:
    parent = await env.start(PARENT, CHILD.replace("steps_kit.double", "steps_kit.child_fails"))
    await parent.next_step()
    assert parent.status == WorkflowStatus.FAILED_CHILD_WORKFLOW
    assert parent.error is not None and "child broke" in parent.error
    assert "ended FAILED" in parent.error
    saved = await env.store.load_workflow(parent.id)
    assert saved.status == "FAILED_CHILD_WORKFLOW"


async def test_child_waiting_for_a_human_keeps_the_parent_pending(env: Env) -> None:
    parent = await env.start(PARENT, HUMAN_CHILD, data={"n": 1})
    result, next_name = await parent.next_step()
    assert parent.status == WorkflowStatus.PENDING_SUB_WORKFLOW and next_name == "RunChild"
    assert result["child_status"] == "WAITING_HUMAN"
    assert (await env.store.load_workflow(parent.id)).status == "PENDING_SUB_WORKFLOW"
    assert await parent.run_to_completion() == WorkflowStatus.PENDING_SUB_WORKFLOW

    await parent.next_step()  # the child still waits: so does the parent
    assert parent.status == WorkflowStatus.PENDING_SUB_WORKFLOW

    child = await env.builder().load_workflow(
        result["child_workflow_id"], persistence_provider=env.store, execution_provider=env.executor
    )
    assert child.status == WorkflowStatus.WAITING_HUMAN
    await child.next_step(user_input={"note": "approved"})
    assert child.status == WorkflowStatus.COMPLETED

    again = await env.reload(parent)
    await again.next_step()
    assert again.status == WorkflowStatus.COMPLETED
    assert again.state.child is not None and again.state.child["n"] == 4
    assert again.state.path == ["Finish"]


async def test_fire_and_forget_starts_an_independent_child(env: Env) -> None:
    text = PARENT.replace('    output_key: "child"\n', '    output_key: "child_id"\n').replace(
        '    workflow_type: "Child"\n', '    workflow_type: "Child"\n    mode: fire_and_forget\n'
    )
    parent = await env.start(text, CHILD, data={"n": 2})
    await parent.next_step()
    assert parent.status == WorkflowStatus.COMPLETED and parent.state.path == ["Finish"]
    child_id = parent.state.child_id
    assert child_id is not None
    for _ in range(500):
        record = await env.store.load_workflow(child_id)
        if record.status == "COMPLETED":
            break
        await asyncio.sleep(0.01)
    assert (record.status, record.state["n"], record.parent_id) == ("COMPLETED", 6, parent.id)


async def test_start_sub_workflow_directive_waits_and_stores_under_data_region(env: Env) -> None:
    text = """\
    workflow_type: "Directive"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Delegate"
        function: "steps_kit.start_child"
      - name: "Finish"
        function: "steps_kit.visit"
    """
    parent = await env.start(text, CHILD, data={"n": 3})
    _, next_name = await parent.next_step()
    assert next_name == "Finish"
    assert parent.state.child is not None and parent.state.child["n"] == 6


async def test_unparseable_input_mapping_is_reported_with_line(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(PARENT.replace('n: "state.n + 1"', 'n: "state.n +"'), CHILD)
    message = str(caught.value)
    assert "wf0.yaml, line 4" in message and "input_mapping 'n'" in message
    assert "'state.n +' of step 'RunChild' does not parse" in message


async def test_unknown_child_type_is_refused_at_load_naming_the_type(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(PARENT.replace('workflow_type: "Child"', 'workflow_type: "Nope"'))
    message = str(caught.value)
    assert "step 'RunChild'" in message and "'Nope' is not defined" in message


async def test_bad_sub_workflow_definition_is_reported_with_line(env: Env) -> None:
    text = PARENT.replace('workflow_type: "Child"', "mode: later")
    with pytest.raises(DefinitionError) as caught:
        await env.start(text, CHILD)
    message = str(caught.value)
    assert "step 'RunChild' is missing the required key 'workflow_type'" in message
    assert "wf0.yaml, line 6" in message and "'WAIT' or 'FIRE_AND_FORGET'" in message


async def test_run_to_completion_of_a_reloaded_parent_whose_child_completed_goes_on(
    env: Env,
) -> None:
    parent = await env.start(PARENT, HUMAN_CHILD, data={"n": 1})
    result, _ = await parent.next_step()
    assert parent.status == WorkflowStatus.PENDING_SUB_WORKFLOW
    child = await env.builder().load_workflow(
        result["child_workflow_id"], persistence_provider=env.store, execution_provider=env.executor
    )
    await child.next_step(user_input={"note": "approved"})
    assert child.status == WorkflowStatus.COMPLETED

    again = await env.reload(parent)
    assert again.status == WorkflowStatus.PENDING_SUB_WORKFLOW
    assert await again.run_to_completion() == WorkflowStatus.COMPLETED
    assert again.state.child is not None and again.state.child["n"] == 4
