"""A dynamic fan-out (iterate_over) ends the same on every executor, items and order included."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.providers.execution import ExecutionProvider

pytestmark = [pytest.mark.celery, pytest.mark.redis]

FAN_OUT = """\
workflow_type: "Squares"
initial_state_model: "core_kit.State"
steps:
  - name: "Fan"
    type: "PARALLEL"
    iterate_over: "state.items"
    task_function: "celery_kit.square"
    item_var_name: "item"
    collect_into: "items"
    batch_size: 4
"""


async def run(tmp_path: Path, executor: ExecutionProvider) -> dict[str, Any]:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "fan.yaml").write_text(FAN_OUT, encoding="utf-8")
    workflow = await WorkflowBuilder(config_dir=config).create_workflow(
        "Squares", execution_provider=executor, initial_data={"items": list(range(10))}
    )
    await workflow.run_to_completion()
    assert workflow.status == "COMPLETED", workflow.error
    return workflow.state.model_dump()


async def test_dynamic_fan_out_matches_on_all_executors(
    tmp_path: Path, celery_executor: ExecutionProvider
) -> None:
    pool = ThreadPoolExecutionProvider(max_workers=3)
    try:
        on_pool = await run(tmp_path, pool)
    finally:
        pool.close()
    on_sync = await run(tmp_path, SyncExecutor())
    on_celery = await run(tmp_path, celery_executor)
    assert on_pool["items"] == [{"value": i * i, "index": i} for i in range(10)]
    assert on_sync == on_pool == on_celery


class _Empty(BaseModel):
    pass


def test_planning_a_large_fan_out_makes_no_task_objects() -> None:
    """Chunk i holds the pending tasks at positions [i * size, (i + 1) * size), as on every run
    of the batch; the tasks themselves are made only when a chunk's message is."""
    import gc
    import math

    from ruvon.implementations.execution.celery import AUTO_CHUNKS, CeleryExecutor
    from ruvon.providers.execution import FanOutCalls, ParallelBatch, TaskCall

    items = list(range(10_000))
    tasks = FanOutCalls("Fan", "celery_kit.square", None, items, "item")
    done = frozenset(tasks.name(i) for i in range(0, 10_000, 7))
    batch = ParallelBatch(
        workflow_id="w",
        workflow_type="Squares",
        step_name="Fan",
        state_model_path="core_kit.State",
        state=_Empty(),
        tasks=tasks,
        done=done,
        share_state=True,
    )
    executor = CeleryExecutor(broker_url="memory://", result_backend="cache+memory://")
    try:
        gc.collect()
        chunks = executor._plan(batch)
        alive = sum(isinstance(o, TaskCall) for o in gc.get_objects())
        assert alive == 0
        size = math.ceil(10_000 / AUTO_CHUNKS)
        expected = [
            [i for i in range(start, min(start + size, 10_000)) if i % 7]
            for start in range(0, 10_000, size)
        ]
        assert [[call.index for call in chunk.calls] for chunk in chunks] == expected
        assert [chunk.key.split("\x1f")[3] for chunk in chunks] == [
            str(i) for i in range(len(expected))
        ]
        assert sum(len(chunk.calls) for chunk in chunks) == 10_000 - len(done)
    finally:
        executor.close()
