"""LOOP: ITERATE over invoice lines, then WHILE a balance is above zero.

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
    workflow = await WorkflowBuilder(config_dir=CONFIG).create_workflow(
        "Invoice",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutor(),
        initial_data={"lines": [30.0, 45.5, 24.5]},
    )
    await workflow.run_to_completion()
    state = workflow.state
    print(f"total {state.total}, paid {state.paid} in {state.instalments} instalments")
    print(f"status: {workflow.status}")


if __name__ == "__main__":
    asyncio.run(main())
