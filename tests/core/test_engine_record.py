"""The engine's bookkeeping lives in its own record; ``metadata`` is the user's alone."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import core_kit

from ruvon.builder import WorkflowBuilder
from ruvon.engine_record import EngineRecord, Failure, PendingChild
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus

FLOW = """\
workflow_type: "Meta"
initial_state_model: "core_kit.State"
steps:
  - name: "Echo"
    function: "core_kit.echo_metadata"
    automate_next: true
  - name: "Fan"
    type: PARALLEL
    allow_partial_success: true
    tasks:
      - {name: "echo", function_path: "core_kit.echo_metadata"}
      - {name: "broken", function_path: "core_kit.mutate_then_fail"}
    automate_next: true
  - name: "Fragile"
    function: "core_kit.fails_while_broken"
"""


async def test_user_metadata_is_saved_given_to_steps_and_never_written_by_the_engine(
    builder_for: Callable[[str], WorkflowBuilder], tmp_path: Path
) -> None:
    store = SQLitePersistenceProvider(str(tmp_path / "wf.db"))
    builder = builder_for(FLOW)
    core_kit.BROKEN["on"] = True
    try:
        workflow = await builder.create_workflow(
            "Meta",
            persistence_provider=store,
            execution_provider=SyncExecutor(),
            metadata={"tenant": "acme", "error": "a user key named like an engine key"},
        )
        await workflow.next_step()
    finally:
        core_kit.BROKEN["on"] = False
    user = {"tenant": "acme", "error": "a user key named like an engine key"}
    assert workflow.status is WorkflowStatus.FAILED
    assert workflow.state.details == user, "steps and tasks see the user's metadata only"
    assert workflow.failed_step == "Fragile" and "the service is broken" in (workflow.error or "")
    assert list(workflow.task_failures) == ["Fan"]
    assert "payment gateway" in workflow.task_failures["Fan"]["broken"]
    saved = await store.load_workflow(workflow.id)
    assert saved.metadata == user, "the engine wrote nothing into the user's metadata"
    assert saved.engine["error"]["step"] == "Fragile"
    assert set(saved.engine) == {"error", "task_failures", "executor"}

    reloaded = await builder.load_workflow(workflow.id, persistence_provider=store)
    assert (reloaded.error, reloaded.task_failures) == (workflow.error, workflow.task_failures)
    await reloaded.retry()
    assert reloaded.error is None and [f.step for f in reloaded.retries] == ["Fragile"]
    await reloaded.next_step()
    assert reloaded.status is WorkflowStatus.COMPLETED
    final = await store.load_workflow(workflow.id)
    assert final.metadata == user and "error" not in final.engine
    assert final.engine["retries"][0]["step"] == "Fragile"
    await store.close()


def test_engine_record_round_trips_and_skips_malformed_entries() -> None:
    record = EngineRecord(
        error=Failure("S", "boom", 1.5),
        loop_progress={"L": 2},
        sub_workflows={"Child": PendingChild("c-1", "out")},
        saga_completed=["A"],
    )
    assert EngineRecord.from_dict(record.to_dict()) == record
    assert EngineRecord().to_dict() == {}
    odd = EngineRecord.from_dict({"retries": [None, {"step": "S", "message": "m"}], "error": 3})
    assert odd.error is None and odd.retries == [Failure("S", "m", 0.0)]
