"""HUMAN_IN_LOOP steps: stop in WAITING_HUMAN until ``next_step(user_input=...)`` brings input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ruvon.models import WorkflowStatus
from ruvon.results import apply_result, as_update, extra_mode
from ruvon.step_models import HumanStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun, invoke
from ruvon.steps.timing import directive_due


async def run_human(run: StepRun) -> StepOutcome:
    """Wait for input; with input (validated by the workflow against ``input_model``), go on.

    With a function, the function gets the input as ``context.validated_input`` (and its fields as
    keyword arguments it accepts) and returns the state update. Without one, the input's fields that
    are state fields are merged into the state.
    """
    given = run.context.validated_input
    if given is None:
        return StepOutcome(result=None, state=run.state, wait=WorkflowStatus.WAITING_HUMAN)
    fields = given.model_dump() if isinstance(given, BaseModel) else given
    if run.step.function is None:
        update = _state_fields(run.state, fields)
        apply_result(run.state, update, run.where, step_name=run.step.name)
        return StepOutcome(result=update, state=run.state)
    if isinstance(fields, Mapping):
        run.kwargs = {**fields, **run.kwargs}
    called = await invoke(run, run.step.function)
    where = run.where
    result = as_update(called.value, where, run.step.function)
    apply_result(run.state, result, where, step_name=run.step.name)
    wait = WorkflowStatus.WAITING_HUMAN if called.pause else None
    sleep = None if called.sleep is None else directive_due(called.sleep, where)
    return StepOutcome(
        result=result, state=run.state, jump_to=called.jump_to, wait=wait, sleep_until=sleep
    )


def _state_fields(state: BaseModel, fields: Any) -> dict[str, Any]:
    """The input's fields the state has: an input model may hold more than state fields."""
    if not isinstance(fields, Mapping):
        return {}
    model = type(state)
    if extra_mode(model) == "allow":
        return dict(fields)
    return {key: value for key, value in fields.items() if key in model.model_fields}


KINDS = (StepKind(HumanStep, run_human),)
