"""Pausing, resuming, cancelling and waiting for a flow's jobs (a mixin of Flow)."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from routilux.errors import ForeignJobError
from routilux.job_state import JobState

if TYPE_CHECKING:
    from routilux.routine import Routine
    from routilux.scheduler import TaskScheduler
    from routilux.task import Task


class JobControl:
    """The job-lifecycle half of :class:`~routilux.flow.Flow`."""

    flow_id: str
    execution_timeout: float | None
    _scheduler: TaskScheduler
    _last_job: JobState | None
    _ids_by_object: dict[int, str]

    def _job(self, job_state: JobState | None) -> JobState:
        raise NotImplementedError

    def _bind_routines(self) -> None:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    def get_routine(self, routine_id: str) -> Routine:
        """Returns the routine with the given id (implemented by Flow)."""
        raise NotImplementedError

    def _tasks_for(
        self, source_id: str, event: str, data: dict[str, Any], job_state: JobState
    ) -> list[Task]:
        raise NotImplementedError

    def pause(
        self,
        job_state: JobState | None = None,
        reason: str = "",
        checkpoint: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> bool:
        """Pauses a job; its queued tasks are kept in ``job_state.pending_tasks``.

        Waits until the job's running tasks end (unless called from one of them), so
        the job can then be saved and resumed, here or in another process. A pause
        point ``{timestamp, reason, checkpoint, pending_tasks}`` is appended to
        ``job_state.pause_points``.

        Args:
            job_state: The job; the flow's latest job if omitted.
            reason: Why the job is paused (stored in the pause point).
            checkpoint: Any JSON data to keep with the pause point.
            timeout: Seconds to wait for running tasks at most.

        Returns:
            True if no task of the job is running any more.

        Raises:
            ForeignJobError: If the job belongs to another flow (a ``ValueError``).
        """
        job = self._job(job_state)
        if job.flow_id and job.flow_id != self.flow_id:
            raise ForeignJobError(
                f"Job {job.job_id!r} belongs to flow {job.flow_id!r}, which does not match "
                f"{self._describe()}; pause it through its own flow."
            )
        idle = self._scheduler.pause(job, timeout)
        job._set_paused(reason, checkpoint)
        return idle

    def resume(self, job_state: JobState | None = None) -> JobState:
        """Resumes a paused job, also one saved by another process.

        Deferred events (``Routine.emit_deferred_event``) are emitted first, then
        every task queued when the job was paused runs exactly once.

        Returns:
            The job.

        Raises:
            FlowStateError: If the job is not paused.
            UnknownRoutineError: If a queued task names a routine this flow lacks.
        """
        job = self._job(job_state)
        self._last_job = job
        self._bind_routines()
        deferred: list[Task] = []
        for event in list(job.deferred_events):
            routine = self.get_routine(str(event.get("routine_id")))
            name, data = str(event.get("event_name")), dict(event.get("data") or {})
            routine.require_event(name)
            deferred.extend(self._tasks_for(self._ids_by_object[id(routine)], name, data, job))
        job.deferred_events = []
        self._scheduler.resume(job, self.execution_timeout, deferred)
        return job

    def cancel(self, job_state: JobState | None = None, reason: str = "") -> None:
        """Cancels a job: queued tasks are dropped and waiters return.

        Args:
            job_state: The job; the flow's latest job if omitted.
            reason: Stored as ``job_state.error``.
        """
        job = self._job(job_state)
        self._scheduler.cancel(job)
        if reason:
            job.error = reason

    def wait_for_completion(
        self, timeout: float | None = None, job_state: JobState | None = None
    ) -> bool:
        """Deprecated: use ``JobState.wait_for_completion(flow, job_state, timeout)``.

        Returns:
            True if the job (or, without one, every running job) finished in time.
        """
        warnings.warn(
            "Flow.wait_for_completion() is deprecated; use "
            "JobState.wait_for_completion(flow, job_state, timeout).",
            DeprecationWarning,
            stacklevel=2,
        )
        if job_state is not None:
            return job_state._finished.wait(timeout)
        return self._scheduler.wait_idle(timeout)

    def job_counts(self, job_state: JobState) -> tuple[int, int]:
        """Returns ``(pending, running)`` task counts of a job."""
        return self._scheduler.counts(job_state)
