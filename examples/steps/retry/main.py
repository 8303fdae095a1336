"""retry: a flaky call fails twice and succeeds on the third attempt.

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
        "Call",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=SyncExecutor(),
    )
    await workflow.run_to_completion()
    print(f"response={workflow.state.response} status={workflow.status}")


if __name__ == "__main__":
    asyncio.run(main())
