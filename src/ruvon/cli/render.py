"""Rich output of the CLI: consoles, error lines, workflow tables and the ``show`` report.

Everything user-supplied (names, messages, state) goes out as :class:`rich.text.Text` or JSON, never
as markup, so a ``[bold]`` inside an error message is printed as written.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ruvon.providers.persistence import LogEntry, WorkflowRecord

_STATUS_STYLES = {
    "COMPLETED": "green",
    "ACTIVE": "cyan",
    "WAITING_HUMAN": "yellow",
    "PENDING_ASYNC": "yellow",
    "PENDING_SUB_WORKFLOW": "yellow",
    "CANCELLED": "dim",
}


def make_console(*, stderr: bool = False) -> Console:
    """A console that never wraps or crops long lines (ids, paths and messages stay whole)."""
    return Console(stderr=stderr, soft_wrap=True, highlight=False, emoji=False)


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
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m{rest:02d}s"


def print_error(console: Console, message: str) -> None:
    """Print ``error: <message>`` (further lines of the message follow, indented)."""
    first, *rest = message.strip().splitlines() or [""]
    console.print(Text("error: ", style="bold red") + Text(first))
    for line in rest:
        console.print(Text(line if line.startswith(" ") else f"  {line}"))


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
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("type")
    table.add_column("status", no_wrap=True)
    table.add_column("current step")
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


def print_show(console: Console, record: WorkflowRecord, log: Sequence[LogEntry]) -> None:
    """The ``ruvon show`` report: summary, state, step history and failures."""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("id", Text(record.id))
    summary.add_row("type", Text(f"{record.workflow_type} {record.workflow_version}"))
    summary.add_row("status", status_text(record.status))
    summary.add_row("current step", Text(step_name_at(record) or "-"))
    summary.add_row("created", format_time(record.created_at))
    summary.add_row("updated", format_time(record.updated_at))
    console.print(summary)
    console.print(Text("\nstate", style="bold"))
    print_json(console, record.state)
    console.print(Text("\nhistory", style="bold"))
    if log:
        console.print(history_table(log))
    else:
        console.print(Text("no steps have run yet", style="dim"))
    failures = failure_lines(record.metadata)
    if failures:
        console.print(Text("\nfailures", style="bold red"))
        for line in failures:
            console.print(line)


def history_table(log: Sequence[LogEntry]) -> Table:
    """One row per log entry: when, what, which step or task, how long, and any message."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    table.add_column("started", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("step")
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("message")
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


def failure_lines(metadata: dict[str, Any]) -> list[Text]:
    """The recorded failures: the workflow error, failed PARALLEL tasks and earlier (retried) errors."""
    lines: list[Text] = []
    error = metadata.get("error")
    if isinstance(error, dict):
        lines.append(_failure("error", error.get("step"), error.get("message")))
    task_failures = metadata.get("task_failures")
    if isinstance(task_failures, dict):
        for step, tasks in task_failures.items():
            for task, message in (tasks or {}).items():
                lines.append(_failure("task failed", f"{step} › {task}", message))
    for earlier in metadata.get("retries") or []:
        if isinstance(earlier, dict):
            lines.append(_failure("retried after", earlier.get("step"), earlier.get("message")))
    return lines


def _failure(kind: str, where: Any, message: Any) -> Text:
    return Text(f"{kind}: ", style="red") + Text(f"{where or '-'}: {message or ''}")
