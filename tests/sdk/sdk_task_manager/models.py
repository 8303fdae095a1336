"""The state model of the SDK's "Build a Task Manager" tutorial, as the page defines it."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class TaskState(BaseModel):
    task_id: str
    title: str
    description: str
    priority: str = "medium"
    category: str = "general"
    assigned_to: str | None = None
    assigned_at: datetime | None = None
    requires_approval: bool = True
    approved_by: str | None = None
    approved_at: datetime | None = None
    approval_notes: str | None = None
    completed: bool = False
    completed_at: datetime | None = None
    notification_sent: bool = False
    created_at: datetime | None = None
    workflow_status: str = "pending"
