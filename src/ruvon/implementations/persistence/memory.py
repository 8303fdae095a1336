"""InMemoryPersistenceProvider: keeps everything in this process; for tests and demos."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ruvon.errors import PersistenceError, VersionConflict, WorkflowNotFound
from ruvon.implementations.persistence.encoding import find_unstorable
from ruvon.providers.persistence import (
    HandedOverRecord,
    LogEntry,
    PersistenceProvider,
    TaskRecord,
    WorkflowRecord,
)
from ruvon.state_json import NotJson, copy_json

R = TypeVar("R")


class InMemoryPersistenceProvider(PersistenceProvider):
    """Stores deep copies of workflow records in dicts; nothing survives the process."""

    def __init__(self) -> None:
        self._workflows: dict[str, WorkflowRecord] = {}
        self._tasks: dict[tuple[str, str], _StepTasks] = {}
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
            # changes cannot reach the stored record. A HandedOverRecord is the engine's, built for
            # this save only, with fresh JSON state and engine data: it is kept as it is (no
            # second record, no copies); only its metadata, the workflow's live dict, is copied.
            try:
                if type(record) is HandedOverRecord:
                    metadata = copy_json(record.metadata) if record.metadata else {}
                    saved: WorkflowRecord = record
                    saved.metadata = metadata
                    saved.version = stored_version + 1  # updated_at: set by the engine just now
                else:
                    saved = _snapshot(record, record.version + 1, time.time())
            except NotJson:
                _checked(_snapshot, record, "Workflow '{0.id}'")  # raises, naming the value
                raise
            self._workflows[record.id] = saved
            if finished_step is not None:
                self._tasks.pop((record.id, finished_step), None)
            if log:
                self._log.setdefault(record.id, []).extend(log)
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
            return _snapshot(stored)

    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Stored workflows, newest first."""
        with self._lock:
            found = [
                _snapshot(r)
                for r in self._workflows.values()
                if (status is None or r.status == status)
                and (workflow_type is None or r.workflow_type == workflow_type)
            ]
        found.sort(key=lambda r: r.created_at, reverse=True)
        return found[:limit]

    async def save_task_results(self, records: Sequence[TaskRecord]) -> None:
        """Save copies of several task outcomes at once (none if one cannot be stored)."""
        copies = [
            _checked(_task_snapshot, r, "Task '{0.task_name}' of workflow '{0.workflow_id}'")
            for r in records
        ]
        with self._lock:
            self._put_tasks(copies)

    def _put_tasks(self, copies: Sequence[TaskRecord]) -> None:
        """Keep these copies of task outcomes (the caller holds ``_lock``)."""
        for record in copies:
            step = self._tasks.get((record.workflow_id, record.step_name))
            if step is None:
                step = self._tasks[(record.workflow_id, record.step_name)] = _StepTasks()
            step.save(record)

    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Copies of the saved outcomes of the step's current run.

        A completed task of a dynamic fan-out is kept as its result only (see ``_StepTasks``): its
        record comes back with times 0.0.
        """
        with self._lock:
            saved = self._tasks.get((workflow_id, step_name))
            if saved is None:
                return {}
            return {
                name: _task_snapshot(record)
                for name, record in saved.records(workflow_id, step_name)
            }

    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """The workflow's log, oldest first."""
        with self._lock:
            return [copy.copy(e) for e in self._log.get(workflow_id, [])]


def _snapshot(
    record: WorkflowRecord, version: int | None = None, updated_at: float | None = None
) -> WorkflowRecord:
    """A copy of ``record`` that shares nothing mutable with it (the definition is never mutated),
    with a new ``version`` and ``updated_at`` when given."""
    # Positional, in WorkflowRecord's field order: keyword calls cost twice as much (every save).
    return WorkflowRecord(
        record.id,
        record.workflow_type,
        record.workflow_version,
        record.state_model_path,
        record.definition,
        copy_json(record.state),
        record.status,
        record.current_step,
        copy_json(record.metadata) if record.metadata else {},
        record.version if version is None else version,
        record.created_at,
        record.updated_at if updated_at is None else updated_at,
        record.parent_id,
        copy_json(record.engine) if record.engine else {},
    )


class _StepTasks:
    """The saved task outcomes of one step.

    A completed task of a dynamic fan-out (a record with an ``index`` and the name
    ``<step>[index]``) costs one list slot and one byte: its result by index, and a done marker.
    Other records (declared tasks, failures) are kept whole, by name.
    """

    __slots__ = ("by_name", "done", "results")

    def __init__(self) -> None:
        self.by_name: dict[str, TaskRecord] = {}
        self.results: list[Any] = []
        self.done = bytearray()

    def save(self, record: TaskRecord) -> None:
        index = record.index
        if index is not None and record.task_name != f"{record.step_name}[{index}]":
            index = None
        if index is not None and index < len(self.done):
            self.done[index] = 0
            self.results[index] = None
        if index is None or record.status != _COMPLETED:
            self.by_name[record.task_name] = record
            return
        self.by_name.pop(record.task_name, None)
        grow = index + 1 - len(self.done)
        if grow > 0:
            self.done.extend(bytes(grow))
            self.results.extend([None] * grow)
        self.done[index] = 1
        self.results[index] = record.result

    def records(self, workflow_id: str, step_name: str) -> list[tuple[str, TaskRecord]]:
        found = list(self.by_name.items())
        results, done = self.results, self.done
        at = done.find(1)
        while at != -1:
            name = f"{step_name}[{at}]"
            found.append(
                (name, TaskRecord(workflow_id, step_name, name, _COMPLETED, results[at], index=at))
            )
            at = done.find(1, at + 1)
        return found


_COMPLETED = "COMPLETED"


def _task_snapshot(record: TaskRecord) -> TaskRecord:
    return TaskRecord(
        workflow_id=record.workflow_id,
        step_name=record.step_name,
        task_name=record.task_name,
        status=record.status,
        result=copy_json(record.result),
        error=record.error,
        started_at=record.started_at,
        ended_at=record.ended_at,
        index=record.index,
    )


def _checked(snapshot: Callable[[R], R], record: R, owner: str) -> R:
    """``snapshot(record)``, or the PersistenceError an SQL store gives for a non-JSON value.

    ``owner`` names the record in the message, formatted with it only on error (every save).
    """
    try:
        return snapshot(record)
    except NotJson:
        for field in ("state", "metadata", "engine", "result"):
            path = find_unstorable(getattr(record, field, None), field)
            if path is not None:
                raise PersistenceError(
                    f"{owner.format(record)} cannot be saved: {path} is not JSON-serializable. Store plain JSON "
                    f"values only (str, int, float, bool, None, lists, dicts with string keys); "
                    f"convert others first, e.g. a datetime with .isoformat()."
                ) from None
        raise


InMemoryPersistence = InMemoryPersistenceProvider
