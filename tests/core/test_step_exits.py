"""sys.exit() in a step or task fails it with a clear message; KeyboardInterrupt still propagates."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.models import WorkflowStatus
from ruvon.providers.execution import ExecutionProvider

STEP = """\
workflow_type: "X"
initial_state_model: "core_kit.State"
steps:
  - name: "Exit"
    function: "core_kit.{function}"
"""

TASK = """\
workflow_type: "X"
initial_state_model: "core_kit.State"
steps:
  - name: "Fan"
    type: PARALLEL
    tasks:
      - {{name: "ok", function_path: "core_kit.increment"}}
      - {{name: "quitter", function_path: "core_kit.{function}"}}
"""

EXECUTORS: dict[str, Callable[[], ExecutionProvider]] = {
    "sync": SyncExecutor,
    "threads": lambda: ThreadPoolExecutionProvider(max_workers=2),
}


@pytest.mark.parametrize("executor", EXECUTORS)
@pytest.mark.parametrize("yaml_text", [STEP, TASK], ids=["step", "task"])
async def test_sys_exit_fails_the_step_naming_it(
    executor: str, yaml_text: str, builder_for: Callable[[str], WorkflowBuilder]
) -> None:
    provider = EXECUTORS[executor]()
    try:
        builder = builder_for(yaml_text.format(function="exits"))
        workflow = await builder.create_workflow("X", execution_provider=provider)
        await workflow.next_step()
    finally:
        provider.close()
    assert workflow.status is WorkflowStatus.FAILED
    error = workflow.error or ""
    assert "sys.exit(3)" in error and f"'{workflow.failed_step}'" in error
    if yaml_text is TASK:
        assert "Task 'quitter'" in error


@pytest.mark.parametrize("executor", EXECUTORS)
async def test_keyboard_interrupt_in_a_step_propagates(
    executor: str, builder_for: Callable[[str], WorkflowBuilder]
) -> None:
    provider = EXECUTORS[executor]()
    try:
        builder = builder_for(STEP.format(function="interrupted"))
        workflow = await builder.create_workflow("X", execution_provider=provider)
        with pytest.raises(KeyboardInterrupt):
            await workflow.next_step()
    finally:
        provider.close()
