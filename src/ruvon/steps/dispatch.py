"""Which runner runs a step, its default retry policy, and validation of human input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from ruvon.definition import LoadedDefinition
from ruvon.engine_record import EngineRecord
from ruvon.errors import RuvonError, StateValidationError
from ruvon.step_models import STEP_MODELS, RetryPolicy, StepBase, StepType
from ruvon.steps import (
    async_step,
    cron_schedule,
    http,
    human,
    loop,
    parallel,
    standard,
    sub_workflow,
    timing,
)
from ruvon.steps.base import Runner, StepKind
from ruvon.steps.sub_workflow import collect_child

_MODULES = (standard, parallel, human, async_step, loop, sub_workflow, http, cron_schedule, timing)

KINDS: dict[StepType, StepKind] = {kind.type: kind for m in _MODULES for kind in m.KINDS}
"""Every step type's record, built from the ``KINDS`` each step module declares."""

RUNNERS: dict[StepType, Runner] = {step_type: kind.runner for step_type, kind in KINDS.items()}
"""Every step type's runner (a step with a pending child workflow runs ``collect_child``)."""

_unrun = [str(kind) for kind in STEP_MODELS if kind not in KINDS]
if _unrun:  # a step model registered without a step module declaring its runner
    raise RuvonError(
        f"The step types {_unrun} have a model but no runner. Add a KINDS record to their step "
        f"module and list that module in ruvon.steps.dispatch."
    )


def runner_for(step: StepBase, engine: EngineRecord | None) -> Runner:
    """The runner of ``step``; a step with a pending child workflow collects that child."""
    if engine is not None and step.name in engine.sub_workflows:
        return collect_child
    return KINDS[step.type].runner


def default_retry(step: StepBase) -> RetryPolicy | None:
    """The retry policy of a step that sets none (HTTP steps retry transient failures)."""
    return KINDS[step.type].default_retry


def validate_input(loaded: LoadedDefinition, step: StepBase, user_input: Any) -> Any:
    """``user_input`` checked for the step's ``required_input`` and validated by its ``input_model``
    (unchanged when it has neither).

    Raises:
        StateValidationError: Naming the step, the missing fields or the model and every invalid
            field.
    """
    if user_input is None:
        return None
    check_required(step.name, step.required_input, user_input)
    return validate_with(step.name, loaded.input_models.get(step.name), user_input)


def check_required(step_name: str, required: Sequence[str], user_input: Any) -> None:
    """Refuse input that lacks a field of ``required`` (the step's ``required_input``)."""
    if not required:
        return
    given = user_input.model_dump() if isinstance(user_input, BaseModel) else user_input
    keys = set(given) if isinstance(given, Mapping) else set()
    missing = [name for name in required if name not in keys]
    if missing:
        raise StateValidationError(
            f"The input for step '{step_name}' lacks the required field(s) "
            f"{', '.join(repr(m) for m in missing)} (its required_input: {', '.join(required)}). "
            f"The workflow still waits; call next_step(user_input=...) with them."
        )


def validate_with(step_name: str, model: type[BaseModel] | None, user_input: Any) -> Any:
    """``user_input`` validated by ``model`` (unchanged without one)."""
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
            f"The input for step '{step_name}' does not fit its input_model {model.__name__}: "
            f"{problems}. The workflow still waits; call next_step(user_input=...) with valid input."
        ) from None
