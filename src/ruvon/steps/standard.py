"""STANDARD and DECISION steps: call one function, merge the dict it returns into the state."""

from __future__ import annotations

from typing import Any

from ruvon.models import WorkflowStatus
from ruvon.results import apply_result, as_update
from ruvon.step_models import DecisionStep, StandardStep
from ruvon.steps.base import (
    Invocation,
    StepKind,
    StepOutcome,
    StepRun,
    call_step,
    input_fields,
)
from ruvon.steps.sub_workflow import start_child
from ruvon.steps.timing import directive_due


async def run_standard(run: StepRun) -> StepOutcome:
    """Run a STANDARD step (or a DECISION step's optional function).

    A function may raise WorkflowJumpDirective (continue at another step), WorkflowPauseDirective
    (the step is finished; the workflow waits for input for the next step) or
    StartSubWorkflowDirective (run a child workflow, then continue). Input given to a paused
    workflow reaches this step as keyword arguments (those it accepts) and as
    ``context.validated_input``.

    Raises:
        StepFailed: The function raised, returned a non-dict, or returned invalid field values.
    """
    if run.step.function is None:  # a DECISION step that only routes
        return StepOutcome(result={}, state=run.state)
    if run.context.validated_input is not None:
        given = input_fields(run.context.validated_input)
        if given:
            run.kwargs = {**given, **run.kwargs}
    value = await call_step(run, run.step.function)
    if type(value) is not Invocation:  # a plain return (every step): no directive to look at
        result = (
            dict(value) if type(value) is dict else as_update(value, run.where, run.step.function)
        )
        apply_result(run.state, result, run.describe, step_name=run.step.name)
        return StepOutcome(result, run.state, None)  # positional: every step
    called = value
    if called.sub_workflow is not None:
        directive = called.sub_workflow
        return await start_child(
            run,
            workflow_type=directive.workflow_type,
            initial_data=directive.initial_data,
            output_key=directive.data_region,
        )
    value = called.value
    # A dict, the common case, first: no message text built (every step).
    result = dict(value) if type(value) is dict else as_update(value, run.where, run.step.function)
    apply_result(run.state, result, run.describe, step_name=run.step.name)
    if called.pause or called.sleep is not None:
        return paused_or_done(run, called, result)
    return StepOutcome(result, run.state, called.jump_to)  # positional: every step


def paused_or_done(run: StepRun, called: Invocation, result: dict[str, Any]) -> StepOutcome:
    """The outcome of a function that returned (done) or raised WorkflowPauseDirective (paused)."""
    if called.pause:
        return StepOutcome(
            result=result,
            state=run.state,
            jump_to=called.jump_to,
            wait=WorkflowStatus.WAITING_HUMAN,
            paused=called.pause_reason or "waiting for input",
        )
    if called.sleep is None:
        return StepOutcome(result, run.state, called.jump_to)  # positional: every step
    sleep = directive_due(called.sleep, run.where)
    return StepOutcome(result=result, state=run.state, jump_to=called.jump_to, sleep_until=sleep)


KINDS = (StepKind(StandardStep, run_standard), StepKind(DecisionStep, run_standard))
