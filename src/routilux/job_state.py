"""Job state: everything one execution of a flow knows about itself.

A :class:`JobState` is thread-safe, JSON-serializable (:meth:`JobState.save` /
:meth:`JobState.load`) and carries the queued tasks of a paused job, so a job can be
paused in one process and resumed in another.
"""

from __future__ import annotations

import enum
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routilux.errors import SerializationError
from routilux.execution_tracker import ExecutionTracker

if TYPE_CHECKING:
    from routilux.flow import Flow


class JobStatus(enum.StrEnum):
    """The lifecycle of a job; members compare equal to their string values."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """Whether the job can no longer change (completed, failed or cancelled)."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


@dataclass
class ExecutionRecord:
    """One event emitted during a job.

    Attributes:
        routine_id: The emitting routine.
        event_name: The event.
        data: The message (as emitted, before any ``param_mapping``).
        timestamp: Wall-clock time of the emit.
    """

    routine_id: str
    event_name: str
    data: dict[str, Any]
    timestamp: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        """Returns a plain-dict copy."""
        return {
            "routine_id": self.routine_id,
            "event_name": self.event_name,
            "data": self.data,
            "timestamp": self.timestamp,
        }


class JobState:
    """The state of one execution of a flow.

    Attributes:
        job_id: Unique id of the job.
        flow_id: Id of the flow that runs it.
        routine_states: Per routine id: ``status`` (running, completed, failed,
            skipped, retrying), ``error`` and timing of its latest run.
        execution_history: Every emitted event, as :class:`ExecutionRecord`.
        shared_data: Free-form data handlers may share within the job.
        error: Why the job failed, if it did.
        pending_tasks: The queued tasks of a paused job (JSON dicts).
        slot_states: Merge state of every slot within this job.
        execution_tracker: Timings of this job's runs (not persisted).

    Args:
        flow_id: The flow that runs the job.
        job_id: A job id; a new UUID if omitted.
    """

    def __init__(self, flow_id: str, job_id: str | None = None) -> None:
        self.job_id = job_id or str(uuid.uuid4())
        self.flow_id = flow_id
        self._status = JobStatus.PENDING
        self.routine_states: dict[str, dict[str, Any]] = {}
        self.execution_history: list[ExecutionRecord] = []
        self.shared_data: dict[str, Any] = {}
        self.error: str | None = None
        self.pending_tasks: list[dict[str, Any]] = []
        self.slot_states: dict[str, dict[str, Any]] = {}
        self.created_at = time.time()
        self.updated_at = self.created_at
        self.execution_tracker = ExecutionTracker(flow_id, self.job_id)
        self._lock = threading.RLock()
        self._finished = threading.Event()

    def __repr__(self) -> str:
        return f"JobState(job_id={self.job_id!r}, status={self.status.value!r})"

    @property
    def status(self) -> JobStatus:
        """The job's current status."""
        return self._status

    def set_status(self, status: JobStatus | str) -> None:
        """Sets the status; a terminal status also releases ``wait_for_completion``."""
        with self._lock:
            self._status = JobStatus(status)
            self.updated_at = time.time()
            if self._status.is_terminal:
                self._finished.set()

    def update_routine_state(self, routine_id: str, **fields: Any) -> None:
        """Merges ``fields`` into the state of ``routine_id``."""
        with self._lock:
            self.routine_states.setdefault(routine_id, {}).update(fields)
            self.updated_at = time.time()

    def get_routine_state(self, routine_id: str) -> dict[str, Any] | None:
        """Returns a copy of the state of ``routine_id``, or ``None`` if it never ran."""
        with self._lock:
            state = self.routine_states.get(routine_id)
            return dict(state) if state is not None else None

    def record_execution(self, routine_id: str, event_name: str, data: dict[str, Any]) -> None:
        """Appends an :class:`ExecutionRecord` to the history."""
        with self._lock:
            self.execution_history.append(ExecutionRecord(routine_id, event_name, dict(data)))

    def update_shared_data(self, key: str, value: Any) -> None:
        """Sets ``shared_data[key]`` under the job's lock."""
        with self._lock:
            self.shared_data[key] = value

    def merge_slot_state(
        self, key: str, merge: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """Atomically replaces the merge state of a slot with ``merge(old)``.

        Args:
            key: ``"routine_id.slot"``.
            merge: Computes the new state from the old one (``None`` at first).

        Returns:
            The new state.
        """
        with self._lock:
            merged = merge(self.slot_states.get(key))
            self.slot_states[key] = merged
            return merged

    @staticmethod
    def wait_for_completion(flow: Flow, job_state: JobState, timeout: float | None = None) -> bool:
        """Blocks until the job is completed, failed or cancelled.

        Completion is signalled by the flow when the job's last task ends, so this
        returns at once, with no polling. A paused job is not finished.

        Args:
            flow: The flow running the job (kept for routilux compatibility).
            job_state: The job to wait for.
            timeout: Seconds to wait at most; ``None`` waits forever.

        Returns:
            True if the job finished, False if the timeout expired first.
        """
        del flow  # The job itself carries its completion signal.
        return job_state._finished.wait(timeout)

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-compatible snapshot (the tracker is not included)."""
        with self._lock:
            return {
                "job_id": self.job_id,
                "flow_id": self.flow_id,
                "status": self._status.value,
                "routine_states": {k: dict(v) for k, v in self.routine_states.items()},
                "execution_history": [r.to_dict() for r in self.execution_history],
                "shared_data": dict(self.shared_data),
                "error": self.error,
                "pending_tasks": [dict(t) for t in self.pending_tasks],
                "slot_states": {k: dict(v) for k, v in self.slot_states.items()},
                "created_at": self.created_at,
                "updated_at": self.updated_at,
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """Rebuilds a job from :meth:`to_dict` output."""
        job = cls(flow_id=data["flow_id"], job_id=data["job_id"])
        job.routine_states = {k: dict(v) for k, v in data.get("routine_states", {}).items()}
        job.execution_history = [ExecutionRecord(**r) for r in data.get("execution_history", [])]
        job.shared_data = dict(data.get("shared_data", {}))
        job.error = data.get("error")
        job.pending_tasks = [dict(t) for t in data.get("pending_tasks", [])]
        job.slot_states = {k: dict(v) for k, v in data.get("slot_states", {}).items()}
        job.set_status(data.get("status", JobStatus.PENDING.value))
        job.created_at = float(data.get("created_at", job.created_at))
        job.updated_at = float(data.get("updated_at", job.updated_at))
        return job

    def save(self, path: str | Path) -> None:
        """Writes the job to ``path`` as JSON.

        Raises:
            SerializationError: If some data of the job is not JSON-serializable.
        """
        try:
            text = json.dumps(self.to_dict(), indent=2)
        except (TypeError, ValueError) as exc:
            raise SerializationError(
                f"Job {self.job_id!r} cannot be saved as JSON ({exc}); keep emitted data, "
                "shared_data and routine states to JSON types (dict, list, str, numbers)."
            ) from exc
        Path(path).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> JobState:
        """Reads a job that :meth:`save` wrote.

        Raises:
            SerializationError: If the file is not a saved job.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls.from_dict(data)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SerializationError(
                f"Cannot load a job from {str(path)!r} ({exc}); pass a file written by "
                "JobState.save()."
            ) from exc
