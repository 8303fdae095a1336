"""Workflow: one running instance of a definition, driven by ``await workflow.next_step()``."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon import attempts, routing
from ruvon.definition import LoadedDefinition, StepType
from ruvon.errors import RuvonError, WorkflowStateError
from ruvon.models import StepContext, WorkflowStatus
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.providers.observer import WorkflowObserver, notify, overrides
from ruvon.providers.persistence import LogEntry, PersistenceProvider, WorkflowRecord
from ruvon.providers.template_engine import TemplateEngine
from ruvon.step_models import StepBase
from ruvon.steps import saga
from ruvon.steps.base import StepOutcome
from ruvon.steps.dispatch import validate_input

if TYPE_CHECKING:
    from ruvon.builder import WorkflowBuilder

_log = logging.getLogger("ruvon.workflow")

_RUNNABLE = frozenset(
    {
        WorkflowStatus.ACTIVE,
        WorkflowStatus.WAITING_HUMAN,
        WorkflowStatus.PENDING_ASYNC,
        WorkflowStatus.PENDING_SUB_WORKFLOW,
    }
)


class Workflow:
    """A running workflow. Create one with ``WorkflowBuilder.create_workflow``.

    Attributes:
        id: Unique id (a UUID4 string unless given).
        status: A WorkflowStatus (a ``str`` enum).
        state: The pydantic state model.
        current_step: Index of the next step to run.
        metadata: Free-form data kept with the workflow; PARALLEL failures are recorded here.
        error: The error message when the workflow FAILED, else ``None``.
    """

    def __init__(
        self,
        *,
        workflow_id: str,
        loaded: LoadedDefinition,
        state: BaseModel,
        persistence: PersistenceProvider,
        executor: ExecutionProvider,
        observer: WorkflowObserver,
        expression_evaluator_cls: type[ExpressionEvaluator],
        template_engine_cls: type[TemplateEngine],
        builder: WorkflowBuilder | None = None,
        record: WorkflowRecord | None = None,
        parent_id: str | None = None,
    ) -> None:
        self.id = workflow_id
        self.loaded = loaded
        self._steps = loaded.steps
        self.state = state
        self.persistence = persistence
        self.execution_provider = executor
        self.observer = observer
        self.expression_evaluator_cls = expression_evaluator_cls
        self.template_engine_cls = template_engine_cls
        self.builder = builder
        self.status = WorkflowStatus(record.status) if record else WorkflowStatus.ACTIVE
        self.current_step = record.current_step if record else 0
        self.metadata: dict[str, Any] = record.metadata if record else {}
        self.created_at = record.created_at if record else time.time()
        self._version = record.version if record else 0
        self._saved_state: dict[str, Any] = (
            record.state if record else state.model_dump(mode="json")
        )
        self._last_result: Any = None
        self.parent_id = record.parent_id if record else parent_id
        self.pending_async: dict[str, asyncio.Future[Any]] = {}
        self._pending_log: list[LogEntry] = []
        # The step a reloaded workflow stopped in: an earlier process may have dispatched its tasks.
        self.resumed_step = self.current_step_name if record else None
        # Engine bookkeeping; "executor": the executor this workflow was started with (see
        # ExecutionProvider.kind), so `ruvon resume` picks the same one.
        self._engine: dict[str, Any] = (
            dict(record.engine)
            if record
            else ({"executor": executor.kind} if executor.kind else {})
        )

    # -- read-only views -------------------------------------------------------------------------
    @property
    def workflow_type(self) -> str:
        """The definition's ``workflow_type``."""
        return self.loaded.definition.workflow_type

    @property
    def workflow_version(self) -> str:
        """The definition's ``workflow_version``."""
        return self.loaded.definition.workflow_version

    @property
    def steps(self) -> list[StepBase]:
        """The definition's steps, in order."""
        return self._steps

    @property
    def current_step_name(self) -> str | None:
        """Name of the next step to run, or ``None`` when no step is left."""
        if 0 <= self.current_step < len(self.steps):
            return self.steps[self.current_step].name
        return None

    @property
    def error(self) -> str | None:
        """The recorded error of a FAILED workflow."""
        error = self.metadata.get("error")
        return error.get("message") if isinstance(error, dict) else None

    def __repr__(self) -> str:
        return (
            f"<Workflow {self.workflow_type} id={self.id} status={self.status.value} "
            f"step={self.current_step_name}>"
        )

    # -- driving ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Save the new workflow and tell the observer. Called by ``create_workflow``."""
        await self._save()
        await notify(
            self.observer.on_workflow_started, self.id, self.workflow_type, self._saved_state
        )

    async def next_step(self, user_input: Any = None) -> tuple[Any, str | None]:
        """Run the current step, and the following ones while a finished step has ``automate_next``.

        A failing step does not raise: the workflow becomes FAILED, keeps (and has saved) the state of
        the last completed step, and records the error in ``metadata["error"]``. A step may also stop
        the workflow in WAITING_HUMAN, PENDING_ASYNC or PENDING_SUB_WORKFLOW; call ``next_step``
        again (with ``user_input`` for a human step) to go on.

        Args:
            user_input: Input for the step (validated by its ``input_model``, given to it as
                ``context.validated_input``).

        Returns:
            ``(result, next_step_name)``: what the last step run returned (on failure a dict with
            ``error`` and ``step``), and the name of the step that runs next (``None`` when done).

        Raises:
            WorkflowStateError: The workflow has ended (COMPLETED, FAILED, CANCELLED, ...).
            StateValidationError: ``user_input`` does not fit the step's ``input_model``; the
                workflow stays as it was.
        """
        if self.status not in _RUNNABLE:
            raise WorkflowStateError(
                f"Workflow {self.id} ({self.workflow_type}) is {self.status.value}; no step can run. "
                f"Check workflow.status before calling next_step(), or retry() a FAILED workflow."
            )
        step = self.steps[self.current_step]
        if self.status is WorkflowStatus.WAITING_HUMAN and user_input is None:
            return None, step.name
        validated = validate_input(self.loaded, step, user_input)
        if self.status is not WorkflowStatus.ACTIVE:
            await self._set_status(WorkflowStatus.ACTIVE)
        timed = overrides(self.observer, "on_step_started")
        while True:
            started = time.time()
            if timed:
                await notify(self.observer.on_step_started, self.id, step.name, self.current_step)
            outcome = await self._run(step, validated, started)
            self.resumed_step = None
            validated = None
            if outcome is None:
                return self._last_result, None
            if outcome.wait is not None:
                self.state = outcome.state
                await self._set_status(outcome.wait, save=True)
                return outcome.result, step.name
            try:
                next_index = routing.next_index(
                    self.loaded, step, outcome, self.current_step, self.expression_evaluator_cls
                )
            except RuvonError as exc:  # a route condition or jump target that does not work
                message = routing.describe_error(self.loaded, step, exc)
                await self._fail(step, message, started, WorkflowStatus.FAILED)
                return self._last_result, None
            next_name = await self._advance(step, outcome, started, next_index)
            if next_name is None or not step.automate_next:
                return outcome.result, next_name
            step = self.steps[self.current_step]

    async def run_to_completion(self) -> WorkflowStatus:
        """Call ``next_step`` until the workflow ends or waits for a human or a child workflow."""
        while self.status in (WorkflowStatus.ACTIVE, WorkflowStatus.PENDING_ASYNC):
            await self.next_step()
        return self.status

    async def _run(self, step: StepBase, user_input: Any, started: float) -> StepOutcome | None:
        """Run one step with its retry policy; on failure the workflow is failed and None returned."""
        return await attempts.run_with_retries(self, step, user_input, started)

    async def checkpoint(self, state: BaseModel) -> None:
        """Save ``state``, the metadata and pending log entries now (used inside long steps)."""
        self.state = state
        await self._save(log=self._take_log())

    async def run_body_step(
        self, step: StepBase, state: BaseModel, context: StepContext, kwargs: dict[str, Any]
    ) -> StepOutcome:
        """Run a loop-body step on ``state``; its failure raises StepFailed."""
        return await attempts.run_body_step(self, step, state, context, kwargs)

    async def _advance(
        self, step: StepBase, outcome: StepOutcome, started: float, next_index: int
    ) -> str | None:
        """Adopt the step's new state, pick the next step, save; return the next step's name.

        If the save fails (e.g. VersionConflict: another process moved this workflow on), this copy
        goes back to its last saved state and the error propagates: a stale copy records nothing.
        """
        index, status = self.current_step, self.status
        try:
            return await self._adopt(step, outcome, started, next_index)
        except BaseException:
            self.state = self.loaded.state_model.model_validate(self._saved_state)
            self.current_step, self.status = index, status
            raise

    async def _adopt(
        self, step: StepBase, outcome: StepOutcome, started: float, next_index: int
    ) -> str | None:
        self.state = outcome.state
        self._last_result = outcome.result
        if outcome.task_failures:
            self.metadata.setdefault("task_failures", {})[step.name] = dict(outcome.task_failures)
        if step.compensate_function and self.loaded.definition.saga_mode:
            saga.remember(self.metadata, step.name)
        self.current_step = next_index
        finished = step.name if step.type is StepType.PARALLEL else None
        log = [*self._take_log(), *outcome.log]
        log.append(
            LogEntry(
                self.id, "STEP_COMPLETED", step.name, at=started, duration=time.time() - started
            )
        )
        done = self.current_step >= len(self.steps)
        if done:
            self.status = WorkflowStatus.COMPLETED
        await self._save(finished_step=finished, log=log)
        await self._step_executed(step, outcome)
        if not done:
            return self.current_step_name
        await notify(
            self.observer.on_workflow_status_changed,
            self.id,
            WorkflowStatus.ACTIVE.value,
            WorkflowStatus.COMPLETED.value,
            None,
        )
        await notify(
            self.observer.on_workflow_completed, self.id, self.workflow_type, self._saved_state
        )
        return None

    async def _step_executed(self, step: StepBase, outcome: StepOutcome) -> None:
        await notify(
            self.observer.on_step_executed,
            self.id,
            step.name,
            self.loaded.step_index[step.name],
            "COMPLETED",
            outcome.result,
            self._saved_state,
        )

    async def _fail(
        self, step: StepBase, message: str, started: float, status: WorkflowStatus
    ) -> None:
        # The step may have mutated the live state: go back to the last saved one.
        self.state = self.loaded.state_model.model_validate(self._saved_state)
        self.metadata["error"] = {"step": step.name, "message": message, "at": time.time()}
        self._last_result = {"error": message, "step": step.name}
        log = [
            *self._take_log(),
            LogEntry(
                self.id,
                "STEP_FAILED",
                step.name,
                at=started,
                duration=time.time() - started,
                message=message,
            ),
        ]
        if self.loaded.definition.saga_mode:
            log += await saga.compensate(
                workflow_id=self.id,
                loaded=self.loaded,
                state=self.state,
                metadata=self.metadata,
                executor=self.execution_provider,
            )
            status = WorkflowStatus.FAILED_ROLLED_BACK
        old, self.status = self.status, status
        try:
            await self._save(dump_state=self.loaded.definition.saga_mode, log=log)
        except Exception:
            _log.exception("workflow %s: could not save the %s status", self.id, status.value)
        await notify(self.observer.on_step_failed, self.id, step.name, message)
        await notify(
            self.observer.on_workflow_status_changed, self.id, old.value, status.value, step.name
        )
        await notify(
            self.observer.on_workflow_failed,
            self.id,
            self.workflow_type,
            message,
            self._saved_state,
        )

    async def _set_status(self, status: WorkflowStatus, *, save: bool = False) -> None:
        old, self.status = self.status, status
        if save:
            await self._save(log=self._take_log())
        await notify(
            self.observer.on_workflow_status_changed,
            self.id,
            old.value,
            status.value,
            self.current_step_name,
        )

    async def retry(self) -> None:
        """Make a FAILED workflow ACTIVE again at the step that failed, and save it.

        The next ``next_step()`` re-runs that step; for a PARALLEL step, tasks whose results were
        saved are not run again.
        """
        if self.status not in (WorkflowStatus.FAILED, WorkflowStatus.FAILED_CHILD_WORKFLOW):
            raise WorkflowStateError(
                f"Workflow {self.id} is {self.status.value}; only a FAILED workflow can be retried."
            )
        self.metadata.setdefault("retries", []).append(self.metadata.pop("error", None))
        await self._set_status(WorkflowStatus.ACTIVE, save=True)

    async def cancel(self) -> None:
        """Mark the workflow CANCELLED and save it; no further step runs."""
        if self.status.is_terminal:
            raise WorkflowStateError(
                f"Workflow {self.id} is already {self.status.value}; only a running workflow can be "
                f"cancelled."
            )
        for future in self.pending_async.values():
            future.cancel()
        await self._set_status(WorkflowStatus.CANCELLED, save=True)

    def _take_log(self) -> list[LogEntry]:
        log, self._pending_log = self._pending_log, []
        return log

    # -- persistence -----------------------------------------------------------------------------
    def to_record(self) -> WorkflowRecord:
        """The workflow as a persistence record (state as of the last save)."""
        return WorkflowRecord(
            id=self.id,
            workflow_type=self.workflow_type,
            workflow_version=self.workflow_version,
            state_model_path=self.loaded.definition.initial_state_model,
            definition=self.loaded.raw,
            state=self._saved_state,
            status=self.status.value,
            current_step=self.current_step,
            metadata=self.metadata,  # providers copy or serialize it
            version=self._version,
            created_at=self.created_at,
            parent_id=self.parent_id,
            engine=self._engine,
        )

    async def _save(
        self,
        *,
        finished_step: str | None = None,
        dump_state: bool = True,
        log: Sequence[LogEntry] = (),
    ) -> None:
        record = self.to_record()
        if dump_state:
            record.state = self.state.model_dump(mode="json")
        self._version = await self.persistence.save_workflow(
            record, finished_step=finished_step, log=log
        )
        self._saved_state = record.state
