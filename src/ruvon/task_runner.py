"""Run one PARALLEL task and turn whatever happens into a TaskOutcome. Shared by every executor."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel

from ruvon.errors import StepFailed
from ruvon.loading import accepted_kwargs
from ruvon.models import StepContext
from ruvon.providers.execution import ParallelBatch, TaskCall, TaskOutcome
from ruvon.providers.execution import private_state as private_state  # re-exported
from ruvon.results import as_update, exit_message


def task_context(batch: ParallelBatch, call: TaskCall | str) -> StepContext:
    """The StepContext of one task (given as a TaskCall or its name): ``step_name`` is its name."""
    if isinstance(call, str):
        call = TaskCall(call, "")
    return StepContext(
        workflow_id=batch.workflow_id,
        step_name=call.name,
        workflow_type=batch.workflow_type,
        parent_step_name=batch.step_name,
        attempt=batch.attempt,
        metadata=dict(batch.metadata),
        loop_item=call.item,
        loop_index=call.index,
    )


def run_task(
    func: Callable[..., Any],
    state: BaseModel,
    context: StepContext,
    kwargs: Mapping[str, Any] | None = None,
) -> TaskOutcome:
    """Call ``func(state, context, **kwargs)`` in this thread (async functions get their own loop)."""
    if inspect.iscoroutinefunction(func):
        return asyncio.run(run_task_async(func, state, context, kwargs))
    started = time.time()
    try:
        value = _call(func, state, context, kwargs)
        if inspect.iscoroutine(value):  # a sync wrapper around an async function
            value = asyncio.run(value)
    except (Exception, SystemExit) as exc:  # sys.exit() in a task fails the task, not the worker
        return _failure(context, exc, started)
    return _success(context, value, started)


async def run_task_async(
    func: Callable[..., Any],
    state: BaseModel,
    context: StepContext,
    kwargs: Mapping[str, Any] | None = None,
) -> TaskOutcome:
    """Call ``func(state, context, **kwargs)`` on the running loop, awaiting it if it is async."""
    started = time.time()
    try:
        value = _call(func, state, context, kwargs)
        if inspect.isawaitable(value):
            value = await value
    except (Exception, SystemExit) as exc:
        return _failure(context, exc, started)
    return _success(context, value, started)


def _call(
    func: Callable[..., Any],
    state: BaseModel,
    context: StepContext,
    kwargs: Mapping[str, Any] | None,
) -> Any:
    if kwargs:
        return func(state, context, **accepted_kwargs(func, kwargs))
    return func(state, context)


def run_call_locally(batch: ParallelBatch, call: TaskCall) -> TaskOutcome:
    """Run one task of an in-process batch on a private copy of the state."""
    assert call.function is not None, "in-process batches carry resolved functions"
    outcome = run_task(call.function, batch.task_state(), task_context(batch, call), call.kwargs)
    outcome.index = call.index
    return outcome


async def run_call_async(batch: ParallelBatch, call: TaskCall) -> TaskOutcome:
    """Run one task of an in-process batch on the running loop (awaited if it is async)."""
    assert call.function is not None, "in-process batches carry resolved functions"
    outcome = await run_task_async(
        call.function, batch.task_state(), task_context(batch, call), call.kwargs
    )
    outcome.index = call.index
    return outcome


def timeout_outcome(task_name: str, timeout: float | None, step_name: str) -> TaskOutcome:
    """The outcome of a task still unfinished at the step's deadline."""
    now = time.time()
    return TaskOutcome(
        task_name=task_name,
        error=(
            f"Task '{task_name}' of step '{step_name}' did not finish within the step's "
            f"timeout_seconds ({timeout or 0:g} s); its result, if any arrives, is discarded. "
            f"Raise timeout_seconds or make the task faster."
        ),
        error_type="TimeoutError",
        started_at=now,
        ended_at=now,
    )


def _success(context: StepContext, value: Any, started: float) -> TaskOutcome:
    if value is None:  # nothing returned: no result object at all (a fan-out may have 100,000)
        return TaskOutcome(task_name=context.step_name, started_at=started, ended_at=time.time())
    where = f"Task '{context.step_name}' of step '{context.parent_step_name}'"
    try:
        result = as_update(value, where)
    except StepFailed as exc:
        return TaskOutcome(
            task_name=context.step_name,
            error=str(exc),
            error_type="TypeError",
            started_at=started,
            ended_at=time.time(),
        )
    return TaskOutcome(
        task_name=context.step_name, result=result, started_at=started, ended_at=time.time()
    )


def _failure(context: StepContext, exc: BaseException, started: float) -> TaskOutcome:
    error = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SystemExit):
        error = exit_message(
            f"Task '{context.step_name}' of step '{context.parent_step_name}'", exc
        )
    return TaskOutcome(
        task_name=context.step_name,
        error=error,
        error_type=type(exc).__name__,
        started_at=started,
        ended_at=time.time(),
    )
