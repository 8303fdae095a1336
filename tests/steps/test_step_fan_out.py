"""Dynamic PARALLEL fan-out: one task per item, collect_into, partial success, concurrency, merge."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import steps_kit
from steps_env import Env

from ruvon.errors import DefinitionError
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.models import WorkflowStatus

FAN_OUT = """\
workflow_type: "FanOut"
initial_state_model: "steps_kit.State"
steps:
  - name: "Squares"
    type: PARALLEL
    iterate_over: "state.items"
    task_function: "steps_kit.square"
    item_var_name: "item"
    collect_into: "state.results"
"""


@pytest.fixture
def pooled(env: Env) -> Iterator[Env]:
    pool = ThreadPoolExecutionProvider(max_workers=8)
    env.executor = pool
    yield env
    pool.close()


async def test_collect_into_keeps_item_order(pooled: Env) -> None:
    items = [5, 1, 4, 2, 3, 0, 7, 6]
    workflow = await pooled.start(FAN_OUT, data={"items": items})
    result, _ = await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.results == [{"value": i * i} for i in items]
    assert list(result["task_results"]) == [f"Squares[{i}]" for i in range(len(items))]
    saved = await pooled.store.load_workflow(workflow.id)
    assert saved.state["results"] == [{"value": i * i} for i in items]


async def test_partial_success_puts_none_for_failed_items(pooled: Env) -> None:
    text = FAN_OUT + "    allow_partial_success: true\n"
    workflow = await pooled.start(text, data={"items": [2, -1, 3]})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.results == [{"value": 4}, None, {"value": 9}]
    failures = workflow.task_failures["Squares"]
    assert list(failures) == ["Squares[1]"] and "negative item -1" in failures["Squares[1]"]


async def test_failed_item_without_partial_success_fails_the_step(pooled: Env) -> None:
    workflow = await pooled.start(FAN_OUT, data={"items": [2, -1, 3, -4]})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None
    assert "2 of 4 tasks failed" in workflow.error
    assert "'Squares[1]'" in workflow.error and "'Squares[3]'" in workflow.error
    assert workflow.state.results == []


@pytest.mark.parametrize("key", ["max_concurrency", "batch_size"])
async def test_max_concurrency_bounds_overlapping_tasks(pooled: Env, key: str) -> None:
    text = FAN_OUT.replace("steps_kit.square", "steps_kit.timed") + f"    {key}: 2\n"
    workflow = await pooled.start(text, data={"items": list(range(7))})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED
    assert workflow.state.results == [{"value": i} for i in range(7)]
    events = sorted(
        [(start, 1) for _, start, _ in steps_kit.SPANS]
        + [(end, -1) for _, _, end in steps_kit.SPANS],
        key=lambda e: (e[0], e[1]),  # an end before a start at the same instant
    )
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert len(steps_kit.SPANS) == 7 and peak <= 2


@pytest.mark.parametrize(("behavior", "last"), [("PREFER_NEW", 3), ("prefer_existing", 1)])
async def test_results_merge_by_strategy_in_item_order(
    pooled: Env, behavior: str, last: int
) -> None:
    text = f"""\
    workflow_type: "Merge"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "Details"
        type: PARALLEL
        iterate_over: "items"
        task_function: "steps_kit.detail"
        merge_strategy: deep
        merge_conflict_behavior: {behavior}
    """
    workflow = await pooled.start(text, data={"items": [1, 2, 3], "details": {"keep": 0}})
    await workflow.next_step()
    assert workflow.state.details == {"keep": 0, "k1": 1, "k2": 2, "k3": 3, "last": last}
    assert workflow.state.n == last


async def test_raise_error_merge_names_the_conflicting_key(pooled: Env) -> None:
    text = (
        FAN_OUT.replace('    collect_into: "state.results"\n', "").replace(
            "steps_kit.square", "steps_kit.detail"
        )
        + "    merge_conflict_behavior: RAISE_ERROR\n"
    )
    workflow = await pooled.start(text, data={"items": [1, 2]})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None and "RAISE_ERROR" in workflow.error
    assert "'Squares[0]'" in workflow.error and "'Squares[1]'" in workflow.error


async def test_item_var_name_and_index_reach_the_task(pooled: Env) -> None:
    text = FAN_OUT.replace("steps_kit.square", "steps_kit.add_order").replace(
        'item_var_name: "item"', 'item_var_name: "order"'
    )
    workflow = await pooled.start(text, data={"items": ["a", "b", "c"]})
    await workflow.next_step()
    assert workflow.state.results == [{"seen": ["0:a"]}, {"seen": ["1:b"]}, {"seen": ["2:c"]}]


async def test_empty_item_list_collects_an_empty_list(pooled: Env) -> None:
    workflow = await pooled.start(FAN_OUT, data={"items": [], "results": [1]})
    await workflow.next_step()
    assert workflow.status == WorkflowStatus.COMPLETED and workflow.state.results == []


async def test_bad_fan_out_definitions_are_reported_together(env: Env) -> None:
    text = """\
    workflow_type: "BadFanOut"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "NoFunction"
        type: PARALLEL
        iterate_over: "items"
      - name: "Both"
        type: PARALLEL
        iterate_over: "items"
        task_function: "steps_kit.square"
        tasks:
          - name: "t"
            function: "steps_kit.square"
      - name: "BadCollect"
        type: PARALLEL
        iterate_over: "items"
        task_function: "steps_kit.square"
        collect_into: "state.nowhere"
        max_concurrency: 0
    """
    with pytest.raises(DefinitionError) as caught:
        await env.start(text)
    message = str(caught.value)
    assert "wf0.yaml, line 19" in message and "max_concurrency" in message
    assert "greater than or equal to 1" in message
    # The steps that validate on their own are checked too, in the same run.
    assert "'NoFunction' needs both 'iterate_over' and 'task_function'" in message
    assert "'Both' has both 'tasks' and 'iterate_over'" in message


async def test_fan_out_paths_and_functions_are_checked_at_load(env: Env) -> None:
    text = """\
    workflow_type: "BadFanOut"
    initial_state_model: "steps_kit.State"
    steps:
      - name: "NoFunction"
        type: PARALLEL
        iterate_over: "items"
      - name: "Both"
        type: PARALLEL
        iterate_over: "items"
        task_function: "steps_kit.square"
        tasks:
          - name: "t"
            function: "steps_kit.square"
      - name: "BadCollect"
        type: PARALLEL
        iterate_over: "state.itemz"
        task_function: "steps_kit.no_such_function"
        collect_into: "state.nowhere"
    """
    with pytest.raises(DefinitionError) as caught:
        await env.start(text)
    message = str(caught.value)
    assert "wf0.yaml, line 4" in message
    assert "'NoFunction' needs both 'iterate_over' and 'task_function'" in message
    assert "wf0.yaml, line 7" in message and "has both 'tasks' and 'iterate_over'" in message
    with pytest.raises(DefinitionError) as caught:
        await env.start(
            text.replace(text[text.index('  - name: "NoFunction"') :], "")
            + text[text.index('  - name: "BadCollect"') :]
        )
    message = str(caught.value)
    assert "has 3 problems" in message
    assert "'steps_kit.no_such_function'" in message
    assert "'iterate_over: state.itemz' of step 'BadCollect' names no field" in message
    assert "'collect_into: state.nowhere' of step 'BadCollect' names no field" in message


async def test_task_function_with_required_item_parameter_loads(pooled: Env) -> None:
    workflow = await pooled.start(
        FAN_OUT.replace("steps_kit.square", "steps_kit.required_item"), data={"items": [4, 5]}
    )
    await workflow.next_step()
    assert workflow.state.results == [{"seen": [4]}, {"seen": [5]}]
