"""The YAML schema of steps: one pydantic model per step type, chosen by the ``type`` key.

Each model registers itself for its type with :func:`step_model`; the discriminated union
:data:`AnyStep` and :data:`STEP_MODELS` are built from those registrations, and each model's
:meth:`StepBase.problems` holds the checks its schema cannot express. A step module pairs the model
with its runner (``ruvon.steps.base.StepKind``); see docs/architecture.md, "Adding a step type".
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, NamedTuple, TypeVar, Union

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from ruvon.merge import MergeConflictBehavior, MergeStrategy
from ruvon.sdk_forms import FIRE_AND_FORGET, route_form, step_form


class StepType(StrEnum):
    """Every step type a definition may name (in any letter case)."""

    STANDARD = "STANDARD"
    PARALLEL = "PARALLEL"
    DECISION = "DECISION"
    HUMAN_IN_LOOP = "HUMAN_IN_LOOP"
    LOOP = "LOOP"
    SUB_WORKFLOW = "SUB_WORKFLOW"
    ASYNC = "ASYNC"
    HTTP = "HTTP"
    CRON_SCHEDULE = "CRON_SCHEDULE"
    SLEEP = "SLEEP"
    WAIT_FOR_SIGNAL = "WAIT_FOR_SIGNAL"


def upper(value: Any) -> Any:
    """Strip and upper-case a string (enum values are accepted in any case)."""
    return value.strip().upper() if isinstance(value, str) else value


class Strict(BaseModel):
    """Frozen, and unknown keys are errors (a typo never passes silently)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class TaskDefinition(Strict):
    """One task of a PARALLEL step."""

    name: str
    function_path: str = Field(validation_alias=AliasChoices("function_path", "function"))


class RouteDefinition(Strict):
    """A route: go to ``target`` when ``condition`` holds, or always when ``default`` is true.

    ``next_step`` and ``next`` are other names of ``target``; ``- default: "Step"`` (the published
    SDK's form) is a default route to Step.
    """

    condition: str | None = None
    target: str = Field(validation_alias=AliasChoices("target", "next_step"))
    default: bool = False

    @model_validator(mode="before")
    @classmethod
    def _sdk_form(cls, data: Any) -> Any:
        return route_form(data)


