"""Queued tasks and the flow's bookkeeping for one running job."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from routilux.job_state import JobState


@dataclass
class Task:
    """One delivery of a message to one slot.

    Attributes:
        job_id: The job the task belongs to.
        routine_id: The receiving routine.
        slot: The receiving slot.
        data: The message.
        retries_done: How many times this task has already been retried.
        merged: The slot's merge result, fixed at the first attempt so that a retry
            does not merge the same message twice.
    """

    job_id: str
    routine_id: str
    slot: str
    data: dict[str, Any]
    retries_done: int = 0
    merged: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-compatible copy (stored in ``JobState.pending_tasks``)."""
        return {
            "job_id": self.job_id,
            "routine_id": self.routine_id,
            "slot": self.slot,
            "data": dict(self.data),
            "retries_done": self.retries_done,
            "merged": dict(self.merged) if self.merged is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Task:
        """Rebuilds a task from :meth:`to_dict` output."""
        merged = data.get("merged")
        return cls(
            job_id=data["job_id"],
            routine_id=data["routine_id"],
            slot=data["slot"],
            data=dict(data.get("data") or {}),
            retries_done=int(data.get("retries_done", 0)),
            merged=dict(merged) if merged is not None else None,
        )


@dataclass
class JobRun:
    """What the scheduler tracks for a job it runs (guarded by the scheduler lock).

    Attributes:
        job_state: The job.
        pending: Tasks of the job that are queued, parked, delayed or running.
        running: Tasks of the job that a worker is running right now.
        parked: Tasks held back while the job is paused, in queue order.
        delayed: Retries waiting for their backoff delay, by a sequence number.
        timeout_timer: Fires when the job's execution timeout expires.
        remaining_timeout: Seconds of the timeout left (kept across a pause).
        deadline: Monotonic time at which the timeout expires.
    """

    job_state: JobState
    pending: int = 0
    running: int = 0
    parked: list[Task] = field(default_factory=list)
    delayed: dict[int, tuple[Task, threading.Timer]] = field(default_factory=dict)
    timeout_timer: threading.Timer | None = None
    remaining_timeout: float | None = None
    deadline: float | None = None
