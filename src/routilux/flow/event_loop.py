"""0.10's event-loop helpers, as thin doors into the flow's scheduler.

The scheduler's workers start with the first job and wait on a condition, so there
is no separate event-loop thread to start or poll.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from routilux.flow.task import SlotActivationTask
from routilux.task import Task

if TYPE_CHECKING:
    from routilux.flow.flow import Flow


def start_event_loop(flow: Flow) -> None:
    """Nothing to do: workers start with the first job."""
    del flow


def event_loop(flow: Flow) -> None:
    """Nothing to do: workers run the queue themselves."""
    del flow


def enqueue_task(task: Task | SlotActivationTask, flow: Flow) -> None:
    """Queues ``task`` for its job (a 0.10 task's ``job_state``, else the latest job)."""
    job = flow.job_state
    if isinstance(task, SlotActivationTask):
        job = task.job_state or job
        routine = task.slot.routine
        routine_id = flow._ids_by_object.get(id(routine)) if routine is not None else None
        if routine_id is None:
            raise ValueError(f"Slot {task.slot.name!r} does not belong to a routine of this flow.")
        data = task.connection.map_params(task.data) if task.connection else dict(task.data)
        task = Task(job.job_id if job else "", routine_id, task.slot.name, data)
    if job is not None:
        task.job_id = job.job_id
        flow._scheduler.dispatch(job, [task])


def execute_task(task: Task | SlotActivationTask, flow: Flow) -> None:
    """Queues ``task`` (it runs on a worker, under the error strategy)."""
    enqueue_task(task, flow)


def is_all_tasks_complete(flow: Flow) -> bool:
    """Whether no job of the flow is running."""
    return flow._scheduler.wait_idle(0)
