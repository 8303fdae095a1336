"""Saga mode: on failure, compensate completed steps newest first, log each, go FAILED_ROLLED_BACK."""

from __future__ import annotations

import pytest
import steps_kit
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.models import WorkflowStatus

SAGA = """\
workflow_type: "Order"
initial_state_model: "steps_kit.State"
saga_mode: true
steps:
  - name: "Reserve"
    function: "steps_kit.reserve"
    compensate_function: "steps_kit.undo_reserve"
    automate_next: true
  - name: "Log"
    function: "steps_kit.visit"
    automate_next: true
  - name: "Charge"
    function: "steps_kit.charge"
    compensate_function: "steps_kit.undo_charge"
    automate_next: true
  - name: "Ship"
    function: "steps_kit.ship"
    compensate_function: "steps_kit.undo_reserve"
"""


async def _events(env: Env, workflow_id: str) -> list[tuple[str, str | None]]:
    return [
        (e.event, e.step_name)
        for e in await env.store.load_log(workflow_id)
        if e.event.startswith("COMPENSAT") or e.event == "STEP_FAILED"
    ]


async def test_failure_compensates_completed_steps_in_reverse_order(env: Env) -> None:
    workflow = await env.start(SAGA)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED_ROLLED_BACK
    assert workflow.error is not None and "carrier down" in workflow.error
    assert steps_kit.COMPENSATIONS == ["undo_charge", "undo_reserve"], "Ship never completed"
    assert await _events(env, workflow.id) == [
        ("STEP_FAILED", "Ship"),
        ("COMPENSATED", "Charge"),
        ("COMPENSATED", "Reserve"),
    ]
    saved = await env.store.load_workflow(workflow.id)
    assert saved.status == "FAILED_ROLLED_BACK"
    assert saved.state["note"] == "reservation released", "a compensation's update is saved"
    assert saved.engine["compensations"] == [
        {"step": "Charge", "ok": True, "error": None},
        {"step": "Reserve", "ok": True, "error": None},
    ]


async def test_failing_compensation_is_logged_and_the_others_still_run(env: Env) -> None:
    steps_kit.FAIL["undo_charge"] = True
    workflow = await env.start(SAGA)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED_ROLLED_BACK
    assert steps_kit.COMPENSATIONS == ["undo_charge", "undo_reserve"]
    assert await _events(env, workflow.id) == [
        ("STEP_FAILED", "Ship"),
        ("COMPENSATION_FAILED", "Charge"),
        ("COMPENSATED", "Reserve"),
    ]
    failed = [e for e in await env.store.load_log(workflow.id) if e.event == "COMPENSATION_FAILED"]
    assert failed[0].message is not None and "refund API down" in failed[0].message
    records = (await env.store.load_workflow(workflow.id)).engine["compensations"]
    assert records[0]["ok"] is False and "refund API down" in records[0]["error"]


async def test_async_compensation_is_awaited(env: Env) -> None:
    workflow = await env.start(SAGA.replace("steps_kit.undo_charge", "steps_kit.undo_charge_async"))
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED_ROLLED_BACK
    assert steps_kit.COMPENSATIONS == ["undo_charge_async", "undo_reserve"]


async def test_compensations_survive_a_reload_between_steps(env: Env) -> None:
    text = SAGA.replace('    automate_next: true\n  - name: "Charge"', '  - name: "Charge"')
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.current_step_name == "Charge"
    again = await env.reload(workflow)
    await again.next_step()
    assert again.status == WorkflowStatus.FAILED_ROLLED_BACK
    assert steps_kit.COMPENSATIONS == ["undo_charge", "undo_reserve"]


async def test_without_saga_mode_nothing_is_compensated(env: Env) -> None:
    workflow = await env.start(SAGA.replace("saga_mode: true", "saga_mode: false"))
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED and steps_kit.COMPENSATIONS == []


async def test_success_runs_no_compensation(env: Env) -> None:
    workflow = await env.start(SAGA.replace("steps_kit.ship", "steps_kit.visit"))
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.COMPLETED and steps_kit.COMPENSATIONS == []


async def test_unimportable_compensate_function_is_reported_at_load(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(SAGA.replace("steps_kit.undo_charge", "steps_kit.no_undo"))
    message = str(caught.value)
    assert "step 'Charge' compensate_function" in message and "'steps_kit.no_undo'" in message


async def test_saga_mode_must_be_a_boolean(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(SAGA.replace("saga_mode: true", "saga_mode: sometimes"))
    assert "wf0.yaml, line 3" in str(caught.value) and "saga_mode" in str(caught.value)
