"""PARALLEL steps: concurrency by structure, declared-order merge, partial success, timeouts."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import core_kit
import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import ExecutionProvider
from ruvon.providers.observer import WorkflowObserver
from ruvon.providers.persistence import TaskRecord


def parallel_yaml(tasks: list[tuple[str, str]], **options: Any) -> str:
    return core_kit.parallel_yaml([(name, f"core_kit.{func}") for name, func in tasks], **options)


ABC = [("a", "task_a"), ("b", "task_b"), ("c", "task_c")]


def overlaps(spans: list[tuple[str, float, float]]) -> bool:
    spans = sorted(spans, key=lambda s: s[1])
    return any(later[1] < earlier[2] for earlier, later in itertools.pairwise(spans))


async def run(builder: WorkflowBuilder, executor: ExecutionProvider, **kwargs: Any) -> Any:
    workflow = await builder.create_workflow("P", execution_provider=executor, **kwargs)
    await workflow.run_to_completion()
    return workflow


async def test_thread_pool_tasks_overlap(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    executor = ThreadPoolExecutionProvider(max_workers=3)
    try:
        workflow = await run(builder_for(parallel_yaml(ABC)), executor)
    finally:
        executor.close()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert len(core_kit.SPANS) == 3
    starts = [s[1] for s in core_kit.SPANS]
    ends = [s[2] for s in core_kit.SPANS]
    assert max(starts) < min(ends), "all three tasks were running at one moment"


async def test_sync_executor_tasks_never_overlap_and_run_in_declared_order(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    workflow = await run(builder_for(parallel_yaml(ABC)), SyncExecutor())
    assert workflow.status == WorkflowStatus.COMPLETED
    assert not overlaps(core_kit.SPANS)
    assert [s[0] for s in core_kit.SPANS] == ["a", "b", "c"]


async def test_max_workers_one_serialises(builder_for: Callable[[str], WorkflowBuilder]) -> None:
    executor = ThreadPoolExecutionProvider(max_workers=1)
    try:
        await run(builder_for(parallel_yaml(ABC)), executor)
    finally:
        executor.close()
    assert not overlaps(core_kit.SPANS)


async def test_async_tasks_run_concurrently_on_the_loop(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    tasks = [("x", "task_async"), ("y", "task_async"), ("z", "task_async")]
    executor = ThreadPoolExecutionProvider(max_workers=1)
    try:
        workflow = await run(builder_for(parallel_yaml(tasks)), executor)
    finally:
        executor.close()
    assert workflow.state.b == "async-task"
    assert overlaps(core_kit.SPANS)


@pytest.mark.parametrize("executor_cls", [SyncExecutor, ThreadPoolExecutionProvider])
async def test_merge_follows_declared_order_not_completion_order(
    builder_for: Callable[[str], WorkflowBuilder], executor_cls: type[ExecutionProvider]
) -> None:
    # "slowpoke" finishes last but is declared first: PREFER_NEW lets the later-declared task win.
    tasks = [("first", "task_same_a"), ("second", "task_same_a"), ("third", "task_same_a")]
    executor = executor_cls()
    try:
        workflow = await run(builder_for(parallel_yaml(tasks)), executor)
        assert workflow.state.a == "third"
        old = await run(
            builder_for(parallel_yaml(tasks, merge_conflict_behavior="prefer_old")), executor
        )
        assert old.state.a == "first"
        alias = await run(
            builder_for(parallel_yaml(tasks, merge_conflict_behavior="PREFER_EXISTING")), executor
        )
        assert alias.state.a == "first"
    finally:
        executor.close()


async def test_deep_merge_combines_nested_dicts(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    workflow = await run(builder_for(parallel_yaml(ABC, merge_strategy="deep")), SyncExecutor())
    assert workflow.state.details == {"sku": "A", "amount": 100}
    shallow = await run(builder_for(parallel_yaml(ABC, merge_strategy="SHALLOW")), SyncExecutor())
    assert shallow.state.details == {"amount": 100}


async def test_raise_error_conflict_fails_naming_key_and_both_tasks(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    tasks = [("left", "task_same_a"), ("right", "task_same_a")]
    workflow = await run(
        builder_for(parallel_yaml(tasks, merge_conflict_behavior="RAISE_ERROR")), SyncExecutor()
    )
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None
    assert "'a'" in workflow.error and "'left'" in workflow.error and "'right'" in workflow.error
    assert workflow.state.a is None


async def test_a_task_mutating_its_copy_changes_nothing(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    tasks = [("m1", "task_mutates"), ("m2", "task_mutates")]
    executor = ThreadPoolExecutionProvider()
    try:
        workflow = await run(builder_for(parallel_yaml(tasks)), executor)
    finally:
        executor.close()
    assert workflow.state.items == []
    assert workflow.state.n == 1  # only the After step's increment


class Recorder(WorkflowObserver):
    def __init__(self) -> None:
        self.task_failures: list[tuple[str, str, str]] = []
        self.failed: list[str] = []

    async def on_task_failed(
        self, workflow_id: str, step_name: str, task_name: str, error: str
    ) -> None:
        self.task_failures.append((step_name, task_name, error))

    async def on_workflow_failed(
        self,
        workflow_id: str,
        workflow_type: str,
        error_message: str,
        current_state: dict[str, Any],
    ) -> None:
        self.failed.append(error_message)


async def test_partial_success_merges_the_rest_and_records_failures(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    tasks = [("a", "task_a"), ("boom", "task_fail"), ("c", "task_c")]
    observer = Recorder()
    builder = builder_for(parallel_yaml(tasks, allow_partial_success="true"))
    workflow = await builder.create_workflow(
        "P", execution_provider=SyncExecutor(), workflow_observer=observer
    )
    _result, next_name = await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED and next_name is None
    assert (workflow.state.a, workflow.state.c, workflow.state.n) == (1, 3, 1)
    failures = workflow.task_failures["Fan"]
    assert list(failures) == ["boom"] and "boom exploded" in failures["boom"]
    assert observer.task_failures == [("Fan", "boom", failures["boom"])]


async def test_partial_success_result_lists_failed_tasks(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    yaml_text = parallel_yaml(
        [("a", "task_a"), ("boom", "task_fail")], allow_partial_success="true"
    )
    yaml_text = yaml_text.replace("    automate_next: true\n", "")
    workflow = await (builder_for(yaml_text)).create_workflow(
        "P", execution_provider=SyncExecutor()
    )
    result, next_name = await workflow.next_step()
    assert next_name == "After"
    assert list(result["failed_tasks"]) == ["boom"]
    assert result["merged"]["a"] == 1


async def test_without_partial_success_any_failure_fails_the_workflow(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    tasks = [("a", "task_a"), ("boom", "task_fail"), ("bang", "task_fail")]
    observer = Recorder()
    persistence = InMemoryPersistenceProvider()
    builder = builder_for(parallel_yaml(tasks))
    workflow = await builder.create_workflow(
        "P",
        persistence_provider=persistence,
        execution_provider=SyncExecutor(),
        workflow_observer=observer,
    )
    result, _ = await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "'boom'" in workflow.error and "'bang'" in workflow.error
    assert result["step"] == "Fan"
    assert workflow.state.a is None, "nothing merged"
    saved = await persistence.load_workflow(workflow.id)
    assert saved.status == "FAILED" and saved.state["a"] is None
    assert observer.failed and len(observer.task_failures) == 2


@pytest.mark.parametrize("executor_cls", [SyncExecutor, ThreadPoolExecutionProvider])
async def test_timeout_fails_unfinished_tasks(
    builder_for: Callable[[str], WorkflowBuilder], executor_cls: type[ExecutionProvider]
) -> None:
    tasks = [("quick", "task_same_a"), ("slow", "task_slow")]
    builder = builder_for(parallel_yaml(tasks, timeout_seconds=0.3, allow_partial_success="true"))
    executor = executor_cls()
    try:
        workflow = await run(builder, executor)
    finally:
        executor.close()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.a == "quick"
    assert workflow.state.c is None, "the late result is discarded"
    assert "timeout_seconds" in workflow.task_failures["Fan"]["slow"]


async def test_timeout_without_partial_success_fails(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    builder = builder_for(parallel_yaml([("slow", "task_slow")], timeout_seconds=0.2))
    executor = ThreadPoolExecutionProvider()
    try:
        workflow = await run(builder, executor)
    finally:
        executor.close()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "did not finish" in workflow.error
    assert "'slow'" in workflow.error and "0.2 s" in workflow.error


async def test_task_returning_non_dict_is_named(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    workflow = await run(
        builder_for(parallel_yaml([("stringy", "task_returns_str")])), SyncExecutor()
    )
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None
    assert "Task 'stringy'" in workflow.error and "not a dict" in workflow.error


async def test_invalid_merged_value_names_field_and_task(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    workflow = await run(
        builder_for(parallel_yaml([("ok", "task_c"), ("bad", "task_bad_n")])), SyncExecutor()
    )
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None
    assert "field 'n'" in workflow.error and "task 'bad'" in workflow.error
    assert workflow.state.c is None and workflow.state.n == 0


async def test_saved_task_results_are_not_run_again(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    persistence = InMemoryPersistenceProvider()
    tasks = [("t1", "task_counts"), ("t2", "task_counts"), ("t3", "task_counts")]
    builder = builder_for(parallel_yaml(tasks))
    workflow = await builder.create_workflow(
        "P", persistence_provider=persistence, execution_provider=SyncExecutor()
    )
    # As if an earlier process had finished t2 (and saw t3 fail) before it died.
    await persistence.save_task_result(
        TaskRecord(workflow.id, "Fan", "t2", "COMPLETED", result={"b": "from-before"})
    )
    await persistence.save_task_result(TaskRecord(workflow.id, "Fan", "t3", "FAILED", error="x"))
    await workflow.run_to_completion()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert core_kit.CALLS == ["t1", "t3"], "completed tasks are reused, failed ones re-run"
    assert workflow.state.b == "from-before"
    assert await persistence.load_task_results(workflow.id, "Fan") == {}, "cleared once merged"
    log = await persistence.load_log(workflow.id)
    assert [e.event for e in log] == [
        "TASK_COMPLETED",
        "TASK_COMPLETED",
        "TASK_COMPLETED",
        "STEP_COMPLETED",
        "STEP_COMPLETED",
    ]


async def test_a_failed_step_keeps_every_task_outcome_in_the_log(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    persistence = InMemoryPersistenceProvider()
    builder = builder_for(parallel_yaml([("a", "task_a"), ("boom", "task_fail")]))
    workflow = await builder.create_workflow(
        "P", persistence_provider=persistence, execution_provider=SyncExecutor()
    )
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    log = await persistence.load_log(workflow.id)
    assert [(e.event, e.task_name) for e in log] == [
        ("TASK_COMPLETED", "a"),
        ("TASK_FAILED", "boom"),
        ("STEP_FAILED", None),
    ]
    assert "boom exploded" in (log[1].message or "")
