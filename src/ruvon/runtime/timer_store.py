"""Timers, the signal inbox and queues in the store (SQLite, PostgreSQL, in memory).

``wake_at`` on a workflow's row says when a serving worker should look at it: when a SLEEPING
workflow is due, when a WAIT_FOR_SIGNAL step times out, or ``now`` once a signal arrived for it.
Workers ask for the earliest one (:meth:`TimerStore.next_due`, one index probe), sleep until then
(or a notification), and claim what is due (:meth:`TimerStore.claim_due`).

Signals are rows of ``ruvon_signals``; a workflow consumes those of one name in id order, and its
engine record keeps the id of the last one consumed (saved with the state it produced), so each is
consumed once. ``ruvon_queues`` holds ``max_active`` per workflow type; :meth:`TimerStore.admit`
moves QUEUED workflows to ACTIVE, oldest first, while their type has free slots.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from ruvon.errors import ConfigurationError, WorkflowNotFound, WorkflowStateError
from ruvon.implementations.persistence.schema import not_found_message
from ruvon.providers.persistence import PersistenceProvider
from ruvon.runtime import clock
from ruvon.runtime.leases import TERMINAL_STATUSES, dump_json, lease_store_for
from ruvon.runtime.timer_schema import SLEEPING_STATUSES

MAX_SIGNAL_NAME = 200
"""The longest signal name accepted."""
MAX_SIGNAL_BYTES = 256 * 1024
"""The largest signal data accepted (as compact JSON)."""

_WATCHED = "status IN ('SLEEPING', 'WAITING_SIGNAL')"
_ENDED = ", ".join(f"'{status}'" for status in TERMINAL_STATUSES)


# -- waking workers of this process ----------------------------------------------------------------
_wakers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
_wakers_lock = threading.Lock()


def add_waker(event: asyncio.Event) -> None:
    """Set ``event`` (of the running loop) whenever this process creates a timer or a signal."""
    with _wakers_lock:
        _wakers.append((asyncio.get_running_loop(), event))


def remove_waker(event: asyncio.Event) -> None:
    """Stop setting ``event``."""
    with _wakers_lock:
        _wakers[:] = [(loop, e) for loop, e in _wakers if e is not event]


def poke() -> None:
    """Wake the serving workers of this process (they look for due work at once)."""
    with _wakers_lock:
        found = list(_wakers)
    for loop, event in found:
        if loop.is_closed():
            continue
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(event.set)


def signal_problem(workflow_id: str, name: str, data: Any) -> str | None:
    """Why a signal cannot be sent (a sentence), or ``None``."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_SIGNAL_NAME:
        return (
            f"The signal name {name!r} for workflow {workflow_id} is not usable: give a non-empty "
            f"name of at most {MAX_SIGNAL_NAME} characters."
        )
    if data is not None and not isinstance(data, dict):
        return (
            f"The data of signal '{name}' for workflow {workflow_id} must be a JSON object (dict) "
            f"or None, not {type(data).__name__}."
        )
    try:
        size = len(dump_json(data).encode())
    except (TypeError, ValueError) as exc:
        return f"The data of signal '{name}' for workflow {workflow_id} is not JSON data: {exc}."
    except RecursionError:
        return (
            f"The data of signal '{name}' for workflow {workflow_id} nests too deeply to be "
            f"stored; send flatter data."
        )
    if size > MAX_SIGNAL_BYTES:
        return (
            f"The data of signal '{name}' for workflow {workflow_id} is {size} bytes of JSON; at "
            f"most {MAX_SIGNAL_BYTES} are accepted. Store large data elsewhere and send its key."
        )
    return None


def _ended_error(workflow_id: str, status: str, name: str) -> WorkflowStateError:
    return WorkflowStateError(
        f"Workflow {workflow_id} is {status}; the signal '{name}' cannot be delivered to a "
        f"workflow that has ended. Check the id ('ruvon show {workflow_id}')."
    )


