"""Which runner runs a step, its default retry policy, and validation of human input."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ruvon.definition import LoadedDefinition
from ruvon.engine_record import EngineRecord
from ruvon.errors import RuvonError, StateValidationError
from ruvon.step_models import STEP_MODELS, RetryPolicy, StepBase, StepType
from ruvon.steps import async_step, http, human, loop, parallel, standard, sub_workflow, timing
from ruvon.steps.base import Runner, StepKind
from ruvon.steps.sub_workflow import collect_child

_MODULES = (standard, parallel, human, async_step, loop, sub_workflow, http, timing)

KINDS: dict[StepType, StepKind] = {kind.type: kind for m in _MODULES for kind in m.KINDS}
"""Every step type's record, built from the ``KINDS`` each step module declares."""

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
