"""ASYNC steps: dispatched to the executor, PENDING_ASYNC until the result is collected."""

from __future__ import annotations

import pytest
import steps_kit
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus

ASYNC = """\
workflow_type: "Fetch"
initial_state_model: "steps_kit.State"
steps:
  - name: "Fetch"
    type: ASYNC
    function: "steps_kit.fetch"
    automate_next: true
  - name: "Use"
    function: "steps_kit.visit"
"""


async def test_async_step_is_pending_then_completes_on_the_next_call(env: Env) -> None:
    workflow = await env.start(ASYNC, data={"n": 7})
    result, next_name = await workflow.next_step()
    assert (result, next_name) == (None, "Fetch")
    assert workflow.status == WorkflowStatus.PENDING_ASYNC
    assert (await env.store.load_workflow(workflow.id)).status == "PENDING_ASYNC"
    _, next_name = await workflow.next_step()
    assert next_name is None and workflow.status == WorkflowStatus.COMPLETED
    assert (workflow.state.value, workflow.state.path) == ("fetched 7", ["Use"])
    assert steps_kit.CALLS.count("fetch") == 1


@pytest.mark.parametrize("function", ["steps_kit.fetch", "steps_kit.fetch_sync"])
async def test_run_to_completion_collects_the_result(env: Env, function: str) -> None:
    workflow = await env.start(ASYNC.replace("steps_kit.fetch", function))
    assert await workflow.run_to_completion() == WorkflowStatus.COMPLETED
    assert workflow.state.value in ("fetched 0", "fetched in a thread")


async def test_reloaded_pending_workflow_dispatches_again(env: Env) -> None:
    workflow = await env.start(ASYNC)
    await workflow.next_step()
    await workflow.pending_async["Fetch"]  # the first dispatch finishes; its holder is gone
    again = await env.reload(workflow)
    assert again.status == WorkflowStatus.PENDING_ASYNC
    assert await again.run_to_completion() == WorkflowStatus.COMPLETED
    assert steps_kit.CALLS.count("fetch") == 2, "steps run at least once"


async def test_failing_async_function_fails_the_workflow(env: Env) -> None:
    workflow = await env.start(ASYNC.replace("steps_kit.fetch", "steps_kit.fetch_fails"))
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.PENDING_ASYNC
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "ConnectionError: upstream gone" in workflow.error
    assert (await env.store.load_workflow(workflow.id)).status == "FAILED"


async def test_async_step_without_function_is_reported_at_load(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(ASYNC.replace('    function: "steps_kit.fetch"\n', ""))
    message = str(caught.value)
    assert "wf0.yaml, line 4: ASYNC step 'Fetch' has no 'function'" in message
