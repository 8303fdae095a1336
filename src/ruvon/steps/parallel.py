"""PARALLEL steps: run tasks on the execution provider, checkpoint each, merge in declared order."""

from __future__ import annotations

import time
from typing import Any

from ruvon.definition_checks import field_of
from ruvon.errors import MergeConflict, ParallelStepFailed, StepFailed, VersionConflict
from ruvon.merge import merge_task_results
from ruvon.providers.execution import ParallelBatch, TaskCall, TaskOutcome, private_state
from ruvon.providers.observer import notify, overrides
from ruvon.providers.persistence import LogEntry, TaskRecord
from ruvon.results import apply_result
from ruvon.step_models import ParallelStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun
from ruvon.steps.loop import read_items
from ruvon.unsavable import unsavable_tasks_message

COMPLETED = "COMPLETED"
FAILED = "FAILED"


async def run_parallel(run: StepRun) -> StepOutcome:
    """Run a PARALLEL step.

    Task outcomes saved by an earlier, interrupted run of this step are reused: only tasks without a
    saved successful result run. Each outcome is saved the moment it arrives.

    Raises:
        ParallelStepFailed: A task failed (without ``allow_partial_success``), the merge found a
            conflict under RAISE_ERROR, or the merged state is invalid.
    """
    step = run.step
    assert isinstance(step, ParallelStep)
    calls = _calls(run, step)
    saved = await run.persistence.load_task_results(run.context.workflow_id, step.name)
    outcomes: dict[str, TaskOutcome] = {
        name: _outcome_of(record) for name, record in saved.items() if record.status == COMPLETED
    }
    # An earlier process may have dispatched this step's tasks (see ParallelBatch.resumed).
    resumed = bool(saved) or run.workflow.resumed_step == step.name
    batch = _batch(run, step, calls, frozenset(outcomes), resumed)
    watched = overrides(run.observer, "on_task_completed", "on_task_failed")
    stream = run.executor.run_parallel(batch)
    try:
        async for arrived in stream:
            await _checkpoint(run, arrived)
            for outcome in arrived:
                outcomes[outcome.task_name] = outcome
                if watched:
                    await _report(run, outcome)
    finally:  # stop the executor's work now if saving failed, not when the stream is collected
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return _reduce(run, [outcomes[call.name] for call in calls])


async def _checkpoint(run: StepRun, arrived: list[TaskOutcome]) -> None:
    """Save task outcomes as they arrive; results the store refuses fail the step, naming them."""
    try:
        await run.persistence.save_task_results([_record_of(run, o) for o in arrived])
    except VersionConflict:
        raise
    except Exception as exc:  # a value that does not serialize, or one the store refuses
        results = [(o.task_name, o.result) for o in arrived]
        raise StepFailed(
            unsavable_tasks_message(run.where, results, exc),
            step_name=run.step.name,
            retryable=False,
        ) from exc


def _batch(
    run: StepRun, step: ParallelStep, calls: list[TaskCall], done: frozenset[str], resumed: bool
) -> ParallelBatch:
    """What the executor gets: every task, those already done, the limit, the deadline, the run."""
    dynamic = step.iterate_over is not None
    timeout = step.timeout_seconds
    return ParallelBatch(
        workflow_id=run.context.workflow_id,
        workflow_type=run.context.workflow_type,
        step_name=step.name,
        state_model_path=run.loaded.definition.initial_state_model,
        # A dynamic fan-out shares one snapshot of the state among its tasks (see ParallelBatch).
        state=private_state(run.state) if dynamic else run.state,
        tasks=calls,
        attempt=run.context.attempt,
        iteration=run.context.loop_index,
        metadata=run.context.metadata,
        share_state=dynamic,
        done=done,
        limit=step.max_concurrency or step.batch_size,
        timeout=timeout,
        deadline=None if timeout is None else time.monotonic() + timeout,
        resumed=resumed,
    )


