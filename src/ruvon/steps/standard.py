"""STANDARD and DECISION steps: call one function, merge the dict it returns into the state."""

from __future__ import annotations

from ruvon.models import WorkflowStatus
from ruvon.results import apply_result, as_update
from ruvon.step_models import DecisionStep, StandardStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun, invoke
from ruvon.steps.sub_workflow import start_child
from ruvon.steps.timing import directive_due


async def run_standard(run: StepRun) -> StepOutcome:
    """Run a STANDARD step (or a DECISION step's optional function).

    A function may raise WorkflowJumpDirective (continue at another step), WorkflowPauseDirective
    (wait for input) or StartSubWorkflowDirective (run a child workflow, then continue).

    Raises:
        StepFailed: The function raised, returned a non-dict, or returned invalid field values.
    """
    if run.step.function is None:  # a DECISION step that only routes
        return StepOutcome(result={}, state=run.state)
    called = await invoke(run, run.step.function)
    if called.sub_workflow is not None:
        directive = called.sub_workflow
        return await start_child(
            run,
            workflow_type=directive.workflow_type,
            initial_data=directive.initial_data,
            output_key=directive.data_region,
        )
    where = run.where
    result = as_update(called.value, where, run.step.function)
    apply_result(run.state, result, where, step_name=run.step.name)
    wait = WorkflowStatus.WAITING_HUMAN if called.pause else None
    sleep = None if called.sleep is None else directive_due(called.sleep, where)
    return StepOutcome(
        result=result, state=run.state, jump_to=called.jump_to, wait=wait, sleep_until=sleep
    )


KINDS = (StepKind(StandardStep, run_standard), StepKind(DecisionStep, run_standard))
