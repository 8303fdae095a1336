"""InMemoryPersistenceProvider: keeps everything in this process; for tests and demos."""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Sequence

from ruvon.errors import VersionConflict, WorkflowNotFound
from ruvon.providers.persistence import LogEntry, PersistenceProvider, TaskRecord, WorkflowRecord


class InMemoryPersistenceProvider(PersistenceProvider):
    """Stores deep copies of workflow records in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._workflows: dict[str, WorkflowRecord] = {}
        self._tasks: dict[tuple[str, str], dict[str, TaskRecord]] = {}
        self._log: dict[str, list[LogEntry]] = {}
        self._lock = threading.Lock()

    async def save_workflow(
        self,
        record: WorkflowRecord,
        *,
        finished_step: str | None = None,
        log: Sequence[LogEntry] = (),
    ) -> int:
        """Save a copy of ``record`` if its version matches the stored one."""
        with self._lock:
            stored = self._workflows.get(record.id)
            stored_version = 0 if stored is None else stored.version
            if stored_version != record.version:
                raise VersionConflict(
                    f"Workflow '{record.id}' was saved by another writer (stored version "
                    f"{stored_version}, this copy has version {record.version}). Reload it with "
                    f"builder.load_workflow('{record.id}') and apply the change again."
                )
            # The definition is never mutated; state and metadata are copied so the caller's later
            # changes cannot reach the stored record.
            saved = dataclasses.replace(
                record,
                state=copy.deepcopy(record.state),
                metadata=copy.deepcopy(record.metadata),
                version=record.version + 1,
                updated_at=time.time(),
            )
            self._workflows[record.id] = saved
            if finished_step is not None:
                self._tasks.pop((record.id, finished_step), None)
            if log:
                self._log.setdefault(record.id, []).extend(copy.copy(e) for e in log)
            return saved.version

    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """Return a copy of the stored record."""
        with self._lock:
            stored = self._workflows.get(workflow_id)
            if stored is None:
                raise WorkflowNotFound(
                    f"No workflow with id '{workflow_id}' is stored in this InMemoryPersistenceProvider "
                    f"({len(self._workflows)} workflows are). In-memory workflows do not survive the "
                    f"process; use SQLitePersistenceProvider to keep them."
                )
            return dataclasses.replace(
                stored, state=copy.deepcopy(stored.state), metadata=copy.deepcopy(stored.metadata)
            )

    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Stored workflows, newest first."""
        with self._lock:
            found = [
                dataclasses.replace(
                    r, state=copy.deepcopy(r.state), metadata=copy.deepcopy(r.metadata)
                )
                for r in self._workflows.values()
                if (status is None or r.status == status)
                and (workflow_type is None or r.workflow_type == workflow_type)
            ]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    async def save_task_result(self, record: TaskRecord) -> None:
        """Save a copy of the task's outcome."""
        with self._lock:
            step = self._tasks.setdefault((record.workflow_id, record.step_name), {})
            step[record.task_name] = copy.deepcopy(record)

    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Copies of the saved outcomes of the step's current run."""
        with self._lock:
            return copy.deepcopy(self._tasks.get((workflow_id, step_name), {}))

    async def append_log(self, entry: LogEntry) -> None:
        """Append a copy of ``entry``."""
        with self._lock:
            self._log.setdefault(entry.workflow_id, []).append(copy.copy(entry))

    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """The workflow's log, oldest first."""
        with self._lock:
            return [copy.copy(e) for e in self._log.get(workflow_id, [])]


InMemoryPersistence = InMemoryPersistenceProvider
