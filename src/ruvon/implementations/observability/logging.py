"""LoggingObserver: workflow events as records of the standard ``logging`` module."""

from __future__ import annotations

import logging
from typing import Any

from ruvon.providers.observer import WorkflowObserver


class LoggingObserver(WorkflowObserver):
    """Logs every workflow event to the logger ``ruvon.workflow`` (or the one given).

    Progress goes out at INFO, failures at WARNING (task) and ERROR (step, workflow). Configure
    ``logging`` to see them, e.g. ``logging.basicConfig(level=logging.INFO)``.

    Args:
        logger: The logger to use; default ``logging.getLogger("ruvon.workflow")``.
        level: Level of progress records.
    """

    reads_state_only = True  # never changes the state it is given

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self.logger = logger or logging.getLogger("ruvon.workflow")
        self.level = level

    async def on_workflow_started(
        self, workflow_id: str, workflow_type: str, initial_state: dict[str, Any]
    ) -> None:
        self.logger.log(self.level, "workflow %s (%s) started", workflow_id, workflow_type)

    async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
        self.logger.log(
            self.level, "workflow %s step %d '%s' started", workflow_id, step_index, step_name
        )

    async def on_step_executed(
        self,
        workflow_id: str,
        step_name: str,
        step_index: int,
        status: str,
        result: Any,
        current_state: dict[str, Any],
    ) -> None:
        self.logger.log(
            self.level,
            "workflow %s step %d '%s' done (%s)",
            workflow_id,
            step_index,
            step_name,
            status,
        )

    async def on_step_failed(self, workflow_id: str, step_name: str, error: str) -> None:
        self.logger.error("workflow %s step '%s' failed: %s", workflow_id, step_name, error)

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        self.logger.warning(
            "workflow %s step '%s' task '%s' failed: %s", workflow_id, step_name, task_name, error
        )

    async def on_workflow_completed(
        self, workflow_id: str, workflow_type: str, final_state: dict[str, Any]
    ) -> None:
        self.logger.log(self.level, "workflow %s (%s) completed", workflow_id, workflow_type)

    async def on_workflow_failed(
        self,
        workflow_id: str,
        workflow_type: str,
        error_message: str,
        current_state: dict[str, Any],
    ) -> None:
        self.logger.error("workflow %s (%s) failed: %s", workflow_id, workflow_type, error_message)

    async def on_workflow_status_changed(
        self, workflow_id: str, old_status: str, new_status: str, current_step_name: str | None
    ) -> None:
        self.logger.log(
            self.level,
            "workflow %s status %s -> %s (step %s)",
            workflow_id,
            old_status,
            new_status,
            current_step_name,
        )

    async def on_workflow_paused(self, workflow_id: str, step_name: str, reason: str) -> None:
        self.logger.log(
            self.level,
            "workflow %s waits for input after step '%s': %s",
            workflow_id,
            step_name,
            reason,
        )

    async def on_workflow_resumed(
        self, workflow_id: str, step_name: str, resume_data: dict[str, Any]
    ) -> None:
        # The input itself may hold personal data: log its field names only.
        self.logger.log(
            self.level,
            "workflow %s resumed at step '%s' with input fields %s",
            workflow_id,
            step_name,
            sorted(resume_data),
        )

    async def on_compensation_started(
        self, workflow_id: str, step_name: str, step_index: int
    ) -> None:
        self.logger.log(
            self.level, "workflow %s compensating step %d '%s'", workflow_id, step_index, step_name
        )

    async def on_compensation_completed(
        self,
        workflow_id: str,
        step_name: str,
        success: bool,
        error: Exception | str | None = None,
    ) -> None:
        if success:
            self.logger.log(self.level, "workflow %s compensated step '%s'", workflow_id, step_name)
        else:
            self.logger.error(
                "workflow %s compensation of step '%s' failed: %s", workflow_id, step_name, error
            )

    async def on_child_workflow_started(
        self, parent_id: str, child_id: str, child_type: str
    ) -> None:
        self.logger.log(
            self.level,
            "workflow %s started child workflow %s (%s)",
            parent_id,
            child_id,
            child_type,
        )
