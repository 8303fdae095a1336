"""PARALLEL steps: run tasks on the execution provider, checkpoint each, merge in declared order.

A dynamic fan-out (``iterate_over``) may have 100,000 items, so nothing here keeps an object per
task: the tasks are made on demand (:class:`FanOutCalls`), the outcomes are kept as a results list
by item index plus one status byte per item (:class:`_Progress`), and the execution log gets one
``TASKS_COMPLETED`` entry per range of ``LOG_CHUNK`` items (count, total and longest task time)
and one ``TASK_FAILED`` entry per failed task. Declared tasks keep one log entry each.
"""

from __future__ import annotations

import math
import time
from array import array
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

from ruvon.definition_checks import field_of
from ruvon.errors import MergeConflict, ParallelStepFailed, StepFailed, VersionConflict
from ruvon.merge import merge_task_results
from ruvon.providers.execution import (
    FanOutCalls,
    ParallelBatch,
    TaskCall,
    TaskOutcome,
    private_state,
)
from ruvon.providers.observer import notify, overrides
from ruvon.providers.persistence import LogEntry, TaskRecord
from ruvon.results import apply_result
from ruvon.step_models import ParallelStep
from ruvon.steps.base import StepKind, StepOutcome, StepRun
from ruvon.steps.loop import read_items
from ruvon.unsavable import unsavable_tasks_message

COMPLETED = "COMPLETED"
FAILED = "FAILED"

LOG_CHUNK = 1000
"""Items of a dynamic fan-out summed up by one ``TASKS_COMPLETED`` log entry."""

TASK_RESULTS_AS_DICT = 10_000
"""Up to this many tasks, the step result's ``task_results`` is a plain dict; a larger fan-out
gets a read-only mapping made on demand (a dict would hold a name and a result per item)."""

_OK = 1
_FAILED = 2


async def run_parallel(run: StepRun) -> StepOutcome:
    """Run a PARALLEL step.

    Task outcomes saved by an earlier, interrupted run of this step are reused: only tasks without a
    saved successful result run. Outcomes are saved as they arrive (each burst in one write).

    Raises:
        ParallelStepFailed: A task failed (without ``allow_partial_success``), the merge found a
            conflict under RAISE_ERROR, or the merged state is invalid.
    """
    step = run.step
    assert isinstance(step, ParallelStep)
    calls = _calls(run, step)
    progress = _Progress(calls)
    saved = await run.persistence.load_task_results(run.context.workflow_id, step.name)
    done: set[str] = set()
    for name, record in saved.items():
        at = progress.position(name)
        if record.status == COMPLETED and at is not None:
            progress.add(at, _outcome_of(record))
            done.add(name)
    # An earlier process may have dispatched this step's tasks (see ParallelBatch.resumed).
    resumed = bool(saved) or run.workflow.resumed_step == step.name
    del saved
    batch = _batch(run, step, calls, frozenset(done), resumed)
    del done
    watched = overrides(run.observer, "on_task_completed", "on_task_failed")
    stream = run.executor.run_parallel(batch)
    try:
        async for arrived in stream:
            await _checkpoint(run, progress, arrived)
            for outcome in arrived:
                at = progress.position_of(outcome)
                if at is not None:
                    progress.add(at, outcome)
                if watched:
                    await _report(run, outcome)
            del arrived
    finally:  # stop the executor's work now if saving failed, not when the stream is collected
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
    return _reduce(run, progress)


