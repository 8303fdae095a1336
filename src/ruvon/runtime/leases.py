"""The lease store interface: who drives a workflow, until when, and what serving workers may claim.

A lease is ``(owner, lease_expires_at)`` on the workflow's row. A driver takes it once per driving
session (:mod:`ruvon.runtime.session`), renews it off the hot path, and releases it at the end.
Saves stay fenced by the record's ``version``: taking over a lease that another owner still holds
(expired) bumps the version, so the old owner's next save fails instead of overwriting.

``lease_store_for(provider)`` finds the implementation for a persistence provider: in memory,
SQLite (file databases) or PostgreSQL. A provider may also offer its own through a
``lease_store()`` method.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import socket
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ruvon.envvars import env_get
from ruvon.errors import LeaseHeld
from ruvon.providers.persistence import PersistenceProvider, TaskRecord

DEFAULT_LEASE_SECONDS = 10.0
"""How long a lease lasts without renewal; renewed every third of it."""


_lease_setting: tuple[str | None, float] = (None, DEFAULT_LEASE_SECONDS)


def default_lease_seconds() -> float:
    """``$RUVON_LEASE_SECONDS`` if set to a positive number, else :data:`DEFAULT_LEASE_SECONDS`."""
    global _lease_setting
    raw = env_get("RUVON_LEASE_SECONDS")
    if raw == _lease_setting[0]:
        return _lease_setting[1]
    try:
        value = float(raw or "")
    except ValueError:
        value = DEFAULT_LEASE_SECONDS
    _lease_setting = (raw, value if value > 0 else DEFAULT_LEASE_SECONDS)
    return _lease_setting[1]


TERMINAL_STATUSES = (
    "COMPLETED",
    "FAILED",
    "FAILED_ROLLED_BACK",
    "FAILED_CHILD_WORKFLOW",
    "CANCELLED",
    "FAILED_WORKER_CRASH",
)

WAKE: dict[str, Any] = {"wake": True}
"""What ``wake`` stores as a workflow's pending input."""

SAVED, CANCELLED, LOST = "saved", "cancelled", "lost"
"""Verdicts of a fenced save."""


def fence_verdict(row: Sequence[Any] | None, owner: str) -> str:
    """Whether ``owner`` may save, from the workflow's ``(owner, status)`` (``None``: no row)."""
    if row is None or row[0] != owner:
        return LOST
    return CANCELLED if row[1] == "CANCELLED" else SAVED


# Not frozen: a frozen dataclass costs twice as much to build (one per driving session).
@dataclass(slots=True)
class Acquired:
    """A lease just taken: the record's version now, and whose lease was taken over (if any).

    Taking over bumps the version by one without changing the record, so a copy loaded at
    ``version - 1`` is still current.
    """

    version: int
    took_over_from: str | None = None

    @property
    def content_version(self) -> int:
        """The version of the record's last real save."""
        return self.version - 1 if self.took_over_from is not None else self.version


@dataclass(slots=True, frozen=True)
class Renewal:
    """One lease that a renewal found still held: its workflow, owner and the workflow's status."""

    workflow_id: str
    owner: str
    status: str


@dataclass(slots=True, frozen=True)
class Zombie:
    """An unfinished workflow whose owner's lease has expired (the owner died or hung)."""

    workflow_id: str
    workflow_type: str
    status: str
    owner: str
    expired_at: float


@dataclass(slots=True)
class WorkerInfo:
    """A serving process (``ruvon serve``) as recorded in the ``ruvon_workers`` table."""

    id: str
    host: str
    pid: int
    concurrency: int
    types: list[str]
    started_at: float
    heartbeat_at: float
    holds: list[tuple[str, str, float]] = field(default_factory=list)  # (id, type, expires)


@dataclass(slots=True, frozen=True)
class KeyEntry:
    """What an idempotency key points to: the first workflow started with it and its data's hash."""

    workflow_id: str
    data_hash: str
    created: bool


