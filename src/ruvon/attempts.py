"""How a step is attempted: its retry policy, and loop-body steps run inside a LOOP."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ruvon import transitions
from ruvon.errors import PersistenceError, StepFailed, VersionConflict
from ruvon.models import StepContext, WorkflowStatus
from ruvon.providers.persistence import LogEntry
from ruvon.step_models import StepBase, StepType
from ruvon.steps import timing
from ruvon.steps.base import StepOutcome, StepRun
from ruvon.steps.dispatch import RUNNERS, default_retry, runner_for
from ruvon.steps.sub_workflow import ChildWorkflowFailed, collect_child

if TYPE_CHECKING:
    from ruvon.workflow import Workflow

_log = logging.getLogger("ruvon.workflow")


async def run_with_retries(
    wf: Workflow, step: StepBase, user_input: Any, started: float
) -> StepOutcome | None:
    """Run one step with its retry policy; on failure mark the workflow failed and return None.

    A StepFailed that is ``retryable`` is retried while the policy allows, from the last saved
    state. A VersionConflict propagates (another process moved the workflow on). Any other failure,
    a store error included, fails the step; if even the FAILED status cannot be saved, the store's
    error propagates: when nothing can be recorded, the caller must know.
    """
    attempt = 1
    while True:
        limited = step.timeout_seconds is not None and not step.own_timeout
        run = _step_run(wf, step, user_input, attempt, step.timeout_seconds if limited else None)
        try:
            work = (
                RUNNERS[step.type] if step.name not in wf.engine.sub_workflows else collect_child
            )(run)
            if limited:
                return await timing.within(work, step, run.where)
            return await work
        except VersionConflict:
            raise  # a stale copy records nothing
        except StepFailed as exc:
            policy = step.retry or default_retry(step)
            if policy and exc.retryable and attempt < policy.max_attempts:
                await _before_retry(wf, step, attempt, str(exc), policy.delay(attempt))
                attempt += 1
                continue
            status = (
                WorkflowStatus.FAILED_CHILD_WORKFLOW
                if isinstance(exc, ChildWorkflowFailed)
                else WorkflowStatus.FAILED
            )
            wf.add_log(exc.log)
            await transitions.fail_step(wf, step, str(exc), started, status)
        except PersistenceError as exc:  # the store refused a value, or is unreachable
            message = f"{wf.loaded.source}, step '{step.name}': saving its progress failed: {exc}"
            await transitions.fail_step(
                wf, step, message, started, WorkflowStatus.FAILED, must_save=exc
            )
        except Exception as exc:  # an engine failure: still never lose the saved state
            _log.exception("step '%s' of workflow %s failed unexpectedly", step.name, wf.id)
            message = f"{wf.loaded.source}, step '{step.name}': {type(exc).__name__}: {exc}"
            await transitions.fail_step(wf, step, message, started, WorkflowStatus.FAILED)
        return None


def _step_run(
    wf: Workflow, step: StepBase, user_input: Any, attempt: int, timeout: float | None = None
) -> StepRun:
    # Positional, in StepContext's field order (keyword calls cost twice as much; every step;
    # tests/core/test_positional_fields.py pins the order): workflow_id, step_name,
    # workflow_type, parent_step_name, attempt, validated_input, previous_step_result, metadata,
    # loop_item, loop_index, deadline, parent_workflow_id.
    context = StepContext(
        wf.id,
        step.name,
        wf.workflow_type,
        None,
        attempt,
        user_input,
        wf.last_result,
        wf.metadata,
        None,
        None,
        None if timeout is None else time.time() + timeout,
        wf.parent_id,
    )
    return _with(wf, step, wf.state, context)


def _with(
    wf: Workflow,
    step: StepBase,
    state: BaseModel,
    context: StepContext,
    kwargs: dict[str, Any] | None = None,
) -> StepRun:
    """A StepRun of ``step`` on ``state`` with the workflow's providers."""
    # Positional, in StepRun's field order (every step).
    return StepRun(
        step,
        state,
        context,
        wf.loaded,
        wf.execution_provider,
        wf.persistence,
        wf.observer,
        wf,
        kwargs or {},
    )


async def _before_retry(
    wf: Workflow, step: StepBase, attempt: int, message: str, delay: float
) -> None:
    wf.restore_saved_state()
    _log.warning(
        "step '%s' attempt %d failed, retrying in %.2fs: %s", step.name, attempt, delay, message
    )
    wf.add_log([LogEntry(wf.id, "STEP_RETRY", step.name, message=f"attempt {attempt}: {message}")])
    await asyncio.sleep(delay)


async def run_body_step(
    wf: Workflow, step: StepBase, state: BaseModel, context: StepContext, kwargs: dict[str, Any]
) -> StepOutcome:
    """Run a loop-body step on ``state``; its failure raises StepFailed."""
    started = time.time()
    run = _with(wf, step, state, context, kwargs)
    outcome = await runner_for(step, None)(run)
    if outcome.wait is not None or outcome.jump_to is not None or outcome.sleep_until is not None:
        raise StepFailed(
            f"{wf.loaded.source}, loop body step '{step.name}' tried to pause or jump; a loop "
            f"body runs straight through. Move that logic after the loop.",
            step_name=step.name,
        )
    if outcome.task_failures:
        wf.engine.task_failures[step.name] = dict(outcome.task_failures)
    if step.type is StepType.PARALLEL:
        # Drop the saved task results, or the next iteration would reuse them instead of
        # running its tasks; the state stays at the last checkpoint (the iteration's start).
        await wf.save(finished_step=step.name, dump_state=False)
    duration = time.time() - started
    wf.add_log(
        [*outcome.log, LogEntry(wf.id, "STEP_COMPLETED", step.name, at=started, duration=duration)]
    )
    return outcome
