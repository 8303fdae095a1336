"""HUMAN_IN_LOOP steps: stop in WAITING_HUMAN until ``next_step(user_input=...)`` brings input."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from ruvon.models import WorkflowStatus
from ruvon.results import apply_result, as_update, extra_mode
from ruvon.step_models import HumanStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun, invoke
from ruvon.steps.standard import paused_or_done


async def run_human(run: StepRun) -> StepOutcome:
    """Wait for input; with input (validated by the workflow against ``input_model``), go on.

    With a function, the function gets the input as ``context.validated_input`` (and its fields as
    keyword arguments it accepts) and returns the state update. Without one, the input's fields that
    are state fields are merged into the state.

    A function that asks for no input (no ``input_model`` or ``required_input``, and callable as
    ``f(state, context)``) runs as soon as the step is reached, as in the published SDK: if it
    raises WorkflowPauseDirective the step is finished and the input goes to the next step;
    otherwise the step waits and the function is called again with the input.
    """
    given = run.context.validated_input
    step = run.step
    if given is None:
        if step.function is not None and _runs_on_arrival(run, step.function):
            called = await invoke(run, step.function)
            result = as_update(called.value, run.where, step.function)
            apply_result(run.state, result, run.where, step_name=step.name)
            if called.pause:
                return paused_or_done(run, called, result)
            return StepOutcome(result=result, state=run.state, wait=WorkflowStatus.WAITING_HUMAN)
        return StepOutcome(result=None, state=run.state, wait=WorkflowStatus.WAITING_HUMAN)
    fields = given.model_dump() if isinstance(given, BaseModel) else given
    if step.function is None:
        update = state_fields(run.state, fields)
        apply_result(run.state, update, run.where, step_name=step.name)
        return StepOutcome(result=update, state=run.state)
    if isinstance(fields, Mapping):
        run.kwargs = {**fields, **run.kwargs}
    called = await invoke(run, step.function)
    result = as_update(called.value, run.where, step.function)
    apply_result(run.state, result, run.where, step_name=step.name)
    return paused_or_done(run, called, result)


def _runs_on_arrival(run: StepRun, dotted: str) -> bool:
    """Whether the step's function asks for no input, so it runs before any input arrives."""
    step = run.step
    if getattr(step, "input_model", None) or step.required_input:
        return False
    try:
        inspect.signature(run.loaded.functions[dotted]).bind(None, None, **run.kwargs)
    except TypeError:  # it needs input fields as parameters: it waits for them
        return False
    except ValueError:  # no signature (a builtin): do not guess
        return False
    return True


def state_fields(state: BaseModel, fields: Any) -> dict[str, Any]:
    """The input's fields the state has: an input model may hold more than state fields."""
    if not isinstance(fields, Mapping):
        return {}
    model = type(state)
    if extra_mode(model) == "allow":
        return dict(fields)
    return {key: value for key, value in fields.items() if key in model.model_fields}


KINDS = (StepKind(HumanStep, run_human),)
