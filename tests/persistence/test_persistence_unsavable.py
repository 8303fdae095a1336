"""A step result the store cannot save fails the step; the last good state is kept and saved."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import unsavable_kit as kit

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.models import WorkflowStatus
from ruvon.providers.persistence import PersistenceProvider

if TYPE_CHECKING:
    from conftest import StoreFactory


def _builder(tmp_path: Path, bad: str) -> WorkflowBuilder:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "unsavable.yaml").write_text(kit.CONFIG.format(bad=bad), encoding="utf-8")
    return WorkflowBuilder(config_dir=config)


async def _fails_then_retries(
    builder: WorkflowBuilder, store: PersistenceProvider, value: Any, field: str
) -> None:
    kit.RETURNS["when"] = value
    workflow = await builder.create_workflow(
        "Unsavable", persistence_provider=store, execution_provider=SyncExecutor()
    )
    await workflow.next_step()
    assert workflow.status is WorkflowStatus.FAILED and workflow.failed_step == "Bad"
    assert f"'{field}'" in (workflow.error or "") and "step 'Bad'" in (workflow.error or "")
    assert workflow.state.n == 1, "the live state is the last good one"
    saved = await store.load_workflow(workflow.id)
    assert (saved.status, saved.state, saved.engine["error"]["step"]) == (
        "FAILED",
        {"n": 1, "when": None},
        "Bad",
    )
    # Fixed: the step now returns a value the store can save; retry goes on from the saved state.
    kit.RETURNS["when"] = "fine"
    reloaded = await builder.load_workflow(workflow.id, persistence_provider=store)
    await reloaded.retry()
    await reloaded.run_to_completion()
    paused = reloaded.status is WorkflowStatus.WAITING_HUMAN
    if paused:  # the pausing step is finished and saved; its input goes to the next step
        await reloaded.next_step(user_input={"ok": True})
        await reloaded.run_to_completion()
    assert reloaded.status is WorkflowStatus.COMPLETED, reloaded.error
    # First +1, then +10 by the fixed step, then +1 by Last.
    assert reloaded.state.model_dump() == {"n": 12, "when": "fine"}


@pytest.mark.parametrize(
    "bad", [kit.STANDARD, kit.PARALLEL, kit.PAUSING], ids=["standard", "parallel", "pausing"]
)
async def test_a_value_that_does_not_dump_fails_the_step_on_every_store(
    stores: StoreFactory, tmp_path: Path, bad: str
) -> None:
    store = stores.new()
    await _fails_then_retries(_builder(tmp_path, bad), store, object(), "when")


@pytest.mark.postgres
async def test_a_value_postgres_refuses_fails_the_step(postgres_dsn: str, tmp_path: Path) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(postgres_dsn)
    try:
        await _fails_then_retries(_builder(tmp_path, kit.STANDARD), store, "a\u0000b", "when")
    finally:
        await store.close()
