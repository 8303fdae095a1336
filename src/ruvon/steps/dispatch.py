"""Which runner runs a step, its default retry policy, and validation of human input."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from ruvon.definition import LoadedDefinition
from ruvon.engine_record import EngineRecord
from ruvon.errors import StateValidationError
from ruvon.step_models import RetryPolicy, StepBase, StepType
from ruvon.steps.async_step import run_async_step
from ruvon.steps.base import StepOutcome, StepRun
from ruvon.steps.http import run_http
from ruvon.steps.human import run_human
from ruvon.steps.loop import run_loop
from ruvon.steps.parallel import run_parallel
from ruvon.steps.standard import run_standard
from ruvon.steps.sub_workflow import collect_child, run_sub_workflow

Runner = Callable[[StepRun], Awaitable[StepOutcome]]

RUNNERS: dict[StepType, Runner] = {
    StepType.STANDARD: run_standard,
    StepType.DECISION: run_standard,
    StepType.PARALLEL: run_parallel,
    StepType.HUMAN_IN_LOOP: run_human,
    StepType.ASYNC: run_async_step,
    StepType.LOOP: run_loop,
    StepType.SUB_WORKFLOW: run_sub_workflow,
    StepType.HTTP: run_http,
}


def runner_for(step: StepBase, engine: EngineRecord | None) -> Runner:
    """The runner of ``step``; a step with a pending child workflow collects that child."""
    if engine is not None and step.name in engine.sub_workflows:
        return collect_child
    return RUNNERS[step.type]


def default_retry(step: StepBase) -> RetryPolicy | None:
    """HTTP steps retry transient failures by default; other steps only when configured."""
    if step.type is StepType.HTTP:
        return RetryPolicy(max_attempts=3, backoff_seconds=0.5, backoff_multiplier=2.0)
    return None


def validate_input(loaded: LoadedDefinition, step: StepBase, user_input: Any) -> Any:
    """``user_input`` validated by the step's ``input_model`` (unchanged when it has none).

    Raises:
        StateValidationError: Naming the step, the model and every invalid field.
    """
    model: type[BaseModel] | None = loaded.input_models.get(step.name)
    if user_input is None or model is None or isinstance(user_input, model):
        return user_input
    try:
        if isinstance(user_input, BaseModel):
            user_input = user_input.model_dump()
        return model.model_validate(user_input)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(str(p) for p in err['loc']) or '(root)'}': {err['msg']}"
            for err in exc.errors()
        )
        raise StateValidationError(
            f"The input for step '{step.name}' does not fit its input_model {model.__name__}: "
            f"{problems}. The workflow still waits; call next_step(user_input=...) with valid input."
        ) from None
