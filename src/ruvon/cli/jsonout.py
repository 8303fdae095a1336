"""The documents printed by ``--json`` (their fields are documented in docs/cli.md; keep them stable).

Times are ISO 8601 in UTC (``2026-11-29T05:00:00.123456+00:00``), durations seconds as numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Sequence
from typing import Any

from ruvon.cli.render import step_name_at
from ruvon.providers.persistence import LogEntry, TaskRecord, WorkflowRecord

_ERROR_EVENTS = ("FAILED",)
_WARNING_EVENTS = ("STEP_RETRY", "COMPENSATED", "CANCELLED")


def emit(document: Any) -> None:
    """Write ``document`` to stdout as indented JSON (non-JSON values as their text)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def iso(timestamp: float | None) -> str | None:
    """A ``time.time()`` value as ISO 8601 UTC; ``None`` when unknown."""
    if not timestamp:
        return None
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC).isoformat()


def log_level(event: str) -> str:
    """The level of an execution-log event: ERROR for failures, WARNING for retries and
    compensations, INFO for the rest."""
    if any(mark in event for mark in _ERROR_EVENTS):
        return "ERROR"
    if event in _WARNING_EVENTS or event.startswith("COMPENSAT"):
        return "WARNING"
    return "INFO"


def engine_value(record: WorkflowRecord, key: str) -> Any:
    """An engine bookkeeping value (``error``, ``task_failures``, ...), wherever the record keeps it."""
    engine = getattr(record, "engine", None) or {}
    return engine.get(key, record.metadata.get(key))


def workflow_summary(record: WorkflowRecord) -> dict[str, Any]:
    """One workflow in ``list --json`` (and the head of ``show --json``)."""
    return {
        "id": record.id,
        "workflow_type": record.workflow_type,
        "workflow_version": record.workflow_version,
        "status": record.status,
        "current_step": step_name_at(record),
        "parent_id": record.parent_id,
        "created_at": iso(record.created_at),
        "updated_at": iso(record.updated_at),
    }


def log_entry(entry: LogEntry) -> dict[str, Any]:
    """One execution-log entry in ``show --json`` and ``logs --json``."""
    return {
        "at": iso(entry.at),
        "level": log_level(entry.event),
        "event": entry.event,
        "step": entry.step_name,
        "task": entry.task_name,
        "duration": entry.duration,
        "message": entry.message,
    }


def task_entry(task: TaskRecord) -> dict[str, Any]:
    """One saved task outcome of an unfinished PARALLEL step in ``show --json``."""
    return {
        "task": task.task_name,
        "status": task.status,
        "duration": task.ended_at - task.started_at if task.ended_at else None,
        "error": task.error,
    }


def workflow_detail(
    record: WorkflowRecord, log: Sequence[LogEntry], tasks: Sequence[TaskRecord]
) -> dict[str, Any]:
    """``show --json``: the summary plus state, metadata, failures, history and saved tasks."""
    error = engine_value(record, "error")
    return {
        **workflow_summary(record),
        "state": record.state,
        "metadata": {k: v for k, v in record.metadata.items() if k not in _ENGINE_KEYS},
        "error": error if isinstance(error, dict) else None,
        "task_failures": engine_value(record, "task_failures") or {},
        "history": [log_entry(entry) for entry in log],
        "tasks": [task_entry(task) for task in tasks],
    }


_ENGINE_KEYS = frozenset(
    {
        "error",
        "task_failures",
        "retries",
        "loop_progress",
        "sub_workflows",
        "saga_completed",
        "compensations",
    }
)
