"""ASYNC: the step runs in the background; the workflow is PENDING_ASYNC until it is collected.

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
        "Report",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutor(),
    )
    await workflow.next_step()
    print(f"after dispatch: {workflow.status}")
    await workflow.run_to_completion()
    print(f"rows={workflow.state.rows} sent={workflow.state.sent} status={workflow.status}")


if __name__ == "__main__":
    asyncio.run(main())
