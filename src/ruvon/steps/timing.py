"""SLEEP and WAIT_FOR_SIGNAL steps, ``WorkflowSleepDirective``, and step timeouts.

A sleep ends its step and stops the workflow in SLEEPING before the next step, with the due time in
the engine record and in the store's ``wake_at`` (serving workers wake it). A WAIT_FOR_SIGNAL step
stays current while it waits (WAITING_SIGNAL): each run looks in the inbox and goes on with the
oldest unconsumed signal of its name, goes to ``on_timeout`` once its timeout passed, or waits on.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from ruvon.errors import RuvonError, StepFailed
from ruvon.models import WorkflowSleepDirective, WorkflowStatus
from ruvon.results import apply_result
from ruvon.runtime import clock
from ruvon.runtime.timer_store import timer_store_for
from ruvon.step_models import SleepStep, StepBase, WaitForSignalStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun

if TYPE_CHECKING:
    from ruvon.workflow import Workflow

MAX_SLEEP_SECONDS = 10 * 366 * 86400.0
"""The longest sleep accepted (about ten years)."""

WATCHED = (WorkflowStatus.SLEEPING, WorkflowStatus.WAITING_SIGNAL)


# -- due times -------------------------------------------------------------------------------------
def parse_until(value: Any, where: str) -> float:
    """``value`` (an aware datetime or ISO 8601 text; naive means UTC) as epoch seconds."""
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise StepFailed(
                f"{where}: 'until' is {value!r}, not an ISO 8601 datetime like "
                f"'2030-01-31T09:00:00+00:00'.",
                retryable=False,
            ) from None
    if not isinstance(moment, dt.datetime):
        raise StepFailed(
            f"{where}: 'until' must be a datetime or ISO 8601 text, not {type(value).__name__}.",
            retryable=False,
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def seconds_from(value: Any, where: str) -> float:
    """``value`` as a number of seconds to sleep (0 to about ten years)."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise StepFailed(
            f"{where}: 'seconds' is {value!r}, not a number of seconds.", retryable=False
        ) from None
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_SLEEP_SECONDS:
        raise StepFailed(
            f"{where}: 'seconds' is {seconds}; give a number from 0 to {MAX_SLEEP_SECONDS:.0f}.",
            retryable=False,
        )
    return seconds


def directive_due(directive: WorkflowSleepDirective, where: str) -> float:
    """When a ``WorkflowSleepDirective`` is due (epoch seconds)."""
    if directive.seconds is not None:
        return clock.now() + seconds_from(directive.seconds, where)
    return parse_until(directive.until, where)


# -- SLEEP -----------------------------------------------------------------------------------------
async def run_sleep(run: StepRun) -> StepOutcome:
    """Compute the due time (templates rendered over the state); the workflow sleeps after it."""
    step = run.step
    assert isinstance(step, SleepStep)
    where = run.where

    def rendered(value: Any, key: str) -> Any:
        if not isinstance(value, str) or "{" not in value:
            return value
        engine = run.workflow.template_engine_cls({**run.kwargs, "state": run.state})
        try:
            return engine.render(value)
        except RuvonError as exc:
            raise StepFailed(
                f"{where}: the template of '{key}' failed: {exc}", retryable=False
            ) from exc

    if step.seconds is not None:
        due = clock.now() + seconds_from(rendered(step.seconds, "seconds"), where)
    else:
        due = parse_until(rendered(step.until, "until"), where)
    return StepOutcome(result={}, state=run.state, sleep_until=due)


