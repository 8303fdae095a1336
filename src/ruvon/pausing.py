"""Pausing: a step that raises WorkflowPauseDirective is finished; input resumes the workflow.

The pausing step's result merges like any step result and the workflow moves to the next step,
then waits (WAITING_HUMAN, ``engine.paused_by`` naming the step). The next non-empty input is
checked (``required_input``) and validated (``input_model``) for the pausing step, or else for the
step that receives it; its state fields merge and it reaches that next step as keyword arguments
and as ``context.validated_input``. Empty input keeps the workflow waiting.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon import routing, transitions
from ruvon.errors import RuvonError, StateValidationError, StepFailed
from ruvon.models import WorkflowStatus
from ruvon.providers.observer import notify
from ruvon.providers.persistence import LogEntry
from ruvon.results import apply_result
from ruvon.step_models import StepBase
from ruvon.steps.base import StepOutcome, input_fields
from ruvon.steps.dispatch import check_required, validate_with
from ruvon.steps.human import state_fields

if TYPE_CHECKING:
    from ruvon.workflow import Workflow


def is_empty(user_input: Any) -> bool:
    """No input, or an empty mapping (the SDK's ``user_input={}``): the workflow keeps waiting."""
    if user_input is None:
        return True
    if isinstance(user_input, Mapping):
        return not user_input
    return isinstance(user_input, BaseModel) and not user_input.model_fields_set


async def finish(wf: Workflow, step: StepBase, outcome: StepOutcome, started: float) -> str | None:
    """Finish a step that paused: adopt its result, move on, then wait for input.

    Returns the name of the step that will get the input (``None`` when the workflow completed or
    failed instead).
    """
    try:
        next_index = routing.next_index(
            wf.loaded, step, outcome, wf.current_step, wf.expression_evaluator_cls
        )
    except RuvonError as exc:  # a route of the pausing step that does not work
        message = routing.describe_error(wf.loaded, step, exc)
        await transitions.fail_step(wf, step, message, started, WorkflowStatus.FAILED)
        return None
    next_name = await transitions.advance(wf, step, outcome, started, next_index)
    if next_name is None:
        return None
    wf.engine.paused_by = step.name
    wf.last_save_of_call()
    await wf.set_status(WorkflowStatus.WAITING_HUMAN, save=True)
    await notify(wf.observer.on_workflow_paused, wf.id, step.name, outcome.paused or "")
    return next_name


async def resume(wf: Workflow, step: StepBase, user_input: Any) -> Any:
    """Accept input for a paused workflow: check, validate, merge its state fields, save.

    Returns the validated input, which the receiving ``step`` gets.

    Raises:
        StateValidationError: The input lacks a required field or does not fit the model; the
            workflow keeps waiting, unchanged.
    """
    paused_name = wf.engine.paused_by or step.name
    index = wf.loaded.step_index.get(paused_name)
    owner = wf.steps[index] if index is not None else step
    required = [*owner.required_input]
    required += [name for name in step.required_input if name not in required]
    check_required(owner.name, required, user_input)
    model = wf.loaded.input_models.get(owner.name) or wf.loaded.input_models.get(step.name)
    validated = validate_with(owner.name if model else step.name, model, user_input)
    fields = input_fields(validated)
    where = f"{wf.loaded.source}, the input after step '{owner.name}'"
    try:
        apply_result(wf.state, state_fields(wf.state, fields), where, step_name=step.name)
    except StepFailed as exc:
        wf.restore_saved_state()
        raise StateValidationError(
            f"{exc} The workflow still waits; call next_step(user_input=...) with valid values."
        ) from None
    wf.engine.paused_by = None
    wf.add_log([LogEntry(wf.id, "RESUMED", step.name, at=time.time())])
    await wf.set_status(WorkflowStatus.ACTIVE, save=True)
    await notify(wf.observer.on_workflow_resumed, wf.id, step.name, fields)
    return validated