class TimerStore(ABC):
    """Timer, signal and queue operations on one workflow store."""

    @abstractmethod
    async def set_wake(self, workflow_id: str, at: float | None) -> None:
        """Record when serving workers should look at the workflow (``None``: never by time)."""

    @abstractmethod
    async def arm_signal_wait(
        self, workflow_id: str, name: str, after_id: int, deadline: float | None
    ) -> None:
        """After a WAITING_SIGNAL save: due now if a signal ``name`` newer than ``after_id`` is
        already in the inbox (sent while the step ran), else at ``deadline``."""

    @abstractmethod
    async def next_due(self, types: Sequence[str] = ()) -> float | None:
        """The earliest ``wake_at`` of a claimable sleeping or signal-waiting workflow."""

    @abstractmethod
    async def claim_due(
        self, owner: str, limit: int, ttl: float, types: Sequence[str] = ()
    ) -> list[str]:
        """Take the leases of up to ``limit`` due workflows, earliest first; return their ids."""

    @abstractmethod
    async def send(self, workflow_id: str, name: str, data: dict[str, Any] | None) -> int:
        """Put a signal in the workflow's inbox (waking it if it waits); return the signal's id.

        Raises:
            WorkflowNotFound: No such workflow.
            WorkflowStateError: The workflow has ended.
        """

    @abstractmethod
    async def peek(
        self, workflow_id: str, name: str, after_id: int
    ) -> tuple[int, dict[str, Any] | None] | None:
        """The oldest signal ``name`` newer than ``after_id`` (its id and data), or ``None``.

        Signals at or below ``after_id`` (consumed) are deleted on the way.
        """

    @abstractmethod
    async def drop_signals(self, workflow_id: str) -> None:
        """Delete every signal of a workflow that has ended."""

    @abstractmethod
    async def set_limit(self, workflow_type: str, max_active: int) -> None:
        """Record ``max_active`` for a workflow type."""

    @abstractmethod
    async def has_queues(self) -> bool:
        """Whether any workflow type has a ``max_active``."""

    @abstractmethod
    async def enqueue(self, workflow_id: str) -> None:
        """Put a new workflow in its type's queue (status QUEUED) for serving workers."""

    @abstractmethod
    async def admit(self, types: Sequence[str] = ()) -> list[str]:
        """Make QUEUED workflows ACTIVE (oldest first) while their type has free slots; a slot is
        taken by every unfinished workflow of the type that is not QUEUED."""

    async def notify(self) -> None:
        """Tell serving workers (of every process) to look for due work now."""
        poke()


