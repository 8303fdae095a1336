"""Load-time parameters: {{ parameters.x }} defaults, builder overrides, ${ENV:-default}.

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
    for parameters in ({}, {"heavy_kg": 5}):
        builder = WorkflowBuilder(config_dir=CONFIG, parameters=parameters)
        workflow = await builder.create_workflow(
            "Ship",
            persistence_provider=InMemoryPersistenceProvider(),
            execution_provider=SyncExecutor(),
            initial_data={"weight": 12.0},
        )
        await workflow.run_to_completion()
        print(f"parameters={parameters}: carrier={workflow.state.carrier}")
        print(f"  {workflow.loaded.definition.description}")


if __name__ == "__main__":
    asyncio.run(main())
