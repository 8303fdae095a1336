"""Task types under their 0.10 names."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from routilux.task import Task


class TaskPriority(enum.Enum):
    """Task priorities of 0.10; the queue is FIFO, so they are informational."""

    LOW = 1
    NORMAL = 2
    HIGH = 3


@dataclass
class SlotActivationTask(Task):
    """One delivery of a message to one slot (a :class:`routilux.task.Task`)."""

    priority: TaskPriority = TaskPriority.NORMAL
