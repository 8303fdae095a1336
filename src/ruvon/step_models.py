"""The YAML schema of steps: one pydantic model per step type, chosen by the ``type`` key."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

from ruvon.merge import MergeConflictBehavior, MergeStrategy


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
    """A route: go to ``target`` when ``condition`` holds, or always when ``default`` is true."""

    condition: str | None = None
    target: str = Field(validation_alias=AliasChoices("target", "next_step"))
    default: bool = False


class RetryPolicy(Strict):
    """Re-run a failing step: ``max_attempts`` in all, waiting ``backoff_seconds`` x multiplier^n."""

    max_attempts: int = Field(default=3, ge=1)
    backoff_seconds: float = Field(default=1.0, ge=0)
    backoff_multiplier: float = Field(default=2.0, ge=1)

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return self.backoff_seconds * self.backoff_multiplier ** (attempt - 1)


class FunctionUse(NamedTuple):
    """One place a definition names a function, and the keyword arguments it will be given there.

    ``provided`` holds the names of keyword arguments the engine passes (``"*"``: any name).
    """

    what: str
    path: str
    provided: tuple[str, ...] = ()


class StepBase(Strict):
    """Keys every step type accepts."""

    name: str
    type: StepType = StepType.STANDARD
    function: str | None = None
    automate_next: bool = False
    description: str | None = None
    compensate_function: str | None = None
    routes: list[RouteDefinition] = Field(default_factory=list)
    retry: RetryPolicy | None = None

    @field_validator("type", mode="before")
    @classmethod
    def _type_any_case(cls, value: Any) -> Any:
        return upper(value)

    def function_paths(self) -> list[FunctionUse]:
        """Every function this step names, with the keyword arguments it will be given."""
        found = [FunctionUse(f"step '{self.name}'", self.function)] if self.function else []
        if self.compensate_function:
            found.append(
                FunctionUse(f"step '{self.name}' compensate_function", self.compensate_function)
            )
        return found


class StandardStep(StepBase):
    """Call ``function``; merge the dict it returns into the state."""

    input_model: str | None = None


class DecisionStep(StepBase):
    """Pick the next step by ``routes`` (and/or a function that raises WorkflowJumpDirective)."""


class HumanStep(StepBase):
    """Stop in WAITING_HUMAN until ``next_step(user_input=...)``; validate it by ``input_model``."""

    input_model: str | None = None

    def function_paths(self) -> list[FunctionUse]:
        # The input's fields arrive as keyword arguments: any name may be required.
        return [
            FunctionUse(use.what, use.path, ("*",)) if use.path == self.function else use
            for use in super().function_paths()
        ]


class AsyncStep(StepBase):
    """Run ``function`` on the executor; the workflow is PENDING_ASYNC until its result is back."""


class ParallelStep(StepBase):
    """Run ``tasks`` (or one task per item of ``iterate_over``) at once and merge their results."""

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


class HttpStep(StepBase):
    """Call an HTTP endpoint; method, URL, headers, query and body are templates over the state."""

    method: str = "GET"
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    output_key: str | None = None
    timeout_seconds: float = Field(default=30.0, gt=0)
    expected_status: list[int] = Field(default_factory=list)

    @field_validator("method", mode="before")
    @classmethod
    def _method_any_case(cls, value: Any) -> Any:
        return upper(value)


STEP_MODELS: dict[StepType, type[StepBase]] = {
    StepType.STANDARD: StandardStep,
    StepType.PARALLEL: ParallelStep,
    StepType.DECISION: DecisionStep,
    StepType.HUMAN_IN_LOOP: HumanStep,
    StepType.LOOP: LoopStep,
    StepType.SUB_WORKFLOW: SubWorkflowStep,
    StepType.ASYNC: AsyncStep,
    StepType.HTTP: HttpStep,
}


def step_tag(value: Any) -> str | None:
    """The discriminator: the step's type, upper-cased; STANDARD when absent."""
    if isinstance(value, dict):
        kind = upper(value.get("type") or "STANDARD")
        return kind if isinstance(kind, str) and kind in STEP_MODELS else None
    kind = getattr(value, "type", None)
    return str(kind) if kind is not None else None


AnyStep = Annotated[
    Annotated[StandardStep, Tag("STANDARD")]
    | Annotated[ParallelStep, Tag("PARALLEL")]
    | Annotated[DecisionStep, Tag("DECISION")]
    | Annotated[HumanStep, Tag("HUMAN_IN_LOOP")]
    | Annotated[LoopStep, Tag("LOOP")]
    | Annotated[SubWorkflowStep, Tag("SUB_WORKFLOW")]
    | Annotated[AsyncStep, Tag("ASYNC")]
    | Annotated[HttpStep, Tag("HTTP")],
    Discriminator(step_tag),
]

LoopStep.model_rebuild()
