"""Running one task, retries and job timeouts: the worker-side half of the scheduler.

:class:`TaskRunner` is a mixin of :class:`~routilux.scheduler.TaskScheduler`; it
needs the scheduler's lock, queue and job bookkeeping, declared below.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from routilux.error_handler import ErrorAction
from routilux.errors import ExecutionTimeoutError
from routilux.execution_context import ExecutionContext, enter_context, leave_context
from routilux.job_state import JobStatus
from routilux.task import JobRun, Task

if TYPE_CHECKING:
    from routilux.execution_tracker import RoutineRun
    from routilux.flow import Flow

logger = logging.getLogger("routilux.scheduler")


class TaskRunner:
    """Runs tasks on behalf of a scheduler (see the module docstring)."""

    _flow: Flow
    _cond: threading.Condition
    _queue: deque[Task]
    _sequence: itertools.count[int]

    def _stop_job_locked(self, run: JobRun, status: JobStatus, error: str | None) -> None:
        raise NotImplementedError

    def _add_task_locked(self, run: JobRun, task: Task) -> None:
        raise NotImplementedError

    # -- timeouts ------------------------------------------------------------------

    def _start_timeout_locked(self, run: JobRun) -> None:
        if run.remaining_timeout is None:
            return
        run.deadline = time.monotonic() + run.remaining_timeout
        timer = threading.Timer(run.remaining_timeout, self._on_timeout, args=(run,))
        timer.daemon = True
        run.timeout_timer = timer
        timer.start()

    def _stop_timeout_locked(self, run: JobRun) -> None:
        if run.timeout_timer is not None:
            run.timeout_timer.cancel()
            run.timeout_timer = None
            if run.deadline is not None:
                run.remaining_timeout = max(0.0, run.deadline - time.monotonic())

    def _on_timeout(self, run: JobRun) -> None:
        with self._cond:
            job = run.job_state
            if job.status is not JobStatus.RUNNING or run.timeout_timer is None:
                return
            run.timeout_timer = None
            error = ExecutionTimeoutError(
                f"Job {job.job_id!r} did not finish within the flow's execution_timeout of "
                f"{self._flow.execution_timeout} s; raise execution_timeout or speed up the "
                "routines."
            )
            logger.warning("%s", error)
            job.error = f"{type(error).__name__}: {error}"
            self._stop_job_locked(run, JobStatus.FAILED, job.error)
            job._finished.set()

    # -- running one task ------------------------------------------------------------

    def _run_task(self, run: JobRun, task: Task, inline: bool = False) -> float | None:
        """Runs one task; returns a retry delay when ``inline`` and a retry is due."""
        job = run.job_state
        flow = self._flow
        slot = flow.get_routine(task.routine_id).require_slot(task.slot)
        track = flow.track
        record = None
        if track:
            record = job.execution_tracker.start_routine(
                task.routine_id, task.slot, task.retries_done
            )
            job.update_routine_state(task.routine_id, status="running", slot=task.slot)
        token = enter_context(ExecutionContext(flow, job, task.routine_id))
        try:
            if task.merged is None:
                if slot.merge_strategy == "override":
                    task.merged = task.data
                else:
                    key = f"{task.routine_id}.{task.slot}"
                    task.merged = job.merge_slot_state(key, lambda old: slot.merge(old, task.data))
            slot.invoke(task.merged)
        except Exception as exc:
            return self._handle_failure(run, task, exc, record, inline)
        else:
            if record is not None:
                job.execution_tracker.end_routine(record, "completed")
                job.update_routine_state(task.routine_id, status="completed", error=None)
        finally:
            leave_context(token)
        return None

    def _handle_failure(
        self, run: JobRun, task: Task, exc: Exception, record: RoutineRun | None, inline: bool
    ) -> float | None:
        job = run.job_state
        handler = self._flow.error_handler_for(task.routine_id)
        action = handler.decide(exc, task.retries_done)
        error = f"{type(exc).__name__}: {exc}"
        tracker = job.execution_tracker
        logger.info(
            "Routine %s failed in job %s (%s); action %s",
            task.routine_id,
            job.job_id,
            error,
            action.value,
        )
        record = record or tracker.start_routine(task.routine_id, task.slot, task.retries_done)
        if self._flow.track or action is not ErrorAction.RETRY:
            job.record_execution(task.routine_id, "error", {"error": error, "action": action.value})
        if action is ErrorAction.RETRY:
            tracker.end_routine(record, "retrying", error)
            job.update_routine_state(
                task.routine_id, status="retrying", error=error, retries=task.retries_done + 1
            )
            delay = handler.delay_before_retry(task.retries_done)
            if inline:
                return delay
            self._schedule_retry(run, task, delay)
        elif action is ErrorAction.SKIP:
            tracker.end_routine(record, "skipped", error)
            job.update_routine_state(task.routine_id, status="skipped", error=error)
        elif action is ErrorAction.CONTINUE:
            tracker.end_routine(record, "failed", error)
            job.update_routine_state(task.routine_id, status="error_continued", error=error)
        else:
            tracker.end_routine(record, "failed", error)
            job.update_routine_state(task.routine_id, status="failed", error=error)
            if action is ErrorAction.FAIL_JOB:
                with self._cond:
                    if not job.status.is_terminal:
                        message = f"Routine {task.routine_id!r} failed: {error}"
                        self._stop_job_locked(run, JobStatus.FAILED, message)
        return None

    def _schedule_retry(self, run: JobRun, task: Task, delay: float) -> None:
        retry = Task(
            task.job_id, task.routine_id, task.slot, task.data, task.retries_done + 1, task.merged
        )
        with self._cond:
            status = run.job_state.status
            if status.is_terminal:
                return
            if status is JobStatus.PAUSED or delay <= 0:
                self._add_task_locked(run, retry)
                return
            run.pending += 1
            key = next(self._sequence)
            timer = threading.Timer(delay, self._fire_retry, args=(run, key))
            timer.daemon = True
            run.delayed[key] = (retry, timer)
            timer.start()

    def _fire_retry(self, run: JobRun, key: int) -> None:
        with self._cond:
            entry = run.delayed.pop(key, None)
            if entry is not None:
                self._queue.append(entry[0])
                self._cond.notify()
