"""Live progress of a running workflow: one line per finished step, task or failure."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.text import Text

from ruvon.cli.render import format_duration
from ruvon.providers.observer import WorkflowObserver

_OK = Text("✓ ", style="green")
_FAILED = Text("✗ ", style="bold red")
_WAIT = Text("… ", style="yellow")


class RichProgressObserver(WorkflowObserver):
    """Prints workflow progress to a rich console as the hooks arrive.

    Lines are printed (not a live-updating display) so that whatever the step and task functions
    print themselves stays readable and in order between them.

    Args:
        console: Where progress goes.
    """

    reads_state_only = True  # never changes the state it is given

    def __init__(self, console: Console) -> None:
        self.console = console
        self._mark = time.monotonic()

    def mark(self) -> None:
        """Start timing the next step now (call before driving the workflow)."""
        self._mark = time.monotonic()

    def _elapsed(self) -> float:
        now = time.monotonic()
        elapsed, self._mark = now - self._mark, now
        return elapsed

    async def on_workflow_started(
        self, workflow_id: str, workflow_type: str, initial_state: dict[str, Any]
    ) -> None:
        """Say which workflow was created."""
        self.console.print(
            Text("▶ ", style="bold cyan") + Text(f"{workflow_type} {workflow_id} started")
        )
        self.mark()

    async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
        """Start timing the step."""
        self.mark()

    async def on_step_executed(
        self,
        workflow_id: str,
        step_name: str,
        step_index: int,
        status: str,
        result: Any,
        current_state: dict[str, Any],
    ) -> None:
        """One line per finished step, with its duration."""
        line = _OK + Text(f"step {step_name}", style="bold")
        self.console.print(line + Text(f"  {format_duration(self._elapsed())}", style="dim"))

    async def on_step_failed(self, workflow_id: str, step_name: str, error: str) -> None:
        """One line for the failed step and its error."""
        elapsed = format_duration(self._elapsed())
        line = _FAILED + Text(f"step {step_name}", style="bold red") + Text(f"  {elapsed}  ")
        self.console.print(line + Text(error))

    async def on_task_completed(
        self, workflow_id: str, step_name: str, task_name: str, duration: float
    ) -> None:
        """One indented line per finished PARALLEL task."""
        line = Text("  ") + _OK + Text(f"task {step_name} › {task_name}")
        self.console.print(line + Text(f"  {format_duration(duration)}", style="dim"))

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        """One indented line per failed PARALLEL task, with its error."""
        line = Text("  ") + _FAILED + Text(f"task {step_name} › {task_name}", style="red")
        self.console.print(line + Text(f"  {error}"))

    async def on_workflow_status_changed(
        self, workflow_id: str, old_status: str, new_status: str, current_step_name: str | None
    ) -> None:
        """Say when the workflow stops to wait (completion and failure are reported at the end)."""
        if new_status.startswith(("WAITING", "PENDING")):
            at = f" at step {current_step_name}" if current_step_name else ""
            self.console.print(_WAIT + Text(f"{new_status}{at}", style="yellow"))
