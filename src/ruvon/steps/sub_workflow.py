"""SUB_WORKFLOW steps (and StartSubWorkflowDirective): run a child workflow, then continue.

The child uses the parent's persistence, executor and observer. With WAIT, the child runs right away
in this process; the parent is PENDING_SUB_WORKFLOW while the child waits (for a human, say) and
continues when the child has COMPLETED, with the child's final state under ``output_key`` (or its
fields that the parent also has). A failed child fails the parent with FAILED_CHILD_WORKFLOW.
FIRE_AND_FORGET starts the child in the background and goes on at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ruvon.engine_record import PendingChild
from ruvon.errors import LeaseHeld, StepFailed
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import Interrupted
from ruvon.providers.observer import notify
from ruvon.results import apply_result
from ruvon.runtime.start import hand_to_workers, queue_for_workers
from ruvon.step_models import SubWorkflowMode, SubWorkflowStep
from ruvon.steps.base import BuilderHandle, StepKind, StepOutcome, StepRun

_log = logging.getLogger("ruvon.workflow")
# FIRE_AND_FORGET children this process runs in the background, by task: their ids.
_background: dict[asyncio.Task[Any], str] = {}


class ChildWorkflowFailed(StepFailed):
    """The child workflow of a step ended FAILED (or cancelled)."""


async def run_sub_workflow(run: StepRun) -> StepOutcome:
    """Run a SUB_WORKFLOW step."""
    step = run.step
    assert isinstance(step, SubWorkflowStep)
    data = dict(step.initial_data)
    if step.input_mapping:
        evaluator = run.evaluator()
        data.update({key: evaluator.evaluate(expr) for key, expr in step.input_mapping.items()})
    if step.mode is SubWorkflowMode.FIRE_AND_FORGET:
        child = await _create(run, step.workflow_type, data)
        if not await hand_to_workers(run.workflow.id, run.persistence, child):
            # Serving workers run the child if this process does not get to (it exits first).
            await queue_for_workers(run.persistence, child.id)
            task = asyncio.ensure_future(_run_detached(child))
            _background[task] = child.id
            task.add_done_callback(lambda done: _background.pop(done, None))
        update = {step.output_key: child.id} if step.output_key else {}
        apply_result(run.state, update, run.where, step_name=step.name)
        return StepOutcome(result={"child_workflow_id": child.id}, state=run.state)
    return await start_child(run, step.workflow_type, data, step.output_key)


async def background_children(timeout: float | None = None) -> list[str]:
    """Wait (up to ``timeout`` seconds) for the FIRE_AND_FORGET children this process runs.

    Returns the ids of the children that were running when called. A child still running at the
    timeout stays queued for serving workers (``ruvon serve``) or ``ruvon resume``.
    """
    running = dict(_background)
    if running:
        await asyncio.wait(list(running), timeout=timeout)
    for task, child_id in running.items():
        if task.done() and not task.cancelled() and task.exception() is not None:
            _log.warning(
                "The fire-and-forget child workflow %s stopped with an error: %s (it stays "
                "queued for 'ruvon serve' workers; 'ruvon show %s' shows where it is).",
                child_id,
                task.exception(),
                child_id,
            )
    return list(running.values())


async def _run_detached(child: Any) -> None:
    # LeaseHeld: a serving worker took the child first, it runs there. Interrupted (Ctrl-C): the
    # child stays queued for serving workers or 'ruvon resume'.
    with contextlib.suppress(LeaseHeld, Interrupted):
        await child.run_to_completion()


async def start_child(
    run: StepRun, workflow_type: str, initial_data: dict[str, Any], output_key: str | None
) -> StepOutcome:
    """Create the child, remember it in the parent's engine record (saved first), and run it."""
    child = await _create(run, workflow_type, initial_data)
    run.workflow.engine.sub_workflows[run.step.name] = PendingChild(child.id, output_key)
    await run.workflow.checkpoint(run.state)  # a crash from here on finds the child again
    return await collect_child(run)


async def collect_child(run: StepRun) -> StepOutcome:
    """Run the step's pending child on (if ACTIVE) and turn its end into the step's outcome."""
    pending = run.workflow.engine.sub_workflows[run.step.name]
    child = await _builder(run).load_workflow(
        pending.child_id,
        persistence_provider=run.persistence,
        execution_provider=run.executor,
        workflow_observer=run.observer,
    )
    try:
        if not await hand_to_workers(run.workflow.id, run.persistence, child):
            await child.run_to_completion()
    except LeaseHeld:  # another driver runs the child; it wakes this workflow when it ends
        pass
    if child.status is WorkflowStatus.COMPLETED:
        del run.workflow.engine.sub_workflows[run.step.name]
        final = child.state.model_dump()
        key = pending.output_key
        parent_fields = type(run.state).model_fields
        update = {key: final} if key else {k: v for k, v in final.items() if k in parent_fields}
        apply_result(run.state, update, run.where, step_name=run.step.name)
        return StepOutcome(result={"child_workflow_id": child.id, **update}, state=run.state)
    if child.status.is_terminal:
        del run.workflow.engine.sub_workflows[run.step.name]
        raise ChildWorkflowFailed(
            f"{run.where}: the child workflow {child.id} ({child.workflow_type}) ended "
            f"{child.status.value}: {child.error or 'no error recorded'}. Fix the child's failure "
            f"(ruvon show {child.id}) and retry the parent.",
            step_name=run.step.name,
        )
    return StepOutcome(
        result={"child_workflow_id": child.id, "child_status": child.status.value},
        state=run.state,
        wait=WorkflowStatus.PENDING_SUB_WORKFLOW,
    )


def _builder(run: StepRun) -> BuilderHandle:
    builder = run.workflow.builder
    if builder is None:
        raise StepFailed(
            f"{run.where} starts a sub-workflow but its workflow has no builder. Create workflows "
            f"with WorkflowBuilder.create_workflow so sub-workflows can be built.",
            step_name=run.step.name,
        )
    return builder


async def _create(run: StepRun, workflow_type: str, data: dict[str, Any]) -> Any:
    child = await _builder(run).create_workflow(
        workflow_type,
        persistence_provider=run.persistence,
        execution_provider=run.executor,
        workflow_observer=run.observer,
        initial_data=data,
        parent_id=run.workflow.id,
    )
    await notify(run.observer.on_child_workflow_started, run.workflow.id, child.id, workflow_type)
    return child


KINDS = (StepKind(SubWorkflowStep, run_sub_workflow),)