class _Progress:
    """The outcomes of a step's tasks by position: for a fan-out, no object per task.

    ``results[i]`` is task ``i``'s result (``None``: failed, not run, or returned nothing),
    ``status[i]`` one byte (0, ``_OK`` or ``_FAILED``); failed outcomes are kept whole, and per
    range of ``LOG_CHUNK`` items the earliest start, latest end, total and longest task time (for
    the log entry: ``at`` the earliest start, ``duration`` until the latest end).
    Declared tasks keep every outcome (one log entry each).
    """

    def __init__(self, calls: Sequence[TaskCall]) -> None:
        self.calls = calls
        self.fanout = calls if isinstance(calls, FanOutCalls) else None
        n = len(calls)
        self.results: list[Any] = [None] * n
        self.status = bytearray(n)
        self.failed: dict[int, TaskOutcome] = {}
        self.outcomes: list[TaskOutcome | None] | None = None
        self.positions: dict[str, int] | None = None
        if self.fanout is None:
            self.outcomes = [None] * n
            self.positions = {call.name: i for i, call in enumerate(calls)}
        chunks = math.ceil(n / LOG_CHUNK)
        self.first = array("d", [math.inf]) * chunks
        self.last = array("d", [0.0]) * chunks
        self.total = array("d", [0.0]) * chunks
        self.longest = array("d", [0.0]) * chunks

    def position(self, name: str) -> int | None:
        if self.fanout is not None:
            return self.fanout.index_of(name)
        assert self.positions is not None
        return self.positions.get(name)

    def position_of(self, outcome: TaskOutcome) -> int | None:
        index = outcome.index
        if index is not None and self.fanout is not None and index < len(self.status):
            return index
        return self.position(outcome.task_name)

    def name(self, at: int) -> str:
        return self.fanout.name(at) if self.fanout is not None else self.calls[at].name

    def add(self, at: int, outcome: TaskOutcome) -> None:
        if outcome.ok:
            self.status[at] = _OK
            self.results[at] = outcome.result
            self.failed.pop(at, None)
        else:
            self.status[at] = _FAILED
            self.results[at] = None
            self.failed[at] = outcome
        if self.outcomes is not None:
            self.outcomes[at] = outcome
        elif outcome.ok and outcome.ended_at:  # a restored outcome may have no times
            chunk = at // LOG_CHUNK
            took = outcome.ended_at - outcome.started_at
            self.first[chunk] = min(self.first[chunk], outcome.started_at)
            self.last[chunk] = max(self.last[chunk], outcome.ended_at)
            self.total[chunk] += took
            self.longest[chunk] = max(self.longest[chunk], took)

    def failures(self) -> dict[str, str]:
        """``{task name: error}`` of the failed tasks, in declared order."""
        return {self.name(at): self.failed[at].error or "failed" for at in sorted(self.failed)}

    def log(self, workflow_id: str, step_name: str) -> list[LogEntry]:
        if self.outcomes is not None:
            return [
                LogEntry(
                    workflow_id,
                    "TASK_COMPLETED" if o.ok else "TASK_FAILED",
                    step_name,
                    o.task_name,
                    at=o.started_at,
                    duration=o.ended_at - o.started_at,
                    message=o.error,
                )
                for o in self.outcomes
                if o is not None
            ]
        log: list[LogEntry] = []
        failed = sorted(self.failed)
        now = time.time()
        for chunk in range(len(self.first)):
            start = chunk * LOG_CHUNK
            end = min(start + LOG_CHUNK, len(self.status))
            count = self.status.count(_OK, start, end)
            if count:
                first = self.first[chunk]
                timed = first != math.inf  # else every outcome was restored without times
                log.append(
                    LogEntry(
                        workflow_id,
                        "TASKS_COMPLETED",
                        step_name,
                        f"{self.name(start)}..{self.name(end - 1)}",
                        at=first if timed else now,
                        duration=self.last[chunk] - first if timed else 0.0,
                        message=(
                            f"{count} of {end - start} tasks completed; task time total "
                            f"{self.total[chunk]:.3f} s, longest {self.longest[chunk]:.3f} s"
                        ),
                    )
                )
            for at in failed:
                if start <= at < end:
                    o = self.failed[at]
                    log.append(
                        LogEntry(
                            workflow_id,
                            "TASK_FAILED",
                            step_name,
                            o.task_name,
                            at=o.started_at,
                            duration=o.ended_at - o.started_at,
                            message=o.error,
                        )
                    )
        return log

    def ok_positions(self) -> Sequence[int]:
        status = self.status
        if status.count(_OK) == len(status):
            return range(len(status))
        return array("q", (i for i in range(len(status)) if status[i] == _OK))


class _Pairs(Sequence[tuple[str, Mapping[str, Any]]]):
    """``(task name, result)`` of the successful tasks, in declared order, made on demand."""

    def __init__(self, progress: _Progress) -> None:
        self._progress = progress
        self._at = progress.ok_positions()

    def __len__(self) -> int:
        return len(self._at)

    @overload
    def __getitem__(self, index: int) -> tuple[str, Mapping[str, Any]]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, Mapping[str, Any]]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[str, Mapping[str, Any]] | list[tuple[str, Mapping[str, Any]]]:
        if isinstance(index, slice):
            return [self._pair(at) for at in self._at[index]]
        return self._pair(self._at[index])

    def __iter__(self) -> Iterator[tuple[str, Mapping[str, Any]]]:
        for at in self._at:
            yield self._pair(at)

    def _pair(self, at: int) -> tuple[str, Mapping[str, Any]]:
        return self._progress.name(at), self._progress.results[at] or {}


