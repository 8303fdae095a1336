"""Workflow behaviour: chaining, failures that keep the last good state, jumps, pauses, versions."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.errors import VersionConflict, WorkflowStateError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import WorkflowStatus

CHAIN = """\
workflow_type: "Chain"
initial_state_model: "core_kit.State"
steps:
  - name: "First"
    function: "core_kit.increment"
    automate_next: true
  - name: "Second"
    function: "core_kit.increment"
  - name: "Third"
    function: "core_kit.set_flag"
"""


async def test_automate_next_chains_and_next_step_returns_result_and_next_name(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    workflow = await builder_for(CHAIN).create_workflow("Chain")
    assert workflow.status == "ACTIVE" and workflow.current_step_name == "First"
    result, next_name = await workflow.next_step()
    assert (result, next_name, workflow.state.n) == ({"n": 2}, "Third", 2)
    result, next_name = await workflow.next_step()
    assert next_name is None and workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.flag is True
    with pytest.raises(WorkflowStateError, match="COMPLETED"):
        await workflow.next_step()


async def test_failing_step_keeps_last_completed_state_saved_and_returns(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    persistence = InMemoryPersistenceProvider()
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.mutate_then_fail"')
    workflow = await builder_for(text).create_workflow(
        "Chain", persistence_provider=persistence, execution_provider=SyncExecutor()
    )
    await workflow.next_step()
    _result, next_name = await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED and next_name is None
    assert workflow.state.n == 2, "the in-place mutation of the failed step is undone"
    assert workflow.error is not None
    assert "step 'Third'" in workflow.error and "payment gateway unreachable" in workflow.error
    saved = await persistence.load_workflow(workflow.id)
    assert (saved.status, saved.state["n"], saved.engine["error"]["step"]) == (
        "FAILED",
        2,
        "Third",
    )
    log = await persistence.load_log(workflow.id)
    assert log[-1].event == "STEP_FAILED" and log[-1].step_name == "Third"


async def test_invalid_field_value_fails_the_step_naming_field(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.bad_type"')
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "field 'n'" in workflow.error
    assert workflow.state.n == 2


async def test_non_dict_result_names_the_step(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.returns_list"')
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert (
        workflow.error is not None
        and "step 'Third'" in workflow.error
        and "not a dict" in workflow.error
    )


async def test_a_returned_engine_record_is_not_taken_as_a_directive(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.returns_engine_record"')
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.FAILED and workflow.state.n == 2
    assert workflow.error is not None and "step 'Third'" in workflow.error
    assert "internal Invocation record" in workflow.error


async def test_retry_reruns_the_failed_step(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.mutate_then_fail"')
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.FAILED
    await workflow.retry()
    assert workflow.status == WorkflowStatus.ACTIVE and workflow.current_step_name == "Third"
    assert workflow.error is None


async def test_async_step_functions_are_awaited(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.async_step"')
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert workflow.state.b == "async"


async def test_routes_pick_the_next_step(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    text = CHAIN.replace(
        "    automate_next: true\n",
        '    automate_next: true\n    routes:\n      - condition: "state.n >= 1"\n'
        '        target: "Third"\n      - default: true\n        next_step: "Second"\n',
        1,
    )
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert (workflow.state.n, workflow.state.flag) == (1, True), "Second was skipped"


async def test_jump_directive(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    text = CHAIN.replace(
        '"core_kit.increment"\n    automate_next', '"core_kit.jump_to_last"\n    automate_next'
    )
    text = text.replace('name: "Third"', 'name: "Last"')
    workflow = await builder_for(text).create_workflow("Chain")
    await workflow.run_to_completion()
    assert (workflow.state.a, workflow.state.n, workflow.state.flag) == ("jumped", 0, True)


async def test_pause_directive_waits_for_input(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    # Second pauses: it is finished, and the input goes to Third (which pauses unless given input).
    text = CHAIN.replace('"core_kit.set_flag"', '"core_kit.pause_for_input"').replace(
        'name: "Second"\n    function: "core_kit.increment"',
        'name: "Second"\n    function: "core_kit.pause_for_input"',
    )
    workflow = await builder_for(text).create_workflow("Chain")
    _result, name = await workflow.next_step()
    assert workflow.status == WorkflowStatus.WAITING_HUMAN and name == "Third"
    await workflow.next_step(user_input="approved")
    assert workflow.status == WorkflowStatus.COMPLETED and workflow.state.a == "approved"


async def test_two_writers_cannot_overwrite_each_other(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    persistence = InMemoryPersistenceProvider()
    builder = builder_for(CHAIN)
    first = await builder.create_workflow("Chain", persistence_provider=persistence)
    second = await builder.load_workflow(first.id, persistence_provider=persistence)
    await first.next_step()
    with pytest.raises(VersionConflict, match="another writer"):
        await second.next_step()
    assert second.state.n == 0 and second.current_step_name == "First", "the stale copy is reset"
    stored = await persistence.load_workflow(first.id)
    assert stored.state["n"] == 2 and stored.status == "ACTIVE"


async def test_loaded_workflow_keeps_its_definition(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    persistence = InMemoryPersistenceProvider()
    builder = builder_for(CHAIN)
    workflow = await builder.create_workflow("Chain", persistence_provider=persistence)
    await workflow.next_step()
    changed = builder_for(CHAIN.replace('"Third"', '"Renamed"'))
    again = await changed.load_workflow(workflow.id, persistence_provider=persistence)
    assert again.current_step_name == "Third" and again.state.n == 2
    await again.run_to_completion()
    assert again.status == WorkflowStatus.COMPLETED


async def test_cancel(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    workflow = await builder_for(CHAIN).create_workflow("Chain")
    await workflow.cancel()
    assert workflow.status == WorkflowStatus.CANCELLED
    with pytest.raises(WorkflowStateError):
        await workflow.cancel()


def test_version_conflict_is_a_persistence_error() -> None:
    from ruvon.errors import PersistenceError, RuvonError

    assert issubclass(VersionConflict, PersistenceError) and issubclass(
        PersistenceError, RuvonError
    )


async def test_observer_sees_each_step_start_and_end_in_order(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    from typing import Any

    from ruvon.providers.observer import WorkflowObserver

    events: list[str] = []

    class Recorder(WorkflowObserver):
        async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
            events.append(f"start {step_index} {step_name}")

        async def on_step_executed(
            self,
            workflow_id: str,
            step_name: str,
            step_index: int,
            status: str,
            result: Any,
            current_state: dict[str, Any],
        ) -> None:
            events.append(f"end {step_index} {step_name} n={current_state['n']}")

    workflow = await builder_for(CHAIN).create_workflow("Chain", workflow_observer=Recorder())
    await workflow.run_to_completion()
    assert events == [
        "start 0 First",
        "end 0 First n=1",
        "start 1 Second",
        "end 1 Second n=2",
        "start 2 Third",
        "end 2 Third n=2",
    ]


async def test_what_observers_and_callers_change_after_a_save_never_reaches_the_store(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    # The in-memory store keeps the engine's saved records without copying their state (see
    # HandedOverRecord): the workflow's live metadata and what observers get are copies.
    from typing import Any

    from ruvon.providers.observer import WorkflowObserver

    class Vandal(WorkflowObserver):
        async def on_step_executed(
            self,
            workflow_id: str,
            step_name: str,
            step_index: int,
            status: str,
            result: Any,
            current_state: dict[str, Any],
        ) -> None:
            current_state["n"] = -1
            current_state["items"].append("from an observer")

        async def on_workflow_completed(
            self, workflow_id: str, workflow_type: str, final_state: dict[str, Any]
        ) -> None:
            final_state.clear()

    persistence = InMemoryPersistenceProvider()
    workflow = await builder_for(CHAIN).create_workflow(
        "Chain",
        initial_data={"items": [1]},
        persistence_provider=persistence,
        workflow_observer=Vandal(),
        metadata={"k": "v"},
    )
    await workflow.next_step()
    workflow.metadata["k"] = "changed in place, never saved"
    workflow.to_record().state["items"].append("from a caller's record")
    saved = await persistence.load_workflow(workflow.id)
    assert (saved.state["n"], saved.state["items"], saved.metadata) == (2, [1], {"k": "v"})
    await workflow.next_step()
    saved = await persistence.load_workflow(workflow.id)
    assert (saved.status, saved.state["n"], saved.state["items"]) == ("COMPLETED", 2, [1])
    assert workflow.saved_state["items"] == [1] and workflow.state.n == 2


async def test_owner_keys_must_be_plain_values(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    from ruvon.errors import ConfigurationError

    builder = builder_for(CHAIN)
    with pytest.raises(ConfigurationError, match=r"owner_id=.*must be a string"):
        await builder.create_workflow("Chain", owner_id={"not": "a string"})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"priority=.*must be an int"):
        await builder.create_workflow("Chain", priority="high")  # type: ignore[arg-type]
    workflow = await builder.create_workflow("Chain", owner_id="u-1", priority=5)
    assert (workflow.owner_id, workflow.priority) == ("u-1", 5)


async def test_only_observers_that_read_only_get_the_saved_state_itself(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    # Ours declare reads_state_only (no copy per step); any other observer gets a copy.
    from ruvon.implementations.observability.logging import LoggingObserver
    from ruvon.observability.composite import CompositeObserver
    from ruvon.providers.observer import WorkflowObserver
    from ruvon.testing.harness import _PathRecorder

    class Mine(WorkflowObserver):
        pass

    class MineReadsOnly(WorkflowObserver):
        reads_state_only = True

    builder = builder_for(CHAIN)
    for observer, shared in [
        (LoggingObserver(), True),
        (CompositeObserver([LoggingObserver(), LoggingObserver()]), True),
        (CompositeObserver([LoggingObserver(), Mine()]), False),
        (Mine(), False),
        (MineReadsOnly(), True),
        (CompositeObserver([LoggingObserver(), MineReadsOnly()]), True),
        (_PathRecorder({}), True),  # the test harness's recorder, forwarding to nobody
        (_PathRecorder({}, Mine()), False),  # ... or to the test's own observer
    ]:
        workflow = await builder.create_workflow("Chain", workflow_observer=observer)
        given = workflow.state_for_observer()
        assert given == workflow.saved_state
        assert (given is workflow._saved_state) is shared, type(observer).__name__


async def test_a_state_that_dumps_itself_is_copied_by_the_in_memory_store(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    import core_kit

    persistence = InMemoryPersistenceProvider()
    text = CHAIN.replace('"core_kit.State"', '"core_kit.DumpsItself"')
    workflow = await builder_for(text).create_workflow("Chain", persistence_provider=persistence)
    await workflow.next_step()
    core_kit.SHARED_DUMP["n"] = -1  # the model's own dict, changed after the save
    assert (await persistence.load_workflow(workflow.id)).state["n"] == 2
    await workflow.next_step()
    assert (await persistence.load_workflow(workflow.id)).state["n"] == 2