class RetryPolicy(Strict):
    """Re-run a failing step: ``max_attempts`` in all, waiting ``backoff_seconds`` x multiplier^n.

    The delay is capped at ``max_backoff_seconds`` and then shortened by a random fraction of up
    to ``jitter`` (0 = exact delays), so workflows that failed together do not retry in lockstep.
    """

    max_attempts: int = Field(default=3, ge=1)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)
    max_backoff_seconds: float = Field(default=60.0, ge=0)
    jitter: float = Field(default=0.25, ge=0, le=1)

    def delay(self, attempt: int, draw: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Args:
            attempt: The attempt that failed.
            draw: A source of numbers in [0, 1) for the jitter (tests pass a fixed one).
        """
        try:
            growing = self.backoff_seconds * self.backoff_multiplier ** (attempt - 1)
        except OverflowError:  # a huge exponent: the cap applies anyway
            growing = math.inf
        capped = min(growing, self.max_backoff_seconds)
        return capped * (1.0 - self.jitter * draw())


class FunctionUse(NamedTuple):
    """One place a definition names a function, and the keyword arguments it will be given there.

    ``provided`` holds the names of keyword arguments the engine passes (``"*"``: any name).
    """

    what: str
    path: str
    provided: tuple[str, ...] = ()


STEP_MODELS: dict[StepType, type[StepBase]] = {}
"""The model of every step type, in registration order."""

_M = TypeVar("_M", bound="type[StepBase]")


def step_model(kind: StepType) -> Callable[[_M], _M]:
    """Class decorator: register a model as the schema of steps of type ``kind``."""

    def register(model: _M) -> _M:
        model.kind = kind
        STEP_MODELS[kind] = model
        return model

    return register


def expression_problems(expression: str, step_name: str) -> list[str]:
    """A problem if ``expression`` does not parse or uses a construct the sandbox refuses."""
    # Imported here: the evaluator's package imports errors only, but step_models is imported early.
    from ruvon.errors import ExpressionError
    from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator

    try:  # the sandbox's static check: syntax, and every construct it would refuse at run time
        SimpleExpressionEvaluator().check(expression)
    except ExpressionError as exc:
        named = f"the expression '{expression}' of step '{step_name}'"
        return [str(exc).replace(f"The expression '{expression}'", named, 1)]
    return []


class InjectionRule(Strict):
    """One ``dynamic_injection`` rule: insert steps after the current one when a state value fits.

    Exactly one of ``value_match`` (the value equals it) and ``value_is_not`` (the value is none of
    these) is given; ``condition_key`` is a dotted path into the state.
    """

    condition_key: str
    value_match: Any = None
    value_is_not: list[Any] | None = None
    action: Literal["INSERT_AFTER_CURRENT"] = "INSERT_AFTER_CURRENT"
    steps_to_insert: list[AnyStep] = Field(min_length=1)

    @field_validator("action", mode="before")
    @classmethod
    def _action_any_case(cls, value: Any) -> Any:
        return upper(value)

    @model_validator(mode="after")
    def _one_condition(self) -> InjectionRule:
        given = {"value_match", "value_is_not"} & self.model_fields_set
        if len(given) != 1:
            raise ValueError(
                f"a dynamic_injection rule on '{self.condition_key}' needs exactly one of "
                f"'value_match' and 'value_is_not'"
            )
        return self

    def matches(self, value: Any) -> bool:
        """Whether the state value at ``condition_key`` selects this rule."""
        if "value_match" in self.model_fields_set:
            return bool(value == self.value_match)
        return value not in (self.value_is_not or [])


class DynamicInjection(Strict):
    """``dynamic_injection: {rules: [...]}``: steps inserted after this one at run time."""

    rules: list[InjectionRule] = Field(min_length=1)


class StepBase(Strict):
    """Keys every step type accepts.

    Class attributes: ``kind`` is the type the model is registered for; ``loop_body_ok`` says
    whether a LOOP may run steps of this type in its body.
    ``dependencies``, ``automate_start``, ``required_input``, ``timeout_seconds`` and
    ``dynamic_injection`` are the published SDK's keys (see docs/migrating-from-ruvon-sdk.md).
    """

    kind: ClassVar[StepType] = StepType.STANDARD
    loop_body_ok: ClassVar[bool] = False
    own_timeout: ClassVar[bool] = False
    """Whether ``timeout_seconds`` means something of the step type's own (not the step's run)."""

    name: str
    type: StepType = StepType.STANDARD
    function: str | None = None
    automate_next: bool = False
    automate_start: bool = False
    description: str | None = None
    compensate_function: str | None = None
    routes: list[RouteDefinition] = Field(default_factory=list)
    retry: RetryPolicy | None = None
    dependencies: list[str] = Field(default_factory=list)
    required_input: list[str] = Field(default_factory=list)
    timeout_seconds: float | None = Field(default=None, gt=0)
    dynamic_injection: DynamicInjection | None = None

    @model_validator(mode="before")
    @classmethod
    def _sdk_form(cls, data: Any) -> Any:
        return step_form(data)

    @field_validator("type", mode="before")
    @classmethod
    def _type_any_case(cls, value: Any) -> Any:
        return upper(value)

    @property
    def label(self) -> str:
        """``"PARALLEL step 'Name'"``, for messages."""
        return f"{self.type.value} step '{self.name}'"

    def problems(self) -> list[str]:
        """What is wrong with this step beyond its schema (one sentence each); none by default."""
        return []

    @property
    def injected_steps(self) -> list[StepBase]:
        """The steps this step's ``dynamic_injection`` rules may insert, in order."""
        if self.dynamic_injection is None:
            return []
        return [s for rule in self.dynamic_injection.rules for s in rule.steps_to_insert]

    def function_paths(self) -> list[FunctionUse]:
        """Every function this step names, with the keyword arguments it will be given."""
        found = [FunctionUse(f"step '{self.name}'", self.function)] if self.function else []
        if self.compensate_function:
            found.append(
                FunctionUse(f"step '{self.name}' compensate_function", self.compensate_function)
            )
        for inserted in self.injected_steps:
            found += inserted.function_paths()
        return found


