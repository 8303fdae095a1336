"""``ruvon logs`` and ``ruvon metrics``: a workflow's execution log, and figures over the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from ruvon.cli.dbread import read_only, step_rows, workflow_rows
from ruvon.cli.exits import EXIT_OK, out
from ruvon.cli.jsonout import emit, log_entry, log_level
from ruvon.cli.render import format_duration, format_time
from ruvon.cli.store import opened_store
from ruvon.providers.persistence import LogEntry

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_FAILED_PREFIX = "FAILED"


async def print_logs(
    db: str, workflow_id: str, level: str, step: str | None, limit: int | None, json_out: bool
) -> int:
    """Print the execution log of ``workflow_id``, filtered by level and step, oldest first."""
    async with opened_store(db) as store:
        await store.load_workflow(workflow_id)  # WorkflowNotFound (exit 4) for an unknown id
        log = await store.load_log(workflow_id)
    lowest = LEVELS.index(level)
    kept = [
        entry
        for entry in log
        if LEVELS.index(log_level(entry.event)) >= lowest
        and (step is None or entry.step_name == step)
    ]
    if limit is not None:
        kept = kept[-limit:]
    if json_out:
        emit([log_entry(entry) for entry in kept])
    elif kept:
        out.print(_log_table(kept))
    else:
        out.print(Text("no log entries match", style="dim"))
    return EXIT_OK


def _log_table(log: Sequence[LogEntry]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in ("at", "level", "event", "step", "duration", "message"):
        table.add_column(name, overflow="fold", justify="right" if name == "duration" else "left")
    styles = {"ERROR": "red", "WARNING": "yellow"}
    for entry in log:
        level = log_level(entry.event)
        where = entry.step_name or "-"
        if entry.task_name:
            where = f"{where} › {entry.task_name}"
        table.add_row(
            format_time(entry.at),
            Text(level, style=styles.get(level, "")),
            Text(entry.event),
            Text(where),
            format_duration(entry.duration),
            Text(entry.message or ""),
        )
    return table


def metrics_document(db: str, workflow_type: str | None) -> dict[str, Any]:
    """``metrics --json``: per workflow type and per step, counts, durations and failure rates."""
    with read_only(db) as store:
        types = _type_metrics(workflow_rows(store, workflow_type))
        steps = _step_metrics(step_rows(store, workflow_type))
    return {"workflow_types": types, "steps": steps}


def _type_metrics(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for workflow_type, status, count, total, longest in rows:
        item = found.setdefault(
            workflow_type,
            {"workflow_type": workflow_type, "total": 0, "by_status": {}, "completed": 0,
             "failed": 0, "failure_rate": None, "avg_duration": None, "max_duration": None},
        )  # fmt: skip
        item["total"] += int(count)
        item["by_status"][status] = int(count)
        if status == "COMPLETED":
            item["completed"] = int(count)
            item["avg_duration"] = float(total) / int(count) if count else None
            item["max_duration"] = float(longest) if longest is not None else None
        elif status.startswith(_FAILED_PREFIX):
            item["failed"] += int(count)
    for item in found.values():
        finished = item["completed"] + item["failed"]
        item["failure_rate"] = item["failed"] / finished if finished else None
    return list(found.values())


def _step_metrics(rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for workflow_type, step, event, count, total, longest in rows:
        item = found.setdefault(
            (workflow_type, step),
            {"workflow_type": workflow_type, "step": step, "runs": 0, "failed": 0,
             "failure_rate": None, "avg_duration": None, "max_duration": None},
        )  # fmt: skip
        item["runs"] += int(count)
        if event == "STEP_FAILED":
            item["failed"] += int(count)
        elif total is not None:
            item["avg_duration"] = float(total) / int(count)
            item["max_duration"] = float(longest)
    for item in found.values():
        item["failure_rate"] = item["failed"] / item["runs"] if item["runs"] else None
    return list(found.values())


def print_metrics(db: str, workflow_type: str | None, json_out: bool) -> int:
    """Print :func:`metrics_document` as JSON or as two tables."""
    document = metrics_document(db, workflow_type)
    if json_out:
        emit(document)
        return EXIT_OK
    if not document["workflow_types"]:
        out.print(Text("no workflows found", style="dim"))
        return EXIT_OK
    out.print(_table(document["workflow_types"], ["workflow_type", "total", "completed", "failed"]))
    if document["steps"]:
        out.print()
        out.print(_table(document["steps"], ["workflow_type", "step", "runs", "failed"]))
    return EXIT_OK


def _table(items: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in [*columns, "failure rate", "avg time", "max time"]:
        table.add_column(name.replace("_", " "), overflow="fold")
    for item in items:
        rate = item["failure_rate"]
        table.add_row(
            *[Text(str(item[name])) for name in columns],
            "-" if rate is None else f"{rate:.0%}",
            format_duration(item["avg_duration"]),
            format_duration(item["max_duration"]),
        )
    return table
