"""CeleryExecutor against a real worker: allowlist, overlap, missing workers, worker options."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from celery_kit import SPAN_DB_URL as REDIS_URL
from celery_kit import span_key
from celery_outsider import OutsiderState

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ConfigurationError
from ruvon.implementations.execution.celery import CeleryExecutionProvider, CeleryExecutor
from ruvon.implementations.execution.celery_worker import allow_hint, is_allowed, main
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import ParallelBatch, TaskCall

pytestmark = [pytest.mark.celery, pytest.mark.redis]


def builder(tmp_path: Path, tasks: list[tuple[str, str]], **options: object) -> WorkflowBuilder:
    lines = [
        'workflow_type: "P"',
        'initial_state_model: "core_kit.State"',
        "steps:",
        '  - name: "Fan"',
        '    type: "PARALLEL"',
        "    tasks:",
    ]
    for name, func in tasks:
        lines += [f'      - name: "{name}"', f'        function_path: "{func}"']
    lines += [f"    {key}: {value}" for key, value in options.items()]
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "workflow.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return WorkflowBuilder(config_dir=config)


async def test_a_function_outside_the_allowlist_is_refused_and_the_worker_survives(
    tmp_path: Path, celery_worker: Any, celery_executor: CeleryExecutor
) -> None:
    # celery_outsider is importable on the worker (it is on its PYTHONPATH) but not allowlisted.
    tasks = [("ok", "core_kit.task_c"), ("evil", "celery_outsider.steal")]
    wf = await builder(tmp_path, tasks).create_workflow("P", execution_provider=celery_executor)
    await wf.run_to_completion()
    assert wf.status == WorkflowStatus.FAILED
    assert wf.error is not None
    assert "1 of 2 tasks failed" in wf.error and "'evil'" in wf.error
    assert "'celery_outsider.steal'" in wf.error and "not allowed on this Celery worker" in wf.error
    assert "--allow celery_outsider" in wf.error
    assert wf.state.c is None
    assert celery_worker.process.poll() is None, "the worker is still running"
    again = await builder(tmp_path, [("fine", "core_kit.task_c")]).create_workflow(
        "P", execution_provider=celery_executor
    )
    await again.run_to_completion()
    assert again.status == WorkflowStatus.COMPLETED and again.state.c == 3
    assert "Refused task 'evil'" in celery_worker.log_text()


@pytest.mark.parametrize("path", ["os.system", "subprocess.run", "pydantic.BaseModel", "ruvon.x"])
def test_the_refusal_never_suggests_allowing_python_or_an_installed_library(path: str) -> None:
    hint = allow_hint(path)
    top = path.split(".")[0]
    assert f"--allow {top}" not in hint and f"'{top}' is not a package of your own" in hint


def test_the_refusal_suggests_allowing_the_users_own_package() -> None:
    assert "--allow celery_outsider " in allow_hint("celery_outsider.steal")


async def test_a_state_model_outside_the_allowlist_is_refused(
    tmp_path: Path, celery_executor: CeleryExecutor
) -> None:
    batch = ParallelBatch(
        workflow_id="w1",
        workflow_type="P",
        step_name="Fan",
        state_model_path="celery_outsider.OutsiderState",
        state=OutsiderState(),
        tasks=[TaskCall("t", "core_kit.task_c")],
        timeout=10,
        deadline=time.monotonic() + 10,
    )
    arrived = [o async for burst in celery_executor.run_parallel(batch) for o in burst]
    assert [o.task_name for o in arrived] == ["t"]
    assert (
        arrived[0].error is not None
        and "state model 'celery_outsider.OutsiderState'" in arrived[0].error
    )


async def test_tasks_overlap_on_the_workers(
    tmp_path: Path, celery_executor: CeleryExecutor
) -> None:
    tasks = [("left", "celery_kit.record_span"), ("right", "celery_kit.record_span")]
    wf = await builder(tmp_path, tasks).create_workflow("P", execution_provider=celery_executor)
    await wf.run_to_completion()
    assert wf.status == WorkflowStatus.COMPLETED
    client = redis.Redis.from_url(REDIS_URL)
    try:
        spans = [json.loads(raw) for raw in client.lrange(span_key(wf.id), 0, -1)]
        client.delete(span_key(wf.id))
    finally:
        client.close()
    assert sorted(s[0] for s in spans) == ["left", "right"]
    assert len({s[3] for s in spans}) == 2, "two worker processes ran the two tasks"
    assert max(s[1] for s in spans) < min(s[2] for s in spans), "both ran at one moment"


@pytest.mark.parametrize("chunk_size", [None, 1, 30])
async def test_every_task_of_a_large_step_reports_once_whatever_the_chunking(
    tmp_path: Path, celery_worker: Any, chunk_size: int | None
) -> None:
    executor = CeleryExecutor(
        broker_url=REDIS_URL,
        result_backend=REDIS_URL,
        queue=celery_worker.queue,
        chunk_size=chunk_size,
    )
    tasks = [(f"t{i}", "core_kit.task_counts") for i in range(100)]
    try:
        wf = await builder(tmp_path, tasks).create_workflow("P", execution_provider=executor)
        result, _ = await wf.next_step()
    finally:
        executor.close()
    assert wf.status == WorkflowStatus.COMPLETED
    assert list(result["task_results"]) == [f"t{i}" for i in range(100)], "declared order"
    assert result["merged"] == {f"t{i}": True for i in range(100)}


async def test_without_a_worker_the_step_fails_with_a_hint(
    tmp_path: Path, celery_worker: Any
) -> None:
    executor = CeleryExecutor(
        broker_url=REDIS_URL, result_backend=REDIS_URL, queue="ruvon-test-nobody-listens"
    )
    try:
        wf = await builder(
            tmp_path, [("lonely", "core_kit.task_c")], timeout_seconds=0.5
        ).create_workflow("P", execution_provider=executor)
        await wf.run_to_completion()
    finally:
        redis.Redis.from_url(REDIS_URL).delete("ruvon-test-nobody-listens")
        executor.close()
    assert wf.status == WorkflowStatus.FAILED
    assert wf.error is not None
    assert "no Celery worker started it within 0.5 s" in wf.error
    assert "ruvon worker --allow core_kit" in wf.error


async def test_default_task_timeout_bounds_a_step_without_timeout(
    tmp_path: Path, celery_worker: Any
) -> None:
    executor = CeleryExecutor(
        broker_url=REDIS_URL,
        result_backend=REDIS_URL,
        queue="ruvon-test-nobody-listens-2",
        default_task_timeout=0.3,
    )
    try:
        wf = await builder(tmp_path, [("lonely", "core_kit.task_c")]).create_workflow(
            "P", execution_provider=executor
        )
        await wf.run_to_completion()
    finally:
        redis.Redis.from_url(REDIS_URL).delete("ruvon-test-nobody-listens-2")
        executor.close()
    assert wf.status == WorkflowStatus.FAILED
    assert (
        wf.error is not None and "within 0.3 s" in wf.error and "Is a worker running?" in wf.error
    )


def test_bad_arguments_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="chunk_size"):
        CeleryExecutor(chunk_size=0)
    with pytest.raises(ConfigurationError, match="positive"):
        CeleryExecutor(poll_interval=0)
    assert CeleryExecutionProvider is CeleryExecutor


def test_allowlist_matches_whole_module_names() -> None:
    assert is_allowed("core_kit.task_a", ["core_kit"])
    assert is_allowed("pkg.sub.f", ["pkg.sub"])
    assert not is_allowed("core_kitten.task_a", ["core_kit"])
    assert not is_allowed("os.system", [])


def test_a_worker_without_allowlist_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUVON_CELERY_ALLOW", raising=False)
    with pytest.raises(SystemExit, match="--allow"):
        main([])


async def test_a_task_whose_worker_process_dies_is_redelivered(
    tmp_path: Path, celery_worker: Any, celery_executor: CeleryExecutor
) -> None:
    tasks = [("phoenix", "celery_kit.die_once"), ("a", "core_kit.task_same_a")]
    wf = await builder(tmp_path, tasks, timeout_seconds=30).create_workflow(
        "P", execution_provider=celery_executor
    )
    await wf.run_to_completion()
    assert wf.status == WorkflowStatus.COMPLETED, wf.error
    assert (wf.state.a, wf.state.c) == ("a", "after redelivery")
    assert celery_worker.process.poll() is None, "the worker replaced its lost process"
