"""Driving sessions: the lease a driver holds while it runs a workflow, and the fence on its saves.

``Workflow.next_step`` and ``run_to_completion`` open a session when none is open: they take the
workflow's lease once (a few microseconds in memory, one UPDATE on SQL), run, and release it; on
SQL, the save that ends the workflow, or the last save of a ``next_step`` call, gives the lease up
in its own statement instead. A per-event-loop keeper renews the leases of long sessions in one
statement per store, every third of the lease, and only once a session has lasted that long, so
short calls pay no timer task. While a session is open, the workflow's saves go through
:class:`FencedPersistence`: they stop with ``LeaseLost`` once the lease could not be renewed, with
``WorkflowCancelled`` once the workflow was cancelled, and task results are saved only while the
lease is held.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from ruvon.errors import LeaseHeld, LeaseLost, PersistenceError, VersionConflict, WorkflowCancelled
from ruvon.models import WorkflowStatus
from ruvon.providers.persistence import LogEntry, PersistenceProvider, TaskRecord, WorkflowRecord
from ruvon.runtime import signals
from ruvon.runtime.leases import (
    CANCELLED,
    DEFAULT_LEASE_SECONDS,
    LOST,
    TERMINAL_STATUSES,
    Acquired,
    LeaseStore,
    default_lease_seconds,
    lease_store_for,
    owner_is_dead,
    session_owner,
)

if TYPE_CHECKING:
    from ruvon.implementations.persistence.sql import SQLPersistenceProvider
    from ruvon.workflow import Workflow

_log = logging.getLogger("ruvon.runtime")
T = TypeVar("T")

_ENDED = frozenset(TERMINAL_STATUSES)
_RUNNABLE = frozenset(
    {
        "ACTIVE",
        "WAITING_HUMAN",
        "PENDING_ASYNC",
        "PENDING_SUB_WORKFLOW",
        "SLEEPING",
        "WAITING_SIGNAL",
    }
)


class DriverStopping(VersionConflict):
    """The driver shuts down (SIGTERM) after a checkpoint; the workflow stays ACTIVE for others.

    A VersionConflict so that the engine stops at once without recording anything more, as it does
    when another writer got in first.
    """


class Session:
    """One driver's hold on one workflow.

    Attributes:
        workflow_id: The workflow.
        store: Where the lease lives.
        owner: The lease owner id.
        ttl: Lease length in seconds.
        expires_at: When the lease ends unless renewed.
        signal: What step code sees (``context.cancelled``).
    """

    def __init__(self, workflow_id: str, store: LeaseStore, owner: str, ttl: float) -> None:
        self.workflow_id = workflow_id
        self.store = store
        self.owner = owner
        self.ttl = ttl
        self.expires_at = time.time() + ttl
        self.signal = signals.register(workflow_id, owner)
        self.original: PersistenceProvider | None = None  # the workflow's provider before fencing
        self.keeper: _Keeper | None = None
        self.closed = False  # a renewal that was under way when the session ended ignores it
        # The session's last save gave the lease up (close_session has nothing to release;
        # renewals leave the session alone).
        self.released = False
        # Opened by one next_step call (not run_to_completion or a serving worker): the engine
        # marks that call's last save (``last_save``), which on SQL gives the lease up in the
        # same statement, so a step-by-step driver pays no separate release per call.
        self.single_call = False
        self.last_save = False

    def lose(self, why: str) -> None:
        """Mark the lease lost: every later save of this session fails; log LEASE_LOST once."""
        if not self.signal.lost:
            self.signal.lost = True
            _log.error(
                "LEASE_LOST workflow %s owner %s: %s; the driver stops and saves nothing more",
                self.workflow_id,
                self.owner,
                why,
            )


_IS_SQL: dict[type[PersistenceProvider], bool] = {}


class FencedPersistence(PersistenceProvider):
    """The workflow's persistence while a session is open: every write is checked against the lease.

    On the SQL stores, the save that ends the workflow (a terminal status), or that the engine
    marked as the last of a ``next_step`` call, also gives the lease up in the same statement: such
    a call pays no separate release.
    """

    def __init__(self, inner: PersistenceProvider, session: Session) -> None:
        self.inner = inner
        self.session = session
        # By class, looked up once (an import and an ABC isinstance check cost ~10k instructions,
        # and a session is opened for every next_step call).
        kind = type(inner)
        sql = _IS_SQL.get(kind)
        if sql is None:
            from ruvon.implementations.persistence.sql import SQLPersistenceProvider

            sql = _IS_SQL[kind] = issubclass(kind, SQLPersistenceProvider)
        self._save_and_release = (
            cast("SQLPersistenceProvider", inner).save_and_release if sql else None
        )

    async def initialize(self) -> None:
        """Initialize the wrapped provider."""
        await self.inner.initialize()

    async def save_workflow(
        self,
        record: WorkflowRecord,
        *,
        finished_step: str | None = None,
        log: Sequence[LogEntry] = (),
    ) -> int:
        """Save unless the lease is lost or the workflow cancelled; a version conflict tells which."""
        session = self.session
        signal = session.signal
        if signal.cancelled or signal.lost:
            signal.check()
        last, session.last_save = session.last_save, False
        try:
            if (
                (last or record.status in _ENDED)
                and record.version
                and self._save_and_release is not None
            ):
                version = await self._save_and_release(
                    record, session.owner, finished_step=finished_step, log=log
                )
                session.released = True
            else:
                if session.released:  # saved as ended, then runnable again: take the lease back
                    await self._retake()
                version = await self.inner.save_workflow(
                    record, finished_step=finished_step, log=log
                )
        except VersionConflict as exc:
            raise await self._why(exc) from exc
        if signal.stopping and record.status == "ACTIVE":
            raise DriverStopping(
                f"Workflow {record.id} was checkpointed at step {record.current_step} because its "
                f"driver {session.owner} is shutting down; another driver continues it."
            )
        return version

    async def _retake(self) -> None:
        """Hold the lease again after a save that gave it up; lost if another driver has it."""
        session = self.session
        try:
            taken = await session.store.acquire(session.workflow_id, session.owner, session.ttl)
        except LeaseHeld:
            taken = None
        if taken is None or taken.took_over_from is not None:
            session.lose("another driver took the lease after the workflow ended")
            raise _lost(session)
        session.released = False
        session.expires_at = time.time() + session.ttl

    async def _why(self, conflict: VersionConflict) -> Exception:
        """The real reason another writer got in: a cancel, or the lease passed to another driver."""
        try:
            stored = await self.inner.load_workflow(self.session.workflow_id)
        except PersistenceError:
            return conflict
        if stored.status == "CANCELLED":
            self.session.signal.cancelled = True
            return _cancelled(self.session)
        self.session.lose("another writer saved the workflow (version conflict)")
        return _lost(self.session)

    async def save_task_result(self, record: TaskRecord) -> None:
        """Save one task outcome while the lease is held."""
        await self.save_task_results([record])

    async def save_task_results(self, records: Sequence[TaskRecord]) -> None:
        """Save task outcomes while the lease is held and the workflow is not cancelled."""
        self.session.signal.check()
        verdict = await self.session.store.save_task_results(records, self.session.owner)
        if verdict == CANCELLED:
            self.session.signal.cancelled = True
            raise _cancelled(self.session)
        if verdict == LOST:
            self.session.lose("the lease is held by another driver now")
            raise _lost(self.session)

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """Delegate."""
        return await self.inner.load_workflow(workflow_id)

    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Delegate."""
        return await self.inner.list_workflows(
            status=status, workflow_type=workflow_type, limit=limit
        )

    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Delegate."""
        return await self.inner.load_task_results(workflow_id, step_name)

    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """Delegate."""
        return await self.inner.load_log(workflow_id)


def _cancelled(session: Session) -> WorkflowCancelled:
    try:
        session.signal.check()
    except WorkflowCancelled as exc:
        return exc
    raise AssertionError("unreachable: the signal is cancelled")  # pragma: no cover


def _lost(session: Session) -> LeaseLost:
    try:
        session.signal.check()
    except LeaseLost as exc:
        return exc
    raise AssertionError("unreachable: the signal is lost")  # pragma: no cover


def unwrap(persistence: PersistenceProvider) -> PersistenceProvider:
    """The provider under any FencedPersistence (a child workflow may inherit its parent's)."""
    # By exact type: FencedPersistence is an ABC subclass, and isinstance on one costs ~2k
    # instructions (nothing subclasses it).
    while type(persistence) is FencedPersistence:
        persistence = persistence.inner
    return persistence


# -- the keeper ------------------------------------------------------------------------------------
class _Keeper:
    """Renews the leases of this event loop's long sessions, one statement per store."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.sessions: set[Session] = set()
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task[None] | None = None

    def interval(self) -> float:
        return min((s.ttl for s in self.sessions), default=DEFAULT_LEASE_SECONDS) / 3

    def add(self, session: Session) -> None:
        self.sessions.add(session)
        if self.timer is None and (self.task is None or self.task.done()):
            self.timer = self.loop.call_later(self.interval(), self._start)

    def remove(self, session: Session) -> None:
        # A pending timer stays: it finds no session and does nothing, or serves the next one;
        # that keeps a short session (most next_step calls) at a set add and discard.
        self.sessions.discard(session)
        if not self.sessions and self.task is not None:
            self.task.cancel()
            self.task = None

    def _start(self) -> None:
        self.timer = None
        if self.sessions:
            self.task = self.loop.create_task(self._run(), name="ruvon-lease-keeper")

    async def _run(self) -> None:
        while self.sessions:
            await renew(list(self.sessions))
            await asyncio.sleep(self.interval())


async def renew(sessions: Sequence[Session]) -> None:
    """Renew the leases of ``sessions``; mark lost (or cancelled) those it finds so."""
    by_store: dict[int, list[Session]] = {}
    for session in sessions:
        by_store.setdefault(id(session.store), []).append(session)
    for group in by_store.values():
        store, now = group[0].store, time.time()
        ttl = min(s.ttl for s in group)
        try:
            renewed = await store.renew(sorted({s.owner for s in group}), ttl)
        except Exception as exc:
            for session in group:
                if (
                    not (session.closed or session.released)
                    and time.time() >= session.expires_at - 0.5
                ):
                    session.lose(f"the lease could not be renewed before it expired ({exc})")
            continue
        held = {(r.workflow_id, r.owner): r.status for r in renewed}
        for session in group:
            if session.closed or session.released:
                continue
            status = held.get((session.workflow_id, session.owner))
            if status is None:
                session.lose("the lease is held by another driver now")
                continue
            session.expires_at = now + ttl
            if status == "CANCELLED":
                session.signal.cancelled = True


_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Keeper] = (
    weakref.WeakKeyDictionary()
)


_last: list[_Keeper] = []  # the keeper found last (most programs run one event loop)


def keeper() -> _Keeper:
    """The keeper of the running event loop."""
    loop = asyncio.get_running_loop()
    if _last and _last[0].loop is loop:
        return _last[0]
    found = _keepers.get(loop)
    if found is None:
        found = _keepers[loop] = _Keeper(loop)
    _last[:] = [found]
    return found


# -- opening sessions ------------------------------------------------------------------------------
async def _contended(
    store: LeaseStore,
    workflow_id: str,
    owner: str,
    ttl: float,
    wait: float | None,
    held: LeaseHeld,
) -> Acquired:
    """After a first LeaseHeld: take a dead owner's lease over, or wait up to ``wait`` seconds
    for the owner to let go (``None``: raise ``held`` at once)."""
    deadline = None if wait is None else time.monotonic() + wait
    while True:
        if owner_is_dead(held.owner):  # killed on this machine: no need to wait for expiry
            _log.warning(
                "workflow %s: its owner %s is no longer running; taking its lease over",
                workflow_id,
                held.owner,
            )
            return await store.acquire(workflow_id, owner, ttl, dead_owner=held.owner)
        if deadline is None or time.monotonic() >= deadline:
            raise held
        await asyncio.sleep(min(0.2, max(deadline - time.monotonic(), 0.0)))
        try:
            return await store.acquire(workflow_id, owner, ttl)
        except LeaseHeld as again:
            held = again


@asynccontextmanager
async def hold(
    workflow: Workflow,
    *,
    ttl: float | None = None,
    wait: float | None = None,
    owner: str | None = None,
    acquired: bool = False,
) -> AsyncIterator[Session | None]:
    """Hold ``workflow``'s lease for the block (nothing if a session is already open).

    Args:
        workflow: The workflow to drive.
        ttl: Lease length in seconds, renewed every ``ttl / 3`` while the block runs (default:
            ``$RUVON_LEASE_SECONDS``, else 10).
        wait: Seconds to wait for another driver's lease (``None``: fail at once).
        owner: The owner id (default: a new id for this session).
        acquired: The lease was taken already (by a serving worker's claim).

    Raises:
        LeaseHeld: Another driver holds the lease (and ``wait`` ran out).
        VersionConflict: The workflow was saved by someone else since this copy was loaded.
    """
    session = await open_session(workflow, ttl=ttl, wait=wait, owner=owner, acquired=acquired)
    if session is None:
        yield workflow.session
        return
    try:
        yield session
    finally:
        await close_session(workflow, session)


async def open_session(
    workflow: Workflow,
    *,
    ttl: float | None = None,
    wait: float | None = None,
    owner: str | None = None,
    acquired: bool = False,
) -> Session | None:
    """Take the lease and fence the workflow's saves (see :func:`hold`); ``None`` when a session is
    open already or the store keeps no leases."""
    if workflow.session is not None:
        return None
    inner = unwrap(workflow.persistence)
    store = lease_store_for(inner)
    if store is None:
        return None
    owner = owner or session_owner()
    ttl = ttl or default_lease_seconds()
    if not acquired:
        try:  # the common case first, without a coroutine of its own
            taken = await store.acquire(workflow.id, owner, ttl)
        except LeaseHeld as held:
            taken = await _contended(store, workflow.id, owner, ttl, wait, held)
        if taken.content_version != workflow._version:
            await store.release(workflow.id, owner)
            raise VersionConflict(
                f"Workflow '{workflow.id}' was saved by another writer since this copy was loaded "
                f"(stored version {taken.content_version}, this copy has version "
                f"{workflow._version}). Reload it with builder.load_workflow('{workflow.id}') and "
                f"apply the change again."
            )
        workflow._version = taken.version
    session = Session(workflow.id, store, owner, ttl)
    session.original = workflow.persistence
    workflow.session, workflow.persistence = session, FencedPersistence(inner, session)
    session.keeper = keeper()
    session.keeper.add(session)
    return session


async def close_session(workflow: Workflow, session: Session) -> None:
    """Stop renewing, unfence the saves and release the lease (unless it was lost)."""
    session.closed = True
    if session.keeper is not None:
        session.keeper.remove(session)
    workflow.session, workflow.persistence = None, session.original or workflow.persistence
    signals.unregister(session.signal)
    if session.signal.cancelled:
        workflow.status = WorkflowStatus.CANCELLED
    if not session.signal.lost:
        if not session.released:  # else the workflow's last save gave the lease up
            try:
                await session.store.release(workflow.id, session.owner)
            except Exception:  # the lease expires by itself; the next driver takes it over then
                _log.warning(
                    "could not release the lease of workflow %s", workflow.id, exc_info=True
                )
        if (
            workflow.status._value_ in ("SLEEPING", "WAITING_SIGNAL")
            or workflow.engine.signals_seen
        ):
            from ruvon.steps.timing import released

            await released(workflow)
    if workflow.parent_id is not None and workflow.status.is_terminal:
        await _wake(session.store, workflow.parent_id)


async def _wake(store: LeaseStore, parent_id: str) -> None:
    """Tell serving workers that a parent's child ended (the parent may wait for it)."""
    try:
        await store.wake(parent_id)
    except Exception:
        _log.warning("could not wake the parent workflow %s", parent_id, exc_info=True)


async def in_session(
    workflow: Workflow,
    call: Callable[..., Awaitable[T]],
    *args: Any,
    single_call: bool = False,
) -> T:
    """Run ``call(*args)`` holding the workflow's lease (the hook of ``next_step`` and
    ``run_to_completion``).

    A workflow that has ended, or whose session is open already, runs ``call`` as it is. With
    ``single_call`` (``next_step``), the call may mark its last save (``Workflow.last_save_of_call``)
    to give the lease up in it.
    """
    if workflow.session is not None or workflow.status not in _RUNNABLE:  # a str enum
        return await call(*args)
    session = await open_session(workflow)
    if session is None:
        return await call(*args)
    session.single_call = single_call
    try:
        return await call(*args)
    finally:
        await close_session(workflow, session)


async def request_cancel(store: LeaseStore, workflow_id: str, note: str) -> tuple[str, str | None]:
    """Cancel a stored workflow at once; a driver in this process sees it immediately, one in
    another process at its next renewal or save. Returns the old status and the lease owner."""
    old, owner = await store.cancel(workflow_id, note)
    signal = signals.current(workflow_id)
    if signal is not None:
        signal.cancelled = True
    return old, owner
