"""Saga: booking a trip fails at the car; the hotel and flight are cancelled in reverse order.

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
    workflow = await WorkflowBuilder(config_dir=CONFIG).create_workflow(
        "Trip", persistence_provider=store, execution_provider=SyncExecutor()
    )
    await workflow.run_to_completion()
    print(f"status: {workflow.status}; still booked: {workflow.state.booked}")
    for entry in await store.load_log(workflow.id):
        print(f"log: {entry.event} {entry.step_name}")


if __name__ == "__main__":
    asyncio.run(main())
