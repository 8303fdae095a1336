"""HUMAN_IN_LOOP: wait for an approval, reject bad input, survive a restart on SQLite.

Run from this folder: python main.py
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from ruvon.errors import StateValidationError
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider

CONFIG = Path(__file__).resolve().parent / "config"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "expenses.db"
        store = SQLitePersistenceProvider(db)
        workflow = await WorkflowBuilder(config_dir=CONFIG).create_workflow(
            "Expense", persistence_provider=store, initial_data={"amount": 120.0}
        )
        await workflow.next_step()
        print(f"status: {workflow.status} at step {workflow.current_step_name}")
        await store.close()  # the process "restarts" here

        store = SQLitePersistenceProvider(db)
        again = await WorkflowBuilder(config_dir=CONFIG).load_workflow(
            workflow.id, persistence_provider=store, execution_provider=SyncExecutor()
        )
        print(f"reloaded: {again.status}")
        try:
            await again.next_step(user_input={"approved": "maybe"})
        except StateValidationError as exc:
            print(f"rejected input: {str(exc)[:60]}...")
        print(f"still: {again.status}")
        await again.next_step(user_input={"approved": True, "approver": "dana"})
        print(f"approved by {again.state.approver}; paid={again.state.paid}; status={again.status}")
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
