"""The lease store of InMemoryPersistenceProvider: leases between drivers of one process."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruvon.errors import WorkflowNotFound, WorkflowStateError
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider, _task_snapshot
from ruvon.providers.persistence import LogEntry, TaskRecord
from ruvon.runtime.leases import (
    SAVED,
    TERMINAL_STATUSES,
    WAKE,
    Acquired,
    KeyEntry,
    LeaseStore,
    Renewal,
    WorkerInfo,
    Zombie,
    fence_verdict,
    held_error,
)

_WAKEABLE = ("WAITING_HUMAN", "PENDING_SUB_WORKFLOW")


@dataclass(slots=True)
class _Slot:
    owner: str | None = None
    expires_at: float = 0.0
    queued: bool = False
    pending_input: dict[str, Any] | None = None


class MemoryLeaseStore(LeaseStore):
    """Leases kept next to the provider's records, under the provider's lock."""

    def __init__(self, provider: InMemoryPersistenceProvider) -> None:
        self._provider = provider
        self._slots: dict[str, _Slot] = {}
        self._keys: dict[str, tuple[str, str]] = {}
        self._workers: dict[str, WorkerInfo] = {}

    def _record(self, workflow_id: str) -> Any:
        record = self._provider._workflows.get(workflow_id)
        if record is None:
            raise WorkflowNotFound(
                f"No workflow with id '{workflow_id}' is stored in this InMemoryPersistenceProvider. "
                f"Check the id; in-memory workflows do not survive the process."
            )
        return record

    async def acquire(
        self, workflow_id: str, owner: str, ttl: float, *, dead_owner: str | None = None
    ) -> Acquired:
        """See :meth:`LeaseStore.acquire`."""
        now = time.time()
        with self._provider._lock:
            record = self._provider._workflows.get(workflow_id) or self._record(workflow_id)
            slot = self._slots.get(workflow_id)
            if slot is None:  # the common case: nobody holds it (release drops free slots)
                self._slots[workflow_id] = _Slot(owner, now + ttl)
                return Acquired(record.version, None)  # positional: every session
            holder = slot.owner
            if holder is not None and holder != owner:
                if slot.expires_at >= now and holder != dead_owner:
                    raise held_error(workflow_id, holder, slot.expires_at)
                record.version += 1  # fence the old holder out
            slot.owner, slot.expires_at = owner, now + ttl
            took_over = holder if holder not in (None, owner) else None
            return Acquired(int(record.version), took_over_from=took_over)

    async def release(self, workflow_id: str, owner: str) -> None:
        """See :meth:`LeaseStore.release`."""
        with self._provider._lock:
            slot = self._slots.get(workflow_id)
            if slot is not None and slot.owner == owner:
                if not slot.queued and slot.pending_input is None:
                    del self._slots[workflow_id]  # nothing to remember: keep the dict small
                else:
                    slot.owner, slot.expires_at = None, 0.0

    async def renew(self, owners: Sequence[str], ttl: float) -> list[Renewal]:
        """See :meth:`LeaseStore.renew`."""
        wanted, found = set(owners), []
        with self._provider._lock:
            for workflow_id, slot in self._slots.items():
                if slot.owner in wanted:
                    slot.expires_at = time.time() + ttl
                    status = self._provider._workflows[workflow_id].status
                    found.append(Renewal(workflow_id, slot.owner, status))
        return found

    async def claim(
        self, owner: str, limit: int, ttl: float, types: Sequence[str] = ()
    ) -> list[str]:
        """See :meth:`LeaseStore.claim`."""
        now, taken = time.time(), list[str]()
        with self._provider._lock:
            for record in sorted(self._provider._workflows.values(), key=lambda r: r.created_at):
                if len(taken) >= limit:
                    break
                slot = self._slots.setdefault(record.id, _Slot())
                waiting = slot.pending_input is not None and record.status in _WAKEABLE
                if record.status != "ACTIVE" and not waiting:
                    continue
                free = slot.owner is None and (slot.queued or slot.pending_input is not None)
                if (types and record.workflow_type not in types) or not (
                    free or (slot.owner is not None and slot.expires_at < now)
                ):
                    continue
                if slot.owner is not None:
                    record.version += 1
                slot.owner, slot.expires_at = owner, now + ttl
                taken.append(record.id)
        return taken

    async def save_task_results(self, records: Sequence[TaskRecord], owner: str) -> str:
        """See :meth:`LeaseStore.save_task_results`."""
        if not records:
            return SAVED
        workflow_id = records[0].workflow_id
        with self._provider._lock:
            slot = self._slots.get(workflow_id)
            record = self._provider._workflows.get(workflow_id)
            row = None if slot is None or record is None else (slot.owner, record.status)
            verdict = fence_verdict(row, owner)
            if verdict == SAVED:
                self._provider._put_tasks([_task_snapshot(task) for task in records])
        return verdict

    async def cancel(self, workflow_id: str, note: str) -> tuple[str, str | None]:
        """See :meth:`LeaseStore.cancel`."""
        with self._provider._lock:
            record = self._record(workflow_id)
            old = record.status
            if old in TERMINAL_STATUSES:
                raise WorkflowStateError(
                    f"Workflow {workflow_id} is already {old}; only a running workflow can be "
                    f"cancelled."
                )
            record.status = "CANCELLED"
            record.version += 1
            record.updated_at = time.time()
            entry = LogEntry(workflow_id, "STATUS_CHANGED", message=f"{old} -> CANCELLED ({note})")
            self._provider._log.setdefault(workflow_id, []).append(entry)
            slot = self._slots.get(workflow_id)
            return old, None if slot is None else slot.owner

    async def queue(self, workflow_id: str) -> None:
        """See :meth:`LeaseStore.queue`."""
        with self._provider._lock:
            self._record(workflow_id)
            self._slots.setdefault(workflow_id, _Slot()).queued = True

    async def deliver_input(self, workflow_id: str, data: dict[str, Any]) -> None:
        """See :meth:`LeaseStore.deliver_input`."""
        with self._provider._lock:
            record = self._record(workflow_id)
            if record.status != "WAITING_HUMAN":
                raise WorkflowStateError(
                    f"Workflow {workflow_id} is {record.status}, not WAITING_HUMAN; input can only "
                    f"be delivered to a workflow that waits for it."
                )
            slot = self._slots.setdefault(workflow_id, _Slot())
            slot.pending_input = {"step": record.current_step, "data": dict(data)}

    async def wake(self, workflow_id: str) -> None:
        """See :meth:`LeaseStore.wake`."""
        with self._provider._lock:
            record = self._provider._workflows.get(workflow_id)
            slot = self._slots.setdefault(workflow_id, _Slot())
            if record is not None and record.status not in TERMINAL_STATUSES:
                slot.pending_input = slot.pending_input or dict(WAKE)

    async def take_input(self, workflow_id: str, owner: str) -> dict[str, Any] | None:
        """See :meth:`LeaseStore.take_input`."""
        with self._provider._lock:
            slot = self._slots.get(workflow_id)
            record = self._provider._workflows.get(workflow_id)
            if slot is None or slot.owner != owner or slot.pending_input is None or not record:
                return None
            given, slot.pending_input = slot.pending_input, None
            return given["data"] if given.get("step") == record.current_step else None

    async def register_key(self, key: str, workflow_id: str, data_hash: str) -> KeyEntry:
        """See :meth:`LeaseStore.register_key`."""
        with self._provider._lock:
            first, stored_hash = self._keys.setdefault(key, (workflow_id, data_hash))
        return KeyEntry(first, stored_hash, created=first == workflow_id)

    async def zombies(self, now: float) -> list[Zombie]:
        """See :meth:`LeaseStore.zombies`."""
        found = []
        with self._provider._lock:
            for workflow_id, slot in self._slots.items():
                record = self._provider._workflows[workflow_id]
                if slot.owner and slot.expires_at < now and record.status not in TERMINAL_STATUSES:
                    found.append(
                        Zombie(
                            workflow_id,
                            record.workflow_type,
                            record.status,
                            slot.owner,
                            slot.expires_at,
                        )
                    )
        return found

    async def fail_zombies(self, workflow_ids: Sequence[str], now: float) -> list[str]:
        """See :meth:`LeaseStore.fail_zombies`."""
        zombies = {zombie.workflow_id for zombie in await self.zombies(now)}
        failed = [wid for wid in workflow_ids if wid in zombies]
        with self._provider._lock:
            for workflow_id in failed:
                record = self._provider._workflows[workflow_id]
                record.status, record.version = "FAILED_WORKER_CRASH", record.version + 1
                self._slots[workflow_id] = _Slot()
        return failed

    async def beat_worker(self, info: WorkerInfo) -> None:
        """See :meth:`LeaseStore.beat_worker`."""
        self._workers[info.id] = info

    async def remove_worker(self, worker_id: str) -> None:
        """See :meth:`LeaseStore.remove_worker`."""
        self._workers.pop(worker_id, None)

    async def workers(self, alive_after: float) -> list[WorkerInfo]:
        """See :meth:`LeaseStore.workers`."""
        return [w for w in self._workers.values() if w.heartbeat_at > alive_after]
