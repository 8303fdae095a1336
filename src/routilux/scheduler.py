"""The task scheduler behind a flow: one FIFO queue and a pool of worker threads.

Sequential and concurrent flows share this machinery; they differ only in how
many workers take tasks from the queue. Every task a job queues is counted, so
the job completes the moment its last task ends, without polling.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import TYPE_CHECKING

from routilux.errors import FlowStateError
from routilux.execution_context import (
    current_context,
)
from routilux.job_state import JobState, JobStatus
from routilux.task import JobRun, Task
from routilux.task_runner import TaskRunner

if TYPE_CHECKING:
    from routilux.flow import Flow

logger = logging.getLogger("routilux.scheduler")


class TaskScheduler(TaskRunner):
    """Runs the tasks of a flow's jobs.

    Args:
        flow: The flow whose routines the tasks address.
        workers: How many worker threads take tasks from the queue.
    """

    def __init__(self, flow: Flow, workers: int) -> None:
        self._flow = flow
        self._cond = threading.Condition()
        self._queue: deque[Task] = deque()
        self._runs: dict[str, JobRun] = {}
        self._workers: set[threading.Thread] = set()
        self._target_workers = workers
        self._closed = False
        self._sequence = itertools.count()

    # -- workers -----------------------------------------------------------------

    def set_worker_count(self, workers: int) -> None:
        """Changes the pool size; surplus workers retire after their current task."""
        with self._cond:
            self._target_workers = workers
            if self._runs:
                self._spawn_workers_locked()
            self._cond.notify_all()

    def _spawn_workers_locked(self) -> None:
        while len(self._workers) < self._target_workers:
            name = f"routilux-{self._flow.flow_id}-{next(self._sequence)}"
            worker = threading.Thread(target=self._work, name=name, daemon=True)
            self._workers.add(worker)
            worker.start()

    def _must_retire_locked(self) -> bool:
        return self._closed or len(self._workers) > self._target_workers

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                while not self._queue and not self._must_retire_locked():
                    self._cond.wait()
                if self._must_retire_locked():
                    self._workers.discard(me)
                    self._cond.notify_all()
                    return
                task = self._queue.popleft()
                run = self._runs.get(task.job_id)
                if run is None:
                    continue
                if run.job_state.status is JobStatus.PAUSED:
                    self._park_locked(run, task)
                    continue
                run.running += 1
            try:
                self._run_task(run, task)
            except Exception:  # not a handler error (those are handled): a bad task
                logger.exception("Task %s of job %s could not run", task, task.job_id)
                with self._cond:
                    if not run.job_state.status.is_terminal:
                        message = f"Task for routine {task.routine_id!r} could not run."
                        self._stop_job_locked(run, JobStatus.FAILED, message)
            finally:
                with self._cond:
                    run.running -= 1
                    self._release_if_paused_locked(run)
                    self._task_done_locked(run)
                    self._cond.notify_all()

    def shutdown(self, wait: bool, timeout: float | None = None) -> None:
        """Stops the workers.

        Args:
            wait: Wait for every running job to finish (paused jobs stay paused) and
                join the workers; otherwise cancel running jobs and return at once.
            timeout: Seconds to wait for running jobs at most.
        """
        me = threading.current_thread()
        with self._cond:
            if wait and me not in self._workers:
                self._cond.wait_for(self._all_idle_locked, timeout)
            for run in list(self._runs.values()):
                if run.job_state.status is JobStatus.RUNNING:
                    self._stop_job_locked(run, JobStatus.CANCELLED, "The flow was shut down.")
            self._closed = True
            workers = list(self._workers)
            self._cond.notify_all()
        if wait:
            for worker in workers:
                if worker is not me:
                    worker.join(timeout)

    def wait_idle(self, timeout: float | None) -> bool:
        """Waits until no job is running (paused jobs do not count)."""
        with self._cond:
            return self._cond.wait_for(self._all_idle_locked, timeout)

    def is_tracking(self, job_state: JobState) -> bool:
        """Whether this scheduler runs (or holds paused) the job."""
        with self._cond:
            return job_state.job_id in self._runs

    def counts(self, job_state: JobState) -> tuple[int, int]:
        """Returns ``(pending, running)`` task counts of a job (zeros if not running)."""
        with self._cond:
            run = self._runs.get(job_state.job_id)
            return (run.pending, run.running) if run else (0, 0)

    def has_jobs(self) -> bool:
        """Whether any job is running or paused on this scheduler."""
        with self._cond:
            return bool(self._runs)

    def _all_idle_locked(self) -> bool:
        return all(run.job_state.status is not JobStatus.RUNNING for run in self._runs.values())

    # -- jobs --------------------------------------------------------------------

    def _check_open_locked(self) -> None:
        if self._closed:
            raise FlowStateError(
                f"Flow {self._flow.flow_id!r} was shut down, so it cannot run jobs any more; "
                "create a new Flow (Flow().deserialize(old.serialize()) copies it)."
            )

    def run_entry(self, job_state: JobState, entry: Task, timeout: float | None) -> None:
        """Registers a new job and runs its entry task in the calling thread.

        The entry routine's error strategy applies here: a RETRY sleeps and runs the
        handler again in this thread, as routilux 0.10 does.
        """
        with self._cond:
            self._check_open_locked()
            run = JobRun(job_state, remaining_timeout=timeout)
            self._runs[job_state.job_id] = run
            job_state.set_status(JobStatus.RUNNING)
            run.pending += 1
            run.running += 1
            self._start_timeout_locked(run)
            self._spawn_workers_locked()
        try:
            while True:
                delay = self._run_task(run, entry, inline=True)
                if delay is None or run.job_state.status.is_terminal:
                    break
                time.sleep(delay)
                entry = Task(
                    entry.job_id, entry.routine_id, entry.slot, entry.data,
                    entry.retries_done + 1, entry.merged,
                )  # fmt: skip
        except Exception:
            logger.exception("Entry task of job %s could not run", job_state.job_id)
            with self._cond:
                if not job_state.status.is_terminal:
                    message = f"Entry routine {entry.routine_id!r} could not run."
                    self._stop_job_locked(run, JobStatus.FAILED, message)
        finally:
            with self._cond:
                run.running -= 1
                self._release_if_paused_locked(run)
                self._task_done_locked(run)
                self._cond.notify_all()

    def start_detached(self, job_state: JobState, tasks: list[Task], timeout: float | None) -> None:
        """Registers a new job whose first tasks are ``tasks`` (no entry routine)."""
        with self._cond:
            self._check_open_locked()
            run = JobRun(job_state, remaining_timeout=timeout)
            self._runs[job_state.job_id] = run
            job_state.set_status(JobStatus.RUNNING)
            for task in tasks:
                self._add_task_locked(run, task)
            self._start_timeout_locked(run)
            self._spawn_workers_locked()
            if run.pending == 0:
                self._finish_locked(run)

    def dispatch(self, job_state: JobState, tasks: list[Task]) -> None:
        """Queues tasks for a job; tasks of a finished or unknown job are dropped."""
        with self._cond:
            run = self._runs.get(job_state.job_id)
            if run is None or run.job_state.status.is_terminal:
                logger.debug("Dropping %d task(s) of finished job %s", len(tasks), job_state.job_id)
                return
            for task in tasks:
                self._add_task_locked(run, task)

    def pause(self, job_state: JobState, timeout: float | None) -> bool:
        """Pauses a running job and waits until none of its tasks is running.

        Called from inside one of the job's own handlers it does not wait; tasks that
        handler emits are parked with the others.

        Returns:
            True if no task of the job is running any more.
        """
        with self._cond:
            run = self._require_run_locked(job_state, "pause")
            if job_state.status is JobStatus.RUNNING:
                job_state.set_status(JobStatus.PAUSED)
                self._stop_timeout_locked(run)
                for task in self._take_queued_locked(job_state.job_id):
                    self._park_locked(run, task)
                for task, timer in run.delayed.values():
                    timer.cancel()
                    self._park_locked(run, task)
                run.delayed.clear()
            self._release_if_paused_locked(run)
            context = current_context()
            if context is not None and context.job_state is job_state:
                return run.running == 0
            return self._cond.wait_for(lambda: run.running == 0, timeout)

    def resume(
        self, job_state: JobState, timeout: float | None, first: list[Task] | None = None
    ) -> None:
        """Resumes a paused job, including one paused in another process.

        Args:
            job_state: The paused job.
            timeout: The job's execution timeout.
            first: Tasks to queue before the held-back ones (deferred events).
        """
        with self._cond:
            self._check_open_locked()
            run = self._runs.get(job_state.job_id)
            if run is None:
                run = self._adopt_locked(job_state, timeout)
            elif job_state.status is not JobStatus.PAUSED:
                raise FlowStateError(
                    f"Job {job_state.job_id!r} is {job_state.status.value}, not paused; only a "
                    "paused job can be resumed."
                )
            job_state._finished.clear()
            job_state.set_status(JobStatus.RUNNING)
            parked, run.parked = run.parked, []
            job_state.pending_tasks = []
            for task in first or []:
                task.job_id = job_state.job_id
            run.pending += len(first or [])
            self._queue.extend(first or [])
            self._queue.extend(parked)
            self._start_timeout_locked(run)
            self._spawn_workers_locked()
            if run.pending == 0:
                self._finish_locked(run)
            self._cond.notify_all()

    def _adopt_locked(self, job_state: JobState, timeout: float | None) -> JobRun:
        """Takes over a paused job this scheduler has never run (e.g. loaded from disk)."""
        if job_state.status is not JobStatus.PAUSED:
            raise FlowStateError(
                f"Job {job_state.job_id!r} is {job_state.status.value}, not paused; only a "
                "paused job can be resumed."
            )
        tasks = [Task.from_dict(t) for t in job_state.pending_tasks]
        for task in tasks:
            self._flow.get_routine(task.routine_id).require_slot(task.slot)
            task.job_id = job_state.job_id
        run = JobRun(job_state, pending=len(tasks), parked=tasks, remaining_timeout=timeout)
        self._runs[job_state.job_id] = run
        return run

    def cancel(self, job_state: JobState) -> None:
        """Cancels a job: queued work is dropped and waiters are released."""
        with self._cond:
            run = self._runs.get(job_state.job_id)
            if run is None:
                if not job_state.status.is_terminal:
                    job_state.set_status(JobStatus.CANCELLED)
                    job_state.pending_tasks = []
                    job_state._finished.set()
                return
            if not job_state.status.is_terminal:
                self._stop_job_locked(run, JobStatus.CANCELLED, None)

    def _require_run_locked(self, job_state: JobState, action: str) -> JobRun:
        run = self._runs.get(job_state.job_id)
        if run is None or job_state.status.is_terminal:
            raise FlowStateError(
                f"Cannot {action} job {job_state.job_id!r}: it is {job_state.status.value} and "
                f"not running in flow {self._flow.flow_id!r}."
            )
        return run

    # -- bookkeeping (all *_locked methods need self._cond) ------------------------

    def _add_task_locked(self, run: JobRun, task: Task) -> None:
        run.pending += 1
        if run.job_state.status is JobStatus.PAUSED:
            self._park_locked(run, task)
        else:
            self._queue.append(task)
            self._cond.notify()

    def _release_if_paused_locked(self, run: JobRun) -> None:
        # 0.10's wait_for_completion returns for a paused job; release waiters once no
        # task of the job runs any more, so what they save is complete.
        if run.running == 0 and run.job_state.status is JobStatus.PAUSED:
            run.job_state._finished.set()

    def _park_locked(self, run: JobRun, task: Task) -> None:
        run.parked.append(task)
        run.job_state.pending_tasks.append(task.to_dict())

    def _take_queued_locked(self, job_id: str) -> list[Task]:
        taken = [task for task in self._queue if task.job_id == job_id]
        if taken:
            self._queue = deque(task for task in self._queue if task.job_id != job_id)
        return taken

    def _task_done_locked(self, run: JobRun) -> None:
        run.pending -= 1
        if run.pending == 0 and run.job_state.status is not JobStatus.PAUSED:
            self._finish_locked(run)

    def _finish_locked(self, run: JobRun) -> None:
        job = run.job_state
        if job.status is JobStatus.RUNNING:
            job.set_status(JobStatus.COMPLETED)
        self._stop_timeout_locked(run)
        self._runs.pop(job.job_id, None)
        job._finished.set()
        self._cond.notify_all()
        logger.debug("Job %s finished: %s", job.job_id, job.status.value)

    def _stop_job_locked(self, run: JobRun, status: JobStatus, error: str | None) -> None:
        """Ends a job early: drops its queued, parked and delayed tasks."""
        job = run.job_state
        if error is not None:
            job.error = error
        job.set_status(status)
        dropped = len(self._take_queued_locked(job.job_id)) + len(run.parked)
        for _task, timer in run.delayed.values():
            timer.cancel()
        dropped += len(run.delayed)
        run.parked, run.delayed = [], {}
        job.pending_tasks = []
        run.pending -= dropped
        self._stop_timeout_locked(run)
        if status is not JobStatus.FAILED or run.pending == 0:
            # Cancelled and timed-out jobs release waiters at once: a handler that
            # is still running cannot be interrupted, and its emits will be dropped.
            job._finished.set()
        if run.pending == 0:
            self._finish_locked(run)
