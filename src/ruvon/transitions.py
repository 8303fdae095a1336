"""What happens after a step ran: its outcome adopted and saved, or the step failed and saved.

Functions over a :class:`~ruvon.workflow.Workflow`, using its public engine-facing surface (``save``,
``take_log``, ``add_log``, ``saved_state``, ``restore_saved_state``).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from ruvon.engine_record import Failure
from ruvon.errors import StepFailed, VersionConflict
from ruvon.models import WorkflowStatus
from ruvon.providers.observer import notify
from ruvon.providers.persistence import LogEntry
from ruvon.runtime import clock
from ruvon.step_models import StepBase, StepType
from ruvon.steps import saga, timing
from ruvon.steps.base import StepOutcome
from ruvon.unsavable import unsavable_message

if TYPE_CHECKING:
    from ruvon.workflow import Workflow

_log = logging.getLogger("ruvon.workflow")


async def advance(
    wf: Workflow, step: StepBase, outcome: StepOutcome, started: float, next_index: int
) -> str | None:
    """Adopt the step's new state, pick the next step, save; return the next step's name.

    If the save fails, this copy goes back to its last saved state. A VersionConflict (another
    process moved this workflow on) propagates: a stale copy records nothing. A state that
    cannot be dumped or that the store refuses fails the step (FAILED, naming the step and
    field, last good state saved), so ``retry()`` works once the step is fixed.
    """
    index, status, pending = wf.current_step, wf.status, wf.take_log()
    try:  # one frame for adopting and saving: this runs after every step
        wf.state = outcome.state
        wf.last_result = outcome.result
        if outcome.task_failures:
            wf.engine.task_failures[step.name] = dict(outcome.task_failures)
        if step.compensate_function and wf.saga_mode:
            wf.engine.saga_completed.append(step.name)
        wf.current_step = next_index
        # Positional (workflow_id, event, step_name, task_name, at, duration): every step.
        ended = time.time()
        done_entry = LogEntry(wf.id, "STEP_COMPLETED", step.name, None, started, ended - started)
        log = [*pending, *outcome.log, done_entry] if pending or outcome.log else [done_entry]
        done = next_index >= len(wf.steps)
        if done:
            wf.status = _COMPLETED
        elif outcome.sleep_until is not None and outcome.sleep_until > clock.now():
            wf.status, wf.engine.wake_at = WorkflowStatus.SLEEPING, outcome.sleep_until
            await timing.before_wait(wf, wf.status)
        try:
            await wf.save(
                finished_step=step.name if step.type is _PARALLEL else None, log=log, at=ended
            )
        except VersionConflict:
            raise
        except Exception as exc:  # the state does not dump, or the store refuses it
            where = f"{wf.loaded.source}, step '{step.name}'"
            message = unsavable_message(where, wf.state, wf.saved_state, exc)
            raise StepFailed(message, step_name=step.name, retryable=False) from exc
        if wf.hooks:
            await _adopted(wf, step, outcome, done)
        return None if done else wf.steps[next_index].name
    except BaseException as exc:
        wf.restore_saved_state()
        wf.current_step, wf.status = index, status
        if status is not WorkflowStatus.SLEEPING:
            wf.engine.wake_at = None
        if not isinstance(exc, StepFailed):
            raise
        wf.add_log([*pending, *outcome.log])
        cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        # A PARALLEL step's saved task results hold the unsavable values: drop them, so a
        # retry after the fix runs the tasks again instead of reusing those results.
        drop = step.name if step.type is StepType.PARALLEL else None
        await fail_step(
            wf, step, str(exc), started, WorkflowStatus.FAILED, must_save=cause, finished_step=drop
        )
    return None


_COMPLETED = WorkflowStatus.COMPLETED
_PARALLEL = StepType.PARALLEL


async def wait(wf: Workflow, step: StepBase, outcome: StepOutcome, started: float) -> bool:
    """Save a step that stops the workflow to wait (human input, async result, child workflow).

    Returns False when its state cannot be saved: the step has then failed like in ``advance``.
    """
    assert outcome.wait is not None
    status = wf.status
    wf.state = outcome.state
    try:
        await timing.before_wait(wf, outcome.wait)
        await wf.set_status(outcome.wait, save=True)
        await timing.after_wait(wf, step, outcome.wait)
    except VersionConflict:
        wf.restore_saved_state()
        wf.status = status
        raise
    except Exception as exc:  # the state does not dump, or the store refuses it
        message = unsavable_message(
            f"{wf.loaded.source}, step '{step.name}'", wf.state, wf.saved_state, exc
        )
        wf.status = status
        await fail_step(wf, step, message, started, WorkflowStatus.FAILED, must_save=exc)
        return False
    return True


async def _adopted(wf: Workflow, step: StepBase, outcome: StepOutcome, done: bool) -> None:
    """Tell the observer (those hooks it overrides) that ``step`` completed and was saved."""
    if wf.watches_steps:
        await _step_executed(wf, step, outcome)
    if wf.status is WorkflowStatus.SLEEPING:
        await notify(
            wf.observer.on_workflow_status_changed,
            wf.id,
            WorkflowStatus.ACTIVE.value,
            WorkflowStatus.SLEEPING.value,
            wf.current_step_name,
        )
    if not done:
        return
    await notify(
        wf.observer.on_workflow_status_changed,
        wf.id,
        WorkflowStatus.ACTIVE.value,
        WorkflowStatus.COMPLETED.value,
        None,
    )
    await notify(
        wf.observer.on_workflow_completed, wf.id, wf.workflow_type, wf.state_for_observer()
    )


async def _step_executed(wf: Workflow, step: StepBase, outcome: StepOutcome) -> None:
    await notify(
        wf.observer.on_step_executed,
        wf.id,
        step.name,
        wf.loaded.step_index[step.name],
        "COMPLETED",
        outcome.result,
        wf.state_for_observer(),
    )


async def fail_step(
    wf: Workflow,
    step: StepBase,
    message: str,
    started: float,
    status: WorkflowStatus,
    *,
    must_save: BaseException | None = None,
    finished_step: str | None = None,
) -> None:
    """Fail the workflow at ``step``: last saved state, error recorded, compensations, saved.

    When the FAILED status cannot be saved either, ``must_save`` (the error that made the step
    fail) is raised: the caller must learn that nothing was recorded. Without it, the failed
    save is logged.
    """
    # The step may have mutated the live state: go back to the last saved one.
    wf.restore_saved_state()
    wf.engine.error = Failure(step.name, message, time.time())
    wf.last_result = {"error": message, "step": step.name}
    duration = time.time() - started
    failed = LogEntry(
        wf.id, "STEP_FAILED", step.name, at=started, duration=duration, message=message
    )
    log = [*wf.take_log(), failed]
    if wf.saga_mode:
        log += await saga.compensate(
            workflow_id=wf.id,
            loaded=wf.loaded,
            state=wf.state,
            engine=wf.engine,
            metadata=wf.metadata,
            executor=wf.execution_provider,
            observer=wf.observer,
        )
        status = WorkflowStatus.FAILED_ROLLED_BACK
    old, wf.status = wf.status, status
    try:
        await wf.save(dump_state=wf.saga_mode, log=log, finished_step=finished_step)
    except Exception:
        if must_save is not None:
            wf.status = old
            raise must_save from None
        _log.exception("workflow %s: could not save the %s status", wf.id, status.value)
    await _tell_failed(wf, step, message, old, status)


async def _tell_failed(
    wf: Workflow, step: StepBase, message: str, old: WorkflowStatus, status: WorkflowStatus
) -> None:
    observer = wf.observer
    await notify(observer.on_step_failed, wf.id, step.name, message)
    await notify(observer.on_workflow_status_changed, wf.id, old.value, status.value, step.name)
    await notify(
        observer.on_workflow_failed, wf.id, wf.workflow_type, message, wf.state_for_observer()
    )