def _needs_function(step: StepBase) -> list[str]:
    if step.function:
        return []
    return [f"{step.label} has no 'function'. Add the dotted path of its function."]


@step_model(StepType.STANDARD)
class StandardStep(StepBase):
    """Call ``function``; merge the dict it returns into the state."""

    loop_body_ok: ClassVar[bool] = True
    input_model: str | None = None

    def problems(self) -> list[str]:
        return _needs_function(self)


@step_model(StepType.DECISION)
class DecisionStep(StepBase):
    """Pick the next step by ``routes`` (and/or a function that raises WorkflowJumpDirective)."""

    def problems(self) -> list[str]:
        if self.function or self.routes:
            return []
        return [f"{self.label} has neither 'routes' nor 'function'. Add routes with conditions."]


@step_model(StepType.HUMAN_IN_LOOP)
class HumanStep(StepBase):
    """Stop in WAITING_HUMAN until ``next_step(user_input=...)``; validate it by ``input_model``."""

    input_model: str | None = None

    def function_paths(self) -> list[FunctionUse]:
        # The input's fields arrive as keyword arguments: any name may be required.
        return [
            FunctionUse(use.what, use.path, ("*",)) if use.path == self.function else use
            for use in super().function_paths()
        ]


@step_model(StepType.ASYNC)
class AsyncStep(StepBase):
    """Run ``function`` on the executor; the workflow is PENDING_ASYNC until its result is back."""

    def problems(self) -> list[str]:
        return _needs_function(self)


@step_model(StepType.PARALLEL)
class ParallelStep(StepBase):
    """Run ``tasks`` (or one task per item of ``iterate_over``) at once and merge their results."""

    loop_body_ok: ClassVar[bool] = True
    own_timeout: ClassVar[bool] = True

    tasks: list[TaskDefinition] = Field(default_factory=list)
    merge_strategy: MergeStrategy = MergeStrategy.SHALLOW
    merge_conflict_behavior: MergeConflictBehavior = MergeConflictBehavior.PREFER_NEW
    allow_partial_success: bool = False
    timeout_seconds: float | None = Field(default=None, gt=0)
    iterate_over: str | None = None
    task_function: str | None = None
    item_var_name: str = "item"
    max_concurrency: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    collect_into: str | None = None

    @field_validator("merge_strategy", mode="before")
    @classmethod
    def _strategy_any_case(cls, value: Any) -> Any:
        return upper(value)

    @field_validator("merge_conflict_behavior", mode="before")
    @classmethod
    def _conflict_alias(cls, value: Any) -> Any:
        value = upper(value)
        return "PREFER_OLD" if value == "PREFER_EXISTING" else value

    def problems(self) -> list[str]:
        name = self.label
        problems = []
        dynamic = self.iterate_over is not None or self.task_function is not None
        if dynamic and not (self.iterate_over and self.task_function):
            problems.append(
                f"{name} needs both 'iterate_over' and 'task_function' for a dynamic fan-out."
            )
        if dynamic and self.tasks:
            problems.append(f"{name} has both 'tasks' and 'iterate_over'; use one or the other.")
        if not dynamic and not self.tasks:
            problems.append(
                f"{name} has no tasks. Add a 'tasks' list of {{name, function_path}} entries, or "
                f"'iterate_over' and 'task_function' for one task per item."
            )
        names = [t.name for t in self.tasks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"{name} has duplicate task names {duplicates}; make each unique.")
        if self.function:
            problems.append(f"{name} has a 'function'; its work is in 'tasks'. Remove it.")
        return problems

    def function_paths(self) -> list[FunctionUse]:
        found = super().function_paths()
        found += [
            FunctionUse(f"step '{self.name}', task '{t.name}'", t.function_path) for t in self.tasks
        ]
        if self.task_function:
            found.append(
                FunctionUse(
                    f"step '{self.name}' task_function",
                    self.task_function,
                    (self.item_var_name, "index"),
                )
            )
        return found