# -- SQL -------------------------------------------------------------------------------------------
class SqlTimerStore(TimerStore):
    """The timer store of a SQLite or PostgreSQL provider (over its lease store's dialect)."""

    def __init__(self, dialect: Any) -> None:
        self._db = dialect

    async def _notify(self, tx: Any) -> None:
        from ruvon.runtime.sql_leases import CHANNEL, NOTIFY_SQL

        if self._db.notify:  # delivered when the transaction commits
            await tx.rows(NOTIFY_SQL, (CHANNEL,))

    async def notify(self) -> None:
        """See :meth:`TimerStore.notify`."""
        poke()
        if self._db.notify:
            async with self._db.statement("notify serving workers") as tx:
                await self._notify(tx)

    async def set_wake(self, workflow_id: str, at: float | None) -> None:
        """See :meth:`TimerStore.set_wake`."""
        async with self._db.statement(f"set the wake-up time of workflow '{workflow_id}'") as tx:
            await tx.count("UPDATE workflows SET wake_at = %s WHERE id = %s", (at, workflow_id))

    async def arm_signal_wait(
        self, workflow_id: str, name: str, after_id: int, deadline: float | None
    ) -> None:
        """See :meth:`TimerStore.arm_signal_wait`."""
        async with self._db.statement(f"arm the signal wait of workflow '{workflow_id}'") as tx:
            await tx.count(
                "UPDATE workflows SET wake_at = CASE WHEN EXISTS (SELECT 1 FROM ruvon_signals "
                "WHERE workflow_id = %s AND name = %s AND id > %s) THEN %s ELSE %s END "
                "WHERE id = %s",
                (workflow_id, name, after_id, clock.now(), deadline, workflow_id),
            )

    async def next_due(self, types: Sequence[str] = ()) -> float | None:
        """See :meth:`TimerStore.next_due`."""
        only = f" AND workflow_type IN ({_marks(len(types))})" if types else ""
        async with self._db.statement("find the next due workflow") as tx:
            rows = await tx.rows(
                f"SELECT MIN(wake_at) FROM workflows WHERE {_WATCHED} AND wake_at IS NOT NULL "
                f"AND (owner IS NULL OR lease_expires_at < %s){only}",
                (clock.now(), *types),
            )
        return None if not rows or rows[0][0] is None else float(rows[0][0])

    async def claim_due(
        self, owner: str, limit: int, ttl: float, types: Sequence[str] = ()
    ) -> list[str]:
        """See :meth:`TimerStore.claim_due`."""
        now = clock.now()
        only = f" AND workflow_type IN ({_marks(len(types))})" if types else ""
        async with self._db.statement("claim due workflows") as tx:
            rows = await tx.rows(
                "UPDATE workflows SET owner = %s, lease_expires_at = %s, version = version + "
                "CASE WHEN owner IS NULL THEN 0 ELSE 1 END WHERE id IN ("
                f"SELECT id FROM workflows WHERE {_WATCHED} AND wake_at <= %s "
                f"AND (owner IS NULL OR lease_expires_at < %s){only} "
                f"ORDER BY wake_at LIMIT %s{self._db.skip_locked}) RETURNING id",
                (owner, time.time() + ttl, now, time.time(), *types, limit),
            )
        return [str(r[0]) for r in rows]

    async def send(self, workflow_id: str, name: str, data: dict[str, Any] | None) -> int:
        """See :meth:`TimerStore.send`."""
        now = clock.now()
        payload = None if data is None else self._db.to_json(data)
        async with self._db.transaction(f"send signal '{name}' to workflow '{workflow_id}'") as tx:
            # The row lock orders the senders of one workflow: ids grow in commit order.
            rows = await tx.rows(
                "SELECT status FROM workflows WHERE id = %s" + self._db.row_lock, (workflow_id,)
            )
            if not rows:
                raise WorkflowNotFound(not_found_message(workflow_id, self._db.label()))
            if rows[0][0] in TERMINAL_STATUSES:
                raise _ended_error(workflow_id, str(rows[0][0]), name)
            made = await tx.rows(
                "INSERT INTO ruvon_signals (workflow_id, name, data, created_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (workflow_id, name, payload, now),
            )
            await tx.count(
                "UPDATE workflows SET wake_at = %s WHERE id = %s AND status = 'WAITING_SIGNAL'",
                (now, workflow_id),
            )
            await self._notify(tx)
        poke()
        return int(made[0][0])

    async def peek(
        self, workflow_id: str, name: str, after_id: int
    ) -> tuple[int, dict[str, Any] | None] | None:
        """See :meth:`TimerStore.peek`."""
        async with self._db.transaction(f"read signal '{name}' of workflow '{workflow_id}'") as tx:
            if after_id:
                await tx.count(
                    "DELETE FROM ruvon_signals WHERE workflow_id = %s AND name = %s AND id <= %s",
                    (workflow_id, name, after_id),
                )
            rows = await tx.rows(
                "SELECT id, data FROM ruvon_signals WHERE workflow_id = %s AND name = %s "
                "AND id > %s ORDER BY id LIMIT 1",
                (workflow_id, name, after_id),
            )
        if not rows:
            return None
        data = rows[0][1]
        if isinstance(data, str):
            data = json.loads(data)
        return int(rows[0][0]), data if isinstance(data, dict) else None

    async def drop_signals(self, workflow_id: str) -> None:
        """See :meth:`TimerStore.drop_signals`."""
        async with self._db.statement(f"drop the signals of workflow '{workflow_id}'") as tx:
            await tx.count("DELETE FROM ruvon_signals WHERE workflow_id = %s", (workflow_id,))

    async def set_limit(self, workflow_type: str, max_active: int) -> None:
        """See :meth:`TimerStore.set_limit`."""
        async with self._db.statement(f"set max_active of '{workflow_type}'") as tx:
            await tx.count(
                "INSERT INTO ruvon_queues (workflow_type, max_active) VALUES (%s, %s) "
                "ON CONFLICT (workflow_type) DO UPDATE SET max_active = excluded.max_active",
                (workflow_type, max_active),
            )

    async def has_queues(self) -> bool:
        """See :meth:`TimerStore.has_queues`."""
        async with self._db.statement("look for queues") as tx:
            rows = await tx.rows("SELECT 1 FROM ruvon_queues LIMIT 1")
        return bool(rows)

    async def enqueue(self, workflow_id: str) -> None:
        """See :meth:`TimerStore.enqueue`."""
        async with self._db.statement(f"queue workflow '{workflow_id}'") as tx:
            await tx.count(
                "UPDATE workflows SET status = 'QUEUED', queued_at = %s, version = version + 1 "
                "WHERE id = %s AND status = 'ACTIVE'",
                (time.time(), workflow_id),
            )
            await self._notify(tx)
        poke()

    async def admit(self, types: Sequence[str] = ()) -> list[str]:
        """See :meth:`TimerStore.admit`."""
        only = f" WHERE workflow_type IN ({_marks(len(types))})" if types else ""
        admitted: list[str] = []
        async with self._db.transaction("admit queued workflows") as tx:
            # Locking the queue rows makes concurrent admissions (other workers) wait their turn.
            limits = await tx.rows(
                f"SELECT workflow_type, max_active FROM ruvon_queues{only} ORDER BY workflow_type"
                + self._db.row_lock,
                tuple(types),
            )
            for workflow_type, max_active in limits:
                counted = await tx.rows(
                    "SELECT COUNT(*) FROM workflows WHERE workflow_type = %s "
                    f"AND status NOT IN ({_ENDED}, 'QUEUED')",
                    (workflow_type,),
                )
                free = int(max_active) - int(counted[0][0])
                if free <= 0:
                    continue
                rows = await tx.rows(
                    "UPDATE workflows SET status = 'ACTIVE', version = version + 1, "
                    "queued_at = %s WHERE id IN (SELECT id FROM workflows WHERE workflow_type = %s "
                    "AND status = 'QUEUED' ORDER BY created_at LIMIT %s) "
                    "RETURNING id, created_at",
                    (time.time(), workflow_type, free),
                )
                admitted += [str(r[0]) for r in sorted(rows, key=lambda r: (r[1], r[0]))]
        return admitted


