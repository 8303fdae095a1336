"""ThreadPoolExecutionProvider: PARALLEL tasks run at once on worker threads."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from ruvon.errors import ConfigurationError
from ruvon.implementations.execution.collect import OutcomeSource, collect
from ruvon.implementations.execution.threads import WorkerThreads
from ruvon.providers.execution import ExecutionProvider, ParallelBatch, TaskCall, TaskOutcome
from ruvon.task_runner import run_call_locally, run_task_async, task_context


class ThreadPoolExecutionProvider(ExecutionProvider):
    """Runs sync step functions and PARALLEL tasks on up to ``max_workers`` threads.

    Async task functions run concurrently on the caller's event loop; sync code never does. At a
    step's deadline, tasks not yet started are dropped and running ones are abandoned (threads
    cannot be killed; see :mod:`ruvon.implementations.execution.threads` for how many such
    threads may pile up); their late results are discarded.

    Args:
        max_workers: Threads; also the most sync tasks that run at once.
    """

    kind = "thread"

    def __init__(self, max_workers: int = 10) -> None:
        if max_workers < 1:
            raise ConfigurationError(
                f"ThreadPoolExecutionProvider(max_workers={max_workers}) needs at least one worker."
            )
        self.max_workers = max_workers
        self._threads: WorkerThreads | None = None
        self._lock = threading.Lock()

    @property
    def threads(self) -> WorkerThreads:
        """The worker threads, created on first use."""
        with self._lock:
            if self._threads is None:
                self._threads = WorkerThreads(self.max_workers, "ruvon-task")
            return self._threads

    def close(self) -> None:
        """Stop the threads, waiting for running calls (not for tasks abandoned at a deadline)."""
        with self._lock:
            threads, self._threads = self._threads, None
        if threads is not None:
            threads.close(wait=True)

    async def call_blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on a worker thread so the event loop stays free."""
        return await self.threads.call(func, *args)

    def run_parallel(self, batch: ParallelBatch) -> AsyncIterator[list[TaskOutcome]]:
        """Start the pending tasks (up to ``batch.limit`` and ``max_workers`` at a time).

        Sync tasks go into one queue drained by at most that many worker jobs, so a fan-out of
        thousands of tasks costs a handful of hand-offs, and a free worker always takes the next
        task in declared order (no task waits behind a slow one while a worker is idle).
        """
        return collect(self, batch, _PoolRun(self, batch))


class _PoolRun(OutcomeSource):
    """One batch on the pool: the queue of sync tasks, the async tasks and their outcomes."""

    def __init__(self, pool: ThreadPoolExecutionProvider, batch: ParallelBatch) -> None:
        super().__init__(batch)
        loop = asyncio.get_running_loop()
        self.inbox = _Inbox(loop)
        self.queue: deque[TaskCall] = deque()
        self.running: set[threading.Thread] = set()  # threads inside a task of this batch
        self.threads = pool.threads
        limit = min(batch.limit or pool.max_workers, pool.max_workers)
        gate = asyncio.Semaphore(batch.limit) if batch.limit else None
        self.tasks: list[asyncio.Task[None]] = []
        for call in batch.pending:
            if inspect.iscoroutinefunction(call.function):
                self.tasks.append(asyncio.ensure_future(self._run_async(call, gate)))
            else:
                self.queue.append(call)
        for _ in range(min(len(self.queue), limit)):
            self.threads.submit(self._drain)

    async def next_burst(self, timeout: float | None) -> list[TaskOutcome]:
        if await self.inbox.wait(timeout):
            return self.inbox.drain()
        return []

    def halt(self) -> None:
        super().halt()
        with self.inbox.lock:
            self.queue.clear()
        self.inbox.wake()

    def busy(self) -> bool:
        with self.inbox.lock:
            if self.running or self.inbox.pending:
                return True
        return any(not task.done() for task in self.tasks)

    async def stop(self, finished: bool) -> None:
        with self.inbox.lock:
            self.inbox.closed = True
            stuck = list(self.running)
        self.queue.clear()
        for task in self.tasks:
            task.cancel()
        if stuck:
            self.threads.strand(stuck)

    async def _run_async(self, call: TaskCall, gate: asyncio.Semaphore | None) -> None:
        func = call.function
        assert func is not None
        context = task_context(self.batch, call)
        if gate is None:
            self.inbox.put(
                await run_task_async(func, self.batch.task_state(), context, call.kwargs)
            )
            return
        async with gate:
            self.inbox.put(
                await run_task_async(func, self.batch.task_state(), context, call.kwargs)
            )

    def _drain(self) -> None:
        """Run queued tasks in this worker thread until the queue is empty or the step gave up."""
        me = threading.current_thread()
        inbox = self.inbox
        while True:
            with inbox.lock:
                if inbox.closed or not self.queue:
                    return
                call = self.queue.popleft()
                self.running.add(me)
            inbox.put_threadsafe(run_call_locally(self.batch, call), self.running)


class _Inbox:
    """Outcomes from worker threads, handed to the event loop with one wake-up per burst."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[TaskOutcome] = deque()
        self.lock = threading.Lock()
        self._event = asyncio.Event()
        self._wake_scheduled = False
        self.closed = False

    def put(self, outcome: TaskOutcome) -> None:
        self._items.append(outcome)
        self._event.set()

    @property
    def pending(self) -> bool:
        """Whether outcomes wait to be drained."""
        return bool(self._items)

    def wake(self) -> None:
        """Make a waiting :meth:`wait` return (on the loop's thread)."""
        self._event.set()

    def put_threadsafe(self, outcome: TaskOutcome, running: set[threading.Thread]) -> None:
        """Hand over ``outcome`` from a worker thread, which leaves ``running`` at the same time
        (so the outcome is always either running or in the inbox)."""
        with self.lock:
            running.discard(threading.current_thread())
            if self.closed:
                return
            self._items.append(outcome)
            wake = not self._wake_scheduled
            self._wake_scheduled = True
        if wake:
            self._loop.call_soon_threadsafe(self._wake)

    def _wake(self) -> None:
        with self.lock:
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
        with self.lock:
            items = list(self._items)
            self._items.clear()
            self._event.clear()
        return items


ThreadPoolExecutorProvider = ThreadPoolExecutionProvider
