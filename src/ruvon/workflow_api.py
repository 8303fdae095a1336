"""The published SDK's Workflow calls (``to_dict``, ``jump_to_step``, ``enable_saga_mode``, ...).

A mixin of :class:`~ruvon.workflow.Workflow`, kept apart so the engine module stays about running
steps. Every method here uses the workflow's public engine surface (``save``, ``set_status``,
``engine``, ``loaded``).
"""

from __future__ import annotations

import copy
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from ruvon.errors import WorkflowStateError
from ruvon.models import WorkflowStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pydantic import BaseModel

    from ruvon.definition import LoadedDefinition
    from ruvon.engine_record import EngineRecord
    from ruvon.providers.persistence import LogEntry

#: What ``create_workflow`` records about who a workflow belongs to.
OWNER_KEYS = ("owner_id", "org_id", "priority", "data_region")

#: Statuses in which the next step may be changed by ``jump_to_step``.
_MOVABLE = frozenset({WorkflowStatus.ACTIVE, WorkflowStatus.WAITING_HUMAN, WorkflowStatus.FAILED})


class SagaEnabled:
    """What ``enable_saga_mode()`` returns: awaiting it saves the flag at once.

    Saga mode is on as soon as the call returns, so the SDK's tutorials, which call it without
    ``await``, work too (the flag is then saved with the next step).
    """

    def __init__(self, workflow: WorkflowApi) -> None:
        self._workflow = workflow

    def __await__(self) -> Generator[Any, None, None]:
        return self._workflow.save().__await__()


class WorkflowApi:
    """SDK-compatible calls on a workflow (mixed into Workflow)."""

    if TYPE_CHECKING:  # provided by Workflow
        id: str
        current_step: int
        status: WorkflowStatus
        state: BaseModel
        metadata: dict[str, Any]
        parent_id: str | None
        created_at: float
        loaded: LoadedDefinition
        engine: EngineRecord

        @property
        def workflow_type(self) -> str: ...

        @property
        def workflow_version(self) -> str: ...

        @property
        def current_step_name(self) -> str | None: ...

        @property
        def error(self) -> str | None: ...

        async def save(
            self,
            *,
            finished_step: str | None = None,
            dump_state: bool = True,
            log: Sequence[LogEntry] = (),
        ) -> None: ...

        async def set_status(self, status: WorkflowStatus, *, save: bool = False) -> None: ...

        async def next_step(self, user_input: Any = None) -> tuple[Any, str | None]: ...

    @property
    def current_step_index(self) -> int:
        """Index of the next step to run (the SDK's name of ``current_step``)."""
        return self.current_step

    @property
    def definition_snapshot(self) -> dict[str, Any]:
        """The definition this workflow started with, as data (a copy)."""
        return copy.deepcopy(self.loaded.raw)

    @property
    def owner_id(self) -> str | None:
        """The owner given to ``create_workflow(owner_id=...)`` (multi-tenancy), else ``None``."""
        return self.engine.owner.get("owner_id")

    @property
    def org_id(self) -> str | None:
        """The organisation given to ``create_workflow(org_id=...)``, else ``None``."""
        return self.engine.owner.get("org_id")

    @property
    def priority(self) -> int | None:
        """The priority given to ``create_workflow(priority=...)``, else ``None``."""
        return self.engine.owner.get("priority")

    @property
    def data_region(self) -> str | None:
        """The data region given to ``create_workflow(data_region=...)``, else ``None``."""
        return self.engine.owner.get("data_region")

    @property
    def saga_mode(self) -> bool:
        """Whether a failure compensates the completed steps (YAML or ``enable_saga_mode``)."""
        return self.loaded.definition.saga_mode or self.engine.saga_mode

    def enable_saga_mode(self) -> SagaEnabled:
        """Compensate completed steps if a later one fails, as ``saga_mode: true`` does.

        Call it before the steps run: steps completed earlier are not compensated. Works with and
        without ``await`` (awaiting saves the flag at once).
        """
        self.engine.saga_mode = True
        return SagaEnabled(self)

    async def execute_next_step(self, user_input: Any = None) -> Any:
        """Run the next step (as ``next_step``) and return only its result."""
        result, _ = await self.next_step(user_input=user_input)
        return result

    async def jump_to_step(self, target_step_name: str) -> None:
        """Make ``target_step_name`` the next step to run, and save.

        Raises:
            WorkflowStateError: The name is not a step of this workflow, or the workflow has ended.
        """
        index = self.loaded.step_index.get(target_step_name)
        if index is None:
            raise WorkflowStateError(
                f"Workflow {self.id} ({self.workflow_type}) has no step '{target_step_name}'. "
                f"Steps: {', '.join(self.loaded.step_index)}."
            )
        if self.status not in _MOVABLE:
            raise WorkflowStateError(
                f"Workflow {self.id} is {self.status.value}; jump_to_step works on an ACTIVE, "
                f"WAITING_HUMAN or FAILED workflow."
            )
        self.current_step = index
        self.engine.paused_by = None
        if self.status is not WorkflowStatus.FAILED:
            await self.set_status(WorkflowStatus.ACTIVE, save=True)
        else:
            await self.save()

    def to_dict(self) -> dict[str, Any]:
        """The workflow as JSON-ready data: identity, status, position, state and records."""
        return {
            "id": self.id,
            "workflow_type": self.workflow_type,
            "workflow_version": self.workflow_version,
            "status": self.status.value,
            "current_step": self.current_step,
            "current_step_name": self.current_step_name,
            "state": self.state.model_dump(mode="json"),
            "metadata": copy.deepcopy(self.metadata),
            "engine": self.engine.to_dict(),
            "error": self.error,
            "saga_mode": self.saga_mode,
            **{key: self.engine.owner.get(key) for key in OWNER_KEYS},
            "parent_id": self.parent_id,
            "created_at": self.created_at,
        }
