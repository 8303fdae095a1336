"""Trace context travels with Celery messages: a worker's task spans join the workflow's trace.

The worker exports its spans as JSON lines to a file (``RUVON_OTEL_FILE``, set for it only); the
orchestrator's spans stay in memory. Both sides' spans must carry the workflow's trace id, and the
worker's chunk span must be a child of the orchestrator's step span.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_support import CORE, HERE, REDIS_URL, Worker, redis_or_skip, start_worker, stop_worker
from core_kit import parallel_yaml

from ruvon.builder import WorkflowBuilder
from ruvon.models import WorkflowStatus

pytestmark = [pytest.mark.celery, pytest.mark.redis]


@pytest.fixture(scope="module")
def traced_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Worker, Path]]:
    """A prefork worker (2 processes) that exports spans to a file."""
    redis_or_skip()
    where = tmp_path_factory.mktemp("traced")
    spans = where / "spans.jsonl"
    worker = start_worker(
        ["core_kit", "celery_kit"],
        broker=REDIS_URL,
        log=where / "worker.log",
        pythonpath=[CORE, HERE],
        extra_env={"RUVON_OTEL_FILE": str(spans)},
    )
    yield worker, spans
    stop_worker(worker)


@pytest.fixture
def spans() -> Iterator[tuple[Any, Any]]:
    """``(tracer_provider, exporter)``: the orchestrator's spans, kept in memory."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


async def test_worker_task_spans_share_the_workflow_trace(
    tmp_path: Path, traced_worker: tuple[Worker, Path], spans: tuple[Any, Any]
) -> None:
    from ruvon.implementations.execution.celery import CeleryExecutor
    from ruvon.observability.otel import OpenTelemetryObserver

    worker, span_file = traced_worker
    provider, exporter = spans
    config = tmp_path / "config"
    config.mkdir()
    tasks = [("one", "core_kit.task_a"), ("two", "core_kit.task_b"), ("bad", "core_kit.task_fail")]
    text = parallel_yaml(tasks, allow_partial_success="true")
    (config / "workflow.yaml").write_text(text, encoding="utf-8")
    executor = CeleryExecutor(
        broker_url=worker.broker,
        result_backend=worker.broker,
        queue=worker.queue,
        default_task_timeout=30,
    )
    try:
        wf = await WorkflowBuilder(config_dir=config).create_workflow(
            "P", execution_provider=executor, workflow_observer=OpenTelemetryObserver(provider)
        )
        await wf.run_to_completion()
    finally:
        executor.close()
    assert wf.status is WorkflowStatus.COMPLETED, wf.error
    mine = {span.name: span for span in exporter.get_finished_spans()}
    trace_id = f"{mine['workflow P'].context.trace_id:032x}"
    step_id = f"{mine['step Fan'].context.span_id:016x}"
    lines = [json.loads(line) for line in span_file.read_text(encoding="utf-8").splitlines()]
    theirs = [span for span in lines if span["attributes"].get("ruvon.workflow.id") == wf.id]
    chunks = [span for span in theirs if span["name"] == "celery Fan"]
    runs = {span["name"]: span for span in theirs if span["name"].startswith("run ")}
    assert len(chunks) == 3, "three tasks go as three messages: a chunk span each"
    assert set(runs) == {"run one", "run two", "run bad"}
    assert {span["trace_id"] for span in theirs} == {trace_id}, "the worker joined the trace"
    assert {span["parent_id"] for span in chunks} == {step_id}, "chunks are children of the step"
    chunk_ids = {span["span_id"] for span in chunks}
    assert all(span["parent_id"] in chunk_ids for span in runs.values())
    assert runs["run bad"]["status"] == "ERROR"
    assert "bad exploded" in runs["run bad"]["attributes"]["ruvon.error"]
    assert runs["run one"]["attributes"]["ruvon.task.status"] == "COMPLETED"