class LoopMode(StrEnum):
    """ITERATE over a state list, or repeat WHILE a condition holds."""

    ITERATE = "ITERATE"
    WHILE = "WHILE"


@step_model(StepType.LOOP)
class LoopStep(StepBase):
    """Run ``loop_body`` once per item of ``iterate_over``, or while ``while_condition`` holds."""

    mode: LoopMode = LoopMode.ITERATE
    iterate_over: str | None = None
    item_var_name: str = "item"
    while_condition: str | None = None
    max_iterations: int = Field(default=1000, ge=1)
    loop_body: list[AnyStep] = Field(default_factory=list)

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_any_case(cls, value: Any) -> Any:
        return upper(value)

    def problems(self) -> list[str]:
        name = self.label
        problems = []
        if self.mode is LoopMode.ITERATE and not self.iterate_over:
            problems.append(
                f"{name} in ITERATE mode needs 'iterate_over' (a list field of the state)."
            )
        if self.mode is LoopMode.WHILE:
            if not self.while_condition:
                problems.append(f"{name} in WHILE mode needs a 'while_condition'.")
            else:
                problems += expression_problems(self.while_condition, self.name)
        if not self.loop_body:
            problems.append(f"{name} has an empty 'loop_body'. Add the steps to repeat.")
        allowed = ", ".join(kind for kind, model in STEP_MODELS.items() if model.loop_body_ok)
        for body in self.loop_body:
            if not body.loop_body_ok:
                problems.append(
                    f"{name}: its body step '{body.name}' is {body.type.value}; a loop body may "
                    f"hold {allowed} steps."
                )
        return problems

    def function_paths(self) -> list[FunctionUse]:
        found = super().function_paths()
        for body_step in self.loop_body:
            found += [
                FunctionUse(
                    f"step '{self.name}', {use.what}",
                    use.path,
                    (*use.provided, self.item_var_name, "index"),
                )
                for use in body_step.function_paths()
            ]
        return found


class SubWorkflowMode(StrEnum):
    """WAIT for the child's end, or FIRE_AND_FORGET it."""

    WAIT = "WAIT"
    FIRE_AND_FORGET = "FIRE_AND_FORGET"


@step_model(StepType.SUB_WORKFLOW)
class SubWorkflowStep(StepBase):
    """Start a child workflow of ``workflow_type``; with WAIT, continue when it has finished."""

    workflow_type: str = Field(validation_alias=AliasChoices("workflow_type", "sub_workflow_type"))
    initial_data: dict[str, Any] = Field(default_factory=dict)
    input_mapping: dict[str, str] = Field(default_factory=dict)
    output_key: str | None = None
    mode: SubWorkflowMode = SubWorkflowMode.WAIT

    @field_validator("mode", mode="before")
    @classmethod
    def _mode_any_case(cls, value: Any) -> Any:
        return upper(value)

    def problems(self) -> list[str]:
        return [
            f"input_mapping '{key}': {message}"
            for key, expression in self.input_mapping.items()
            for message in expression_problems(expression, self.name)
        ]


@step_model(StepType.HTTP)
class HttpStep(StepBase):
    """Call an HTTP endpoint; method, URL, headers, query and body are templates over the state."""

    loop_body_ok: ClassVar[bool] = True
    own_timeout: ClassVar[bool] = True

    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    output_key: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    expected_status: list[int] = Field(default_factory=list)
    includes: list[Literal["body", "status_code", "headers"]] | None = None

    @field_validator("method", mode="before")
    @classmethod
    def _method_any_case(cls, value: Any) -> Any:
        return upper(value)


