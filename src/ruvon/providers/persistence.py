"""The persistence provider interface and the records it stores."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class WorkflowRecord:
    """Everything needed to rebuild a workflow in another process.

    ``version`` is the number of saves so far (0 = never saved); a save succeeds only if the stored
    version still equals it, so two writers cannot silently overwrite each other.
    """

    id: str
    workflow_type: str
    workflow_version: str
    state_model_path: str
    definition: dict[str, Any]
    state: dict[str, Any]
    status: str
    current_step: int
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    parent_id: str | None = None
    engine: dict[str, Any] = field(default_factory=dict)


class HandedOverRecord(WorkflowRecord):
    """A :class:`WorkflowRecord` built for one ``save_workflow`` call and never used after it.

    The engine saves with these when the state is pydantic's own dump. Its ``state`` and
    ``engine`` are then fresh JSON data that nothing changes afterwards, and ``definition`` is
    never changed, so a store may keep the record itself instead of a copy and set its
    ``version`` (the in-memory store does); ``updated_at`` is the time of the change, just taken.
    ``metadata`` is the workflow's live dict: copy it. Any store may treat it as a plain record.
    """

    __slots__ = ()


@dataclass(slots=True)
class TaskRecord:
    """The outcome of one PARALLEL task, saved the moment it finishes.

    ``index`` is the task's item index in a dynamic fan-out (its name is then ``<step>[index]``),
    ``None`` for a declared task. A store may use it to keep a fan-out's outcomes compactly (the
    in-memory store does); it is not part of what ``load_task_results`` must give back.
    """

    workflow_id: str
    step_name: str
    task_name: str
    status: str  # "COMPLETED" or "FAILED"
    result: dict[str, Any] | None = None
    error: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    index: int | None = None


@dataclass(slots=True)
class LogEntry:
    """One line of a workflow's execution log."""

    workflow_id: str
    # STEP_COMPLETED, STEP_FAILED, TASK_COMPLETED, TASK_FAILED, TASKS_COMPLETED (a range of the
    # tasks of a dynamic fan-out), STATUS_CHANGED, ...
    event: str
    step_name: str | None = None
    task_name: str | None = None
    at: float = field(default_factory=time.time)  # when the step or task started
    duration: float | None = None
    message: str | None = None


class PersistenceProvider(ABC):
    """Stores workflows, task results and the execution log.

    Implementations: in memory (tests), SQLite (the embedded default), PostgreSQL.
    """

    async def initialize(self) -> None:  # noqa: B027 - optional hook
        """Open connections and create or migrate the schema."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @abstractmethod
    async def save_workflow(
        self,
        record: WorkflowRecord,
        *,
        finished_step: str | None = None,
        log: Sequence[LogEntry] = (),
    ) -> int:
        """Insert or update ``record`` if its ``version`` matches the stored one.

        Args:
            record: The workflow; ``record.version`` is the version it was loaded at (0 if new).
            finished_step: A PARALLEL step that has just been merged: its task records are deleted in
                the same transaction, so a later run of that step starts afresh.
            log: Log entries to append in the same transaction.

        Returns:
            The new version, which the caller stores in ``record.version``.

        Raises:
            VersionConflict: The stored version differs from ``record.version``.
            PersistenceError: A value of state, metadata or engine cannot be stored (the message
                names its path, e.g. ``state.when``); nothing is written then.
        """

    @abstractmethod
    async def load_workflow(self, workflow_id: str) -> WorkflowRecord:
        """Load one workflow. Raises WorkflowNotFound naming the id."""

    @abstractmethod
    async def list_workflows(
        self, *, status: str | None = None, workflow_type: str | None = None, limit: int = 100
    ) -> list[WorkflowRecord]:
        """Workflows, newest first, optionally filtered by status and type."""

    @abstractmethod
    async def save_task_results(self, records: Sequence[TaskRecord]) -> None:
        """Save (or replace) the outcomes of PARALLEL tasks that arrived together, in one transaction.

        Raises:
            PersistenceError: A result cannot be stored (the message names its path); nothing is
                written then.
        """

    async def save_task_result(self, record: TaskRecord) -> None:
        """Save (or replace) the outcome of one PARALLEL task: ``save_task_results([record])``."""
        await self.save_task_results([record])

    @abstractmethod
    async def load_task_results(self, workflow_id: str, step_name: str) -> dict[str, TaskRecord]:
        """Saved task outcomes of the step's current run, by task name."""

    @abstractmethod
    async def load_log(self, workflow_id: str) -> list[LogEntry]:
        """The workflow's execution log, oldest first."""
