"""``ruvon serve``: a worker process that claims runnable workflows, drives them and releases them.

Any number of workers may serve one store. Each claims up to ``concurrency`` workflows at a time
(new ones handed over by ``start_workflow``, ACTIVE ones whose owner's lease expired, WAITING_HUMAN
ones whose input arrived), holds their leases while it drives them (renewed by the loop's keeper),
and releases them when they end or wait. On PostgreSQL a ``NOTIFY`` wakes idle workers the moment
work is queued; otherwise they poll every ``poll_seconds``.

``stop()`` (SIGTERM, SIGINT) stops claiming, lets each workflow finish or checkpoint its current step,
releases the leases and returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ruvon.builder import WorkflowBuilder
from ruvon.errors import LeaseLost, PersistenceError, WorkflowCancelled, WorkflowLoadError
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime import background, clock
from ruvon.runtime.leases import DEFAULT_LEASE_SECONDS, LeaseStore, WorkerInfo, process_owner
from ruvon.runtime.session import DriverStopping, Session, hold
from ruvon.runtime.sql_leases import PostgresLeaseStore
from ruvon.runtime.start import leases_of
from ruvon.runtime.timer_store import TimerStore, add_waker, remove_waker, timer_store_for
from ruvon.workflow import Workflow

_log = logging.getLogger("ruvon.runtime")

_DRIVABLE = (WorkflowStatus.ACTIVE, WorkflowStatus.PENDING_ASYNC)


@dataclass(slots=True)
class ServeOptions:
    """How a worker serves.

    Attributes:
        concurrency: Workflows driven at once.
        types: Only these workflow types (empty: all).
        lease_seconds: Lease length; a dead worker's workflows move on this long after it died.
        poll_seconds: How often to look for work (and expired leases) without a notification.
        grace_seconds: After ``stop()``, how long to wait for current steps before leaving them to
            their leases (default: ``lease_seconds``).
        schedules: Start the workflows of due schedules (``ruvon schedule``).
        retention: Purge ended workflows older than this many seconds, by status (empty: never).
        idle_seconds: How often an idle worker looks for work when the store notifies it of new
            work, timers and signals (PostgreSQL; default ``max(poll_seconds, 1.5)``). Other stores
            use ``poll_seconds``. Due timers wake the worker on time either way.
        max_active: ``{workflow type: limit}`` recorded in the store at start (see
            docs/runtime.md, "Queues").
    """

    concurrency: int = 4
    types: Sequence[str] = ()
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    poll_seconds: float = 0.5
    grace_seconds: float | None = None
    schedules: bool = True
    retention: dict[str, float] = field(default_factory=dict)
    idle_seconds: float | None = None
    max_active: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class WorkerStats:
    """What a worker did (for logs and tests)."""

    claimed: int = 0
    finished: int = 0
    lost: int = 0
    errors: int = 0
    started_at: float = field(default_factory=time.time)


class Worker:
    """One serving process's loop over a store.

    Args:
        builder: Loads workflows (their stored definitions) and builds sub-workflows.
        persistence: The store to serve.
        executor: Runs the steps' functions and PARALLEL tasks.
        options: Concurrency, types, lease and poll intervals.
    """

    def __init__(
        self,
        builder: WorkflowBuilder,
        persistence: PersistenceProvider,
        executor: ExecutionProvider,
        options: ServeOptions | None = None,
    ) -> None:
        self.builder = builder
        self.persistence = persistence
        self.executor = executor
        self.options = options or ServeOptions()
        self.id = process_owner()
        self.stats = WorkerStats()
        self._running: dict[str, asyncio.Task[None]] = {}
        self._sessions: dict[str, Session] = {}
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._next_due: float | None = None  # the earliest wake-up the store reported
        self._backlog = False  # the last claim of due timers was full: more are due
        self._told = True  # a notification arrived since the last claim of other work
        self._more_work = False  # the last claim of other work filled every free slot
        self._claimed_at = 0.0  # when other work was last claimed (monotonic)
        self._idle = self.options.poll_seconds
        self._listens = False

    def stop(self) -> None:
        """Stop claiming; current workflows stop after their current step (a checkpoint)."""
        self._stopping = True
        for session in self._sessions.values():
            session.signal.stopping = True
        if self._wake is not None:
            self._wake.set()

    def is_stopping(self) -> bool:
        """Whether ``stop()`` was called."""
        return self._stopping

    async def run(self) -> WorkerStats:
        """Serve until ``stop()``; return what was done."""
        await self.persistence.initialize()
        store = leases_of(self.persistence)
        self._wake = asyncio.Event()
        info = WorkerInfo(
            id=self.id,
            host=socket.gethostname(),
            pid=os.getpid(),
            concurrency=self.options.concurrency,
            types=list(self.options.types),
            started_at=time.time(),
            heartbeat_at=time.time(),
        )
        timers = timer_store_for(self.persistence)
        for workflow_type, limit in self.options.max_active.items():
            if timers is not None:
                await timers.set_limit(workflow_type, limit)
        add_waker(self._wake)
        listener = asyncio.create_task(self._listen(store), name="ruvon-serve-listener")
        extras = background.start(self)  # schedules, retention
        _log.info("worker %s serves (concurrency %d)", self.id, self.options.concurrency)
        try:
            await self._loop(store, info)
            await self._drain()
        finally:
            remove_waker(self._wake)
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await background.stop(extras)
            await store.close()
            await store.remove_worker(self.id)
        return self.stats

    async def _loop(self, store: LeaseStore, info: WorkerInfo) -> None:
        assert self._wake is not None
        timers = timer_store_for(self.persistence)
        beat_every = self.options.lease_seconds / 3
        next_beat = 0.0
        queues_checked, has_queues = -1e9, False
        idle = self.options.idle_seconds
        self._listens = isinstance(store, PostgresLeaseStore)
        if idle is None:
            idle = (
                max(self.options.poll_seconds, 1.5) if self._listens else self.options.poll_seconds
            )
        self._idle = idle
        while not self._stopping:
            self._wake.clear()
            wait = idle
            try:
                if time.monotonic() >= next_beat:
                    info.heartbeat_at = time.time()
                    await store.beat_worker(info)
                    next_beat = time.monotonic() + beat_every
                if timers is not None:
                    if time.monotonic() - queues_checked > 10 * idle:
                        has_queues, queues_checked = await timers.has_queues(), time.monotonic()
                    if has_queues:
                        await timers.admit(self.options.types)
                if await self._claim(store, timers):
                    continue  # full: the next wake is a drive ending (or the poll)
                if timers is not None and not self._backlog:
                    self._next_due = await timers.next_due(self.options.types)
                    if self._next_due is not None:  # past due: rows another worker is claiming
                        wait = min(wait, max(self._next_due - clock.now(), 0.005))
            except PersistenceError as exc:  # the database is away: keep trying, keep driving
                _log.warning("worker %s cannot claim work now: %s", self.id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _claim(self, store: LeaseStore, timers: TimerStore | None = None) -> bool:
        """Claim what fits and start driving it; return whether the worker is now full."""
        free = self.options.concurrency - len(self._running)
        if free <= 0:
            return False
        claimed: list[str] = []
        due = self._next_due
        self._backlog = False
        if timers is not None and due is not None and due <= clock.now():  # due timers first
            claimed = await timers.claim_due(
                self.id, free, self.options.lease_seconds, self.options.types
            )
            self._backlog = len(claimed) == free
        # Where the store notifies (PostgreSQL), other work is looked for when told, while the
        # last look filled every slot (a backlog), and every idle interval for expired leases;
        # not each time a drive ends.
        others = (
            not self._listens
            or self._told
            or self._more_work
            or time.monotonic() - self._claimed_at >= self._idle * 0.9
        )
        if len(claimed) < free and others:
            self._told, self._claimed_at = False, time.monotonic()
            want = free - len(claimed)
            found = await store.claim(self.id, want, self.options.lease_seconds, self.options.types)
            self._more_work = len(found) == want
            claimed += found
        for workflow_id in claimed:
            self.stats.claimed += 1
            task = asyncio.create_task(self._drive(store, workflow_id))
            self._running[workflow_id] = task
            task.add_done_callback(functools.partial(self._done, workflow_id))
        return len(self._running) >= self.options.concurrency

    def _done(self, workflow_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(workflow_id, None)
        if self._wake is not None:
            self._wake.set()

    async def _listen(self, store: LeaseStore) -> None:
        """Wake the loop when work is queued (PostgreSQL NOTIFY; elsewhere this just polls)."""
        assert self._wake is not None
        while not self._stopping:
            if await store.wait_for_work(max(self.options.poll_seconds, 1.0)):
                self._next_due = clock.now()  # a new timer or signal may be due now
                self._told = True
                self._wake.set()

    async def _drain(self) -> None:
        """Wait for current drives to checkpoint; after the grace period leave them to their leases."""
        if not self._running:
            return
        grace = self.options.grace_seconds
        grace = self.options.lease_seconds if grace is None else grace
        _, pending = await asyncio.wait(list(self._running.values()), timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    async def _drive(self, store: LeaseStore, workflow_id: str) -> None:
        try:
            workflow = await self.builder.load_workflow(
                workflow_id, persistence_provider=self.persistence, execution_provider=self.executor
            )
        except WorkflowLoadError as exc:  # marked FAILED with the hint; nothing to drive
            self.stats.errors += 1
            _log.error("worker %s: workflow %s is FAILED: %s", self.id, workflow_id, exc)
            await store.release(workflow_id, self.id)
            return
        except Exception:
            self.stats.errors += 1
            _log.exception(
                "worker %s cannot load workflow %s; its lease runs out and another worker may try",
                self.id,
                workflow_id,
            )
            return
        try:
            async with hold(
                workflow, ttl=self.options.lease_seconds, owner=self.id, acquired=True
            ) as session:
                assert session is not None
                self._sessions[workflow_id] = session
                session.signal.stopping = self._stopping
                session.signal.serving = True
                await self._run(store, workflow, session)
            self.stats.finished += 1
        except DriverStopping:
            _log.info("workflow %s checkpointed; worker %s is stopping", workflow_id, self.id)
        except WorkflowCancelled:
            _log.info("workflow %s was cancelled while worker %s ran it", workflow_id, self.id)
        except LeaseLost:
            self.stats.lost += 1  # LEASE_LOST was logged when it was noticed
        except Exception:
            self.stats.errors += 1
            _log.exception("worker %s: driving workflow %s failed", self.id, workflow_id)
        finally:
            self._sessions.pop(workflow_id, None)

    async def _run(self, store: LeaseStore, workflow: Workflow, session: Session) -> None:
        if workflow.status is WorkflowStatus.WAITING_HUMAN:
            given = await store.take_input(workflow.id, self.id)
            if given is None:
                return
            await workflow.next_step(user_input=given)
        elif workflow.status is WorkflowStatus.PENDING_SUB_WORKFLOW:  # woken: a child ended
            await store.take_input(workflow.id, self.id)
            await workflow.next_step()
        elif workflow.status in (WorkflowStatus.SLEEPING, WorkflowStatus.WAITING_SIGNAL):
            await workflow.next_step()  # due, or a signal arrived
        while workflow.status in _DRIVABLE and not session.signal.stopping:
            await workflow.next_step()


async def serve(
    builder: WorkflowBuilder,
    persistence: PersistenceProvider,
    executor: ExecutionProvider,
    options: ServeOptions | None = None,
) -> WorkerStats:
    """Serve ``persistence`` until SIGTERM or SIGINT, then stop cleanly (see :class:`Worker`)."""
    import signal

    worker = Worker(builder, persistence, executor, options)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    try:
        return await worker.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
