"""DECISION: route an order by its amount; a step function may also jump.

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
    builder = WorkflowBuilder(config_dir=CONFIG)
    for amount in (20, 400, 5000):
        workflow = await builder.create_workflow(
            "RouteOrder",
            persistence_provider=InMemoryPersistenceProvider(),
            execution_provider=SyncExecutor(),
            initial_data={"amount": amount},
        )
        await workflow.run_to_completion()
        print(f"amount {amount}: lane={workflow.state.lane} status={workflow.status}")


if __name__ == "__main__":
    asyncio.run(main())
