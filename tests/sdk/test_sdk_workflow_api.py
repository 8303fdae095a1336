"""The SDK's Workflow API and pausing rule: to_dict, save, jump_to_step, cancel, saga, hooks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sdk_harness_kit as kit

from ruvon.errors import StateValidationError, WorkflowStateError
from ruvon.providers.observer import WorkflowObserver
from ruvon.testing import TestHarness

KIT = "sdk_harness_kit"


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    kit.REAL_CALLS.clear()
    yield
    kit.REAL_CALLS.clear()


def _paused_definition(**ask_keys: Any) -> dict[str, Any]:
    steps = [
        {"name": "Validate", "function": f"{KIT}.validate", "automate_next": True},
        {"name": "Ask", "function": f"{KIT}.ask", **ask_keys},
        {"name": "Record", "function": f"{KIT}.record", "automate_next": True},
        {"name": "Ship", "function": f"{KIT}.ship"},
    ]
    return kit.order_definition(saga_mode=False, steps=steps)


async def test_a_pausing_step_is_finished_and_the_input_reaches_the_next_step() -> None:
    async with TestHarness(definitions=(_paused_definition(),)) as harness:
        workflow = await harness.start_workflow("HarnessOrder")
        result = await harness.next_step(workflow)
        assert result == {"route": "asked"} and workflow.state.route == "asked"
        assert (workflow.status, workflow.current_step_name) == ("WAITING_HUMAN", "Record")
        assert harness.step_path(workflow) == ["Validate", "Ask"]
        # Empty input keeps it waiting; so does a reload.
        await harness.next_step(workflow, {})
        reloaded = await harness.load_workflow(workflow.id)
        assert (reloaded.status, reloaded.current_step_name) == ("WAITING_HUMAN", "Record")
        await harness.next_step(reloaded, {"approved": True, "reviewer": "kim", "amount": 9})
        assert reloaded.status == "COMPLETED"
        assert reloaded.state.log == ["True:kim"] and reloaded.state.amount == 9  # fields merged
        assert reloaded.state.approved is True and reloaded.state.reviewer == "kim"
        assert kit.REAL_CALLS == ["Validate", "record:dict", "Ship"]  # Ask never ran again


async def test_the_pausing_steps_input_model_and_required_input_apply() -> None:
    definition = _paused_definition(
        input_model=f"{KIT}.Decision", required_input=["approved", "reviewer"]
    )
    async with TestHarness(definitions=(definition,)) as harness:
        workflow = await harness.start_workflow("HarnessOrder")
        await harness.next_step(workflow)
        with pytest.raises(StateValidationError, match=r"lacks the required field.*'reviewer'"):
            await harness.next_step(workflow, {"approved": True})
        with pytest.raises(StateValidationError, match="does not fit its input_model Decision"):
            await harness.next_step(workflow, {"approved": "perhaps", "reviewer": "x"})
        assert workflow.status == "WAITING_HUMAN" and workflow.state.approved is None
        await harness.next_step(workflow, {"approved": False, "reviewer": "lee"})
        assert kit.REAL_CALLS[-2:] == ["record:Decision", "Ship"]
        assert workflow.state.log == ["False:lee"]


async def test_an_input_value_the_state_rejects_keeps_the_workflow_waiting() -> None:
    async with TestHarness(definitions=(_paused_definition(),)) as harness:
        workflow = await harness.start_workflow("HarnessOrder")
        await harness.next_step(workflow)
        with pytest.raises(StateValidationError, match="still waits"):
            await harness.next_step(workflow, {"amount": "lots"})
        assert workflow.status == "WAITING_HUMAN" and workflow.state.amount == 0


async def test_a_human_step_function_that_does_not_pause_gets_the_input_too() -> None:
    steps = [
        {"name": "Review", "type": "HUMAN_IN_LOOP", "function": f"{KIT}.greet_on_arrival"},
        {"name": "Ship", "function": f"{KIT}.ship"},
    ]
    async with TestHarness(definitions=(kit.order_definition(saga_mode=False, steps=steps),)) as h:
        workflow = await h.start_workflow("HarnessOrder")
        await h.next_step(workflow)
        assert (workflow.status, workflow.current_step_name) == ("WAITING_HUMAN", "Review")
        await h.next_step(workflow, {"note": "ok"})
        assert kit.REAL_CALLS == ["arrival:False", "arrival:True"]
        assert workflow.state.log == ["seen", "seen"] and workflow.current_step_name == "Ship"


class Hooks(WorkflowObserver):
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    async def on_workflow_paused(self, workflow_id: str, step_name: str, reason: str) -> None:
        self.events.append(("paused", step_name, reason))

    async def on_workflow_resumed(
        self, workflow_id: str, step_name: str, resume_data: dict[str, Any]
    ) -> None:
        self.events.append(("resumed", step_name, sorted(resume_data)))

    async def on_compensation_started(
        self, workflow_id: str, step_name: str, step_index: int
    ) -> None:
        self.events.append(("compensating", step_name, step_index))

    async def on_compensation_completed(
        self, workflow_id: str, step_name: str, success: bool, error: Exception | str | None = None
    ) -> None:
        self.events.append(("compensated", step_name, success))


async def test_observer_hooks_for_pause_resume_and_compensation() -> None:
    hooks = Hooks()
    async with TestHarness(definitions=(_paused_definition(),)) as harness:
        workflow = await harness.start_workflow("HarnessOrder", workflow_observer=hooks)
        await harness.next_step(workflow)
        await harness.next_step(workflow, {"reviewer": "kim"})
    assert hooks.events == [
        ("paused", "Ask", "a manager's decision"),
        ("resumed", "Record", ["reviewer"]),
    ]
    hooks.events.clear()
    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        harness.mock_step("Ship", raises=RuntimeError("no truck"))
        harness.mock_compensation("Charge", raises=RuntimeError("no refund"))
        workflow = await harness.start_workflow("HarnessOrder", workflow_observer=hooks)
        await harness.run(workflow)
    assert hooks.events == [("compensating", "Charge", 1), ("compensated", "Charge", False)]


async def test_enable_saga_mode_with_or_without_await() -> None:
    definition = kit.order_definition(saga_mode=False)
    async with TestHarness(definitions=(definition,)) as harness:
        harness.mock_step("Ship", raises=RuntimeError("no truck"))
        plain = await harness.start_workflow("HarnessOrder")
        assert plain.saga_mode is False
        plain.enable_saga_mode()  # not awaited: on at once, saved with the next step
        awaited = await harness.start_workflow("HarnessOrder")
        await awaited.enable_saga_mode()
        assert (await harness.load_workflow(awaited.id)).saga_mode is True
        for workflow in (plain, awaited):
            assert await harness.run(workflow) == "FAILED_ROLLED_BACK"
            assert workflow.state.refunded is True
        untouched = await harness.start_workflow("HarnessOrder")
        assert await harness.run(untouched) == "FAILED" and not untouched.state.refunded


async def test_to_dict_snapshot_index_and_execute_next_step() -> None:
    async with TestHarness(definitions=(kit.order_definition(),)) as harness:
        workflow = await harness.start_workflow("HarnessOrder", {"amount": 2})
        assert workflow.current_step_index == 0
        assert await workflow.execute_next_step() == {"shipped": True}  # the last result only
        data = workflow.to_dict()
        assert data["status"] == "COMPLETED" and data["state"]["amount"] == 2
        assert data["current_step"] == workflow.current_step_index == 3
        assert (data["id"], data["workflow_type"], data["saga_mode"]) == (
            workflow.id,
            "HarnessOrder",
            True,
        )
        snapshot = workflow.definition_snapshot
        assert [s["name"] for s in snapshot["steps"]] == ["Validate", "Charge", "Ship"]
        snapshot["steps"].clear()
        assert len(workflow.definition_snapshot["steps"]) == 3


async def test_jump_to_step_save_and_cancel_with_a_reason() -> None:
    async with TestHarness(definitions=(_paused_definition(),)) as harness:
        workflow = await harness.start_workflow("HarnessOrder")
        await workflow.jump_to_step("Ship")
        assert workflow.current_step_name == "Ship"
        reloaded = await harness.load_workflow(workflow.id)
        assert reloaded.current_step_name == "Ship"
        with pytest.raises(WorkflowStateError, match=r"no step 'Nope'.*Steps: Validate"):
            await workflow.jump_to_step("Nope")
        workflow.state.amount = 7
        await workflow.save()
        assert (await harness.load_workflow(workflow.id)).state.amount == 7
        await workflow.cancel(reason="Duplicate order detected")
        again = await harness.load_workflow(workflow.id)
        assert (
            again.status == "CANCELLED" and again.engine.cancel_reason == "Duplicate order detected"
        )
        log = await harness.persistence.load_log(workflow.id)
        assert any(e.event == "CANCELLED" and e.message == "Duplicate order detected" for e in log)
        with pytest.raises(WorkflowStateError, match="CANCELLED"):
            await workflow.jump_to_step("Ship")