def _marks(count: int) -> str:
    return ", ".join(["%s"] * count)


# -- in memory -------------------------------------------------------------------------------------
class MemoryTimerStore(TimerStore):
    """Timers, signals and queues of an InMemoryPersistenceProvider (one process)."""

    def __init__(self, provider: Any, leases: Any) -> None:
        self._provider = provider
        self._leases = leases
        self._wake: dict[str, float | None] = {}
        self._signals: list[tuple[int, str, str, dict[str, Any] | None]] = []
        self._next_id = 0
        self._limits: dict[str, int] = {}

    def _claimable(self, workflow_id: str, now: float) -> bool:
        slot = self._leases._slots.get(workflow_id)
        return slot is None or slot.owner is None or slot.expires_at < now

    async def set_wake(self, workflow_id: str, at: float | None) -> None:
        """See :meth:`TimerStore.set_wake`."""
        with self._provider._lock:
            self._wake[workflow_id] = at

    async def arm_signal_wait(
        self, workflow_id: str, name: str, after_id: int, deadline: float | None
    ) -> None:
        """See :meth:`TimerStore.arm_signal_wait`."""
        with self._provider._lock:
            pending = any(
                s[0] > after_id and s[1] == workflow_id and s[2] == name for s in self._signals
            )
            self._wake[workflow_id] = clock.now() if pending else deadline

    def _due(self, types: Sequence[str]) -> list[tuple[float, str]]:
        found = []
        now = time.time()
        for workflow_id, at in self._wake.items():
            record = self._provider._workflows.get(workflow_id)
            if at is None or record is None or record.status not in SLEEPING_STATUSES:
                continue
            if (types and record.workflow_type not in types) or not self._claimable(
                workflow_id, now
            ):
                continue
            found.append((at, workflow_id))
        return sorted(found)

    async def next_due(self, types: Sequence[str] = ()) -> float | None:
        """See :meth:`TimerStore.next_due`."""
        with self._provider._lock:
            due = self._due(types)
        return due[0][0] if due else None

    async def claim_due(
        self, owner: str, limit: int, ttl: float, types: Sequence[str] = ()
    ) -> list[str]:
        """See :meth:`TimerStore.claim_due`."""
        from ruvon.runtime.memory_leases import _Slot

        now, taken = clock.now(), list[str]()
        with self._provider._lock:
            for at, workflow_id in self._due(types):
                if at > now or len(taken) >= limit:
                    break
                slot = self._leases._slots.setdefault(workflow_id, _Slot())
                if slot.owner is not None:
                    self._provider._workflows[workflow_id].version += 1
                slot.owner, slot.expires_at = owner, time.time() + ttl
                taken.append(workflow_id)
        return taken

    async def send(self, workflow_id: str, name: str, data: dict[str, Any] | None) -> int:
        """See :meth:`TimerStore.send`."""
        with self._provider._lock:
            record = self._provider._workflows.get(workflow_id)
            if record is None:
                raise WorkflowNotFound(
                    f"No workflow with id '{workflow_id}' is stored in this "
                    f"InMemoryPersistenceProvider; the signal '{name}' was not sent. Check the id."
                )
            if record.status in TERMINAL_STATUSES:
                raise _ended_error(workflow_id, record.status, name)
            self._next_id += 1
            self._signals.append(
                (
                    self._next_id,
                    workflow_id,
                    name,
                    None if data is None else json.loads(dump_json(data)),
                )
            )
            if record.status == "WAITING_SIGNAL":
                self._wake[workflow_id] = clock.now()
            made = self._next_id
        poke()
        return made

    async def peek(
        self, workflow_id: str, name: str, after_id: int
    ) -> tuple[int, dict[str, Any] | None] | None:
        """See :meth:`TimerStore.peek`."""
        with self._provider._lock:
            self._signals = [
                s
                for s in self._signals
                if not (s[1] == workflow_id and s[2] == name and s[0] <= after_id)
            ]
            for signal_id, wid, signal_name, data in self._signals:
                if wid == workflow_id and signal_name == name:
                    return signal_id, data
        return None

    async def drop_signals(self, workflow_id: str) -> None:
        """See :meth:`TimerStore.drop_signals`."""
        with self._provider._lock:
            self._signals = [s for s in self._signals if s[1] != workflow_id]

    async def set_limit(self, workflow_type: str, max_active: int) -> None:
        """See :meth:`TimerStore.set_limit`."""
        self._limits[workflow_type] = max_active

    async def has_queues(self) -> bool:
        """See :meth:`TimerStore.has_queues`."""
        return bool(self._limits)

    async def enqueue(self, workflow_id: str) -> None:
        """See :meth:`TimerStore.enqueue`."""
        with self._provider._lock:
            record = self._provider._workflows.get(workflow_id)
            if record is not None and record.status == "ACTIVE":
                record.status, record.version = "QUEUED", record.version + 1
        await self._leases.queue(workflow_id)
        poke()

    async def admit(self, types: Sequence[str] = ()) -> list[str]:
        """See :meth:`TimerStore.admit`."""
        admitted: list[str] = []
        with self._provider._lock:
            records = sorted(self._provider._workflows.values(), key=lambda r: r.created_at)
            for workflow_type, max_active in self._limits.items():
                if types and workflow_type not in types:
                    continue
                mine = [r for r in records if r.workflow_type == workflow_type]
                active = sum(r.status not in (*TERMINAL_STATUSES, "QUEUED") for r in mine)
                for record in [r for r in mine if r.status == "QUEUED"][
                    : max(max_active - active, 0)
                ]:
                    record.status, record.version = "ACTIVE", record.version + 1
                    admitted.append(record.id)
        return admitted


