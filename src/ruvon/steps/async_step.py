"""ASYNC steps: the function runs on the executor while the workflow is PENDING_ASYNC."""

from __future__ import annotations

import asyncio
from typing import Any

from ruvon.models import WorkflowStatus
from ruvon.providers.execution import private_state
from ruvon.results import apply_result, as_update
from ruvon.step_models import AsyncStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun, invoke


async def run_async_step(run: StepRun) -> StepOutcome:
    """Dispatch the function and return PENDING_ASYNC; on the next call, collect its result.

    The function works on a private copy of the state. If the process that dispatched it is gone (a
    reloaded workflow), the function is dispatched again: steps run at least once.
    """
    pending = run.workflow.pending_async
    future = pending.get(run.step.name)
    if future is None:
        future = asyncio.ensure_future(_call(run))
        pending[run.step.name] = future
        return StepOutcome(result=None, state=run.state, wait=WorkflowStatus.PENDING_ASYNC)
    try:
        value = await future
    finally:
        pending.pop(run.step.name, None)
    where = run.where
    result = as_update(value, where, run.step.function)
    apply_result(run.state, result, where, step_name=run.step.name)
    return StepOutcome(result=result, state=run.state)


async def _call(run: StepRun) -> Any:
    assert run.step.function is not None
    copy_run = StepRun(
        step=run.step,
        state=private_state(run.state),
        context=run.context,
        loaded=run.loaded,
        executor=run.executor,
        persistence=run.persistence,
        observer=run.observer,
        workflow=run.workflow,
        kwargs=run.kwargs,
    )
    return (await invoke(copy_run, run.step.function)).value


KINDS = (StepKind(AsyncStep, run_async_step),)
