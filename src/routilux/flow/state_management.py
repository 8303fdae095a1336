"""0.10's pause/resume/cancel helpers, as doors into :class:`Flow`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routilux.flow.flow import Flow
    from routilux.job_state import JobState


def pause_flow(
    flow: Flow, job_state: JobState, reason: str = "", checkpoint: dict[str, Any] | None = None
) -> None:
    """Same as ``flow.pause(job_state, reason, checkpoint)``."""
    flow.pause(job_state, reason, checkpoint)


def wait_for_active_tasks(flow: Flow) -> None:
    """Waits until no job of the flow is running."""
    flow._scheduler.wait_idle(None)


def serialize_pending_tasks(flow: Flow, job_state: JobState) -> None:
    """Nothing to do: a paused job's tasks are already in ``job_state.pending_tasks``."""
    del flow, job_state


def deserialize_pending_tasks(flow: Flow, job_state: JobState) -> None:
    """Nothing to do: ``flow.resume`` rebuilds them from ``job_state.pending_tasks``."""
    del flow, job_state


def resume_flow(flow: Flow, job_state: JobState) -> JobState:
    """Same as ``flow.resume(job_state)``."""
    return flow.resume(job_state)


def cancel_flow(flow: Flow, job_state: JobState, reason: str = "") -> None:
    """Same as ``flow.cancel(job_state, reason)``."""
    flow.cancel(job_state, reason)
