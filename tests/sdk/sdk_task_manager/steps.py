"""The step functions of the "Build a Task Manager" tutorial (its logic; prints trimmed).

The page's functions mutate ``state`` and return a dict naming the step; ``request_approval`` raises
``WorkflowPauseDirective`` and ``complete_task`` reads the approval from its keyword arguments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ruvon.models import StepContext, WorkflowPauseDirective
from sdk_task_manager.models import TaskState

#: Names of the steps that ran, in order (the page prints a banner per step instead).
RAN: list[str] = []


def create_task(state: TaskState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    RAN.append("create_task")
    state.created_at = datetime.utcnow()
    state.workflow_status = "pending"
    return {"step": "create_task", "status": "created", "created_at": state.created_at.isoformat()}


def assign_task(state: TaskState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    RAN.append("assign_task")
    assignee = {"high": "senior_engineer", "medium": "engineer", "low": "junior_engineer"}.get(
        state.priority, "engineer"
    )
    state.assigned_to = assignee
    state.assigned_at = datetime.utcnow()
    state.workflow_status = "assigned"
    return {"step": "assign_task", "status": "assigned", "assigned_to": assignee}


def request_approval(state: TaskState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    RAN.append("request_approval")
    if not state.requires_approval:
        state.approved_by = "auto_approved"
        state.approved_at = datetime.utcnow()
        return {"step": "request_approval", "status": "auto_approved"}
    raise WorkflowPauseDirective(
        result={
            "step": "request_approval",
            "status": "pending_approval",
            "message": "Workflow paused for manager approval",
        }
    )


def complete_task(state: TaskState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    RAN.append("complete_task")
    approved_by = user_input.get("approved_by", "manager")
    state.approved_by = approved_by
    state.approved_at = datetime.utcnow()
    state.approval_notes = user_input.get("approval_notes", "")
    state.completed = True
    state.completed_at = datetime.utcnow()
    state.workflow_status = "completed"
    return {
        "step": "complete_task",
        "status": "completed",
        "approved_by": approved_by,
        "completed_at": state.completed_at.isoformat(),
    }


def send_notification(state: TaskState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    RAN.append("send_notification")
    state.notification_sent = True
    return {"step": "send_notification", "status": "sent", "notification_sent": True}
