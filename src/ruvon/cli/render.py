"""Rich output of the CLI: consoles, error lines, workflow tables and the ``show`` report.

Everything user-supplied (names, messages, state) goes out as :class:`rich.text.Text` or JSON, never
as markup, so a ``[bold]`` inside an error message is printed as written.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:  # types only: keeps the engine out of ``ruvon --help``
    from ruvon.engine_record import EngineRecord
    from ruvon.providers.persistence import LogEntry, TaskRecord, WorkflowRecord

_STATUS_STYLES = {
    "COMPLETED": "green",
    "ACTIVE": "cyan",
    "WAITING_HUMAN": "yellow",
    "PENDING_ASYNC": "yellow",
    "PENDING_SUB_WORKFLOW": "yellow",
    "SLEEPING": "yellow",
    "WAITING_SIGNAL": "yellow",
    "QUEUED": "yellow",
    "CANCELLED": "dim",
}


_PIPE_WIDTH = 200


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps or crops long lines (ids, paths and messages stay whole).

    Output that goes to a pipe or file gets a wide page (unless ``COLUMNS`` says otherwise), so
    tables are not squeezed to 80 columns there.
    """
    console = Console(stderr=stderr, soft_wrap=True, highlight=False, emoji=False)
    if not console.is_terminal and not os.environ.get("COLUMNS"):
        console.width = _PIPE_WIDTH
    return console


def status_text(status: str) -> Text:
    """``status`` coloured by what it means (red for every FAILED kind)."""
    style = "red" if status.startswith("FAILED") else _STATUS_STYLES.get(status, "")
    return Text(status, style=style)


def format_time(timestamp: float | None) -> str:
    """A ``time.time()`` value as local ``YYYY-MM-DD HH:MM:SS``; ``-`` when unknown."""
    if not timestamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def format_duration(seconds: float | None) -> str:
    """``0.012s`` / ``1.50s`` / ``2m03s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    if seconds < 0.1:
        return f"{seconds:.3f}s"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def print_error(console: Console, message: str) -> None:
    """Print ``error: <message>`` (further lines of the message follow, indented)."""
    first, *rest = message.strip().splitlines() or [""]
    console.print(Text("error: ", style="bold red") + Text(first))
    for line in rest:
        console.print(Text(line if line.startswith(" ") else f"  {line}"))


def print_fields(console: Console, rows: Sequence[tuple[str, str | Text]]) -> None:
    """Print ``name  value`` lines with the values aligned (no padding after the value)."""
    width = max((len(name) for name, _ in rows), default=0) + 2
    for name, value in rows:
        text = Text(value) if isinstance(value, str) else value
        console.print(Text(name.ljust(width), style="bold") + text)


def print_json(console: Console, data: Any) -> None:
    """Print ``data`` as indented JSON (highlighted on a terminal)."""
    console.print_json(json.dumps(data, default=str), indent=2)


def step_name_at(record: WorkflowRecord) -> str | None:
    """The name of the record's next step, from the definition saved with it."""
    steps = record.definition.get("steps")
    if isinstance(steps, list) and 0 <= record.current_step < len(steps):
        step = steps[record.current_step]
        if isinstance(step, dict):
            return str(step.get("name"))
    return None


def workflows_table(records: Iterable[WorkflowRecord]) -> Table:
    """The ``ruvon list`` table: id, type, status, current step, updated."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("type", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("current step", overflow="fold")
    table.add_column("updated", no_wrap=True)
    for record in records:
        table.add_row(
            Text(record.id),
            Text(record.workflow_type),
            status_text(record.status),
            Text(step_name_at(record) or "-"),
            format_time(record.updated_at),
        )
    return table


def print_show(
    console: Console,
    record: WorkflowRecord,
    log: Sequence[LogEntry],
    tasks: Sequence[TaskRecord] = (),
) -> None:
    """The ``ruvon show`` report: summary, state, step history, pending tasks and failures.

    Args:
        console: Where to print.
        record: The stored workflow.
        log: Its execution log, oldest first.
        tasks: Saved task outcomes of the current (unfinished) PARALLEL step, if any.
    """
    rows: list[tuple[str, str | Text]] = [
        ("id", record.id),
        ("type", f"{record.workflow_type} {record.workflow_version}"),
        ("status", status_text(record.status)),
        ("current step", step_name_at(record) or "-"),
        ("created", format_time(record.created_at)),
        ("updated", format_time(record.updated_at)),
    ]
    print_fields(console, rows)
    console.print(Text("\nstate", style="bold"))
    print_json(console, record.state)
    console.print(Text("\nhistory", style="bold"))
    if log:
        console.print(history_table(log))
    else:
        console.print(Text("no steps have run yet", style="dim"))
    if tasks:
        console.print(Text(f"\ntasks of step {step_name_at(record)} saved so far", style="bold"))
        console.print(tasks_table(tasks))
    from ruvon.engine_record import EngineRecord

    failures = failure_lines(EngineRecord.from_dict(record.engine))
    if failures:
        console.print(Text("\nfailures", style="bold red"))
        for line in failures:
            console.print(line)


def history_table(log: Sequence[LogEntry]) -> Table:
    """One row per log entry: when, what, which step or task, how long, and any message."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("started", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("step", overflow="fold")
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("message", overflow="fold")
    for entry in log:
        failed = "FAILED" in entry.event
        name = entry.step_name or "-"
        if entry.task_name:
            name = f"{name} › {entry.task_name}"
        table.add_row(
            format_time(entry.at),
            Text(entry.event, style="red" if failed else "green"),
            Text(name),
            format_duration(entry.duration),
            Text(entry.message or ""),
        )
    return table


def tasks_table(tasks: Sequence[TaskRecord]) -> Table:
    """The saved outcomes of a PARALLEL step's tasks: status, duration and error."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("task", overflow="fold")
    table.add_column("status", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("error", overflow="fold")
    for task in tasks:
        duration = task.ended_at - task.started_at if task.ended_at else None
        table.add_row(
            Text(task.task_name),
            status_text(task.status),
            format_duration(duration),
            Text(task.error or ""),
        )
    return table


def declared_tasks(record: WorkflowRecord, step_name: str) -> list[str]:
    """The task names of ``step_name`` in the saved definition, in declared order (``[]`` if none)."""
    for step in record.definition.get("steps") or []:
        if isinstance(step, dict) and step.get("name") == step_name:
            tasks = step.get("tasks") or []
            return [str(t.get("name")) for t in tasks if isinstance(t, dict)]
    return []


def failure_lines(engine: EngineRecord) -> list[Text]:
    """The recorded failures: the workflow error, failed PARALLEL tasks and earlier (retried) errors."""
    lines: list[Text] = []
    if engine.error is not None:
        lines.append(_failure("error", engine.error.step, engine.error.message))
    for step, tasks in engine.task_failures.items():
        for task, message in tasks.items():
            lines.append(_failure("task failed", f"{step} › {task}", message))
    for earlier in engine.retries:
        lines.append(_failure("retried after", earlier.step, earlier.message))
    for done in engine.compensations:
        if not done.ok:
            lines.append(_failure("compensation failed", done.step, done.error))
    return lines


def _failure(kind: str, where: Any, message: Any) -> Text:
    return Text(f"{kind}: ", style="red") + Text(f"{where or '-'}: {message or ''}")
