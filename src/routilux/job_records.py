"""Parts of a job's record: statuses, emitted-event records and limits on saved jobs."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from pathlib import Path
from typing import Any

from routilux.errors import SerializationError
from routilux.serializable import RestoreContext, Serializable

#: Events kept in ``JobState.execution_history``; older ones are dropped beyond this,
#: so an event cycle cannot grow a job without bound.
MAX_HISTORY = 10_000
#: Largest job file ``JobState.load`` reads, in bytes.
MAX_JOB_FILE_BYTES = 64 * 1024 * 1024


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
        return self in _TERMINAL


_TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})


class ExecutionRecord(Serializable):
    """One event emitted during a job (or a pseudo event such as ``"error"``).

    Args:
        routine_id: The emitting routine.
        event_name: The event.
        data: The message (as emitted, before any ``param_mapping``).
        timestamp: When it happened; now if omitted.
    """

    def __init__(
        self,
        routine_id: str = "",
        event_name: str = "",
        data: dict[str, Any] | None = None,
        timestamp: datetime | None = None,
    ) -> None:
        # Kept lean on purpose (one per emit): no serilux field bookkeeping here.
        self.fields_to_serialize = ["routine_id", "event_name", "data", "timestamp"]
        self.routine_id = routine_id
        self.event_name = event_name
        self.data = data if data is not None else {}
        self.timestamp = timestamp or datetime.now()

    def __repr__(self) -> str:
        return f"ExecutionRecord({self.routine_id!r}, {self.event_name!r})"

    def to_dict(self) -> dict[str, Any]:
        """Returns a plain-dict copy (timestamp as ISO text)."""
        return {
            "routine_id": self.routine_id,
            "event_name": self.event_name,
            "data": self.data,
            "timestamp": self.timestamp.isoformat(),
        }

    def serialize(self) -> dict[str, Any]:
        """Returns :meth:`to_dict` plus ``_type``."""
        return {"_type": "ExecutionRecord", **self.to_dict()}

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores the record (plain data only)."""
        self._restore(data, RestoreContext.of(registry))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        del ctx
        self.routine_id = str(data.get("routine_id", ""))
        self.event_name = str(data.get("event_name", ""))
        payload = data.get("data")
        self.data = payload if isinstance(payload, dict) else {}
        self.timestamp = parse_time(data.get("timestamp"))

    @classmethod
    def from_dict(cls, data: Any) -> ExecutionRecord:
        """Builds a record from saved data, ignoring anything malformed."""
        record = cls()
        if isinstance(data, dict):
            record._restore(data, RestoreContext())
        return record


def parse_time(value: Any) -> datetime:
    """Reads an ISO timestamp or epoch seconds from saved data; now if unreadable."""
    if isinstance(value, datetime):
        return value
    try:
        if isinstance(value, int | float):
            return datetime.fromtimestamp(value)
        if isinstance(value, str):
            return datetime.fromisoformat(value)
    except (ValueError, OverflowError, OSError):
        pass
    return datetime.now()


def read_job_file(path: str | Path, max_bytes: int) -> dict[str, Any]:
    """Reads a saved job, refusing files over ``max_bytes`` and absurd nesting.

    Raises:
        SerializationError: If the file is too big, not JSON, or not a JSON object.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise SerializationError(f"Cannot read a job from {str(path)!r} ({exc}).") from exc
    if len(raw) > max_bytes:
        raise SerializationError(
            f"{str(path)!r} is larger than {max_bytes} bytes, so it is not loaded; pass "
            "max_bytes= to JobState.load if the job really is that big."
        )
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise SerializationError(
            f"{str(path)!r} is not a saved job ({type(exc).__name__}); pass a file written by "
            "JobState.save()."
        ) from None
    if not isinstance(data, dict):
        raise SerializationError(f"{str(path)!r} does not hold a JSON object, so it is not a job.")
    return data