class LeaseStore(ABC):
    """Lease, claim and hand-over operations on one workflow store."""

    @abstractmethod
    async def acquire(
        self, workflow_id: str, owner: str, ttl: float, *, dead_owner: str | None = None
    ) -> Acquired:
        """Take the workflow's lease for ``owner`` for ``ttl`` seconds; return the record's version.

        Succeeds when nobody holds the lease, ``owner`` holds it, the holder's lease expired, or the
        holder is ``dead_owner`` (known dead); taking it from another holder bumps the version,
        fencing that holder out.

        Raises:
            LeaseHeld: Another owner holds a live lease (the message names it and the expiry).
            WorkflowNotFound: No such workflow.
        """

    @abstractmethod
    async def release(self, workflow_id: str, owner: str) -> None:
        """Give the lease up if ``owner`` still holds it."""

    @abstractmethod
    async def renew(self, owners: Sequence[str], ttl: float) -> list[Renewal]:
        """Extend every lease held by one of ``owners``; return the leases still held."""

    @abstractmethod
    async def claim(
        self, owner: str, limit: int, ttl: float, types: Sequence[str] = ()
    ) -> list[str]:
        """Take the leases of up to ``limit`` runnable workflows for ``owner``; return their ids.

        Runnable: ACTIVE and handed to workers (``queue``) or with an expired lease; WAITING_HUMAN
        with delivered input. ``types`` limits the workflow types (empty: all).
        """

    @abstractmethod
    async def save_task_results(self, records: Sequence[TaskRecord], owner: str) -> str:
        """Save task outcomes only if ``owner`` holds the lease and the workflow is not cancelled.

        Returns:
            :data:`SAVED`, or :data:`CANCELLED` / :data:`LOST` when nothing was saved.
        """

    @abstractmethod
    async def cancel(self, workflow_id: str, note: str) -> tuple[str, str | None]:
        """Mark an unfinished workflow CANCELLED now (bumping its version, so its driver's next
        save fails) and log ``note``; return the old status and the lease owner (if any).

        Raises:
            WorkflowStateError: The workflow has already ended.
            WorkflowNotFound: No such workflow.
        """

    @abstractmethod
    async def queue(self, workflow_id: str) -> None:
        """Hand the workflow over to serving workers (``ruvon serve``)."""

    @abstractmethod
    async def deliver_input(self, workflow_id: str, data: dict[str, Any]) -> None:
        """Store human input for a WAITING_HUMAN workflow; a serving worker picks it up."""

    @abstractmethod
    async def wake(self, workflow_id: str) -> None:
        """Make an unfinished workflow (a parent waiting on children) runnable for workers."""

    @abstractmethod
    async def take_input(self, workflow_id: str, owner: str) -> dict[str, Any] | None:
        """Remove the delivered input (or wake-up) of a workflow that ``owner`` holds; return the
        input if it was meant for the workflow's current step."""

    @abstractmethod
    async def register_key(self, key: str, workflow_id: str, data_hash: str) -> KeyEntry:
        """Record ``key`` for ``workflow_id`` unless it exists; return what the key points to."""

    @abstractmethod
    async def zombies(self, now: float) -> list[Zombie]:
        """Unfinished workflows whose lease expired before ``now``."""

    @abstractmethod
    async def fail_zombies(self, workflow_ids: Sequence[str], now: float) -> list[str]:
        """Mark those still zombies FAILED_WORKER_CRASH; return their ids."""

    @abstractmethod
    async def beat_worker(self, info: WorkerInfo) -> None:
        """Insert or refresh the worker's row (its heartbeat)."""

    @abstractmethod
    async def remove_worker(self, worker_id: str) -> None:
        """Delete the worker's row (on a clean exit)."""

    @abstractmethod
    async def workers(self, alive_after: float) -> list[WorkerInfo]:
        """Workers whose heartbeat is newer than ``alive_after``, with the leases they hold."""

    async def wait_for_work(self, timeout: float) -> bool:
        """Return True when told that new work may be claimable, False after ``timeout`` seconds."""
        import asyncio

        await asyncio.sleep(timeout)
        return False

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``wait_for_work`` holds (a listening connection)."""


def dump_json(value: Any) -> str:
    """Compact JSON text (non-ASCII kept) for the runtime's own JSON columns and hashes."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# -- owners ----------------------------------------------------------------------------------------
