"""SyncExecutor: every step and task runs in the calling thread, one after another."""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from ruvon.providers.execution import ExecutionProvider, ParallelBatch, TaskOutcome
from ruvon.task_runner import run_task_async, task_context, timeout_outcome


class SyncExecutor(ExecutionProvider):
    """Runs PARALLEL tasks sequentially, in declared order: simple to debug, no threads.

    A task cannot be interrupted here: one that ends after the step's deadline counts as timed out
    and its result is discarded, and tasks not started by then are not started.
    """

    async def run_step(self, func: Callable[..., Any], *args: Any) -> Any:
        """Call ``func(*args)`` inline."""
        value = func(*args)
        if inspect.isawaitable(value):
            return await value
        return value

    async def run_parallel(
        self, batch: ParallelBatch, timeout: float | None
    ) -> AsyncIterator[list[TaskOutcome]]:
        """Run the tasks one after another and yield each outcome."""
        deadline = None if timeout is None else time.monotonic() + timeout
        for call in batch.tasks:
            if deadline is not None and time.monotonic() >= deadline:
                yield [timeout_outcome(call.name, timeout, batch.step_name)]
                continue
            assert call.function is not None
            outcome = await run_task_async(
                call.function, batch.task_state(), task_context(batch, call), call.kwargs
            )
            if deadline is not None and time.monotonic() > deadline:
                outcome = timeout_outcome(call.name, timeout, batch.step_name)
            yield [outcome]


SyncExecutionProvider = SyncExecutor
