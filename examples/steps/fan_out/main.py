"""Dynamic PARALLEL fan-out: one task per item, at most 4 at once, results collected in order.

Run from this folder: python main.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

CONFIG = Path(__file__).resolve().parent / "config"


async def main() -> None:
    pool = ThreadPoolExecutionProvider(max_workers=4)
    workflow = await WorkflowBuilder(config_dir=CONFIG).create_workflow(
        "PriceAll",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=pool,
        initial_data={"skus": ["A1", "BB22", "X9", "CCC333"]},
    )
    await workflow.run_to_completion()
    pool.close()
    for sku, result in zip(workflow.state.skus, workflow.state.prices, strict=True):
        print(f"{sku}: {result}")
    print(f"failed: {sorted(workflow.task_failures['Price'])}")
    print(f"status: {workflow.status}")


if __name__ == "__main__":
    asyncio.run(main())
