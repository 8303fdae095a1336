"""CRON_SCHEDULE: a signup workflow stores a weekly report schedule for its user.

A `ruvon serve` worker would start the report every Monday at 09:00 UTC; here the example calls
what a worker calls, `run_due`, with the clock set to the first tick. Run: python main.py
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.runtime.schedules import list_schedules, run_due

CONFIG = Path(__file__).resolve().parent / "config"


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLitePersistenceProvider(Path(tmp) / "ruvon.db")  # schedules need a shared store
        builder = WorkflowBuilder(config_dir=CONFIG)
        signup = await builder.create_workflow(
            "Signup",
            persistence_provider=store,
            execution_provider=SyncExecutor(),
            initial_data={"user_id": "u42"},
        )
        await signup.run_to_completion()
        (schedule,) = await list_schedules(store)
        first = dt.datetime.fromtimestamp(schedule.next_run_at, dt.UTC)
        print(f"signup: {signup.status}; schedule {schedule.name} on '{schedule.cron}'")
        print(f"first run: {first:%A %H:%M} UTC")

        fired = await run_due(builder, store, owner="example", now=schedule.next_run_at)
        report = await builder.load_workflow(
            fired[0].workflow_id, persistence_provider=store, execution_provider=SyncExecutor()
        )
        await report.run_to_completion()
        print(f"report for {report.state.user_id}: {report.state.lines} lines, {report.status}")
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
