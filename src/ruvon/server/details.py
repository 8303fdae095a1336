"""A stored workflow as the JSON the API returns and the dashboard renders."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ruvon.cli.render import declared_tasks, step_name_at
from ruvon.engine_record import EngineRecord
from ruvon.providers.persistence import (
    LogEntry,
    PersistenceProvider,
    TaskRecord,
    WorkflowRecord,
)

_FAILED = ("FAILED", "FAILED_CHILD_WORKFLOW")


def summary(record: WorkflowRecord) -> dict[str, Any]:
    """The fields of a workflow list row."""
    return {
        "id": record.id,
        "type": record.workflow_type,
        "status": record.status,
        "current_step": step_name_at(record),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "parent_id": record.parent_id,
    }


async def load_details(persistence: PersistenceProvider, workflow_id: str) -> dict[str, Any]:
    """Everything about one workflow (raises WorkflowNotFound naming the id)."""
    from ruvon.server.queries import load_with_log

    record, log = await load_with_log(persistence, workflow_id)
    step = step_name_at(record) or ""
    order = declared_tasks(record, step)
    saved = await persistence.load_task_results(workflow_id, step) if order else {}
    return details(record, log, [saved[name] for name in order if name in saved])


def details(
    record: WorkflowRecord, log: Sequence[LogEntry], pending: Sequence[TaskRecord]
) -> dict[str, Any]:
    """The workflow's state, status, current step, step history, PARALLEL task runs and errors.

    Args:
        record: The stored workflow.
        log: Its execution log, oldest first.
        pending: Task outcomes saved so far for the current (unfinished) PARALLEL step.
    """
    engine = EngineRecord.from_dict(record.engine)
    history = [_entry(entry) for entry in log if entry.task_name is None]
    tasks = [_task_entry(entry) for entry in log if entry.task_name is not None]
    tasks += [_task_record(task) for task in pending]
    steps = record.definition.get("steps") or []
    return {
        **summary(record),
        "workflow_version": record.workflow_version,
        "current_step_index": record.current_step,
        "version": record.version,
        "state": record.state,
        "metadata": record.metadata,
        "steps": [
            {"name": str(s.get("name")), "type": str(s.get("type", "STANDARD"))}
            for s in steps
            if isinstance(s, dict)
        ],
        "history": history,
        "tasks": tasks,
        "error": _error(record, engine),
        "task_failures": engine.task_failures,
        "retries": [{"step": f.step, "message": f.message, "at": f.at} for f in engine.retries],
    }


def _entry(entry: LogEntry) -> dict[str, Any]:
    ended = entry.at + entry.duration if entry.duration is not None else None
    return {
        "event": entry.event,
        "step": entry.step_name,
        "started_at": entry.at,
        "ended_at": ended,
        "duration": entry.duration,
        "message": entry.message,
    }


def _task_entry(entry: LogEntry) -> dict[str, Any]:
    ended = entry.at + entry.duration if entry.duration is not None else None
    return {
        "step": entry.step_name,
        "task": entry.task_name,
        "status": "FAILED" if "FAILED" in entry.event else "COMPLETED",
        "started_at": entry.at,
        "ended_at": ended,
        "error": entry.message if "FAILED" in entry.event else None,
    }


def _task_record(task: TaskRecord) -> dict[str, Any]:
    return {
        "step": task.step_name,
        "task": task.task_name,
        "status": task.status,
        "started_at": task.started_at or None,
        "ended_at": task.ended_at or None,
        "error": task.error,
    }


def _error(record: WorkflowRecord, engine: EngineRecord) -> dict[str, Any] | None:
    if engine.error is None:
        return None
    hint = None
    if record.status in _FAILED:
        hint = (
            f"Fix the cause, then run: ruvon retry {record.id} "
            f"(or POST /api/workflows/{record.id}/retry, or the Retry button)."
        )
    return {"step": engine.error.step, "message": engine.error.message, "hint": hint}


def hint_for(record_status: str, workflow_id: str) -> str | None:
    """What a user can do next with a workflow in this status."""
    if record_status == "WAITING_HUMAN":
        return (
            f"It waits for input: ruvon resume {workflow_id} --input '{{...}}' --detach "
            f"(or POST /api/workflows/{workflow_id}/input, or the form below)."
        )
    if record_status in _FAILED:
        return f"Fix the cause, then run: ruvon retry {workflow_id}."
    return None
