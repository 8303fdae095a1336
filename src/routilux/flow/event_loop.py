"""0.10's event-loop helpers, as thin doors into the flow's scheduler.

The scheduler's workers start with the first job and wait on a condition, so there
is no separate event-loop thread to start or poll.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from routilux.execution_context import ExecutionContext, enter_context, leave_context
from routilux.flow.task import SlotActivationTask
from routilux.job_state import JobState
from routilux.task import Task

if TYPE_CHECKING:
    from routilux.flow.flow import Flow


def start_event_loop(flow: Flow) -> None:
    """Nothing to do: workers start with the first job."""
    del flow


def event_loop(flow: Flow) -> None:
    """Nothing to do: workers run the queue themselves."""
    del flow


def _resolve(task: Task | SlotActivationTask, flow: Flow) -> tuple[Task, JobState | None]:
    job = flow.job_state
    if isinstance(task, SlotActivationTask):
        job = task.job_state or job
        routine = task.slot.routine
        routine_id = flow._ids_by_object.get(id(routine)) if routine is not None else None
        if routine_id is None:
            raise ValueError(f"Slot {task.slot.name!r} does not belong to a routine of this flow.")
        data = task.connection.map_params(task.data) if task.connection else dict(task.data)
        return Task(job.job_id if job else "", routine_id, task.slot.name, data), job
    return task, job


def enqueue_task(task: Task | SlotActivationTask, flow: Flow) -> None:
    """Queues ``task`` for its job (a 0.10 task's ``job_state``, else the latest job)."""
    plain, job = _resolve(task, flow)
    if job is not None:
        plain.job_id = job.job_id
        flow._scheduler.dispatch(job, [plain])


def execute_task(task: Task | SlotActivationTask, flow: Flow) -> None:
    """Runs ``task`` now, in this thread, under its routine's error strategy.

    Emits from the handler go to the task's job. A STOP error marks the job failed.
    """
    plain, job = _resolve(task, flow)
    job = job or JobState(flow.flow_id)
    slot = flow.get_routine(plain.routine_id).require_slot(plain.slot)
    token = enter_context(ExecutionContext(flow, job, plain.routine_id))
    try:
        slot.receive(plain.data, job_state=job, flow=flow)
        job.update_routine_state(plain.routine_id, {"status": "completed"})
    except Exception as exc:
        job.error = f"Routine {plain.routine_id!r} failed: {type(exc).__name__}: {exc}"
        job.update_routine_state(plain.routine_id, {"status": "failed", "error": str(exc)})
        job.set_status("failed")
    finally:
        leave_context(token)


def is_all_tasks_complete(flow: Flow) -> bool:
    """Whether no job of the flow is running."""
    return flow._scheduler.wait_idle(0)
