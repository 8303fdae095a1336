"""SyncExecutor: every step and task runs in the calling thread, one after another."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from ruvon.implementations.execution.collect import OutcomeSource, collect
from ruvon.providers.execution import ExecutionProvider, ParallelBatch, TaskOutcome
from ruvon.task_runner import run_call_async, timeout_outcome


class SyncExecutor(ExecutionProvider):
    """Runs PARALLEL tasks sequentially, in declared order: simple to debug, no threads.

    Step functions run inline, on the caller's event loop. A task cannot be interrupted here: one
    that ends after the step's deadline counts as timed out and its result is discarded, and tasks
    not started by then are not started.
    """

    kind = "sync"

    def run_parallel(self, batch: ParallelBatch) -> AsyncIterator[list[TaskOutcome]]:
        """Run the pending tasks one after another and yield each outcome."""
        return collect(self, batch, _InlineRun(batch))


class _InlineRun(OutcomeSource):
    """Runs the next pending task each time an outcome is asked for."""

    def __init__(self, batch: ParallelBatch) -> None:
        super().__init__(batch)
        self._todo = iter(batch.pending)

    async def next_burst(self, timeout: float | None) -> list[TaskOutcome]:
        call = next(self._todo)
        batch = self.batch
        outcome = await run_call_async(batch, call)
        if batch.deadline is not None and time.monotonic() > batch.deadline:
            outcome = timeout_outcome(call.name, batch.timeout, batch.step_name)
        return [outcome]


SyncExecutionProvider = SyncExecutor
