"""The thread-pool executor's worker threads: sliding concurrency limit, no user code on the event
loop, bounded runaway threads, and the WorkerThreads hop itself."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator

import core_kit
import executor_kit
import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.execution.threads import WorkerThreads
from ruvon.models import WorkflowStatus


@pytest.fixture(autouse=True)
def _reset_executor_kit() -> Iterator[None]:
    executor_kit.reset()
    yield
    executor_kit.RELEASE.set()  # let runaway tasks of a failed test end


def fan(tasks: list[tuple[str, str]], **options: object) -> str:
    return core_kit.parallel_yaml([(n, f"executor_kit.{f}") for n, f in tasks], **options)


async def test_a_freed_slot_starts_the_next_task_while_a_slow_one_runs(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    # 'third' can start only when 'fast' ends, while 'slow' still runs (it waits for 'third').
    tasks = [("slow", "wait_for_gate"), ("fast", "quick"), ("third", "open_gate")]
    builder = builder_for(fan(tasks, max_concurrency=2))
    executor = ThreadPoolExecutionProvider(4)
    try:
        workflow = await builder.create_workflow("P", execution_provider=executor)
        await workflow.run_to_completion()
    finally:
        executor.close()
    assert workflow.status == WorkflowStatus.COMPLETED, workflow.error
    assert (workflow.state.a, workflow.state.b, workflow.state.c) == (True, 1, 1)


async def test_sync_step_functions_never_run_on_the_event_loop_thread(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    text = core_kit.parallel_yaml([("t", "executor_kit.record_thread")]).replace(
        "core_kit.increment", "executor_kit.record_thread"
    )
    executor = ThreadPoolExecutionProvider(2)
    try:
        workflow = await builder_for(text).create_workflow("P", execution_provider=executor)
        await workflow.run_to_completion()
    finally:
        executor.close()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert len(executor_kit.THREADS) == 2
    assert threading.get_ident() not in executor_kit.THREADS


async def test_runaway_tasks_strand_at_most_max_workers_extra_threads(
    builder_for: Callable[[str], WorkflowBuilder], caplog: pytest.LogCaptureFixture
) -> None:
    text = fan([("x", "blocked"), ("y", "blocked")], timeout_seconds=0.2)
    builder = builder_for(text)
    executor = ThreadPoolExecutionProvider(2)
    try:
        with caplog.at_level(logging.WARNING, "ruvon.executor"):
            for _ in range(4):  # each run abandons two running tasks
                workflow = await builder.create_workflow("P", execution_provider=executor)
                await workflow.run_to_completion()
                assert workflow.status == WorkflowStatus.FAILED
                assert executor.threads.threads <= 4
        assert "stuck in tasks abandoned" in caplog.text
        executor_kit.RELEASE.set()
        await _until(lambda: executor.threads.threads <= 2)
        later = await builder_for(fan([("q", "quick")])).create_workflow(
            "P", execution_provider=executor
        )
        await later.run_to_completion()
    finally:
        executor.close()
    assert later.status == WorkflowStatus.COMPLETED, later.error


async def _until(condition: Callable[[], bool]) -> None:
    """Wait (bounded) for threads to settle; fails the test if they never do."""
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        await asyncio.sleep(0.01)


async def test_worker_threads_return_raise_and_reuse_one_thread() -> None:
    threads = WorkerThreads(3, "test")

    def boom() -> None:
        raise ValueError("boom")

    try:
        assert [await threads.call(pow, 2, n) for n in range(5)] == [1, 2, 4, 8, 16]
        with pytest.raises(ValueError, match="boom"):
            await threads.call(boom)
        assert threads.threads == 1  # sequential calls reuse the idle thread
    finally:
        threads.close()
    assert threads.threads == 0
    with pytest.raises(RuntimeError, match="closed"):
        await threads.call(pow, 2, 2)
