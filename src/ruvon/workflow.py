"""Workflow: one running instance of a definition, driven by ``await workflow.next_step()``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon import attempts, pausing, routing, transitions
from ruvon.definition import LoadedDefinition
from ruvon.engine_record import Compensation, EngineRecord, Failure
from ruvon.errors import RuvonError, WorkflowStateError
from ruvon.models import StepContext, WorkflowStatus
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.providers.observer import WorkflowObserver, hooked, notify, notify_attach
from ruvon.providers.persistence import (
    HandedOverRecord,
    LogEntry,
    PersistenceProvider,
    WorkflowRecord,
)
from ruvon.providers.template_engine import TemplateEngine
from ruvon.runtime.session import in_session
from ruvon.state_json import copy_state, dump_fresh
from ruvon.step_models import StepBase
from ruvon.steps import timing
from ruvon.steps.base import StepOutcome
from ruvon.steps.dispatch import validate_input
from ruvon.workflow_api import WorkflowApi

if TYPE_CHECKING:
    from ruvon.runtime.session import Session
    from ruvon.steps.base import BuilderHandle


_RUNNABLE = frozenset(
    {
        WorkflowStatus.ACTIVE,
        WorkflowStatus.WAITING_HUMAN,
        WorkflowStatus.PENDING_ASYNC,
        WorkflowStatus.PENDING_SUB_WORKFLOW,
        WorkflowStatus.SLEEPING,
        WorkflowStatus.WAITING_SIGNAL,
    }
)


class Workflow(WorkflowApi):
    """A running workflow. Create one with ``WorkflowBuilder.create_workflow``.

    Attributes:
        id: Unique id (a UUID4 string unless given).
        status: A WorkflowStatus (a ``str`` enum).
        state: The pydantic state model.
        current_step: Index of the next step to run.
        metadata: The user's own data kept with the workflow (``create_workflow(metadata=...)``);
            the engine never writes to it. Step functions read it as ``context.metadata``.
        watches_steps: Whether the observer overrides ``on_step_executed``.
        engine: The engine's bookkeeping (errors, task failures, loop progress, ...); read it
            through ``error``, ``task_failures``, ``compensations`` and ``retries``.
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
        builder: BuilderHandle | None = None,
        record: WorkflowRecord | None = None,
        parent_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        self.id = workflow_id
        self.loaded = loaded
        #: The definition's steps, in order (read-only).
        self.steps: list[StepBase] = loaded.steps
        #: The definition's ``workflow_type`` (read-only).
        self.workflow_type: str = loaded.definition.workflow_type
        definition = loaded.definition
        # The same in every saved record: read once, not on every save (the hot path).
        self._identity = (
            definition.workflow_type,
            definition.workflow_version,
            definition.initial_state_model,
        )
        self.state = state
        self.persistence = persistence
        self.execution_provider = executor
        self.observer = observer  # sets hooks and watches_steps too
        self.expression_evaluator_cls = expression_evaluator_cls
        self.template_engine_cls = template_engine_cls
        self.builder = builder
        self.status = WorkflowStatus(record.status) if record else WorkflowStatus.ACTIVE
        self.current_step = record.current_step if record else 0
        self.metadata: dict[str, Any] = record.metadata if record else dict(metadata or {})
        self.engine = EngineRecord.from_dict(record.engine) if record else EngineRecord()
        if record is None:
            # Recorded so `ruvon resume`/`retry` pick the executor this workflow started with.
            self.engine.executor = executor.kind
        self.created_at = record.created_at if record else time.time()
        self._version = record.version if record else 0
        # The state as of the last save, and whether it is fresh JSON data nothing else holds (a
        # stored record's, or pydantic's own dump): saves then hand their records over to the
        # store (see save()).
        self._saved_state: dict[str, Any]
        if record is not None:
            self._saved_state, self._saved_fresh = record.state, True
        else:
            self._saved_state, self._saved_fresh = dump_fresh(state)
        self.last_result: Any = None  # given to the next step as previous_step_result
        self.parent_id = record.parent_id if record else parent_id
        self.pending_async: dict[str, asyncio.Future[Any]] = {}
        self._pending_log: list[LogEntry] = []
        # The step a reloaded workflow stopped in: an earlier process may have dispatched its tasks.
        self.resumed_step = self.current_step_name if record else None
        # The lease held while a driver runs this workflow (see ruvon.runtime.session).
        self.session: Session | None = None
        if "attach" in self.hooks:  # e.g. a tracer reads or writes engine.trace
            notify_attach(observer, self)

    @property
    def observer(self) -> WorkflowObserver:
        """The observer told about this workflow's progress."""
        return self._observer

    @observer.setter
    def observer(self, observer: WorkflowObserver) -> None:
        self._observer = observer
        # The hooks it overrides: the base class's no-ops are skipped (a coroutine less each, on
        # the hot path).
        self.hooks = hooked(observer)
        self.watches_steps = "on_step_executed" in self.hooks
        self._observer_reads_only = getattr(observer, "reads_state_only", False) is True

    # -- read-only views -------------------------------------------------------------------------
    @property
    def workflow_version(self) -> str:
        """The definition's ``workflow_version``."""
        return self.loaded.definition.workflow_version

    @property
    def current_step_name(self) -> str | None:
        """Name of the next step to run, or ``None`` when no step is left."""
        steps = self.steps
        if 0 <= self.current_step < len(steps):
            return steps[self.current_step].name
        return None

    @property
    def error(self) -> str | None:
        """The error message of a FAILED workflow, else ``None``."""
        return self.engine.error.message if self.engine.error else None

    @property
    def failed_step(self) -> str | None:
        """The name of the step that failed the workflow, else ``None``."""
        return self.engine.error.step if self.engine.error else None

    @property
    def task_failures(self) -> dict[str, dict[str, str]]:
        """Failed tasks of PARALLEL steps that merged anyway: ``{step: {task: message}}``."""
        return {step: dict(tasks) for step, tasks in self.engine.task_failures.items()}

    @property
    def compensations(self) -> list[Compensation]:
        """The saga compensations that ran when the workflow failed, in the order they ran."""
        return list(self.engine.compensations)

    @property
    def retries(self) -> list[Failure]:
        """The errors that earlier ``retry()`` calls cleared, oldest first."""
        return list(self.engine.retries)

    def __repr__(self) -> str:
        return (
            f"<Workflow {self.workflow_type} id={self.id} status={self.status.value} "
            f"step={self.current_step_name}>"
        )

    # -- driving ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Save the new workflow and tell the observer. Called by ``create_workflow``."""
        await self.save(dump_state=False)  # dumped when it was built; unchanged since
        if "on_workflow_started" in self.hooks:
            await notify(
                self.observer.on_workflow_started,
                self.id,
                self.workflow_type,
                self.state_for_observer(),
            )

    async def next_step(self, user_input: Any = None) -> tuple[Any, str | None]:
        """Run the current step, and the following ones while a finished step has ``automate_next``.

        A failing step does not raise: the workflow becomes FAILED, keeps (and has saved) the state of
        the last completed step, and records the error (``workflow.error``). A step may also stop
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
            LeaseHeld: Another driver runs this workflow (the message names it and its lease).
            WorkflowCancelled: The workflow was cancelled while this call ran it.
            LeaseLost: Another driver took the workflow over while this call ran it.
        """
        return await in_session(self, self._next_step, user_input, single_call=True)

    async def _next_step(self, user_input: Any) -> tuple[Any, str | None]:
        if self.status not in _RUNNABLE:
            raise WorkflowStateError(
                f"Workflow {self.id} ({self.workflow_type}) is {self.status.value}; no step can run. "
                f"Check workflow.status before calling next_step(), or retry() a FAILED workflow."
            )
        step = self.steps[self.current_step]
        if self.status is WorkflowStatus.WAITING_HUMAN and pausing.is_empty(user_input):
            return None, step.name
        if self.status is WorkflowStatus.SLEEPING:
            if timing.sleeping_until(self) is not None:
                return None, step.name  # not due yet: like WAITING_HUMAN without input
            self.engine.wake_at = None
        if self.status is WorkflowStatus.WAITING_HUMAN and self.engine.paused_by is not None:
            validated = await pausing.resume(self, step, user_input)
        else:
            validated = validate_input(self.loaded, step, user_input)
        if self.status is not WorkflowStatus.ACTIVE:
            await self.set_status(WorkflowStatus.ACTIVE)
        timed = "on_step_started" in self.hooks
        while True:
            started = time.time()
            if timed:
                await notify(self.observer.on_step_started, self.id, step.name, self.current_step)
            outcome = await attempts.run_with_retries(self, step, validated, started)
            self.resumed_step = None
            validated = None
            if outcome is None:
                return self.last_result, None
            if outcome.paused is not None:  # the step is finished; input goes to the next one
                return outcome.result, await pausing.finish(self, step, outcome, started)
            if outcome.wait is not None:
                if not await transitions.wait(self, step, outcome, started):
                    return self.last_result, None
                return outcome.result, step.name
            try:
                next_index = routing.next_index(
                    self.loaded, step, outcome, self.current_step, self.expression_evaluator_cls
                )
            except RuvonError as exc:  # a route condition or jump target that does not work
                message = routing.describe_error(self.loaded, step, exc)
                await transitions.fail_step(self, step, message, started, WorkflowStatus.FAILED)
                return self.last_result, None
            goes_on = step.automate_next or (
                next_index < len(self.steps) and self.steps[next_index].automate_start
            )
            if not goes_on:
                self.last_save_of_call()
            next_name = await transitions.advance(self, step, outcome, started, next_index)
            if next_name is None or self.status is not WorkflowStatus.ACTIVE or not goes_on:
                return outcome.result, next_name
            step = self.steps[self.current_step]

    def last_save_of_call(self) -> None:
        """Mark the next save as the last of this ``next_step`` call: on the SQL stores it gives the
        lease up in the same statement (no release of its own). Does nothing unless the call opened
        the lease itself; a later save in the same call takes the lease back."""
        session = self.session
        if session is not None and session.single_call:
            session.last_save = True

    @property
    def wake_at(self) -> float | None:
        """When a SLEEPING workflow is due, or a WAIT_FOR_SIGNAL step times out (``time.time()``
        seconds); else ``None``."""
        return self.engine.wake_at

    async def signal(self, name: str, data: dict[str, Any] | None = None) -> None:
        """Send the signal ``name`` with ``data`` to this workflow's durable inbox.

        A WAIT_FOR_SIGNAL step waiting for ``name`` consumes it when the workflow next runs (a
        serving worker is woken at once; in your own code, call ``next_step()``). A signal sent
        before the workflow reaches that step is kept until it does.

        Raises:
            WorkflowStateError: The workflow has ended.
            ConfigurationError: The name or data are not usable, or the store keeps no signals.
        """
        from ruvon.runtime.events import send_signal

        await send_signal(self.persistence, self.id, name, data)

    async def run_to_completion(self) -> WorkflowStatus:
        """Call ``next_step`` until the workflow ends or waits for a human or a child workflow."""
        return await in_session(self, self._run_to_completion)

    async def _run_to_completion(self) -> WorkflowStatus:
        # A PENDING_SUB_WORKFLOW parent is looked at once more: its child may have ended since
        # (a reloaded parent whose child completed goes on instead of returning at once).
        looked = False
        while True:
            if self.status in (WorkflowStatus.ACTIVE, WorkflowStatus.PENDING_ASYNC):
                looked = False
            elif self.status is WorkflowStatus.PENDING_SUB_WORKFLOW and not looked:
                looked = True
            else:
                return self.status
            await self.next_step()

    async def checkpoint(self, state: BaseModel) -> None:
        """Save ``state``, the engine record and pending log entries now (used inside long steps)."""
        self.state = state
        await self.save(log=self.take_log())

    # -- the surface the step runners and retry loop use (ruvon.attempts) -------------------------
    @property
    def saved_state(self) -> dict[str, Any]:
        """A copy of the state as of the last save (JSON data), for observers and messages.

        The saved dict itself is shared with the store (see ``save``) and stays unchanged.
        """
        return copy_state(self._saved_state)

    def state_for_observer(self) -> dict[str, Any]:
        """The saved state as the observer gets it: the dict itself for observers that declare
        ``reads_state_only`` (ruvon's own do), a copy for others (only when a hook is called)."""
        return self._saved_state if self._observer_reads_only else copy_state(self._saved_state)

    def restore_saved_state(self) -> None:
        """Make the live state the last saved one again (before a retry, after a failure)."""
        # From a copy: pydantic keeps the dicts and lists of `Any` fields as given, so a retried
        # step that changed them in place would otherwise change the saved state too.
        self.state = self.loaded.state_model.model_validate(copy_state(self._saved_state))

    def add_log(self, entries: Sequence[LogEntry]) -> None:
        """Queue execution-log entries; the next save writes them in its transaction."""
        self._pending_log += entries

    async def run_body_step(
        self, step: StepBase, state: BaseModel, context: StepContext, kwargs: dict[str, Any]
    ) -> StepOutcome:
        """Run a loop-body step on ``state``; its failure raises StepFailed."""
        return await attempts.run_body_step(self, step, state, context, kwargs)

    async def set_status(self, status: WorkflowStatus, *, save: bool = False) -> None:
        """Change the status (optionally saving the workflow) and tell the observer."""
        old, self.status = self.status, status
        if save:
            await self.save(log=self.take_log())
        await notify(
            self.observer.on_workflow_status_changed,
            self.id,
            old.value,
            status.value,
            self.current_step_name,
        )

    async def retry(self) -> None:
        """Make a FAILED workflow ACTIVE again at the step that failed, and save it.

        (WAITING_HUMAN instead, if it failed while waiting for input after a paused step.)

        The next ``next_step()`` re-runs that step; for a PARALLEL step, tasks whose results were
        saved are not run again.
        """
        if self.status not in (WorkflowStatus.FAILED, WorkflowStatus.FAILED_CHILD_WORKFLOW):
            raise WorkflowStateError(
                f"Workflow {self.id} is {self.status.value}; only a FAILED workflow can be retried."
            )
        if self.engine.error is not None:
            self.engine.retries.append(self.engine.error)
            self.engine.error = None
        # A workflow that failed while it waited for input after a pause (it could not be loaded,
        # see ruvon.state_migrations) waits for that input again.
        waiting = self.engine.paused_by is not None
        await self.set_status(
            WorkflowStatus.WAITING_HUMAN if waiting else WorkflowStatus.ACTIVE, save=True
        )

    async def cancel(self, reason: str | None = None) -> None:
        """Mark the workflow CANCELLED and save it; no further step runs (no compensation).

        Args:
            reason: Why, kept with the workflow and written to its execution log.
        """
        if self.status.is_terminal:
            raise WorkflowStateError(
                f"Workflow {self.id} is already {self.status.value}; only a running workflow can be "
                f"cancelled."
            )
        for future in self.pending_async.values():
            future.cancel()
        self.engine.cancel_reason = reason
        if reason is not None:
            self.add_log([LogEntry(self.id, "CANCELLED", self.current_step_name, message=reason)])
        await self.set_status(WorkflowStatus.CANCELLED, save=True)
        if self.session is not None:  # a driver of this object stops at its next save
            self.session.signal.cancelled = True

    def take_log(self) -> list[LogEntry]:
        """Remove and return the queued execution-log entries (the caller saves them)."""
        log, self._pending_log = self._pending_log, []
        return log

    # -- persistence -----------------------------------------------------------------------------
    def to_record(self) -> WorkflowRecord:
        """The workflow as a persistence record of the caller's own (state as of the last save).

        The saved state and the metadata are copies: the store may share the saved state itself.
        """
        workflow_type, workflow_version, state_model_path = self._identity
        return WorkflowRecord(
            self.id,
            workflow_type,
            workflow_version,
            state_model_path,
            self.loaded.raw,  # the definition
            self.saved_state,  # a copy
            self.status._value_,  # the enum's value without its descriptor
            self.current_step,
            copy_state(self.metadata),
            self._version,
            self.created_at,
            time.time(),  # updated_at
            self.parent_id,
            self.engine.to_dict(),
        )

    async def save(
        self,
        *,
        finished_step: str | None = None,
        dump_state: bool = True,
        log: Sequence[LogEntry] = (),
        at: float | None = None,
    ) -> None:
        """Save the workflow (status, step, engine record, metadata) and ``log`` in one write.

        Args:
            finished_step: A PARALLEL step whose saved task results the same write deletes.
            dump_state: Save the live state; with False, the last saved state is kept.
            log: Execution-log entries to append.
            at: The time of the change (``time.time()``), when the caller has it already.

        Raises:
            VersionConflict: Another writer saved this workflow since it was loaded.
        """
        workflow_type, workflow_version, state_model_path = self._identity
        if dump_state:
            state, fresh = dump_fresh(self.state)
        else:
            state, fresh = self._saved_state, self._saved_fresh
        # Positional, in WorkflowRecord's field order: to_record() inlined (calling it costs ~3k
        # instructions a step, measured with callgrind). A HandedOverRecord when the state is
        # pydantic's own fresh JSON dump: this record is not used after the save, so a store may
        # keep it instead of copying it (the in-memory store does: ~9k instructions a step).
        record = (HandedOverRecord if fresh else WorkflowRecord)(
            self.id,
            workflow_type,
            workflow_version,
            state_model_path,
            self.loaded.raw,
            state,
            self.status._value_,
            self.current_step,
            self.metadata,
            self._version,
            self.created_at,
            time.time() if at is None else at,
            self.parent_id,
            self.engine.to_dict(),
        )
        self._version = await self.persistence.save_workflow(
            record, finished_step=finished_step, log=log
        )
        self._saved_state, self._saved_fresh = state, fresh
