"""Flows: routines wired together, run as jobs by a pool of workers."""

from __future__ import annotations

import logging
import threading
import uuid
from types import TracebackType
from typing import Any

from routilux.connection import Connection
from routilux.error_handler import ErrorHandler
from routilux.errors import (
    DefinitionError,
    DuplicateNameError,
    ExecutionContextError,
    FlowStateError,
    UnknownEventError,
    UnknownRoutineError,
    UnknownSlotError,
)
from routilux.execution_tracker import ExecutionTracker
from routilux.job_state import JobState
from routilux.routine import Routine
from routilux.scheduler import TaskScheduler
from routilux.serialization import restore_flow, serialize_flow
from routilux.task import Task

logger = logging.getLogger("routilux.flow")

STRATEGIES = ("sequential", "concurrent")
_DEFAULT_ERROR_HANDLER = ErrorHandler()


class Flow:
    """A set of routines connected event-to-slot, executed as jobs.

    Every job's tasks go through one FIFO queue. A ``"sequential"`` flow has one
    worker, so tasks run one at a time in queue order; a ``"concurrent"`` flow has
    ``max_workers`` workers. :meth:`execute` returns at once; use
    :meth:`JobState.wait_for_completion` to wait for the job.

    Args:
        flow_id: The flow's id; a new UUID if omitted.
        execution_strategy: ``"sequential"`` or ``"concurrent"``.
        max_workers: The number of workers of a concurrent flow.
        execution_timeout: Seconds a job may run (time spent paused excluded) before
            it fails with an ``ExecutionTimeoutError``; ``None`` for no limit.

    Raises:
        DefinitionError: If the strategy, ``max_workers`` or timeout is invalid.
    """

    def __init__(
        self,
        flow_id: str | None = None,
        execution_strategy: str = "sequential",
        max_workers: int = 5,
        execution_timeout: float | None = None,
    ) -> None:
        _check_strategy(execution_strategy, max_workers)
        if execution_timeout is not None and execution_timeout <= 0:
            raise DefinitionError(
                f"execution_timeout must be a positive number of seconds or None, "
                f"not {execution_timeout!r}."
            )
        self.flow_id = flow_id or str(uuid.uuid4())
        self.execution_timeout = execution_timeout
        self._strategy = execution_strategy
        self._max_workers = max_workers
        self._lock = threading.RLock()
        self._routines: dict[str, Routine] = {}
        self._ids_by_object: dict[int, str] = {}
        self._connections: list[Connection] = []
        self._by_source: dict[tuple[str, str], list[Connection]] = {}
        self._error_handler: ErrorHandler | None = None
        self._last_job: JobState | None = None
        self._scheduler = TaskScheduler(self, self._worker_count())

    def __repr__(self) -> str:
        return (
            f"Flow(flow_id={self.flow_id!r}, execution_strategy={self._strategy!r}, "
            f"max_workers={self._max_workers}, routines={list(self._routines)})"
        )

    # -- definition -----------------------------------------------------------------

    @property
    def execution_strategy(self) -> str:
        """``"sequential"`` or ``"concurrent"``."""
        return self._strategy

    @property
    def max_workers(self) -> int:
        """The number of workers a concurrent flow uses."""
        return self._max_workers

    @property
    def routines(self) -> dict[str, Routine]:
        """A copy of the routines by id."""
        with self._lock:
            return dict(self._routines)

    @property
    def connections(self) -> list[Connection]:
        """A copy of the connections, in the order they were made."""
        with self._lock:
            return list(self._connections)

    def add_routine(self, routine: Routine, routine_id: str) -> str:
        """Adds a routine under an id unique within the flow.

        Returns:
            ``routine_id``.

        Raises:
            DuplicateNameError: If the id is taken.
            DefinitionError: If ``routine`` is not a Routine or is already in the flow.
        """
        if not isinstance(routine, Routine):
            raise DefinitionError(
                f"add_routine() needs a Routine instance, not {type(routine).__name__}; "
                "subclass routilux.Routine."
            )
        with self._lock:
            if routine_id in self._routines:
                raise DuplicateNameError("routine", routine_id, self._describe(), self._routines)
            if id(routine) in self._ids_by_object:
                raise DefinitionError(
                    f"This {type(routine).__name__} object is already in {self._describe()} as "
                    f"{self._ids_by_object[id(routine)]!r}; create a new instance for "
                    f"{routine_id!r}."
                )
            self._routines[routine_id] = routine
            self._ids_by_object[id(routine)] = routine_id
        return routine_id

    def get_routine(self, routine_id: str) -> Routine:
        """Returns the routine with the given id.

        Raises:
            UnknownRoutineError: If there is none.
        """
        try:
            return self._routines[routine_id]
        except KeyError:
            raise UnknownRoutineError(
                "routine",
                routine_id,
                self._describe(),
                self._routines,
                hint="Add it with flow.add_routine(routine, routine_id) first.",
            ) from None

    def connect(
        self,
        source_id: str,
        event: str,
        target_id: str,
        slot: str,
        param_mapping: dict[str, str] | None = None,
    ) -> Connection:
        """Connects ``source_id``'s event to ``target_id``'s slot.

        Args:
            source_id: The emitting routine's id.
            event: The event's name.
            target_id: The receiving routine's id.
            slot: The slot's name.
            param_mapping: Renames event keys to slot keys (``{event_key: slot_key}``).

        Returns:
            The new connection.

        Raises:
            UnknownRoutineError: If either routine id is unknown.
            UnknownEventError: If the source has no such event.
            UnknownSlotError: If the target has no such slot.
        """
        source = self.get_routine(source_id)
        target = self.get_routine(target_id)
        if event not in source.events:
            raise UnknownEventError("event", event, _owner(source_id, source), source.events)
        if slot not in target.slots:
            raise UnknownSlotError("slot", slot, _owner(target_id, target), target.slots)
        connection = Connection(source_id, event, target_id, slot, dict(param_mapping or {}))
        with self._lock:
            self._connections.append(connection)
            self._by_source.setdefault((source_id, event), []).append(connection)
        return connection

    def set_error_handler(self, error_handler: ErrorHandler | None) -> None:
        """Sets the error policy of every routine without its own."""
        self._error_handler = error_handler

    @property
    def error_handler(self) -> ErrorHandler | None:
        """The flow-wide error policy (``None`` means STOP)."""
        return self._error_handler

    def error_handler_for(self, routine_id: str) -> ErrorHandler:
        """Returns the policy that applies to a routine: its own, the flow's, or STOP."""
        own = self.get_routine(routine_id).get_error_handler()
        return own or self._error_handler or _DEFAULT_ERROR_HANDLER

    def set_execution_strategy(self, strategy: str, max_workers: int | None = None) -> None:
        """Switches between sequential and concurrent execution, also while jobs run.

        Args:
            strategy: ``"sequential"`` or ``"concurrent"``.
            max_workers: A new worker count for concurrent execution; unchanged if
                omitted.
        """
        workers = self._max_workers if max_workers is None else max_workers
        _check_strategy(strategy, workers)
        self._strategy, self._max_workers = strategy, workers
        self._scheduler.set_worker_count(self._worker_count())

    def _worker_count(self) -> int:
        return 1 if self._strategy == "sequential" else self._max_workers

    def _describe(self) -> str:
        return f"Flow {self.flow_id!r}"

    # -- execution --------------------------------------------------------------------

    def execute(
        self, entry_routine_id: str, entry_params: dict[str, Any] | None = None
    ) -> JobState:
        """Starts a job by sending ``entry_params`` to the entry routine's ``trigger`` slot.

        Returns at once, for both strategies; the job completes when its last task
        ends (see :meth:`JobState.wait_for_completion`).

        Args:
            entry_routine_id: The id of a routine with a ``trigger`` slot.
            entry_params: The message for the ``trigger`` slot.

        Returns:
            The new job.

        Raises:
            UnknownRoutineError: If the entry routine does not exist.
            UnknownSlotError: If it has no ``trigger`` slot.
            FlowStateError: If the flow was shut down.
        """
        entry = self.get_routine(entry_routine_id)
        if "trigger" not in entry.slots:
            raise UnknownSlotError(
                "slot",
                "trigger",
                _owner(entry_routine_id, entry),
                entry.slots,
                hint="An entry routine needs define_slot('trigger', handler=...).",
            )
        job = JobState(self.flow_id)
        self._last_job = job
        task = Task(job.job_id, entry_routine_id, "trigger", dict(entry_params or {}))
        self._scheduler.start_job(job, task, self.execution_timeout)
        return job

    def pause(self, job_state: JobState | None = None, timeout: float | None = None) -> bool:
        """Pauses a job; its queued tasks are kept in ``job_state.pending_tasks``.

        Waits until the job's running tasks end (unless called from one of them), so
        the job can then be saved and resumed, here or in another process.

        Args:
            job_state: The job; the flow's latest job if omitted.
            timeout: Seconds to wait for running tasks at most.

        Returns:
            True if no task of the job is running any more.
        """
        return self._scheduler.pause(self._job(job_state), timeout)

    def resume(self, job_state: JobState | None = None) -> JobState:
        """Resumes a paused job, also one saved by another process.

        Every task queued when the job was paused runs exactly once.

        Returns:
            The job.

        Raises:
            FlowStateError: If the job is not paused.
            UnknownRoutineError: If a queued task names a routine this flow lacks.
        """
        job = self._job(job_state)
        self._last_job = job
        self._scheduler.resume(job, self.execution_timeout)
        return job

    def cancel(self, job_state: JobState | None = None) -> None:
        """Cancels a job: queued tasks are dropped and waiters return."""
        self._scheduler.cancel(self._job(job_state))

    def _job(self, job_state: JobState | None) -> JobState:
        job = job_state or self._last_job
        if job is None:
            raise ExecutionContextError(
                f"{self._describe()} has not run any job yet; pass the JobState that "
                "execute() returned."
            )
        return job

    @property
    def job_state(self) -> JobState | None:
        """The job most recently started or resumed by this flow."""
        return self._last_job

    @property
    def execution_tracker(self) -> ExecutionTracker | None:
        """The tracker of the most recent job (each job has its own)."""
        return self._last_job.execution_tracker if self._last_job else None

    def dispatch_event(
        self, routine: Routine, event: str, data: dict[str, Any], job_state: JobState
    ) -> None:
        """Queues an emitted event for every connected slot (used by ``Routine.emit``)."""
        source_id = self._ids_by_object.get(id(routine))
        if source_id is None:
            raise ExecutionContextError(
                f"{type(routine).__name__} emitted {event!r} into {self._describe()}, which "
                "does not contain it; add the routine to the flow first."
            )
        connections = self._by_source.get((source_id, event), [])
        job_state.record_execution(source_id, event, data)
        targets = [f"{c.target_id}.{c.slot}" for c in connections]
        job_state.execution_tracker.record_event(source_id, event, targets)
        tasks = [
            Task(job_state.job_id, c.target_id, c.slot, c.map_params(data)) for c in connections
        ]
        if tasks:
            self._scheduler.dispatch(job_state, tasks)

    def shutdown(self, wait: bool = True) -> None:
        """Stops the workers; the flow cannot run jobs afterwards.

        Args:
            wait: Wait for running jobs to finish (paused ones stay paused and can
                be saved); if False, running jobs are cancelled.
        """
        self._scheduler.shutdown(wait)

    def __enter__(self) -> Flow:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # After an error nobody waits for the jobs, so do not hang on them.
        self.shutdown(wait=exc_type is None)

    # -- serialization --------------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        """Returns a JSON-compatible description of the flow (not of its jobs).

        Routine classes and merge functions are stored by import path, handlers by
        method name, plus each routine's config and error handler, the connections
        (by routine id), the strategy, ``max_workers`` and the timeout.
        """
        with self._lock:
            return serialize_flow(self)

    def deserialize(self, data: dict[str, Any]) -> Flow:
        """Replaces this flow's definition with one :meth:`serialize` returned.

        Returns:
            This flow.

        Raises:
            SerializationError: If a class or function cannot be imported.
            FlowStateError: If this flow still has running or paused jobs.
        """
        if self._scheduler.has_jobs():
            raise FlowStateError(
                f"{self._describe()} still has running or paused jobs, so its definition "
                "cannot be replaced; deserialize into a new Flow() instead."
            )
        with self._lock:
            self._routines.clear()
            self._ids_by_object.clear()
            self._connections.clear()
            self._by_source.clear()
            restore_flow(self, data)
        return self


def _owner(routine_id: str, routine: Routine) -> str:
    return f"routine {routine_id!r} ({type(routine).__name__})"


def _check_strategy(strategy: str, max_workers: int) -> None:
    if strategy not in STRATEGIES:
        raise DefinitionError(
            f"Unknown execution_strategy {strategy!r}; use 'sequential' or 'concurrent'."
        )
    if not isinstance(max_workers, int) or max_workers < 1:
        raise DefinitionError(f"max_workers must be a positive integer, not {max_workers!r}.")