def _calls(run: StepRun, step: ParallelStep) -> list[TaskCall]:
    """The step's tasks: as declared, or one per item of ``iterate_over``."""
    if step.iterate_over is None:
        return [
            TaskCall(t.name, t.function_path, run.loaded.functions[t.function_path])
            for t in step.tasks
        ]
    assert step.task_function is not None
    items = read_items(run, step.iterate_over)
    function = run.loaded.functions[step.task_function]
    return [
        TaskCall(
            f"{step.name}[{i}]",
            step.task_function,
            function,
            kwargs={step.item_var_name: item, "index": i},
            item=item,
            index=i,
        )
        for i, item in enumerate(items)
    ]


async def _report(run: StepRun, outcome: TaskOutcome) -> None:
    if outcome.ok:
        await notify(
            run.observer.on_task_completed,
            run.context.workflow_id,
            run.step.name,
            outcome.task_name,
            outcome.ended_at - outcome.started_at,
        )
    else:
        await notify(
            run.observer.on_task_failed,
            run.context.workflow_id,
            run.step.name,
            outcome.task_name,
            outcome.error or "",
        )


def _reduce(run: StepRun, ordered: list[TaskOutcome]) -> StepOutcome:
    log = [
        LogEntry(
            run.context.workflow_id,
            "TASK_COMPLETED" if o.ok else "TASK_FAILED",
            run.step.name,
            o.task_name,
            at=o.started_at,
            duration=o.ended_at - o.started_at,
            message=o.error,
        )
        for o in ordered
    ]
    try:
        return _merged(run, ordered, log)
    except StepFailed as exc:
        exc.log = log  # the execution log keeps every task's outcome, also when the step fails
        raise


def _merged(run: StepRun, ordered: list[TaskOutcome], log: list[LogEntry]) -> StepOutcome:
    step = run.step
    assert isinstance(step, ParallelStep)
    failures = {o.task_name: o.error or "failed" for o in ordered if not o.ok}
    if failures and not step.allow_partial_success:
        listing = "; ".join(f"'{name}': {error}" for name, error in failures.items())
        raise ParallelStepFailed(
            f"{run.where}: {len(failures)} of {len(ordered)} tasks failed ({listing}). Fix the "
            f"failing tasks, or set allow_partial_success: true to merge the others.",
            step_name=step.name,
            failures=failures,
        )
    results = [(o.task_name, o.result or {}) for o in ordered if o.ok]
    if step.collect_into is not None:
        update = {field_of(step.collect_into): [o.result if o.ok else None for o in ordered]}
    else:
        try:
            update = merge_task_results(results, step.merge_strategy, step.merge_conflict_behavior)
        except MergeConflict as exc:
            raise ParallelStepFailed(
                f"{run.where}: {exc}", step_name=step.name, retryable=False
            ) from exc
    # Tasks ran on copies: the live state changes only here, through the one apply path.
    apply_result(
        run.state,
        update,
        run.where,
        sources=results,
        strategy=step.merge_strategy,
        step_name=step.name,
    )
    result: dict[str, Any] = {
        "merged": update,
        "task_results": dict(results),
        "failed_tasks": failures,
    }
    return StepOutcome(result=result, state=run.state, task_failures=failures, log=log)


def _record_of(run: StepRun, outcome: TaskOutcome) -> TaskRecord:
    return TaskRecord(
        workflow_id=run.context.workflow_id,
        step_name=run.step.name,
        task_name=outcome.task_name,
        status=COMPLETED if outcome.ok else FAILED,
        result=outcome.result,
        error=outcome.error,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
    )


def _outcome_of(record: TaskRecord) -> TaskOutcome:
    return TaskOutcome(
        task_name=record.task_name,
        result=record.result,
        error=record.error,
        started_at=record.started_at,
        ended_at=record.ended_at,
    )


KINDS = (StepKind(ParallelStep, run_parallel),)