_process: tuple[int, str] | None = None
_sessions = 0


def process_owner() -> str:
    """``host:pid:random``: this process, distinct from earlier processes with the same pid."""
    global _process
    if _process is None:  # forgotten in a forked child (below): no getpid() call per session
        pid = os.getpid()
        _process = (pid, f"{socket.gethostname()}:{pid}:{secrets.token_hex(3)}")
    return _process[1]


def _forget_process() -> None:
    global _process
    _process = None


os.register_at_fork(after_in_child=_forget_process)


def session_owner() -> str:
    """A new owner id for one driving session of this process (``<process owner>/<n>``)."""
    global _sessions
    _sessions += 1
    return f"{process_owner()}/{_sessions}"


def owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` names a process of this machine that no longer runs.

    A missing pid counts, and on Linux a zombie too (killed, not yet reaped by its parent: it runs
    no code). A pid reused by another process reads as alive, and the lease then simply runs out.
    """
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # exists, but belongs to someone else
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """Whether ``pid`` is a zombie (Linux ``/proc``; False where it cannot be read)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read()
    except OSError:
        return False
    # "pid (comm) state ...": comm may hold spaces and parentheses, so split after the last ')'.
    state = fields[fields.rfind(b")") + 2 :]
    return state[:1] == b"Z"


def held_error(workflow_id: str, owner: str, expires_at: float) -> LeaseHeld:
    """The error for a lease held by ``owner`` until ``expires_at``."""
    at = dt.datetime.fromtimestamp(expires_at, dt.UTC).strftime("%H:%M:%S UTC")
    left = max(expires_at - time.time(), 0.0)
    return LeaseHeld(
        f"Workflow {workflow_id} is being driven by owner {owner}; its lease runs until {at} "
        f"(in {left:.1f} s) and is renewed while it works. Wait for it to finish (wait=... or "
        f"--wait waits for the lease), stop that process, or let its lease expire if it died.",
        workflow_id=workflow_id,
        owner=owner,
        expires_at=expires_at,
    )


# -- finding the store of a provider ---------------------------------------------------------------
_stores: weakref.WeakKeyDictionary[PersistenceProvider, LeaseStore | None] = (
    weakref.WeakKeyDictionary()
)


_ATTRIBUTE = "_ruvon_lease_store"
_NONE: Any = object()


def lease_store_for(provider: PersistenceProvider) -> LeaseStore | None:
    """The lease store of ``provider``, or ``None`` when it keeps no leases (unknown providers,
    SQLite ``:memory:`` databases, which only one process can open)."""
    # Kept on the provider (a lookup per driving session); a weak map for providers with slots.
    cached: LeaseStore | None = getattr(provider, _ATTRIBUTE, _NONE)
    if cached is not _NONE:  # no cast(): building ``LeaseStore | None`` at each call costs ~1k
        return cached
    try:
        return _stores[provider]
    except KeyError:
        pass
    store = _make(provider)
    try:
        setattr(provider, _ATTRIBUTE, store)
    except AttributeError:
        _stores[provider] = store
    return store


def _make(provider: PersistenceProvider) -> LeaseStore | None:
    own = getattr(provider, "lease_store", None)
    if callable(own):
        made = own()
        return made if isinstance(made, LeaseStore) else None
    from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
    from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider

    if isinstance(provider, InMemoryPersistenceProvider):
        from ruvon.runtime.memory_leases import MemoryLeaseStore

        return MemoryLeaseStore(provider)
    if isinstance(provider, SQLitePersistenceProvider):
        if provider.db_path == ":memory:":
            return None
        from ruvon.runtime.sql_leases import sqlite_lease_store

        return sqlite_lease_store(provider)
    if type(provider).__name__ == "PostgresPersistenceProvider":
        from ruvon.runtime.sql_leases import postgres_lease_store

        return postgres_lease_store(provider)
    return None
