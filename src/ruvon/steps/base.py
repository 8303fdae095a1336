"""What every step type receives and returns."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from ruvon.definition import LoadedDefinition
from ruvon.engine_record import EngineRecord
from ruvon.errors import RuvonError, StepFailed
from ruvon.loading import accepted_kwargs
from ruvon.models import (
    StartSubWorkflowDirective,
    StepContext,
    WorkflowJumpDirective,
    WorkflowPauseDirective,
    WorkflowSleepDirective,
    WorkflowStatus,
)
from ruvon.providers.execution import ExecutionProvider, calls_inline
from ruvon.providers.expression_evaluator import ExpressionEvaluator
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import LogEntry, PersistenceProvider
from ruvon.providers.template_engine import TemplateEngine
from ruvon.results import exit_message
from ruvon.step_models import RetryPolicy, StepBase, StepType

if TYPE_CHECKING:
    from ruvon.workflow import Workflow


class BuilderHandle(Protocol):
    """What steps use of the builder that made their workflow: making and loading child workflows."""

    async def create_workflow(
        self,
        workflow_type: str,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        *,
        workflow_observer: WorkflowObserver | None = None,
        initial_data: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> Workflow:
        """Create, save and return a new workflow (see ``WorkflowBuilder.create_workflow``)."""
        ...

    async def load_workflow(
        self,
        workflow_id: str,
        persistence_provider: PersistenceProvider | None = None,
        execution_provider: ExecutionProvider | None = None,
        workflow_observer: WorkflowObserver | None = None,
    ) -> Workflow:
        """Reload a saved workflow (see ``WorkflowBuilder.load_workflow``)."""
        ...


class WorkflowHandle(Protocol):
    """What a step may use of its workflow beyond the state (kept small on purpose)."""

    id: str
    metadata: dict[str, Any]
    engine: EngineRecord
    status: WorkflowStatus
    builder: BuilderHandle | None
    expression_evaluator_cls: type[ExpressionEvaluator]
    template_engine_cls: type[TemplateEngine]
    pending_async: dict[str, asyncio.Future[Any]]
    resumed_step: str | None

    async def checkpoint(self, state: BaseModel) -> None:
        """Save ``state`` and the engine record now (e.g. after each loop iteration)."""

    async def run_body_step(
        self, step: StepBase, state: BaseModel, context: StepContext, kwargs: dict[str, Any]
    ) -> StepOutcome:
        """Run a nested step (a loop body) on ``state``; raise StepFailed if it fails."""


@dataclass(slots=True)
class StepRun:
    """One run of one step: the step, the state it starts from and the providers it may use.

    ``kwargs`` are extra keyword arguments for the step's function (a loop's current item).
    """

    step: StepBase
    state: BaseModel
    context: StepContext
    loaded: LoadedDefinition
    executor: ExecutionProvider
    persistence: PersistenceProvider
    observer: WorkflowObserver
    workflow: WorkflowHandle
    kwargs: dict[str, Any] = field(default_factory=dict)

    def evaluator(self) -> ExpressionEvaluator:
        """An expression evaluator over the current state."""
        return self.workflow.expression_evaluator_cls({"state": self.state})

    @property
    def where(self) -> str:
        """``"<file>, step '<name>'"``, for messages."""
        return f"{self.loaded.source}, step '{self.step.name}'"

    def describe(self) -> str:
        """:attr:`where`, as a method: passed uncalled where the text is needed only on error."""
        return f"{self.loaded.source}, step '{self.step.name}'"


@dataclass(slots=True)
class StepOutcome:
    """What a step produced. ``state`` is the new state; the workflow saves it."""

    result: Any
    state: BaseModel
    jump_to: str | None = None
    wait: WorkflowStatus | None = None
    sleep_until: float | None = None  # sleep (SLEEPING) after this step until then
    #: Set (to the reason) when the step finished by raising WorkflowPauseDirective: its result
    #: counts, and the workflow waits for input for the next step.
    paused: str | None = None
    task_failures: dict[str, str] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)


Runner = Callable[[StepRun], Awaitable[StepOutcome]]


@dataclass(frozen=True, slots=True)
class StepKind:
    """One step type: its model (the YAML schema, with its checks in ``problems()``), the runner
    that runs it, and the retry policy its steps get when they set none.

    Each step module declares its kinds in a ``KINDS`` tuple; ``ruvon.steps.dispatch`` builds the
    dispatch table from them.
    """

    model: type[StepBase]
    runner: Runner
    default_retry: RetryPolicy | None = None

    @property
    def type(self) -> StepType:
        """The step type, as the model registered it."""
        return self.model.kind


@dataclass(slots=True)
class Invocation:
    """What calling a step function gave: a value, or a directive it raised."""

    value: Any = None
    jump_to: str | None = None
    pause: bool = False
    pause_reason: str | None = None
    sub_workflow: StartSubWorkflowDirective | None = None
    sleep: WorkflowSleepDirective | None = None


def input_fields(given: Any) -> dict[str, Any]:
    """The fields of validated human input (a model or a mapping) as a dict; ``{}`` for none."""
    if given is None:  # every step without input: no ABC isinstance checks
        return {}
    if isinstance(given, BaseModel):
        return given.model_dump()
    return dict(given) if isinstance(given, Mapping) else {}


async def invoke(run: StepRun, dotted: str) -> Invocation:
    """Call the step function ``dotted`` as ``f(state, context, **run.kwargs)``.

    Sync functions run on the execution provider, async ones on the event loop. Directives become
    fields of the Invocation; any other exception becomes StepFailed naming the step and function.
    """
    called = await call_step(run, dotted)
    return called if type(called) is Invocation else Invocation(called)


async def call_step(run: StepRun, dotted: str) -> Any:
    """:func:`invoke`, but a plain return is given back as the value itself, not wrapped in an
    Invocation (STANDARD steps: a record less per step). A directive still gives an Invocation,
    which no step function can return (the class is the engine's own)."""
    func = run.loaded.functions[dotted]
    call: Callable[..., Any] = func
    kwargs = accepted_kwargs(func, run.kwargs) if run.kwargs else None
    if kwargs:
        call = functools.partial(func, **kwargs)
    executor = run.executor
    try:
        if dotted in run.loaded.async_functions:
            value = await call(run.state, run.context)
        elif dotted in run.loaded.plain_functions and calls_inline(
            executor
        ):  # what the base run_step does, a coroutine less (every step on SyncExecutor)
            value = call(run.state, run.context)
            if type(value) is not dict and value is not None and inspect.isawaitable(value):
                value = await value  # a sync wrapper of async code
        else:
            value = await executor.run_step(call, run.state, run.context)
        if type(value) is dict:  # the common case first (every step)
            return value
        if isinstance(value, WorkflowSleepDirective):  # returned instead of raised
            return Invocation(value=value.result, sleep=value)
        if type(value) is Invocation:  # not a value a step may give (it would read as a directive)
            raise TypeError("it returned ruvon's internal Invocation record")
        return value
    except WorkflowSleepDirective as directive:
        return Invocation(value=directive.result, sleep=directive)
    except WorkflowJumpDirective as directive:
        return Invocation(value=directive.result, jump_to=directive.target_step_name)
    except WorkflowPauseDirective as directive:
        reason = directive.waiting_for or str(directive)
        return Invocation(value=directive.result, pause=True, pause_reason=reason)
    except StartSubWorkflowDirective as directive:
        return Invocation(sub_workflow=directive)
    except RuvonError as exc:
        raise StepFailed(f"{run.where} failed: {exc}", step_name=run.step.name) from exc
    except Exception as exc:
        raise StepFailed(
            f"{run.where} ({dotted}) raised {type(exc).__name__}: {exc}", step_name=run.step.name
        ) from exc
    except SystemExit as exc:  # sys.exit() in a step must not stop the driver silently
        raise StepFailed(
            exit_message(f"{run.where} ({dotted})", exc), step_name=run.step.name
        ) from exc
