"""ThreadPoolExecutionProvider: PARALLEL tasks run at once on a thread pool."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ruvon.errors import ConfigurationError
from ruvon.providers.execution import ExecutionProvider, ParallelBatch, TaskCall, TaskOutcome
from ruvon.task_runner import (
    run_call_locally,
    run_task_async,
    task_context,
    timeout_outcome,
)


class ThreadPoolExecutionProvider(ExecutionProvider):
    """Runs sync step functions and PARALLEL tasks on a pool of ``max_workers`` threads.

    Async task functions run concurrently on the caller's event loop. At a step's deadline, tasks not
    yet started are cancelled and running ones are abandoned (threads cannot be killed); their late
    results are discarded.

    Args:
        max_workers: Threads in the pool; also the most tasks that run at once.
    """

    def __init__(self, max_workers: int = 10) -> None:
        if max_workers < 1:
            raise ConfigurationError(
                f"ThreadPoolExecutionProvider(max_workers={max_workers}) needs at least one worker."
            )
        self.max_workers = max_workers
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    @property
    def pool(self) -> ThreadPoolExecutor:
        """The thread pool, created on first use."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="ruvon-task")
            return self._pool

    def close(self) -> None:
        """Shut the pool down, waiting for running tasks."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    async def run_step(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on the pool so the event loop stays free."""
        if inspect.iscoroutinefunction(func):
            return await func(*args)
        value = await asyncio.get_running_loop().run_in_executor(self.pool, func, *args)
        if inspect.isawaitable(value):
            return await value
        return value

    async def run_parallel(
        self, batch: ParallelBatch, timeout: float | None
    ) -> AsyncIterator[list[TaskOutcome]]:
        """Start every task at once (up to ``max_workers`` at a time); yield outcomes as they end.

        Sync tasks go into one queue drained by at most ``max_workers`` pool jobs, so a fan-out of
        thousands of tasks costs a handful of pool submissions, and a free worker always takes the
        next task in declared order (no task waits behind a slow one while a worker is idle).
        """
        loop = asyncio.get_running_loop()
        inbox = _Inbox(loop)
        queue = deque(
            call for call in batch.tasks if not inspect.iscoroutinefunction(call.function)
        )
        started: list[Future[None] | asyncio.Task[None]] = [
            self._start_async(batch, call, inbox)
            for call in batch.tasks
            if inspect.iscoroutinefunction(call.function)
        ]
        started += [
            self.pool.submit(_drain, batch, queue, inbox)
            for _ in range(min(len(queue), self.max_workers))
        ]
        waiting = {call.name for call in batch.tasks}
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while waiting:
                remaining = None if deadline is None else deadline - loop.time()
                if (remaining is not None and remaining <= 0) or not await inbox.wait(remaining):
                    break
                arrived = inbox.drain()
                for outcome in arrived:
                    waiting.discard(outcome.task_name)
                if arrived:
                    yield arrived
        finally:
            inbox.closed = True
            queue.clear()
            for future in started:
                future.cancel()
        late = [
            timeout_outcome(c.name, timeout, batch.step_name)
            for c in batch.tasks
            if c.name in waiting
        ]
        if late:
            yield late

    def _start_async(
        self, batch: ParallelBatch, call: TaskCall, inbox: _Inbox
    ) -> asyncio.Task[None]:
        func = call.function
        assert func is not None

        async def run_async() -> None:
            context = task_context(batch, call)
            inbox.put(await run_task_async(func, batch.task_state(), context, call.kwargs))

        return asyncio.ensure_future(run_async())


def _drain(batch: ParallelBatch, queue: deque[TaskCall], inbox: _Inbox) -> None:
    """Run queued tasks in this worker thread until the queue is empty or the step gave up."""
    while not inbox.closed:
        try:
            call = queue.popleft()
        except IndexError:
            return
        inbox.put_threadsafe(run_call_locally(batch, call))


class _Inbox:
    """Outcomes from worker threads, handed to the event loop with one wake-up per burst."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[TaskOutcome] = deque()
        self._lock = threading.Lock()
        self._event = asyncio.Event()
        self._wake_scheduled = False
        self.closed = False

    def put(self, outcome: TaskOutcome) -> None:
        self._items.append(outcome)
        self._event.set()

    def put_threadsafe(self, outcome: TaskOutcome) -> None:
        with self._lock:
            if self.closed:
                return
            self._items.append(outcome)
            wake = not self._wake_scheduled
            self._wake_scheduled = True
        if wake:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self._lock:
            self._wake_scheduled = False
        self._event.set()

    async def wait(self, timeout: float | None) -> bool:
        if self._items:
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return bool(self._items)
        return True

    def drain(self) -> list[TaskOutcome]:
        with self._lock:
            items = list(self._items)
            self._items.clear()
            self._event.clear()
        return items


ThreadPoolExecutorProvider = ThreadPoolExecutionProvider
