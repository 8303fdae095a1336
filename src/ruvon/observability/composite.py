"""CompositeObserver: hands every workflow event to several observers in turn."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ruvon.providers.observer import WorkflowObserver, notify, notify_attach, overrides


class CompositeObserver(WorkflowObserver):
    """Calls each of ``observers`` for every event, in order (e.g. metrics and tracing together).

    An exception from one observer is logged and does not keep the others from being called.
    Nested composites are flattened.
    """

    def __init__(self, observers: Iterable[WorkflowObserver]) -> None:
        flat: list[WorkflowObserver] = []
        for observer in observers:
            if isinstance(observer, CompositeObserver):
                flat.extend(observer.observers)
            else:
                flat.append(observer)
        self.observers: tuple[WorkflowObserver, ...] = tuple(flat)
        self.reads_state_only = all(o.reads_state_only for o in flat)

    def _each(self, hook: str) -> list[Any]:
        return [getattr(o, hook) for o in self.observers if overrides(o, hook)]

    def attach(self, workflow: Any) -> None:
        for observer in self.observers:
            if overrides(observer, "attach"):
                notify_attach(observer, workflow)

    async def on_workflow_started(
        self, workflow_id: str, workflow_type: str, initial_state: dict[str, Any]
    ) -> None:
        for hook in self._each("on_workflow_started"):
            await notify(hook, workflow_id, workflow_type, initial_state)

    async def on_step_started(self, workflow_id: str, step_name: str, step_index: int) -> None:
        for hook in self._each("on_step_started"):
            await notify(hook, workflow_id, step_name, step_index)

    async def on_step_executed(
        self,
        workflow_id: str,
        step_name: str,
        step_index: int,
        status: str,
        result: Any,
        current_state: dict[str, Any],
    ) -> None:
        for hook in self._each("on_step_executed"):
            await notify(hook, workflow_id, step_name, step_index, status, result, current_state)

    async def on_step_failed(self, workflow_id: str, step_name: str, error: str) -> None:
        for hook in self._each("on_step_failed"):
            await notify(hook, workflow_id, step_name, error)

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        for hook in self._each("on_task_failed"):
            await notify(hook, workflow_id, step_name, task_name, error)

    async def on_task_completed(
        self, workflow_id: str, step_name: str, task_name: str, duration: float
    ) -> None:
        for hook in self._each("on_task_completed"):
            await notify(hook, workflow_id, step_name, task_name, duration)

    async def on_workflow_completed(
        self, workflow_id: str, workflow_type: str, final_state: dict[str, Any]
    ) -> None:
        for hook in self._each("on_workflow_completed"):
            await notify(hook, workflow_id, workflow_type, final_state)

    async def on_workflow_failed(
        self,
        workflow_id: str,
        workflow_type: str,
        error_message: str,
        current_state: dict[str, Any],
    ) -> None:
        for hook in self._each("on_workflow_failed"):
            await notify(hook, workflow_id, workflow_type, error_message, current_state)

    async def on_workflow_status_changed(
        self, workflow_id: str, old_status: str, new_status: str, current_step_name: str | None
    ) -> None:
        for hook in self._each("on_workflow_status_changed"):
            await notify(hook, workflow_id, old_status, new_status, current_step_name)