class _TaskResults(Mapping[str, Mapping[str, Any]]):
    """The step result's ``task_results`` of a fan-out: ``{task name: result}``, made on demand."""

    def __init__(self, pairs: _Pairs) -> None:
        self._pairs = pairs

    def __len__(self) -> int:
        return len(self._pairs)

    def __iter__(self) -> Iterator[str]:
        for name, _ in self._pairs:
            yield name

    def __getitem__(self, name: str) -> Mapping[str, Any]:
        progress = self._pairs._progress
        at = progress.position(name)
        if at is None or progress.status[at] != _OK:
            raise KeyError(name)
        return progress.results[at] or {}

    def __repr__(self) -> str:
        return f"<task_results of {len(self)} tasks>"


async def _checkpoint(run: StepRun, progress: _Progress, arrived: list[TaskOutcome]) -> None:
    """Save task outcomes as they arrive; results the store refuses fail the step, naming them."""
    fanout = progress.fanout is not None
    try:
        await run.persistence.save_task_results(
            [_record_of(run, o, progress.position_of(o) if fanout else None) for o in arrived]
        )
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
    run: StepRun,
    step: ParallelStep,
    calls: Sequence[TaskCall],
    done: frozenset[str],
    resumed: bool,
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


def _calls(run: StepRun, step: ParallelStep) -> Sequence[TaskCall]:
    """The step's tasks: as declared, or one per item of ``iterate_over`` (made on demand)."""
    if step.iterate_over is None:
        return [
            TaskCall(t.name, t.function_path, run.loaded.functions[t.function_path])
            for t in step.tasks
        ]
    assert step.task_function is not None
    items = read_items(run, step.iterate_over)
    function = run.loaded.functions[step.task_function]
    return FanOutCalls(step.name, step.task_function, function, items, step.item_var_name)


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


def _reduce(run: StepRun, progress: _Progress) -> StepOutcome:
    log = progress.log(run.context.workflow_id, run.step.name)
    try:
        return _merged(run, progress, log)
    except StepFailed as exc:
        exc.log = log  # the execution log keeps every task's outcome, also when the step fails
        raise


def _merged(run: StepRun, progress: _Progress, log: list[LogEntry]) -> StepOutcome:
    step = run.step
    assert isinstance(step, ParallelStep)
    failures = progress.failures()
    total = len(progress.status)
    if failures and not step.allow_partial_success:
        listing = "; ".join(f"'{name}': {error}" for name, error in failures.items())
        raise ParallelStepFailed(
            f"{run.where}: {len(failures)} of {total} tasks failed ({listing}). Fix the "
            f"failing tasks, or set allow_partial_success: true to merge the others.",
            step_name=step.name,
            failures=failures,
        )
    results: Sequence[tuple[str, Mapping[str, Any]]]
    task_results: Mapping[str, Mapping[str, Any]]
    if progress.fanout is not None and total > TASK_RESULTS_AS_DICT:
        pairs = _Pairs(progress)
        results, task_results = pairs, _TaskResults(pairs)
    else:
        results = [(name, result or {}) for name, result in _Pairs(progress)]
        task_results = dict(results)
    if step.collect_into is not None:
        # The value each task returned (None: it returned nothing, or it failed), in item order.
        update = {field_of(step.collect_into): progress.results}
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
        "task_results": task_results,
        "failed_tasks": failures,
    }
    return StepOutcome(result=result, state=run.state, task_failures=failures, log=log)


def _record_of(run: StepRun, outcome: TaskOutcome, index: int | None) -> TaskRecord:
    return TaskRecord(
        workflow_id=run.context.workflow_id,
        step_name=run.step.name,
        task_name=outcome.task_name,
        status=COMPLETED if outcome.ok else FAILED,
        result=outcome.result,
        error=outcome.error,
        started_at=outcome.started_at,
        ended_at=outcome.ended_at,
        index=index,
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
