"""ThreadPoolExecutionProvider: PARALLEL tasks run at once on worker threads."""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from ruvon.errors import ConfigurationError
from ruvon.implementations.execution.collect import OutcomeSource, collect
from ruvon.implementations.execution.threads import WorkerThreads
from ruvon.providers.execution import (
    ExecutionProvider,
    FanOutCalls,
    ParallelBatch,
    TaskCall,
    TaskOutcome,
)
from ruvon.task_runner import run_call_async, run_call_locally


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

        Sync tasks are taken in declared order by at most that many worker jobs, so a fan-out of
        thousands of tasks costs a handful of hand-offs, and a free worker always takes the next
        task (no task waits behind a slow one while a worker is idle). Tasks are taken from
        ``batch.pending`` only as they start, and a worker takes none while ``WINDOW_PER_WORKER``
        outcomes per worker wait for the event loop: however many items a fan-out has, only a
        window of tasks and outcomes exists at a time.
        """
        return collect(self, batch, _PoolRun(self, batch))


WINDOW_PER_WORKER = 32
"""Tasks running plus outcomes not yet taken by the event loop, per worker, before workers wait."""

ASYNC_WINDOW = 1024
"""The most async tasks of one dynamic fan-out running at once without ``max_concurrency``."""


class _PoolRun(OutcomeSource):
    """One batch on the pool: the sync tasks not started, the async tasks and their outcomes."""

    def __init__(self, pool: ThreadPoolExecutionProvider, batch: ParallelBatch) -> None:
        super().__init__(batch)
        loop = asyncio.get_running_loop()
        self.inbox = _Inbox(loop)
        self.running: set[threading.Thread] = set()  # threads inside a task of this batch
        self.threads = pool.threads
        self.limit = min(batch.limit or pool.max_workers, pool.max_workers)
        self.window = self.limit * WINDOW_PER_WORKER
        self.drainers = 0  # worker jobs of this batch (under inbox.lock)
        self.exhausted = False  # every sync task was taken
        self.room = asyncio.Event()  # set when the event loop took outcomes
        self.tasks: list[asyncio.Task[None]] = []
        pending = batch.pending
        fanout = batch.tasks if isinstance(batch.tasks, FanOutCalls) else None
        if fanout is not None and inspect.iscoroutinefunction(fanout.function):
            # One function for every item: a bounded set of coroutines takes the items in turn.
            self.source: Iterator[TaskCall] = iter(())
            shared = iter(pending)
            self.async_window = batch.limit or ASYNC_WINDOW
            for _ in range(min(self.async_window, len(pending))):
                self.tasks.append(asyncio.ensure_future(self._run_async_from(shared)))
        elif fanout is not None:
            self.source = iter(pending)
        else:  # declared tasks: few, each its own function
            gate = asyncio.Semaphore(batch.limit) if batch.limit else None
            sync: list[TaskCall] = []
            for call in pending:
                if inspect.iscoroutinefunction(call.function):
                    self.tasks.append(asyncio.ensure_future(self._run_async(call, gate)))
                else:
                    sync.append(call)
            self.source = iter(sync)
        self._refill()

    async def next_burst(self, timeout: float | None) -> list[TaskOutcome]:
        if await self.inbox.wait(timeout):
            burst = self.inbox.drain()
            self.room.set()
            self._refill()
            return burst
        return []

    def halt(self) -> None:
        super().halt()
        with self.inbox.lock:
            self.source = iter(())
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
            self.source = iter(())
        for task in self.tasks:
            task.cancel()
        if stuck:
            self.threads.strand(stuck)

    def _refill(self) -> None:
        """Start worker jobs up to the limit while sync tasks remain (on the event loop)."""
        with self.inbox.lock:
            if self.inbox.closed or self.exhausted:
                return
            start = self.limit - self.drainers
            self.drainers += max(start, 0)
        for _ in range(start):
            self.threads.submit(self._drain)

    async def _run_async(self, call: TaskCall, gate: asyncio.Semaphore | None) -> None:
        if gate is None:
            self.inbox.put(await run_call_async(self.batch, call))
            return
        async with gate:
            self.inbox.put(await run_call_async(self.batch, call))

    async def _run_async_from(self, calls: Iterator[TaskCall]) -> None:
        """Run the async tasks of a fan-out from ``calls`` (shared by several of these) in turn."""
        inbox = self.inbox
        for call in calls:
            if self.halted or inbox.closed:
                return
            inbox.put(await run_call_async(self.batch, call))
            del call
            while inbox.count >= self.async_window and not inbox.closed:
                self.room.clear()
                await self.room.wait()

    def _drain(self) -> None:
        """Run sync tasks in this worker thread until none is left, the window is full or the
        step gave up (the event loop starts workers again as it takes outcomes)."""
        me = threading.current_thread()
        inbox = self.inbox
        while True:
            with inbox.lock:
                call = None
                if not inbox.closed and len(self.running) + inbox.count < self.window:
                    call = next(self.source, None)
                    if call is None:
                        self.exhausted = True
                if call is None:
                    self.drainers -= 1
                    return
                self.running.add(me)
            inbox.put_threadsafe(run_call_locally(self.batch, call), self.running)
            del call


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

    @property
    def count(self) -> int:
        """How many outcomes wait to be drained."""
        return len(self._items)

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
