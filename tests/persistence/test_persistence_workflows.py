"""Whole workflows on every store: 200 FastOrders workflows at once, none lost, all correct."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import persistence_flows as flows

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider

if TYPE_CHECKING:
    from conftest import StoreFactory

WORKFLOWS = 200


def order(n: int) -> dict[str, Any]:
    sku = "OUT-1" if n % 7 == 0 else f"W-{n}"
    return {
        "order_id": f"ORD-{n}",
        "customer_id": f"CUST-{n * 37}",
        "items": [{"sku": sku, "quantity": 1 + n % 3, "price": 9.99}] * (1 + n % 2),
        "total_amount": 20_000.0 if n % 11 == 0 else 19.98 + n,
    }


async def test_200_concurrent_workflows_complete_with_correct_states(
    stores: StoreFactory, tmp_path: Path
) -> None:
    builder = WorkflowBuilder(config_dir=flows.write_config(tmp_path / "config"))
    store = stores.new()
    executor = ThreadPoolExecutionProvider(max_workers=8)

    async def run(n: int) -> str:
        workflow = await builder.create_workflow(
            "FastOrders",
            persistence_provider=store,
            execution_provider=executor,
            initial_data=order(n),
            workflow_id=f"order-{n}",
        )
        await workflow.run_to_completion()
        return workflow.status.value

    try:
        statuses = await asyncio.gather(*(run(n) for n in range(WORKFLOWS)))
    finally:
        executor.close()

    assert statuses == ["COMPLETED"] * WORKFLOWS
    stored = await store.list_workflows(workflow_type="FastOrders", limit=10 * WORKFLOWS)
    assert len(stored) == WORKFLOWS
    for record in stored:
        n = int(record.id.removeprefix("order-"))
        assert record.status == "COMPLETED"
        assert record.state == flows.expected_order(order(n)), record.id
        assert record.version == 5  # created, then one save per step
        assert await store.load_task_results(record.id, "Parallel_Validation") == {}
    log = await store.load_log("order-3")
    assert [e.event for e in log if e.event == "STEP_COMPLETED"] == ["STEP_COMPLETED"] * 4
    assert sum(not r.state["ready_to_ship"] for r in stored) > 0  # both branches were taken


async def test_a_workflow_reloaded_from_the_store_continues(
    stores: StoreFactory, tmp_path: Path
) -> None:
    config = flows.write_config(tmp_path / "config")
    store = stores.new()
    executor = ThreadPoolExecutionProvider(max_workers=2)
    try:
        workflow = await WorkflowBuilder(config_dir=config).create_workflow(
            "FastOrders",
            persistence_provider=store,
            execution_provider=executor,
            initial_data=order(5),
        )
        reloaded = await WorkflowBuilder(config_dir=config).load_workflow(
            workflow.id, persistence_provider=store, execution_provider=executor
        )
        assert (reloaded.current_step_name, reloaded.state) == ("Validate_Order", workflow.state)
        assert await reloaded.run_to_completion() == "COMPLETED"
    finally:
        executor.close()
    assert reloaded.state.model_dump(mode="json") == flows.expected_order(order(5))
