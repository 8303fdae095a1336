"""0.10's error-handling helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from routilux.error_handler import ErrorHandler
from routilux.flow.task import SlotActivationTask

if TYPE_CHECKING:
    from routilux.flow.flow import Flow
    from routilux.routine import Routine
    from routilux.task import Task


def get_error_handler_for_routine(routine: Routine, routine_id: str, flow: Flow) -> ErrorHandler:
    """The routine's handler, else the flow's, else a STOP handler."""
    del routine_id
    return routine.get_error_handler() or flow.error_handler or ErrorHandler()


def handle_task_error(task: Task | SlotActivationTask, error: Exception, flow: Flow) -> bool:
    """Applies the routine's policy the 0.10 way (see ``ErrorHandler.handle_error``)."""
    if isinstance(task, SlotActivationTask):
        routine_id = flow._ids_by_object.get(id(task.slot.routine), "")
        job = task.job_state or flow.job_state
    else:
        routine_id, job = task.routine_id, flow.job_state
    routine = flow.get_routine(routine_id)
    handler = get_error_handler_for_routine(routine, routine_id, flow)
    go_on = handler.handle_error(error, routine, routine_id, flow, job)
    if not go_on and job is not None:
        job.update_routine_state(routine_id, {"status": "failed", "error": str(error)})
        job.error = f"Routine {routine_id!r} failed: {type(error).__name__}: {error}"
        job.set_status("failed")
    return go_on
