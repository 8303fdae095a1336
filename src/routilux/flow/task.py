"""Task types under their 0.10 names."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routilux.connection import Connection
    from routilux.job_state import JobState
    from routilux.slot import Slot


class TaskPriority(enum.Enum):
    """Task priorities of 0.10; the queue is FIFO, so they are informational."""

    HIGH = 1
    NORMAL = 2
    LOW = 3


@dataclass
class SlotActivationTask:
    """0.10's description of one delivery of ``data`` to ``slot``.

    Hand one to :func:`routilux.flow.event_loop.enqueue_task`; it becomes an
    ordinary queued task of its job (``job_state``, or the flow's latest job).
    """

    slot: Slot
    data: dict[str, Any]
    connection: Connection | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    retry_count: int = 0
    max_retries: int = 0
    created_at: datetime = field(default_factory=datetime.now)
    job_state: JobState | None = None

    def __lt__(self, other: SlotActivationTask) -> bool:
        return self.priority.value < other.priority.value
