"""SUB_WORKFLOW: a parent waits for a child (which waits for a human), then a fire-and-forget.

Run from this folder: python main.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

CONFIG = Path(__file__).resolve().parent / "config"


async def main() -> None:
    store = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(config_dir=CONFIG)
    parent = await builder.create_workflow(
        "Order",
        persistence_provider=store,
        execution_provider=SyncExecutor(),
        initial_data={"order_id": "A-7"},
    )
    result, _ = await parent.next_step()
    print(f"parent: {parent.status}; child: {result['child_status']}")
    child = await builder.load_workflow(
        result["child_workflow_id"], persistence_provider=store, execution_provider=SyncExecutor()
    )
    await child.next_step(user_input={"cleared_by": "eve"})
    print(f"child: {child.status}")
    await parent.next_step()
    print(f"parent: {parent.status}; check: {parent.state.check}")
    assert parent.state.audit_id is not None
    for _ in range(100):  # the fire-and-forget child runs in the background
        if (await store.load_workflow(parent.state.audit_id)).status == "COMPLETED":
            break
        await asyncio.sleep(0.01)
    print(f"audit child: {(await store.load_workflow(parent.state.audit_id)).status}")


if __name__ == "__main__":
    asyncio.run(main())
