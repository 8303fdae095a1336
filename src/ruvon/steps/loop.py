"""LOOP steps: run ``loop_body`` per item of a state list (ITERATE) or while a condition holds."""

from __future__ import annotations

from typing import Any

from ruvon.errors import StepFailed
from ruvon.models import StepContext
from ruvon.step_models import LoopMode, LoopStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun


def read_path(state: Any, path: str) -> Any:
    """The value at ``state.items`` / ``items`` / ``state.order.lines`` (attributes or dict keys)."""
    value = state
    for part in path.removeprefix("state.").split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part)
    return value


def read_items(run: StepRun, path: str) -> list[Any] | tuple[Any, ...]:
    """The list an ``iterate_over`` path names, or StepFailed (not retried) saying what it is."""
    items = read_path(run.state, path)
    if not isinstance(items, list | tuple):
        raise StepFailed(
            f"{run.where}: 'iterate_over: {path}' is {type(items).__name__}, not a list. Point it "
            f"at a list field of the state.",
            step_name=run.step.name,
            retryable=False,
        )
    return items


async def run_loop(run: StepRun) -> StepOutcome:
    """Run a LOOP step. Progress is saved after every iteration, so a resumed loop goes on from the
    first iteration that had not finished (iterations run at least once).

    Raises:
        StepFailed: A body step failed, the loop exceeded ``max_iterations``, or ``iterate_over`` is
            not a list.
    """
    step = run.step
    assert isinstance(step, LoopStep)
    progress = run.workflow.engine.loop_progress
    done = int(progress.get(step.name, 0))
    while True:
        item = _next_item(run, step, done)
        if item is _STOP:
            break
        for body in step.loop_body:
            context = StepContext(
                workflow_id=run.context.workflow_id,
                step_name=body.name,
                workflow_type=run.context.workflow_type,
                attempt=run.context.attempt,
                metadata=run.workflow.metadata,
                loop_item=item,
                loop_index=done,
            )
            kwargs = {step.item_var_name: item, "index": done}
            outcome = await run.workflow.run_body_step(body, run.state, context, kwargs)
            run.state = outcome.state
        done += 1
        progress[step.name] = done
        await run.workflow.checkpoint(run.state)
    progress.pop(step.name, None)
    return StepOutcome(result={"iterations": done}, state=run.state)


_STOP = object()


def _next_item(run: StepRun, step: LoopStep, index: int) -> Any:
    if step.mode is LoopMode.WHILE:
        assert step.while_condition is not None
        if not run.evaluator().evaluate(step.while_condition):
            return _STOP
        _check_limit(run, step, index)
        return None
    assert step.iterate_over is not None
    items = read_items(run, step.iterate_over)
    if index >= len(items):
        return _STOP
    _check_limit(run, step, index)
    return items[index]


def _check_limit(run: StepRun, step: LoopStep, index: int) -> None:
    if index >= step.max_iterations:
        raise StepFailed(
            f"{run.where}: the loop reached max_iterations ({step.max_iterations}) and stopped. "
            f"Check the loop's condition, or raise max_iterations if more are expected.",
            step_name=step.name,
        )


KINDS = (StepKind(LoopStep, run_loop),)