# -- WAIT_FOR_SIGNAL -------------------------------------------------------------------------------
async def run_wait_signal(run: StepRun) -> StepOutcome:
    """Consume the oldest unconsumed signal of the step's name, time out, or wait on."""
    step = run.step
    assert isinstance(step, WaitForSignalStep)
    engine = run.workflow.engine
    store = timer_store_for(run.persistence)
    if store is None:
        raise StepFailed(
            f"{run.where} waits for a signal, but {type(run.persistence).__name__} keeps no "
            f"signal inbox. Use a SQLite file, PostgreSQL or the in-memory provider.",
            retryable=False,
        )
    seen = engine.signals_seen.get(step.signal, 0)
    found = await store.peek(run.context.workflow_id, step.signal, seen)
    if found is not None:
        signal_id, data = found
        given = dict(data or {})
        update = {step.output_key: given} if step.output_key else given
        apply_result(run.state, update, run.where, step_name=step.name)
        engine.signals_seen[step.signal] = signal_id
        engine.wake_at = None
        return StepOutcome(result=update, state=run.state)
    now = clock.now()
    if engine.wake_at is None and step.timeout_seconds is not None:
        engine.wake_at = now + step.timeout_seconds
    if engine.wake_at is not None and now >= engine.wake_at:
        engine.wake_at = None
        if step.on_timeout:
            return StepOutcome(result={}, state=run.state, jump_to=step.on_timeout)
        raise StepFailed(
            f"{run.where} waited {step.timeout_seconds:g} s for the signal '{step.signal}' and "
            f"none came. Send it in time, or set 'on_timeout: <step>' to go on without it.",
            step_name=step.name,
            retryable=False,
        )
    return StepOutcome(result=None, state=run.state, wait=WorkflowStatus.WAITING_SIGNAL)


# -- the engine's hooks ----------------------------------------------------------------------------
async def before_wait(wf: Workflow, status: WorkflowStatus) -> None:
    """Before saving SLEEPING or WAITING_SIGNAL: store the due time where workers look for it.

    Written first, so a crash between the two leaves an ACTIVE workflow (re-run on recovery),
    never a sleeping one without a due time.
    """
    store = timer_store_for(wf.persistence)
    if store is not None and status in WATCHED:
        await store.set_wake(wf.id, wf.engine.wake_at)


async def after_wait(wf: Workflow, step: StepBase, status: WorkflowStatus) -> None:
    """After the save: a signal sent while the step ran makes the workflow due at once."""
    store = timer_store_for(wf.persistence)
    if store is None or status is not WorkflowStatus.WAITING_SIGNAL:
        return
    if isinstance(step, WaitForSignalStep):
        seen = wf.engine.signals_seen.get(step.signal, 0)
        await store.arm_signal_wait(wf.id, step.signal, seen, wf.engine.wake_at)


def sleeping_until(wf: Workflow) -> float | None:
    """When a SLEEPING workflow is due, if it is not due yet (``None``: it may go on)."""
    due = wf.engine.wake_at
    if due is None or clock.now() >= due:
        return None
    return due


async def released(wf: Workflow) -> None:
    """After a driver released the workflow's lease: wake serving workers if it sleeps or waits
    for a signal (they skipped it while it was leased); drop its signals if it has ended."""
    store = timer_store_for(wf.persistence)
    if store is not None and wf.status.is_terminal and wf.engine.signals_seen:
        with contextlib.suppress(Exception):  # they are never read again
            await store.drop_signals(wf.id)
    if store is not None and wf.status in WATCHED:
        with contextlib.suppress(Exception):  # else the workers' poll finds it
            await store.notify()


# -- step timeouts ---------------------------------------------------------------------------------
async def within(work: Awaitable[StepOutcome], step: StepBase, where: str) -> StepOutcome:
    """Await ``work`` for at most the step's ``timeout_seconds``; past it, the step fails.

    The step's coroutine is cancelled; a sync function running in a thread cannot be stopped and
    runs on, but whatever it returns is discarded.
    """
    limit = step.timeout_seconds
    assert limit is not None
    try:
        async with asyncio.timeout(limit) as scope:
            return await work
    except TimeoutError:
        if not scope.expired():
            raise
        raise StepFailed(
            f"{where} ran longer than its timeout_seconds ({limit:g} s) and was stopped; its "
            f"result is discarded. Raise timeout_seconds, or make the step check "
            f"context.time_left() and finish sooner.",
            step_name=step.name,
        ) from None


KINDS = (StepKind(SleepStep, run_sleep), StepKind(WaitForSignalStep, run_wait_signal))
