"""0.10's event-loop helpers, as thin doors into the flow's scheduler.

The scheduler's workers start with the first job and wait on a condition, so there
is no separate event-loop thread to start or poll.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routilux.flow.flow import Flow
    from routilux.task import Task


def start_event_loop(flow: Flow) -> None:
    """Nothing to do: workers start with the first job."""
    del flow


def event_loop(flow: Flow) -> None:
    """Nothing to do: workers run the queue themselves."""
    del flow


def enqueue_task(task: Task, flow: Flow) -> None:
    """Queues ``task`` for the flow's latest job."""
    job = flow.job_state
    if job is not None:
        task.job_id = job.job_id
        flow._scheduler.dispatch(job, [task])


def execute_task(task: Task, flow: Flow) -> None:
    """Queues ``task`` (it runs on a worker, under the error strategy)."""
    enqueue_task(task, flow)


def is_all_tasks_complete(flow: Flow) -> bool:
    """Whether no job of the flow is running."""
    return flow._scheduler.wait_idle(0)