@step_model(StepType.CRON_SCHEDULE)
class CronScheduleStep(StepBase):
    """Store (or replace) the schedule ``schedule_name``: start ``target_workflow_type`` with
    ``initial_data_template`` on every tick of ``cron_expression`` (see ``ruvon.runtime.schedules``).

    ``schedule_name`` and the string values of ``initial_data_template`` are templates over the
    state. The schedule lives on until it is removed (``ruvon schedule remove NAME``).
    """

    schedule_name: str
    cron_expression: str
    target_workflow_type: str
    initial_data_template: dict[str, Any] = Field(default_factory=dict)
    timezone: str = "UTC"
    catch_up: str = "coalesce"
    output_key: str | None = None

    def problems(self) -> list[str]:
        from ruvon.errors import ScheduleError
        from ruvon.runtime.schedules import check_policy, parse_cron

        try:
            parse_cron(self.cron_expression, self.timezone)
            check_policy(self.catch_up, 1, 0)
        except ScheduleError as exc:
            return [f"{self.label}: {exc}"]
        return []


@step_model(StepType.SLEEP)
class SleepStep(StepBase):
    """Sleep durably (status SLEEPING) for ``seconds`` or until ``until``, then go on.

    Both may be templates over the state (``"{{ state.delay }}"``); ``until`` is an ISO 8601
    datetime (naive: UTC). A serving worker wakes the workflow when it is due.
    """

    seconds: float | str | None = None
    until: str | None = None

    def problems(self) -> list[str]:
        if (self.seconds is None) == (self.until is None):
            return [f"{self.label} needs exactly one of 'seconds' and 'until'."]
        if self.function:
            return [f"{self.label} has a 'function'; a SLEEP step runs none. Remove it."]
        return []


@step_model(StepType.WAIT_FOR_SIGNAL)
class WaitForSignalStep(StepBase):
    """Wait (status WAITING_SIGNAL) for the signal ``signal``; merge its data into the state, or
    put it under ``output_key``. After ``timeout_seconds`` without one, go to ``on_timeout`` (or
    fail, when it is not set)."""

    own_timeout: ClassVar[bool] = True

    signal: str = Field(min_length=1, max_length=200)
    output_key: str | None = None
    on_timeout: str | None = None

    def problems(self) -> list[str]:
        if self.function:
            return [f"{self.label} has a 'function'; a WAIT_FOR_SIGNAL step runs none. Remove it."]
        if self.on_timeout and self.timeout_seconds is None:
            return [f"{self.label} has 'on_timeout' but no 'timeout_seconds'. Add one."]
        return []


#: Step types the published SDK names differently, and the model that reads each.
STEP_TYPE_ALIASES: dict[str, StepType] = {FIRE_AND_FORGET: StepType.SUB_WORKFLOW}


def step_tag(value: Any) -> str | None:
    """The discriminator: the step's type, upper-cased; STANDARD when absent."""
    if isinstance(value, dict):
        kind = upper(value.get("type") or "STANDARD")
        if isinstance(kind, str) and kind in STEP_TYPE_ALIASES:
            return STEP_TYPE_ALIASES[kind].value
        return kind if isinstance(kind, str) and kind in STEP_MODELS else None
    kind = getattr(value, "type", None)
    return str(kind) if kind is not None else None


if TYPE_CHECKING:
    AnyStep = StepBase
else:
    # Built from the registrations: adding a step type never edits this union.
    AnyStep = Annotated[
        Union[tuple(Annotated[model, Tag(kind.value)] for kind, model in STEP_MODELS.items())],  # noqa: UP007
        Discriminator(step_tag),
    ]

LoopStep.model_rebuild()
InjectionRule.model_rebuild()
DynamicInjection.model_rebuild()
for _model in STEP_MODELS.values():
    _model.model_rebuild()
