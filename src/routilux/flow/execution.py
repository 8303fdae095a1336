"""0.10's execution helpers, as doors into :meth:`Flow.execute`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routilux.flow.flow import Flow
    from routilux.job_state import JobState


def execute_flow(
    flow: Flow,
    entry_routine_id: str,
    entry_params: dict[str, Any] | None = None,
    execution_strategy: str | None = None,
    timeout: float | None = None,
) -> JobState:
    """Same as ``flow.execute(...)``."""
    return flow.execute(entry_routine_id, entry_params, execution_strategy, timeout)


def execute_sequential(
    flow: Flow,
    entry_routine_id: str,
    entry_params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> JobState:
    """Same as ``flow.execute(...)`` (both strategies share one path)."""
    return flow.execute(entry_routine_id, entry_params, None, timeout)


def execute_concurrent(
    flow: Flow,
    entry_routine_id: str,
    entry_params: dict[str, Any] | None = None,
    timeout: float | None = None,
) -> JobState:
    """Same as ``flow.execute(...)`` (both strategies share one path)."""
    return flow.execute(entry_routine_id, entry_params, None, timeout)
