"""The execution context a worker sets while it runs a slot handler.

``Routine.emit`` reads it to find its flow and job, so handlers never pass them.
The context is a :mod:`contextvars` variable: threads a handler starts itself do
not inherit it (pass ``flow=`` to ``emit`` there, or copy the context).
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState


class ExecutionContext(NamedTuple):
    """Where a slot handler is running: ``(flow, job_state, routine_id)``."""

    flow: Flow
    job_state: JobState
    routine_id: str


_current: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "routilux_execution_context", default=None
)


def current_context() -> ExecutionContext | None:
    """Returns the context of the running slot handler, or ``None`` outside one."""
    return _current.get()


def enter_context(context: ExecutionContext) -> contextvars.Token[ExecutionContext | None]:
    """Makes ``context`` current; pass the token to :func:`leave_context`."""
    return _current.set(context)


def leave_context(token: contextvars.Token[ExecutionContext | None]) -> None:
    """Restores the context that was current before :func:`enter_context`."""
    _current.reset(token)
