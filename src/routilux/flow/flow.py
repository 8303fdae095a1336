"""Flows: routines wired together, run as jobs by a pool of workers."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
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
from routilux.flow.job_control import JobControl
from routilux.flow.serialization import restore_flow, serialize_flow
from routilux.job_state import JobState
from routilux.routine import Routine
from routilux.scheduler import TaskScheduler
from routilux.serializable import Serializable
from routilux.task import Task

logger = logging.getLogger("routilux.flow")

STRATEGIES = ("sequential", "concurrent")
_DEFAULT_ERROR_HANDLER = ErrorHandler()


class Flow(JobControl, Serializable):
    """A set of routines connected event-to-slot, executed as jobs.

    Every job's tasks go through one FIFO queue. A ``"sequential"`` flow has one
    worker, so tasks run one at a time in queue order; a ``"concurrent"`` flow has
    ``max_workers`` workers. :meth:`execute` runs the entry routine's ``trigger``
    handler in the calling thread and returns; use
    :meth:`JobState.wait_for_completion` to wait for the rest of the job.

    Args:
        flow_id: The flow's id; a new UUID if omitted.
        execution_strategy: ``"sequential"`` or ``"concurrent"``.
        max_workers: The number of workers of a concurrent flow.
        execution_timeout: Seconds a job may run (time spent paused excluded) before
            it fails with an ``ExecutionTimeoutError``; ``None`` (the default) for no
            limit.
        track: Record every run in the tracker, every emit in
            ``execution_history`` and every success in ``routine_states``; with
            False only failures are recorded (cheaper per event).

    Raises:
        DefinitionError: If the strategy, ``max_workers`` or timeout is invalid.
    """

    def __init__(
        self,
        flow_id: str | None = None,
        execution_strategy: str = "sequential",
        max_workers: int = 5,
        execution_timeout: float | None = None,
        track: bool = True,
    ) -> None:
        super().__init__()
        _check_strategy(execution_strategy, max_workers)
        if execution_timeout is not None and execution_timeout <= 0:
            raise DefinitionError(
                f"execution_timeout must be a positive number of seconds or None, "
                f"not {execution_timeout!r}."
            )
        self.flow_id = flow_id or str(uuid.uuid4())
        self.execution_timeout = execution_timeout
        self.track = track
        self._strategy = execution_strategy
        # 0.10: a sequential flow has exactly one worker.
        self._max_workers = max_workers if execution_strategy == "concurrent" else 1
        self._lock = threading.RLock()
        self._routines: dict[str, Routine] = {}
        self._ids_by_object: dict[int, str] = {}
        self._connections: list[Connection] = []
        self._by_source: dict[tuple[str, str], list[Connection]] = {}
        self._error_handler: ErrorHandler | None = None
        self._last_job: JobState | None = None
        self._scheduler = TaskScheduler(self, self._worker_count())
        self.add_serializable_fields(
            ["flow_id", "execution_strategy", "max_workers", "error_handler", "routines"]
        )

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

    def add_routine(self, routine: Routine, routine_id: str | None = None) -> str:
        """Adds a routine under an id unique within the flow.

        Args:
            routine: The routine.
            routine_id: Its id in the flow; the routine's ``_id`` if omitted. The
                routine's ``_id`` becomes this id.

        Returns:
            The id.

        Raises:
            DuplicateNameError: If the id is taken.
            DefinitionError: If ``routine`` is not a Routine or is already in the flow.
        """
        if not isinstance(routine, Routine):
            raise DefinitionError(
                f"add_routine() needs a Routine instance, not {type(routine).__name__}; "
                "subclass routilux.Routine."
            )
        if routine_id is None:
            routine_id = routine._id
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
            routine._id = routine_id
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
        source_routine_id: str,
        source_event: str,
        target_routine_id: str,
        target_slot: str,
        param_mapping: dict[str, str] | None = None,
    ) -> Connection:
        """Connects ``source_id``'s event to ``target_id``'s slot.

        Args:
            source_routine_id: The emitting routine's id.
            source_event: The event's name.
            target_routine_id: The receiving routine's id.
            target_slot: The slot's name.
            param_mapping: Renames event keys to slot keys (``{event_key: slot_key}``).

        Returns:
            The new connection.

        Raises:
            UnknownRoutineError: If either routine id is unknown.
            UnknownEventError: If the source has no such event.
            UnknownSlotError: If the target has no such slot.
        """
        source_id, event = source_routine_id, source_event
        target_id, slot = target_routine_id, target_slot
        source = self.get_routine(source_id)
        target = self.get_routine(target_id)
        event_obj = source.get_event(event)
        slot_obj = target.get_slot(slot)
        if event_obj is None:
            raise UnknownEventError("event", event, _owner(source_id, source), source.events)
        if slot_obj is None:
            raise UnknownSlotError("slot", slot, _owner(target_id, target), target.slots)
        if source_id == target_id:
            logger.warning(
                "%s: routine %r is connected to itself (%s -> %s); every emit runs it again, "
                "so make sure the cycle ends (execution_history keeps only the newest records).",
                self._describe(),
                source_id,
                event,
                slot,
            )
        connection = Connection(event_obj, slot_obj, param_mapping)
        connection.source_id, connection.target_id = source_id, target_id
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
        if strategy == "concurrent":
            workers = max_workers or (self._max_workers if self._max_workers > 1 else 5)
        else:
            workers = 1
        _check_strategy(strategy, workers)
        self._strategy, self._max_workers = strategy, workers
        self._scheduler.set_worker_count(self._worker_count())

    def _worker_count(self) -> int:
        return self._max_workers

    def _describe(self) -> str:
        return f"Flow {self.flow_id!r}"

    # -- execution --------------------------------------------------------------------

    def execute(
        self,
        entry_routine_id: str,
        entry_params: dict[str, Any] | None = None,
        execution_strategy: str | None = None,
        timeout: float | None = None,
    ) -> JobState:
        """Starts a job: runs the entry routine's ``trigger`` handler with
        ``entry_params`` in this thread, under the entry routine's error strategy.

        Events the handler emits are queued for the workers; when nothing was
        queued, the returned job is already final (completed, or failed under
        STOP). Use :meth:`JobState.wait_for_completion` for the rest.

        Args:
            entry_routine_id: The id of a routine with a ``trigger`` slot.
            entry_params: The message for the ``trigger`` slot.
            execution_strategy: Accepted for 0.10 code; must be ``"sequential"``
                or ``"concurrent"`` and does not change the flow's strategy.
            timeout: This job's execution timeout; the flow's if omitted.

        Returns:
            The new job (status ``failed`` with ``error`` set if the entry
            routine has no ``trigger`` slot).

        Raises:
            UnknownRoutineError: If the entry routine does not exist (a ``ValueError``).
            FlowStateError: If the flow was shut down.
        """
        if execution_strategy is not None:
            _check_strategy(execution_strategy, self._max_workers)
        entry = self.get_routine(entry_routine_id)
        job = JobState(self.flow_id)
        self._last_job = job
        self._bind_routines()
        if entry.get_slot("trigger") is None:
            job.error = (
                f"Entry routine {entry_routine_id!r} has no 'trigger' slot; define "
                "define_slot('trigger', handler=...) on it."
            )
            job.update_routine_state(entry_routine_id, {"status": "failed", "error": job.error})
            job.set_status("failed")
            return job
        task = Task(job.job_id, entry_routine_id, "trigger", dict(entry_params or {}))
        if self.track:
            job.record_execution(entry_routine_id, "start", task.data)
        limit = self.execution_timeout if timeout is None else timeout
        self._scheduler.run_entry(job, task, limit)
        return job

    def _bind_routines(self) -> None:
        # 0.10's "automatic flow detection": emit() outside a handler finds this flow.
        for routine in self._routines.values():
            routine._current_flow = self

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
        """The job most recently started or resumed by this flow (settable, as in 0.10)."""
        return self._last_job

    @job_state.setter
    def job_state(self, job_state: JobState | None) -> None:
        self._last_job = job_state

    @property
    def execution_tracker(self) -> ExecutionTracker | None:
        """The tracker of the most recent job (each job has its own)."""
        return self._last_job.execution_tracker if self._last_job else None

    def _tasks_for(
        self, source_id: str, event: str, data: dict[str, Any], job_state: JobState
    ) -> list[Task]:
        connections = self._by_source.get((source_id, event), ())
        if self.track:
            job_state.record_execution(source_id, event, data)
            targets = [f"{c.target_id}.{c.slot}" for c in connections]
            job_state.execution_tracker.record_event(source_id, event, targets)
        job_id = job_state.job_id
        return [Task(job_id, c.target_id, c.slot, c.map_params(data)) for c in connections]

    def dispatch_detached(self, routine: Routine, event: str, data: dict[str, Any]) -> JobState:
        """Starts a job whose first tasks are one emit from outside any handler.

        Used by ``Routine.emit`` when the flow has no running job (0.10 code that
        calls ``slot.receive`` by hand); the job completes when its tasks end.
        """
        source_id = self._ids_by_object.get(id(routine))
        if source_id is None:
            raise ExecutionContextError(
                f"{type(routine).__name__} emitted {event!r} into {self._describe()}, which "
                "does not contain it; add the routine to the flow first."
            )
        job = JobState(self.flow_id)
        self._last_job = job
        self._bind_routines()
        tasks = self._tasks_for(source_id, event, data, job)
        self._scheduler.start_detached(job, tasks, self.execution_timeout)
        return job

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
        tasks = self._tasks_for(source_id, event, data, job_state)
        if tasks:
            self._scheduler.dispatch(job_state, tasks)

    def shutdown(self, wait: bool = True, timeout: float | None = None) -> None:
        """Stops the workers; the flow cannot run jobs afterwards.

        Args:
            wait: Wait for running jobs to finish (paused ones stay paused and can
                be saved); if False, running jobs are cancelled.
            timeout: Seconds to wait at most; running jobs left then are cancelled.
        """
        self._scheduler.shutdown(wait, timeout)

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

        Routines (class, id, config, slots with handler references, events, error
        handler and added fields), connections by routine id, the strategy,
        ``max_workers``, the timeout and the flow's error handler.
        """
        with self._lock:
            return serialize_flow(self)

    def deserialize(self, data: dict[str, Any], allow_modules: Iterable[str] = ()) -> Flow:
        """Replaces this flow's definition with one :meth:`serialize` returned.

        Saved flows are data: routine classes must be defined in this process (or
        registered with ``serilux.register_serializable``); handlers resolve only to
        methods of those routines, and module functions only from ``allow_modules``.
        Nothing else is imported or called.

        Args:
            data: The serialized flow.
            allow_modules: Modules (and their submodules) whose functions and
                classes the data may name.

        Returns:
            This flow.

        Raises:
            UnsafeRestoreError: If the data names a class or callable not allowed.
            SerializationError: If the data is malformed.
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
            restore_flow(self, data, tuple(allow_modules))
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
