"""Job state: everything one execution of a flow knows about itself.

A :class:`JobState` is thread-safe, JSON-serializable (:meth:`JobState.save` /
:meth:`JobState.load`) and carries the queued tasks of a paused job, so a job can be
paused in one process and resumed in another. Saved jobs are data: loading one
never imports or calls anything it names.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from routilux.errors import SerializationError
from routilux.execution_tracker import ExecutionTracker
from routilux.job_records import (
    MAX_HISTORY,
    MAX_JOB_FILE_BYTES,
    ExecutionRecord,
    JobStatus,
    parse_time,
    read_job_file,
)
from routilux.serializable import RestoreContext, Serializable, register_serializable

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.output_handler import OutputHandler

__all__ = ["ExecutionRecord", "JobState", "JobStatus", "register_serializable"]

logger = logging.getLogger("routilux.job_state")

_SAVED = (
    "flow_id", "job_id", "status", "current_routine_id", "routine_states", "execution_history",
    "created_at", "updated_at", "pause_points", "pending_tasks", "deferred_events",
    "shared_data", "shared_log", "output_log", "error", "slot_states",
)  # fmt: skip


class JobState(Serializable):
    """The state of one execution of a flow.

    Attributes:
        job_id: Unique id of the job.
        flow_id: Id of the flow that runs it.
        status: A :class:`JobStatus` (compares equal to its string); settable.
        routine_states: Per routine id: ``status`` (running, completed, failed,
            error_continued, skipped, retrying), ``error`` and more.
        execution_history: Emitted events as :class:`ExecutionRecord` (the newest
            ``MAX_HISTORY``).
        shared_data / shared_log / output_log: Data the routines share or send.
        pause_points / pending_tasks / deferred_events: What pause and resume keep.
        error: Why the job failed, if it did.
        execution_tracker: Timings of this job's runs (not persisted).

    Args:
        flow_id: The flow that runs the job.
        job_id: A job id; a new UUID if omitted.
    """

    def __init__(self, flow_id: str = "", job_id: str | None = None) -> None:
        super().__init__()
        self.job_id = job_id or str(uuid.uuid4())
        self.flow_id = flow_id
        self._status = JobStatus.PENDING
        self.current_routine_id: str | None = None
        self.routine_states: dict[str, dict[str, Any]] = {}
        self.execution_history: list[ExecutionRecord] = []
        self.shared_data: dict[str, Any] = {}
        self.shared_log: list[dict[str, Any]] = []
        self.output_log: list[dict[str, Any]] = []
        self.pause_points: list[dict[str, Any]] = []
        self.deferred_events: list[dict[str, Any]] = []
        self.error: str | None = None
        self.pending_tasks: list[dict[str, Any]] = []
        self.slot_states: dict[str, dict[str, Any]] = {}
        self.created_at = datetime.now()
        self.updated_at = self.created_at
        self.execution_tracker = ExecutionTracker(flow_id, self.job_id)
        self.output_handler: OutputHandler | None = None
        self._history_dropped = 0
        self._lock = threading.RLock()
        self._finished = threading.Event()
        self.add_serializable_fields(list(_SAVED))

    def __repr__(self) -> str:
        return f"JobState(job_id={self.job_id!r}, status={self._status.value!r})"

    @property
    def status(self) -> JobStatus:
        """The job's status; assign a :class:`JobStatus` or its string value."""
        return self._status

    @status.setter
    def status(self, status: JobStatus | str) -> None:
        self.set_status(status)

    def set_status(self, status: JobStatus | str) -> None:
        """Sets the status; a terminal status also releases ``wait_for_completion``."""
        with self._lock:
            self._status = JobStatus(status)
            self.updated_at = datetime.now()
            if self._status.is_terminal:
                self._finished.set()

    def _set_paused(self, reason: str = "", checkpoint: dict[str, Any] | None = None) -> None:
        with self._lock:
            self.pause_points.append(
                {
                    "timestamp": datetime.now().isoformat(),
                    "reason": reason,
                    "checkpoint": checkpoint,
                    "pending_tasks": len(self.pending_tasks),
                }
            )
            self.set_status(JobStatus.PAUSED)

    def _set_running(self) -> None:
        self.set_status(JobStatus.RUNNING)

    def _set_cancelled(self, reason: str = "") -> None:
        with self._lock:
            if reason:
                self.error = reason
            self.set_status(JobStatus.CANCELLED)

    # -- routine states and history ---------------------------------------------

    def update_routine_state(
        self, routine_id: str, state: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """Merges ``state`` (and keyword ``fields``) into the state of ``routine_id``."""
        with self._lock:
            current = self.routine_states.setdefault(routine_id, {})
            if state:
                current.update(state)
            if fields:
                current.update(fields)
            self.current_routine_id = routine_id

    def get_routine_state(self, routine_id: str) -> dict[str, Any] | None:
        """Returns a copy of the state of ``routine_id``, or ``None`` if it never ran."""
        with self._lock:
            state = self.routine_states.get(routine_id)
            return dict(state) if state is not None else None

    def record_execution(self, routine_id: str, event_name: str, data: dict[str, Any]) -> None:
        """Appends an :class:`ExecutionRecord`; beyond ``MAX_HISTORY`` the oldest go."""
        record = ExecutionRecord(routine_id, event_name, dict(data))
        with self._lock:
            history = self.execution_history
            history.append(record)
            if len(history) > MAX_HISTORY:
                drop = MAX_HISTORY // 10
                del history[:drop]
                if not self._history_dropped:
                    logger.warning(
                        "Job %s emitted more than %d events (an event cycle?); execution_history "
                        "keeps only the newest %d.",
                        self.job_id,
                        MAX_HISTORY,
                        MAX_HISTORY,
                    )
                self._history_dropped += drop

    def get_execution_history(self, routine_id: str | None = None) -> list[ExecutionRecord]:
        """Returns the history, or only the records of ``routine_id``, oldest first."""
        with self._lock:
            if routine_id is None:
                return list(self.execution_history)
            return [r for r in self.execution_history if r.routine_id == routine_id]

    # -- shared data, deferred events, outputs ----------------------------------

    def update_shared_data(self, key: str, value: Any) -> None:
        """Sets ``shared_data[key]`` under the job's lock."""
        with self._lock:
            self.shared_data[key] = value

    def get_shared_data(self, key: str, default: Any = None) -> Any:
        """Returns ``shared_data[key]``, or ``default``."""
        with self._lock:
            return self.shared_data.get(key, default)

    def append_to_shared_log(self, entry: dict[str, Any]) -> None:
        """Appends ``entry`` (with a timestamp if it has none) to ``shared_log``."""
        with self._lock:
            self.shared_log.append({"timestamp": datetime.now().isoformat(), **entry})

    def get_shared_log(
        self, filter_func: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """Returns the shared log, or the entries ``filter_func`` accepts."""
        with self._lock:
            entries = list(self.shared_log)
        return [e for e in entries if filter_func(e)] if filter_func else entries

    def add_deferred_event(self, routine_id: str, event_name: str, data: dict[str, Any]) -> None:
        """Stores an event for ``Flow.resume`` to emit before the queued work."""
        with self._lock:
            self.deferred_events.append(
                {"routine_id": routine_id, "event_name": event_name, "data": dict(data)}
            )

    def set_output_handler(self, handler: OutputHandler | None) -> None:
        """Attaches the handler ``send_output`` forwards to (not saved)."""
        self.output_handler = handler

    def send_output(self, routine_id: str, output_type: str, data: dict[str, Any]) -> None:
        """Appends to ``output_log`` and forwards to the output handler, if any."""
        now = datetime.now()
        with self._lock:
            self.output_log.append(
                {
                    "routine_id": routine_id,
                    "output_type": output_type,
                    "data": data,
                    "timestamp": now.isoformat(),
                }
            )
        if self.output_handler is not None:
            self.output_handler.handle(self.job_id, routine_id, output_type, data, now)

    def merge_slot_state(
        self, key: str, merge: Callable[[dict[str, Any] | None], dict[str, Any]]
    ) -> dict[str, Any]:
        """Atomically replaces the merge state of a slot (``"routine_id.slot"``) with
        ``merge(old)`` and returns it."""
        with self._lock:
            merged = merge(self.slot_states.get(key))
            self.slot_states[key] = merged
            return merged

    # -- waiting ----------------------------------------------------------------

    @staticmethod
    def wait_for_completion(
        flow: Flow,
        job_state: JobState,
        timeout: float | None = None,
        stability_checks: int = 5,
        check_interval: float = 0.1,
        stability_delay: float = 0.05,
        progress_callback: Callable[[int, int, str], None] | None = None,
    ) -> bool:
        """Blocks until the job is completed, failed or cancelled, or paused with
        no task running (as in 0.10, so a paused job can then be saved).

        Completion is signalled by the flow when the job's last task ends, so this
        returns at once, with no polling; ``stability_checks``, ``check_interval``
        and ``stability_delay`` are accepted for 0.10 code and not needed.
        ``progress_callback(pending, running, status)`` is called every 5 s.

        Returns:
            True if the job finished or paused, False if the timeout expired first.
        """
        del stability_checks, check_interval, stability_delay
        scheduler = getattr(flow, "_scheduler", None)
        if job_state._status is JobStatus.RUNNING and not (
            scheduler is not None and scheduler.is_tracking(job_state)
        ):
            # No flow runs this job (built by hand, as 0.10 tests do): nothing will ever
            # end it, so settle it now the 0.10 way, from its routine states.
            job_state._settle()
            return True
        if progress_callback is None:
            return job_state._finished.wait(timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            step = 5.0 if deadline is None else min(5.0, deadline - time.monotonic())
            if job_state._finished.wait(max(step, 0.0)):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            pending, running = flow.job_counts(job_state)
            progress_callback(pending, running, job_state.status.value)

    def _settle(self) -> None:
        with self._lock:
            states = [s.get("status") for s in self.routine_states.values()]
            failed = any(status in ("failed", "error") for status in states)
            self.set_status(JobStatus.FAILED if failed else JobStatus.COMPLETED)

    # -- persistence ------------------------------------------------------------

    def serialize(self) -> dict[str, Any]:
        """Returns a JSON-compatible snapshot (tracker and output handler excluded)."""
        with self._lock:
            return {
                "_type": "JobState",
                "job_id": self.job_id,
                "flow_id": self.flow_id,
                "status": self._status.value,
                "current_routine_id": self.current_routine_id,
                "routine_states": {k: dict(v) for k, v in self.routine_states.items()},
                "execution_history": [r.to_dict() for r in self.execution_history],
                "shared_data": dict(self.shared_data),
                "shared_log": list(self.shared_log),
                "output_log": list(self.output_log),
                "pause_points": list(self.pause_points),
                "deferred_events": list(self.deferred_events),
                "error": self.error,
                "pending_tasks": [dict(t) for t in self.pending_tasks],
                "slot_states": {k: dict(v) for k, v in self.slot_states.items()},
                "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat(),
            }

    to_dict = serialize

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores a snapshot; values stay plain data, nothing is imported or called."""
        self._restore(data, RestoreContext.of(registry))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        del ctx

        def mapping(key: str) -> dict[str, Any]:
            value = data.get(key)
            return value if isinstance(value, dict) else {}

        def listing(key: str) -> list[Any]:
            value = data.get(key)
            return value if isinstance(value, list) else []

        with self._lock:
            self.job_id = str(data.get("job_id") or self.job_id)
            self.flow_id = str(data.get("flow_id") or "")
            self.current_routine_id = data.get("current_routine_id")
            self.routine_states = {
                str(k): dict(v) for k, v in mapping("routine_states").items() if isinstance(v, dict)
            }
            history = listing("execution_history")[-MAX_HISTORY:]
            self.execution_history = [ExecutionRecord.from_dict(r) for r in history]
            self.shared_data = dict(mapping("shared_data"))
            self.shared_log = [e for e in listing("shared_log") if isinstance(e, dict)]
            self.output_log = [e for e in listing("output_log") if isinstance(e, dict)]
            self.pause_points = [p for p in listing("pause_points") if isinstance(p, dict)]
            self.deferred_events = [e for e in listing("deferred_events") if isinstance(e, dict)]
            error = data.get("error")
            self.error = str(error) if error is not None else None
            self.pending_tasks = [t for t in listing("pending_tasks") if isinstance(t, dict)]
            self.slot_states = {
                str(k): dict(v) for k, v in mapping("slot_states").items() if isinstance(v, dict)
            }
            self.execution_tracker = ExecutionTracker(self.flow_id, self.job_id)
            self.created_at = parse_time(data.get("created_at"))
            self._finished.clear()
            self.set_status(_status_of(data.get("status")))
            self.updated_at = parse_time(data.get("updated_at"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobState:
        """Builds a job from :meth:`serialize` output.

        Raises:
            SerializationError: If ``data`` has no ``job_id`` (not a saved job).
        """
        if not isinstance(data, dict) or not isinstance(data.get("job_id"), str):
            raise SerializationError(
                "The data is not a saved job (no 'job_id'); pass what JobState.save() wrote."
            )
        job = cls()
        job._restore(data, RestoreContext())
        return job

    def save(self, filepath: str | Path) -> None:
        """Writes the job to ``filepath`` as JSON.

        Raises:
            SerializationError: If some data of the job is not JSON-serializable.
        """
        try:
            text = json.dumps(self.serialize(), indent=2)
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(
                f"Job {self.job_id!r} cannot be saved as JSON ({exc}); keep emitted data, "
                "shared_data and routine states to JSON types (dict, list, str, numbers)."
            ) from exc
        Path(filepath).write_text(text, encoding="utf-8")

    @classmethod
    def load(cls, filepath: str | Path, max_bytes: int = MAX_JOB_FILE_BYTES) -> JobState:
        """Reads a job that :meth:`save` wrote.

        Args:
            filepath: The file.
            max_bytes: Larger files are refused (a saved job is untrusted data).

        Raises:
            SerializationError: If the file is too large or not a saved job.
        """
        return cls.from_dict(read_job_file(filepath, max_bytes))


def _status_of(value: Any) -> JobStatus:
    try:
        return JobStatus(value)
    except ValueError:
        return JobStatus.PENDING


class _ExecutionCompletionChecker:
    """0.10's completion poller, kept for code that builds one; completion here is
    signalled, so the checks read the flow's pending-task count directly."""

    def __init__(
        self,
        flow: Flow,
        job_state: JobState,
        stability_checks: int = 5,
        check_interval: float = 0.1,
        stability_delay: float = 0.05,
    ) -> None:
        self.flow = flow
        self.job_state = job_state

    def is_complete(self) -> bool:
        """Whether the job has finished (completed, failed or cancelled)."""
        return self.job_state._finished.is_set()

    def check_with_stability(self) -> bool:
        """Same as :meth:`is_complete` (no polling needed)."""
        return self.is_complete()
