"""Execution tracking: timings and outcomes of every routine run and event of a job."""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from routilux.serializable import RestoreContext, Serializable

#: Records kept per tracker; older ones are dropped (an event cycle must not exhaust memory).
MAX_RECORDS = 100_000


@dataclass
class RoutineRun:
    """One run of one slot handler.

    Attributes:
        routine_id: The routine that ran.
        slot: The slot whose handler ran.
        attempt: 0 for the first run of a task, ``n`` for its ``n``-th retry.
        start_time: Wall-clock start (``time.time()``).
        end_time: Wall-clock end, ``None`` while running.
        duration: Seconds the handler took (monotonic clock), ``None`` while running.
        status: ``"running"``, ``"completed"``, ``"failed"``, ``"retrying"`` or
            ``"skipped"``.
        error: ``"ExceptionType: message"`` if the handler raised.
    """

    routine_id: str
    slot: str
    attempt: int
    start_time: float
    end_time: float | None = None
    duration: float | None = None
    status: str = "running"
    error: str | None = None
    _started: float = field(default_factory=time.perf_counter, repr=False)

    def _as_dict(self) -> dict[str, Any]:
        return {
            "routine_id": self.routine_id,
            "slot": self.slot,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "execution_time": self.duration,
            "status": self.status,
            "error": self.error,
            "params": {},
        }

    def __getitem__(self, key: str) -> Any:
        """0.10 kept runs as dicts; ``run["status"]`` still works."""
        return self._as_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Dict-style read of a field (see :meth:`__getitem__`)."""
        return self._as_dict().get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self._as_dict()


@dataclass
class EventRecord:
    """One emitted event.

    Attributes:
        source_id: The emitting routine.
        event: The event name.
        targets: ``"routine_id.slot"`` of every slot the event was queued for.
        timestamp: Wall-clock time of the emit.
    """

    source_id: str
    event: str
    targets: list[str]
    timestamp: float


class ExecutionTracker(Serializable):
    """Collects :class:`RoutineRun` and :class:`EventRecord` entries of one job.

    Every routine run is tracked, not only the entry routine's. The tracker is
    thread-safe; the flow updates it from its workers.

    Args:
        flow_id: The flow that runs the job.
        job_id: The tracked job.
    """

    def __init__(self, flow_id: str = "", job_id: str = "") -> None:
        super().__init__()
        self.flow_id = flow_id
        self.job_id = job_id
        self._lock = threading.Lock()
        self._runs: list[RoutineRun] = []
        self._events: list[EventRecord] = []
        self._open: dict[str, RoutineRun] = {}
        self.add_serializable_fields(["flow_id", "job_id"])

    def record_routine_start(self, routine_id: str, params: dict[str, Any] | None = None) -> None:
        """Records that a routine started (0.10 API; ``params`` are not kept)."""
        del params
        self._open[routine_id] = self.start_routine(routine_id, "")

    def record_routine_end(
        self,
        routine_id: str,
        status: str = "completed",
        result: Any = None,
        error: str | None = None,
    ) -> None:
        """Records how the routine started by :meth:`record_routine_start` ended."""
        del result
        run = self._open.pop(routine_id, None) or self.start_routine(routine_id, "")
        self.end_routine(run, status, error)

    def start_routine(self, routine_id: str, slot: str, attempt: int = 0) -> RoutineRun:
        """Records that a slot handler started and returns its run record."""
        run = RoutineRun(routine_id, slot, attempt, start_time=time.time())
        with self._lock:
            if len(self._runs) >= MAX_RECORDS:
                del self._runs[: MAX_RECORDS // 10]
            self._runs.append(run)
        return run

    def end_routine(self, run: RoutineRun, status: str, error: str | None = None) -> None:
        """Records how a run ended.

        Args:
            run: The record :meth:`start_routine` returned.
            status: The outcome (``"completed"``, ``"failed"``, ``"retrying"``, ...).
            error: The error text, if the handler raised.
        """
        with self._lock:
            run.duration = time.perf_counter() - run._started
            run.end_time = time.time()
            run.status = status
            run.error = error

    def record_event(
        self,
        source_routine_id: str,
        event_name: str,
        target_routine_id: str | list[str] | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Records an emitted event and where it went (``data`` is not kept)."""
        del data
        if target_routine_id is None:
            targets: list[str] = []
        elif isinstance(target_routine_id, str):
            targets = [target_routine_id]
        else:
            targets = list(target_routine_id)
        with self._lock:
            if len(self._events) >= MAX_RECORDS:
                del self._events[: MAX_RECORDS // 10]
            self._events.append(EventRecord(source_routine_id, event_name, targets, time.time()))

    @property
    def routine_runs(self) -> list[RoutineRun]:
        """Every run so far, in start order."""
        with self._lock:
            return list(self._runs)

    @property
    def routine_executions(self) -> dict[str, list[RoutineRun]]:
        """The runs so far, grouped by routine id."""
        grouped: dict[str, list[RoutineRun]] = {}
        for run in self.routine_runs:
            grouped.setdefault(run.routine_id, []).append(run)
        return grouped

    @property
    def event_flow(self) -> list[dict[str, Any]]:
        """The events as 0.10's list of dicts (source, event, target, timestamp)."""
        return [
            {
                "source_routine_id": e.source_id,
                "event_name": e.event,
                "target_routine_id": e.targets[0].split(".")[0] if len(e.targets) == 1 else None,
                "targets": list(e.targets),
                "timestamp": e.timestamp,
            }
            for e in self.events
        ]

    @property
    def events(self) -> list[EventRecord]:
        """Every emitted event so far, in emit order."""
        with self._lock:
            return list(self._events)

    def get_routine_performance(self, routine_id: str) -> dict[str, Any] | None:
        """Summarizes the runs of one routine.

        Returns:
            ``runs`` (also ``total_executions``), ``completed``, ``failed`` (failed
            or retried runs), ``success_rate`` and
            ``avg_duration``/``min_duration``/``max_duration`` in seconds (``None``
            without finished runs); ``None`` if the routine never ran.
        """
        runs = [r for r in self.routine_runs if r.routine_id == routine_id]
        return _summarize(runs) if runs else None

    def get_flow_performance(self) -> dict[str, Any]:
        """Summarizes the whole job.

        Returns:
            The keys of :meth:`get_routine_performance` over all routines, plus
            ``total_events`` (events emitted), ``total_time`` (first start to last
            end, seconds) and ``routines`` (a per-routine summary by id).
        """
        runs = self.routine_runs
        summary = _summarize(runs)
        ended = [r.end_time for r in runs if r.end_time is not None]
        summary["total_time"] = (max(ended) - min(r.start_time for r in runs)) if ended else 0.0
        summary["total_events"] = len(self.events)
        summary["routines"] = {rid: _summarize(rs) for rid, rs in self.routine_executions.items()}
        summary["total_routines"] = len(summary["routines"])
        summary["total_execution_time"] = summary["total_time"]
        summary["avg_routine_time"] = summary["avg_duration"] or 0.0
        return summary

    def serialize(self) -> dict[str, Any]:
        """Returns every record as JSON-compatible data."""
        return {"_type": "ExecutionTracker", **self.to_dict()}

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores records written by :meth:`serialize` (plain data only)."""
        self._restore(data, RestoreContext.of(registry))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        del ctx
        self.flow_id = str(data.get("flow_id", ""))
        self.job_id = str(data.get("job_id", ""))
        runs = [r for r in data.get("routine_runs") or [] if isinstance(r, dict)][-MAX_RECORDS:]
        events = [e for e in data.get("events") or [] if isinstance(e, dict)][-MAX_RECORDS:]
        with self._lock:
            self._runs = [RoutineRun(**_known(r, RoutineRun)) for r in runs]
            self._events = [EventRecord(**_known(e, EventRecord)) for e in events]

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-compatible copy of every record."""
        runs = [{k: v for k, v in asdict(r).items() if k != "_started"} for r in self.routine_runs]
        return {
            "flow_id": self.flow_id,
            "job_id": self.job_id,
            "routine_runs": runs,
            "events": [asdict(e) for e in self.events],
        }


def _summarize(runs: list[RoutineRun]) -> dict[str, Any]:
    """Counts and times a list of runs."""
    finished = [r for r in runs if r.duration is not None]
    durations = [r.duration for r in finished if r.duration is not None]
    completed = sum(1 for r in finished if r.status == "completed")
    return {
        "runs": len(runs),
        "total_executions": len(runs),
        "completed": completed,
        "failed": sum(1 for r in finished if r.status in ("failed", "retrying")),
        "skipped": sum(1 for r in finished if r.status == "skipped"),
        "success_rate": completed / len(finished) if finished else None,
        "avg_duration": sum(durations) / len(durations) if durations else None,
        "min_duration": min(durations) if durations else None,
        "max_duration": max(durations) if durations else None,
        # 0.10's names for the same figures.
        "avg_execution_time": sum(durations) / len(durations) if durations else 0,
        "min_execution_time": min(durations) if durations else 0,
        "max_execution_time": max(durations) if durations else 0,
    }


def _known(data: dict[str, Any], cls: type[Any]) -> dict[str, Any]:
    """Keeps only the keys ``cls`` (a dataclass) declares, so junk keys cannot break it."""
    names = {f for f in cls.__dataclass_fields__ if not f.startswith("_")}
    return {k: v for k, v in data.items() if k in names}
