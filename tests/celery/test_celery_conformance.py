"""The same workflows end identically on SyncExecutor, the thread pool and CeleryExecutor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from core_kit import parallel_yaml

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.providers.execution import ExecutionProvider

pytestmark = [pytest.mark.celery, pytest.mark.redis]


ABC = [("a", "core_kit.task_a"), ("b", "core_kit.task_b"), ("c", "core_kit.task_c")]

CASES: dict[str, str] = {
    "tutorial_shape": parallel_yaml(ABC),
    "deep_merge": parallel_yaml(ABC, merge_strategy="DEEP"),
    "shallow_prefer_old": parallel_yaml(
        [("first", "core_kit.task_same_a"), ("second", "core_kit.task_same_a")],
        merge_conflict_behavior="PREFER_OLD",
    ),
    "partial_failure": parallel_yaml(
        [("a", "core_kit.task_a"), ("boom", "core_kit.task_fail"), ("c", "core_kit.task_c")],
        allow_partial_success="true",
    ),
    "failure_fails_workflow": parallel_yaml(
        [("a", "core_kit.task_a"), ("boom", "core_kit.task_fail"), ("bang", "core_kit.task_fail")]
    ),
    "raise_error_conflict": parallel_yaml(
        [("left", "core_kit.task_same_a"), ("right", "core_kit.task_same_a")],
        merge_conflict_behavior="RAISE_ERROR",
    ),
    "timeout": parallel_yaml(
        [("quick", "core_kit.task_same_a"), ("slow", "core_kit.task_slow")],
        timeout_seconds=0.5,
        allow_partial_success="true",
    ),
    "non_dict_result": parallel_yaml([("stringy", "core_kit.task_returns_str")]),
    "mutating_copy": parallel_yaml(
        [("m1", "core_kit.task_mutates"), ("m2", "core_kit.task_mutates")]
    ),
}


async def run_case(tmp_path: Path, yaml_text: str, executor: ExecutionProvider) -> dict[str, Any]:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    (config / "workflow.yaml").write_text(yaml_text, encoding="utf-8")
    builder = WorkflowBuilder(config_dir=config)
    workflow = await builder.create_workflow(
        "P", execution_provider=executor, initial_data={"details": {"keep": 1}}
    )
    await workflow.run_to_completion()
    failed = set(workflow.task_failures.get("Fan", {}))
    error = workflow.error or ""
    for name in ("a", "b", "c", "boom", "bang", "left", "right", "slow", "stringy"):
        if f"'{name}'" in error:
            failed.add(name)
    return {
        "state": workflow.state.model_dump(),
        "status": workflow.status.value,
        "failed": failed,
        "error_kind": error.split(":", 2)[-1].strip()[:40] if error else "",
    }


@pytest.mark.parametrize("case", list(CASES))
async def test_celery_ends_like_sync_and_thread_pool(
    case: str, tmp_path: Path, celery_executor: ExecutionProvider
) -> None:
    yaml_text = CASES[case]
    pool = ThreadPoolExecutionProvider(max_workers=4)
    try:
        expected_pool = await run_case(tmp_path, yaml_text, pool)
    finally:
        pool.close()
    expected_sync = await run_case(tmp_path, yaml_text, SyncExecutor())
    on_celery = await run_case(tmp_path, yaml_text, celery_executor)
    assert expected_sync == expected_pool
    assert on_celery == expected_pool
