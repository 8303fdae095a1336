"""OpenTelemetry spans of workflows, checked with the SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from obs_kit import FAILING, FLOW, PARTIAL

from ruvon.builder import WorkflowBuilder
from ruvon.engine_record import EngineRecord
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.observability.composite import CompositeObserver
from ruvon.observability.otel import OpenTelemetryObserver


def by_name(finished: Any) -> dict[str, Any]:
    return {span.name: span for span in finished}


async def test_one_trace_per_workflow_with_a_span_per_step_and_task_continued_after_a_resume(
    builder_for: Callable[[str], WorkflowBuilder], tmp_path: Path, spans: tuple[Any, Any]
) -> None:
    provider, exporter = spans
    store = SQLitePersistenceProvider(str(tmp_path / "wf.db"))
    builder = builder_for(FLOW)
    first = await builder.create_workflow(
        "Traced",
        persistence_provider=store,
        execution_provider=ThreadPoolExecutionProvider(max_workers=2),
        workflow_observer=OpenTelemetryObserver(provider),
    )
    await first.run_to_completion()
    assert first.status is WorkflowStatus.WAITING_HUMAN
    saved = await store.load_workflow(first.id)
    assert set(saved.engine["trace"]) == {"traceparent"}

    # Another process (here: another Workflow object and observer) resumes it from SQLite.
    resumed = await builder.load_workflow(
        first.id,
        persistence_provider=store,
        execution_provider=SyncExecutor(),
        workflow_observer=OpenTelemetryObserver(provider),
    )
    await resumed.next_step(user_input="yes")
    assert resumed.status is WorkflowStatus.COMPLETED

    finished = exporter.get_finished_spans()
    names = [span.name for span in finished]
    assert sorted(names) == sorted(
        [
            "workflow Traced",
            "step Prepare",
            "step Fan",
            "task left",
            "task right",
            "step Approve",  # first run: pauses (finished), the workflow waits for input
            "step Finish",  # resumed: takes the input
            "workflow Traced completed",
        ]
    )
    assert len({span.context.trace_id for span in finished}) == 1, "one trace per workflow"
    root = by_name(finished)["workflow Traced"]
    assert root.parent is None
    assert root.attributes["ruvon.workflow.id"] == first.id
    assert root.attributes["ruvon.workflow.type"] == "Traced"
    saved_parent = saved.engine["trace"]["traceparent"]
    assert f"{root.context.span_id:016x}" in saved_parent
    steps = [span for span in finished if span.name.startswith("step ")]
    assert all(span.parent.span_id == root.context.span_id for span in steps)
    fan = by_name(finished)["step Fan"]
    assert fan.attributes["ruvon.step"] == "Fan" and fan.attributes["ruvon.step.index"] == 1
    assert fan.attributes["ruvon.step.status"] == "COMPLETED"
    assert fan.attributes["ruvon.workflow.id"] == first.id
    for task in ("left", "right"):
        span = by_name(finished)[f"task {task}"]
        assert span.parent.span_id == fan.context.span_id, "tasks are children of their step"
        assert span.attributes["ruvon.task"] == task
        assert span.attributes["ruvon.task.status"] == "COMPLETED"
        assert fan.start_time <= span.start_time and span.end_time <= fan.end_time
    waits = [span for span in steps if span.name == "step Approve"]
    assert [span.attributes["ruvon.step.status"] for span in waits] == ["COMPLETED"]
    end = by_name(finished)["workflow Traced completed"]
    assert end.parent.span_id == root.context.span_id
    assert end.status.is_ok


async def test_a_failed_step_sets_error_status_and_records_the_message(
    builder_for: Callable[[str], WorkflowBuilder], spans: tuple[Any, Any]
) -> None:
    provider, exporter = spans
    wf = await builder_for(FAILING).create_workflow(
        "Broken", workflow_observer=OpenTelemetryObserver(provider)
    )
    await wf.run_to_completion()
    assert wf.status is WorkflowStatus.FAILED
    found = by_name(exporter.get_finished_spans())
    charge = found["step Charge"]
    assert charge.status.status_code.name == "ERROR"
    assert "payment gateway unreachable" in (charge.status.description or "")
    assert "payment gateway unreachable" in charge.attributes["ruvon.error"]
    assert charge.attributes["ruvon.step.status"] == "FAILED"
    assert [event.name for event in charge.events] == ["exception"]
    assert found["step Prepare"].status.is_ok
    end = found["workflow Broken failed"]
    assert end.status.status_code.name == "ERROR"
    assert end.attributes["ruvon.workflow.status"] == "FAILED"


async def test_a_failed_parallel_task_gets_an_error_span_under_its_step(
    builder_for: Callable[[str], WorkflowBuilder], spans: tuple[Any, Any]
) -> None:
    provider, exporter = spans
    wf = await builder_for(PARTIAL).create_workflow(
        "Partial",
        execution_provider=ThreadPoolExecutionProvider(max_workers=2),
        workflow_observer=OpenTelemetryObserver(provider),
    )
    await wf.run_to_completion()
    assert wf.status is WorkflowStatus.COMPLETED
    found = by_name(exporter.get_finished_spans())
    bad, good, fan = found["task bad"], found["task good"], found["step Fan"]
    assert bad.parent.span_id == fan.context.span_id == good.parent.span_id
    assert bad.status.status_code.name == "ERROR"
    assert "bad exploded" in bad.attributes["ruvon.error"]
    assert bad.attributes["ruvon.task.status"] == "FAILED"
    assert good.attributes["ruvon.task.status"] == "COMPLETED"


async def test_spans_made_inside_a_step_nest_under_the_step_span(
    builder_for: Callable[[str], WorkflowBuilder], spans: tuple[Any, Any]
) -> None:
    from opentelemetry import trace

    provider, exporter = spans
    seen: list[Any] = []

    class Probe(OpenTelemetryObserver):
        async def on_step_executed(self, workflow_id: str, step_name: str, *rest: Any) -> None:
            seen.append(trace.get_current_span().get_span_context().span_id)
            await super().on_step_executed(workflow_id, step_name, *rest)

    wf = await builder_for(FAILING.replace("mutate_then_fail", "increment")).create_workflow(
        "Broken", workflow_observer=Probe(provider)
    )
    await wf.run_to_completion()
    found = by_name(exporter.get_finished_spans())
    assert seen == [found["step Prepare"].context.span_id, found["step Charge"].context.span_id]
    assert not trace.get_current_span().get_span_context().is_valid, "no span leaks afterwards"


async def test_the_composite_observer_feeds_several_observers(
    builder_for: Callable[[str], WorkflowBuilder], spans: tuple[Any, Any]
) -> None:
    provider, exporter = spans
    from prometheus_client import CollectorRegistry

    from ruvon.observability.metrics import PrometheusObserver

    registry = CollectorRegistry()
    both = CompositeObserver([OpenTelemetryObserver(provider), PrometheusObserver(registry)])
    wf = await builder_for(FAILING).create_workflow("Broken", workflow_observer=both)
    await wf.run_to_completion()
    assert "step Charge" in by_name(exporter.get_finished_spans())
    assert (
        registry.get_sample_value("ruvon_workflows_failed_total", {"workflow_type": "Broken"}) == 1
    )


def test_the_trace_context_round_trips_through_the_engine_record() -> None:
    carrier = {"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"}
    record = EngineRecord(trace=carrier)
    assert record.to_dict() == {"trace": carrier}
    assert EngineRecord.from_dict(record.to_dict()).trace == carrier
    assert EngineRecord().to_dict() == {}, "nothing is saved without a tracer"
    odd = EngineRecord.from_dict({"trace": {"traceparent": 5, "x": "y" * 1000}})
    assert odd.trace == {}, "hand-edited or oversized entries are skipped"


async def test_a_sub_workflow_trace_hangs_under_the_parents_step(
    tmp_path: Path, spans: tuple[Any, Any]
) -> None:
    provider, exporter = spans
    config = tmp_path / "subflows"
    config.mkdir()
    (config / "parent.yaml").write_text(
        'workflow_type: "Parent"\ninitial_state_model: "core_kit.State"\nsteps:\n'
        '  - name: "RunChild"\n    type: SUB_WORKFLOW\n    workflow_type: "Child"\n'
        '    output_key: "details"\n    automate_next: true\n'
        '  - name: "Finish"\n    function: "core_kit.increment"\n',
        encoding="utf-8",
    )
    (config / "child.yaml").write_text(
        'workflow_type: "Child"\ninitial_state_model: "core_kit.State"\nsteps:\n'
        '  - name: "Inner"\n    function: "core_kit.increment"\n',
        encoding="utf-8",
    )
    parent = await WorkflowBuilder(config_dir=config).create_workflow(
        "Parent", workflow_observer=OpenTelemetryObserver(provider)
    )
    await parent.run_to_completion()
    assert parent.status is WorkflowStatus.COMPLETED
    finished = exporter.get_finished_spans()
    found = by_name(finished)
    assert len({span.context.trace_id for span in finished}) == 1, "the child joins the trace"
    child_root = found["workflow Child"]
    assert child_root.parent.span_id == found["step RunChild"].context.span_id
    assert child_root.attributes["ruvon.workflow.parent_id"] == parent.id
    assert found["step Inner"].parent.span_id == child_root.context.span_id
    assert found["step Finish"].parent.span_id == found["workflow Parent"].context.span_id


async def test_workflows_driven_concurrently_keep_their_own_traces(
    builder_for: Callable[[str], WorkflowBuilder], spans: tuple[Any, Any]
) -> None:
    import asyncio

    provider, exporter = spans
    observer = OpenTelemetryObserver(provider)
    builder = builder_for(PARTIAL)
    flows = [
        await builder.create_workflow(
            "Partial",
            execution_provider=ThreadPoolExecutionProvider(max_workers=2),
            workflow_observer=observer,
        )
        for _ in range(3)
    ]
    await asyncio.gather(*(wf.run_to_completion() for wf in flows))
    finished = exporter.get_finished_spans()
    for wf in flows:
        mine = [s for s in finished if s.attributes.get("ruvon.workflow.id") == wf.id]
        assert len(mine) == 5, [s.name for s in mine]  # root, step, two tasks, end
        assert len({s.context.trace_id for s in mine}) == 1
    assert len({s.context.trace_id for s in finished}) == 3
