"""A dynamic fan-out keeps no object per task: tasks are made as they start, outcomes are kept by
index, the log sums up completed tasks per range of items, and a resumed step skips saved tasks.

Checked by structure (objects alive while a task runs, log entries, runs per item), never by time
or by memory thresholds: bench/bench_fanout.py measures memory.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import steps_kit
from steps_env import Env

from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import (
    WINDOW_PER_WORKER,
    ThreadPoolExecutionProvider,
)
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import (
    FanOutCalls,
    Interrupted,
    ParallelBatch,
    TaskCall,
    TaskOutcome,
)
from ruvon.providers.persistence import TaskRecord
from ruvon.steps import parallel
from ruvon.steps.parallel import LOG_CHUNK

WORKERS = 4

FAN_OUT = """\
workflow_type: "ScaleFanOut"
initial_state_model: "steps_kit.State"
steps:
  - name: "Fan"
    type: PARALLEL
    iterate_over: "state.items"
    task_function: "steps_kit.counted"
    collect_into: "state.results"
"""


@pytest.fixture
def pooled(env: Env) -> Iterator[Env]:
    pool = ThreadPoolExecutionProvider(max_workers=WORKERS)
    env.executor = pool
    yield env
    pool.close()


def _alive() -> dict[type, int]:
    counts = {TaskCall: 0, TaskOutcome: 0, TaskRecord: 0}
    for obj in gc.get_objects():
        kind = type(obj)
        if kind in counts:
            counts[kind] += 1
    return counts


def _record_alive_at(item: int) -> list[dict[type, int]]:
    seen: list[dict[type, int]] = []
    steps_kit.HOOKS[item] = lambda _: seen.append(_alive())
    return seen


async def test_thread_pool_makes_tasks_as_they_start_and_keeps_a_window(pooled: Env) -> None:
    items = 3 * LOG_CHUNK
    seen = _record_alive_at(2 * LOG_CHUNK)
    workflow = await pooled.start(FAN_OUT, data={"items": list(range(items))})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.results == [None] * items  # the tasks returned nothing
    assert len(steps_kit.COUNTS) == items and set(steps_kit.COUNTS.values()) == {1}
    (alive,) = seen
    # Without the window: one TaskCall per item (3000), and an outcome per finished task.
    window = 2 * WORKERS * WINDOW_PER_WORKER  # a window on the workers, one being saved
    assert alive[TaskCall] <= window, alive
    assert alive[TaskOutcome] <= window, alive
    assert alive[TaskRecord] <= window, alive  # the in-memory store keeps results by index


async def test_sync_executor_makes_one_task_at_a_time(env: Env) -> None:
    env.executor = SyncExecutor()
    seen = _record_alive_at(1500)
    workflow = await env.start(FAN_OUT, data={"items": list(range(2000))})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    (alive,) = seen
    assert alive[TaskCall] <= 2 and alive[TaskOutcome] <= 2 and alive[TaskRecord] <= 2, alive


async def test_interrupted_fan_out_resumes_without_rerunning_saved_tasks(pooled: Env) -> None:
    steps_kit.FAIL["return_dicts"] = True
    items = 2 * LOG_CHUNK + 500
    pool = pooled.executor
    loop = asyncio.get_running_loop()
    interrupted = threading.Event()

    def interrupt() -> None:
        pool.interrupt()
        interrupted.set()

    def hook(_: Any) -> None:  # item 1200 ends only once the interrupt is in: never too late
        loop.call_soon_threadsafe(interrupt)
        assert interrupted.wait(10)

    steps_kit.HOOKS[1200] = hook
    workflow = await pooled.start(FAN_OUT, data={"items": list(range(items))})
    with pytest.raises(Interrupted):
        await workflow.next_step()
    saved = await pooled.store.load_task_results(workflow.id, "Fan")
    ran_first = dict(steps_kit.COUNTS)
    assert 1200 < len(saved) < items
    assert {r.status for r in saved.values()} == {"COMPLETED"}
    # Every task that ran was saved (running tasks finish and report before the interrupt).
    assert set(saved) == {f"Fan[{name[4:]}]" for name in ran_first}

    again = ThreadPoolExecutionProvider(max_workers=WORKERS)
    pooled.executor = again
    try:
        resumed = await pooled.reload(workflow)
        await resumed.next_step()
    finally:
        again.close()
    assert resumed.status == WorkflowStatus.COMPLETED
    assert len(steps_kit.COUNTS) == items and set(steps_kit.COUNTS.values()) == {1}
    assert resumed.state.results == [{"value": i} for i in range(items)]
    assert await pooled.store.load_task_results(workflow.id, "Fan") == {}


async def test_log_sums_up_completed_items_per_range_and_lists_failures(env: Env) -> None:
    steps_kit.FAIL["items"] = {5, 1234}
    items = 2 * LOG_CHUNK + 500
    text = FAN_OUT + "    allow_partial_success: true\n"
    workflow = await env.start(text, data={"items": list(range(items))})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert list(workflow.task_failures["Fan"]) == ["Fan[5]", "Fan[1234]"]
    assert "item 1234 fails" in workflow.task_failures["Fan"]["Fan[1234]"]
    log = [e for e in await env.store.load_log(workflow.id) if e.event.startswith("TASK")]
    assert [(e.event, e.task_name) for e in log] == [
        ("TASKS_COMPLETED", "Fan[0]..Fan[999]"),
        ("TASK_FAILED", "Fan[5]"),
        ("TASKS_COMPLETED", "Fan[1000]..Fan[1999]"),
        ("TASK_FAILED", "Fan[1234]"),
        ("TASKS_COMPLETED", "Fan[2000]..Fan[2499]"),
    ]
    counts = [e.message.split(" tasks completed")[0] for e in log if e.event == "TASKS_COMPLETED"]
    assert counts == ["999 of 1000", "999 of 1000", "500 of 500"]
    assert all(e.duration is not None and e.duration >= 0 for e in log)
    assert log[1].message is not None and "item 5 fails" in log[1].message


async def test_failed_items_are_named_when_the_step_fails(env: Env) -> None:
    steps_kit.FAIL["items"] = {7, 1500}
    workflow = await env.start(FAN_OUT, data={"items": list(range(2000))})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "2 of 2000 tasks failed" in workflow.error
    assert "'Fan[7]': ValueError: item 7 fails" in workflow.error
    assert "'Fan[1500]': ValueError: item 1500 fails" in workflow.error
    failed = [
        e.task_name for e in await env.store.load_log(workflow.id) if e.event == "TASK_FAILED"
    ]
    assert failed == ["Fan[7]", "Fan[1500]"]


async def test_task_results_of_a_small_fan_out_is_a_plain_dict(env: Env) -> None:
    steps_kit.FAIL.update(items={1}, return_dicts=True)
    text = FAN_OUT.replace('    collect_into: "state.results"\n', "")
    text += "    allow_partial_success: true\n"
    workflow = await env.start(text, data={"items": [0, 1, 2]})
    result, _ = await workflow.next_step()
    assert type(result["task_results"]) is dict  # serializable like any step result
    assert json.loads(json.dumps(result["task_results"])) == {
        "Fan[0]": {"value": 0},
        "Fan[2]": {"value": 2},
    }


async def test_task_results_of_a_large_fan_out_is_a_view_in_item_order(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parallel, "TASK_RESULTS_AS_DICT", 2)  # 3 items count as large
    steps_kit.FAIL.update(items={1}, return_dicts=True)
    text = FAN_OUT.replace('    collect_into: "state.results"\n', "")
    text += "    allow_partial_success: true\n"
    workflow = await env.start(text, data={"items": [0, 1, 2]})
    result, _ = await workflow.next_step()
    task_results: Any = result["task_results"]
    assert type(task_results) is not dict
    assert list(task_results) == ["Fan[0]", "Fan[2]"] and len(task_results) == 2
    assert task_results["Fan[2]"] == {"value": 2}
    assert dict(task_results) == {"Fan[0]": {"value": 0}, "Fan[2]": {"value": 2}}
    with pytest.raises(KeyError):
        task_results["Fan[1]"]
    assert workflow.state.model_dump()["results"] == []


def test_fan_out_calls_are_made_on_demand_and_found_by_name() -> None:
    calls = FanOutCalls("Fan", "kit.f", None, ["a", "b", "c"], "letter")
    assert len(calls) == 3
    assert calls[1] == TaskCall(
        "Fan[1]", "kit.f", None, kwargs={"letter": "b", "index": 1}, item="b", index=1
    )
    assert calls[-1].name == "Fan[2]" and [c.name for c in calls[:2]] == ["Fan[0]", "Fan[1]"]
    assert [
        calls.index_of(n) for n in ["Fan[0]", "Fan[2]", "Fan[3]", "Fan[01]", "Fan", "Fa[1]"]
    ] == [
        0,
        2,
        None,
        None,
        None,
        None,
    ]
    batch = ParallelBatch(
        "w", "T", "Fan", "m.S", steps_kit.State(), calls, done=frozenset({"Fan[1]"})
    )
    assert [c.name for c in batch.pending] == ["Fan[0]", "Fan[2]"]
    assert len(batch.pending) == 2 and batch.pending[1].item == "c"
    assert batch.position("Fan[2]") == 2 and batch.position("x") is None


def test_stored_task_names_that_are_not_indexes_are_ignored() -> None:
    """A stored task name is data: odd digits or a huge number must not break a resume."""
    calls = FanOutCalls("Fan", "kit.f", None, ["a", "b", "c"], "letter")
    hostile = ["Fan[²]", "Fan[١]", "Fan[" + "9" * 5000 + "]", "Fan[-1]", "Fan[ 1]", "Fan[1 ]"]
    assert [calls.index_of(name) for name in hostile] == [None] * len(hostile)


async def test_a_resume_ignores_stored_rows_with_hostile_task_names(env: Env) -> None:
    steps_kit.FAIL["return_dicts"] = True
    workflow = await env.start(FAN_OUT, data={"items": [0, 1, 2]})
    garbage = ["Fan[²]", "Fan[" + "9" * 5000 + "]", "Other[1]"]
    await env.store.save_task_results(
        [
            TaskRecord(workflow.id, "Fan", name, "COMPLETED", {"value": -1}, None, 0.0, 0.0)
            for name in garbage
        ]
    )
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED, workflow.error
    assert workflow.state.results == [{"value": i} for i in range(3)]