# -- finding the store of a provider ---------------------------------------------------------------
_ATTRIBUTE = "_ruvon_timer_store"


def timer_store_for(provider: PersistenceProvider) -> TimerStore | None:
    """The timer store of ``provider`` (unwrapped), or ``None`` when it keeps no leases."""
    from ruvon.runtime.session import unwrap

    provider = unwrap(provider)
    cached = getattr(provider, _ATTRIBUTE, None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    leases = lease_store_for(provider)
    if leases is None:
        return None
    from ruvon.runtime.memory_leases import MemoryLeaseStore
    from ruvon.runtime.sql_leases import SqlLeaseStore

    store: TimerStore
    if isinstance(leases, MemoryLeaseStore):
        store = MemoryTimerStore(provider, leases)
    elif isinstance(leases, SqlLeaseStore):
        store = SqlTimerStore(leases._db)
    else:
        return None
    with contextlib.suppress(AttributeError):
        setattr(provider, _ATTRIBUTE, store)
    return store


def timers_of(provider: PersistenceProvider, what: str) -> TimerStore:
    """The timer store of ``provider``, or a ConfigurationError saying which stores have one."""
    store = timer_store_for(provider)
    if store is None:
        raise ConfigurationError(
            f"{type(provider).__name__} keeps no timers or signals, so {what} cannot work. Use a "
            f"SQLite file, PostgreSQL or the in-memory provider."
        )
    return store
