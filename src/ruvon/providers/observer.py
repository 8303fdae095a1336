"""The observer interface: hooks called as a workflow runs. Every hook is optional."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any


class WorkflowObserver:
    """Receives workflow events. Subclass and override the hooks you need; the rest do nothing.

    Hooks must not raise: an exception from an observer is logged and otherwise ignored, so a broken
    dashboard never fails a workflow.

    Attributes:
        reads_state_only: Set it to True on an observer that never changes the state dicts its
            hooks are given: it then gets the saved state itself instead of a copy (the store may
            share that dict). ruvon's own observers set it.
    """

    reads_state_only: bool = False

    def attach(self, workflow: Any) -> None:
        """A ``Workflow`` object was made with this observer: created (before its first save,
        ``workflow.engine`` may still be written) or loaded from the store. Synchronous."""

    async def on_workflow_started(
        self, workflow_id: str, workflow_type: str, initial_state: dict[str, Any]
    ) -> None:
        """A workflow was created."""

    async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
        """A step is about to run (each attempt of a retried step counts once)."""

    async def on_step_executed(
        self,
        workflow_id: str,
        step_name: str,
        step_index: int,
        status: str,
        result: Any,
        current_state: dict[str, Any],
    ) -> None:
        """A step finished and its result was merged into the state."""

    async def on_step_failed(self, workflow_id: str, step_name: str, error: str) -> None:
        """A step failed; the workflow is about to be marked FAILED."""

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        """A PARALLEL task failed (also under ``allow_partial_success: true``)."""

    async def on_task_completed(
        self, workflow_id: str, step_name: str, task_name: str, duration: float
    ) -> None:
        """A PARALLEL task returned its result (saved before this call)."""

    async def on_workflow_completed(
        self, workflow_id: str, workflow_type: str, final_state: dict[str, Any]
    ) -> None:
        """The workflow ran its last step."""

    async def on_workflow_failed(
        self,
        workflow_id: str,
        workflow_type: str,
        error_message: str,
        current_state: dict[str, Any],
    ) -> None:
        """The workflow ended FAILED."""

    async def on_workflow_status_changed(
        self, workflow_id: str, old_status: str, new_status: str, current_step_name: str | None
    ) -> None:
        """The workflow's status changed."""

    async def on_workflow_paused(self, workflow_id: str, step_name: str, reason: str) -> None:
        """The workflow stopped to wait for input at (or after) ``step_name``."""

    async def on_workflow_resumed(
        self, workflow_id: str, step_name: str, resume_data: dict[str, Any]
    ) -> None:
        """A waiting workflow got input; ``step_name`` is the step that receives it."""

    async def on_compensation_started(
        self, workflow_id: str, step_name: str, step_index: int
    ) -> None:
        """A saga compensation of ``step_name`` is about to run."""

    async def on_compensation_completed(
        self,
        workflow_id: str,
        step_name: str,
        success: bool,
        error: Exception | str | None = None,
    ) -> None:
        """A saga compensation ran; ``error`` says why it failed when ``success`` is False."""

    async def on_child_workflow_started(
        self, parent_id: str, child_id: str, child_type: str
    ) -> None:
        """A step started a child workflow (SUB_WORKFLOW, FIRE_AND_FORGET or the directive)."""


_log = logging.getLogger("ruvon.workflow")


_HOOKS = (*(name for name in vars(WorkflowObserver) if name.startswith("on_")), "attach")
_HOOKED: dict[type[WorkflowObserver], frozenset[str]] = {}


def hooked(observer: WorkflowObserver) -> frozenset[str]:
    """The hooks ``observer``'s class overrides; the others are the base class's no-ops, which
    callers skip (a coroutine less each). Computed once per class."""
    kind = type(observer)
    names = _HOOKED.get(kind)
    if names is None:
        names = frozenset(
            hook for hook in _HOOKS if getattr(kind, hook) is not getattr(WorkflowObserver, hook)
        )
        _HOOKED[kind] = names
    return names


def overrides(observer: WorkflowObserver, *hooks: str) -> bool:
    """Whether ``observer`` overrides any of ``hooks`` (so calling the base no-ops can be skipped)."""
    return not hooked(observer).isdisjoint(hooks)


async def notify(hook: Callable[..., Awaitable[None]], *args: Any) -> None:
    """Call an observer hook; an exception from it is logged, never raised."""
    try:
        await hook(*args)
    except Exception:
        _log.exception(
            "observer hook %s raised; the workflow goes on", getattr(hook, "__name__", hook)
        )


def notify_attach(observer: WorkflowObserver, workflow: Any) -> None:
    """Call ``observer.attach(workflow)``; an exception from it is logged, never raised."""
    try:
        observer.attach(workflow)
    except Exception:
        _log.exception("observer hook attach raised; the workflow goes on")
