"""HUMAN_IN_LOOP steps and WorkflowPauseDirective: wait, validate input, resume (also after restart)."""

from __future__ import annotations

from pathlib import Path

import pytest
import steps_kit
from steps_env import Env

from ruvon.builder import WorkflowBuilder
from ruvon.errors import DefinitionError, StateValidationError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus

REVIEW = """\
workflow_type: "Review"
initial_state_model: "steps_kit.State"
steps:
  - name: "Prepare"
    function: "steps_kit.visit"
    automate_next: true
  - name: "Approve"
    type: "HUMAN_IN_LOOP"
    function: "steps_kit.apply_approval"
    input_model: "steps_kit.Approval"
    automate_next: true
  - name: "Finish"
    function: "steps_kit.visit"
"""


async def test_human_step_waits_then_validated_input_reaches_the_function(env: Env) -> None:
    workflow = await env.start(REVIEW)
    result, next_name = await workflow.next_step()
    assert (result, next_name) == (None, "Approve")
    assert workflow.status == WorkflowStatus.WAITING_HUMAN
    assert (await env.store.load_workflow(workflow.id)).status == "WAITING_HUMAN"
    assert await workflow.next_step() == (None, "Approve"), "no input: still waiting"
    assert await workflow.run_to_completion() == WorkflowStatus.WAITING_HUMAN
    result, next_name = await workflow.next_step(user_input={"approved": True, "reviewer": "ann"})
    assert workflow.status == WorkflowStatus.COMPLETED and next_name is None
    assert (workflow.state.approved, workflow.state.reviewer) == (True, "ann")
    assert workflow.state.path == ["Prepare", "Finish"]


async def test_invalid_input_raises_and_the_workflow_still_waits(env: Env) -> None:
    workflow = await env.start(REVIEW)
    await workflow.next_step()
    with pytest.raises(StateValidationError) as caught:
        await workflow.next_step(user_input={"approved": "perhaps"})
    message = str(caught.value)
    assert "step 'Approve'" in message and "Approval" in message
    assert "'approved'" in message and "'reviewer'" in message
    assert workflow.status == WorkflowStatus.WAITING_HUMAN
    assert (await env.store.load_workflow(workflow.id)).status == "WAITING_HUMAN"
    await workflow.next_step(user_input={"approved": False, "reviewer": "bob"})
    assert workflow.status == WorkflowStatus.COMPLETED and workflow.state.approved is False


async def test_human_step_without_function_merges_input_fields(env: Env) -> None:
    text = """\
    workflow_type: "Note"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Ask"
        type: human_in_loop
      - name: "Done"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.WAITING_HUMAN
    await workflow.next_step(user_input={"note": "ok", "unknown": 1})
    assert workflow.state.note == "ok" and workflow.current_step_name == "Done"


async def test_pause_directive_from_a_standard_step_waits_for_input(env: Env) -> None:
    text = """\
    workflow_type: "Pause"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Ask"
        function: "steps_kit.pause_unless_input"
      - name: "Done"
        function: "steps_kit.visit"
    """
    workflow = await env.start(text)
    result, next_name = await workflow.next_step()
    # The pausing step is finished (its result merged); the input goes to the next step.
    assert (result, next_name) == ({"note": "needs a note"}, "Done")
    assert workflow.status == WorkflowStatus.WAITING_HUMAN and workflow.state.note == "needs a note"
    assert await workflow.next_step(user_input={}) == (None, "Done")  # empty input: still waiting
    result, next_name = await workflow.next_step(user_input={"note": "fine"})
    assert (workflow.state.note, next_name, workflow.status) == ("fine", None, "COMPLETED")
    assert steps_kit.CALLS.count("Done") == 1


async def test_waiting_workflow_survives_a_restart_on_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "review.yaml").write_text(REVIEW, encoding="utf-8")
    db = tmp_path / "ruvon.db"

    first_store = SQLitePersistenceProvider(db)
    first = await WorkflowBuilder(config_dir=config).create_workflow(
        "Review", persistence_provider=first_store, execution_provider=SyncExecutor()
    )
    await first.next_step()
    assert first.status == WorkflowStatus.WAITING_HUMAN
    await first_store.close()

    second_store = SQLitePersistenceProvider(db)
    try:
        again = await WorkflowBuilder(config_dir=config).load_workflow(
            first.id, persistence_provider=second_store, execution_provider=SyncExecutor()
        )
        assert (again.status, again.current_step_name) == ("WAITING_HUMAN", "Approve")
        assert again.state.path == ["Prepare"]
        with pytest.raises(StateValidationError):
            await again.next_step(user_input={"approved": True})
        await again.next_step(user_input={"approved": True, "reviewer": "cy"})
        assert again.status == WorkflowStatus.COMPLETED
        saved = await second_store.load_workflow(first.id)
        assert (saved.status, saved.state["reviewer"]) == ("COMPLETED", "cy")
    finally:
        await second_store.close()


async def test_unimportable_input_model_is_reported_at_load(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(REVIEW.replace("steps_kit.Approval", "steps_kit.NoSuchModel"))
    message = str(caught.value)
    assert "step 'Approve'" in message and "'steps_kit.NoSuchModel'" in message
    assert "input_model" in message


async def test_unknown_key_on_human_step_is_reported_with_line_and_valid_keys(env: Env) -> None:
    with pytest.raises(DefinitionError) as caught:
        await env.start(REVIEW.replace('input_model: "steps_kit.Approval"', "input_modl: x"))
    message = str(caught.value)
    assert "wf0.yaml, line 10" in message and "unknown key 'input_modl'" in message
    assert "Valid keys:" in message and "input_model" in message
