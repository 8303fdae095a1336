"""0.10's error-handling helpers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from routilux.error_handler import ErrorHandler

if TYPE_CHECKING:
    from routilux.flow.flow import Flow
    from routilux.routine import Routine
    from routilux.task import Task


def get_error_handler_for_routine(routine: Routine, routine_id: str, flow: Flow) -> ErrorHandler:
    """The routine's handler, else the flow's, else a STOP handler."""
    del routine_id
    return routine.get_error_handler() or flow.error_handler or ErrorHandler()


def handle_task_error(task: Task, error: Exception, flow: Flow) -> bool:
    """Applies the routine's policy the 0.10 way (see ``ErrorHandler.handle_error``)."""
    routine = flow.get_routine(task.routine_id)
    handler = get_error_handler_for_routine(routine, task.routine_id, flow)
    return handler.handle_error(error, routine, task.routine_id, flow, flow.job_state)
