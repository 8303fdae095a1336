"""One rule for applying results: every step type, and initial data, follow the model's ``extra``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.errors import StateValidationError
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import WorkflowStatus

STANDARD = """\
workflow_type: "R"
initial_state_model: "core_kit.{model}"
steps:
  - name: "Set"
    function: "core_kit.set_flag"
"""

PARALLEL = """\
workflow_type: "R"
initial_state_model: "core_kit.{model}"
steps:
  - name: "Set"
    type: PARALLEL
    tasks:
      - {{name: "plain", function_path: "core_kit.increment"}}
      - {{name: "setter", function_path: "core_kit.set_flag"}}
"""

KINDS = {"STANDARD": STANDARD, "PARALLEL": PARALLEL}


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_key_under_ignore_is_dropped_with_one_warning(
    kind: str, builder_for: Callable[[str], WorkflowBuilder], caplog: pytest.LogCaptureFixture
) -> None:
    builder = builder_for(KINDS[kind].format(model="State"))
    workflow = await builder.create_workflow("R", execution_provider=SyncExecutor())
    with caplog.at_level(logging.WARNING, logger="ruvon"):
        await workflow.next_step()
    assert workflow.status is WorkflowStatus.COMPLETED and workflow.state.flag is True
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "'not_a_field'" in warnings[0].getMessage()
    assert "step 'Set'" in warnings[0].getMessage()


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_key_under_forbid_fails_the_step_naming_step_and_key(
    kind: str, builder_for: Callable[[str], WorkflowBuilder]
) -> None:
    store = InMemoryPersistenceProvider()
    builder = builder_for(KINDS[kind].format(model="StrictState"))
    workflow = await builder.create_workflow(
        "R", persistence_provider=store, execution_provider=SyncExecutor()
    )
    await workflow.next_step()
    assert workflow.status is WorkflowStatus.FAILED and workflow.failed_step == "Set"
    error = workflow.error or ""
    assert "step 'Set'" in error and "'not_a_field'" in error and "extra='forbid'" in error
    if kind == "PARALLEL":
        assert "task 'setter'" in error
    saved = await store.load_workflow(workflow.id)
    assert saved.state["flag"] is False, "the last good state is kept"


@pytest.mark.parametrize("kind", KINDS)
async def test_unknown_key_under_allow_is_stored(
    kind: str, builder_for: Callable[[str], WorkflowBuilder]
) -> None:
    store = InMemoryPersistenceProvider()
    builder = builder_for(KINDS[kind].format(model="OpenState"))
    workflow = await builder.create_workflow(
        "R", persistence_provider=store, execution_provider=SyncExecutor()
    )
    await workflow.next_step()
    assert workflow.status is WorkflowStatus.COMPLETED
    assert workflow.state.model_extra == {"not_a_field": 1}
    assert (await store.load_workflow(workflow.id)).state["not_a_field"] == 1


async def test_initial_data_follows_the_same_rule(
    builder_for: Callable[[str], WorkflowBuilder], caplog: pytest.LogCaptureFixture
) -> None:
    ignoring = builder_for(STANDARD.format(model="State"))
    with caplog.at_level(logging.WARNING, logger="ruvon"):
        workflow = await ignoring.create_workflow("R", initial_data={"n": 1, "typo_field": 2})
    assert workflow.state.n == 1
    assert [r.getMessage() for r in caplog.records if "'typo_field'" in r.getMessage()]
    forbidding = builder_for(STANDARD.format(model="StrictState"))
    with pytest.raises(StateValidationError, match="typo_field"):
        await forbidding.create_workflow("R", initial_data={"typo_field": 2})
