"""Prometheus metrics: scraped with render_latest() and parsed with prometheus_client's parser."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from obs_kit import FAILING, FLOW
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.persistence.sqlite import SQLitePersistenceProvider
from ruvon.models import WorkflowStatus
from ruvon.observability import metrics
from ruvon.runtime.leases import lease_store_for


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, content_type = metrics.render_latest(registry)
    assert isinstance(body, bytes) and content_type.startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(body.decode("utf-8")):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_counters_and_histograms_by_type_step_and_status(
    builder_for: Callable[[str], WorkflowBuilder],
) -> None:
    registry = CollectorRegistry()
    observer = metrics.PrometheusObserver(registry)
    builder = builder_for(FLOW)
    for _ in range(2):
        wf = await builder.create_workflow(
            "Traced",
            execution_provider=ThreadPoolExecutionProvider(max_workers=2),
            workflow_observer=observer,
        )
        await wf.run_to_completion()
        await wf.next_step(user_input="ok")
        assert wf.status is WorkflowStatus.COMPLETED
    broken = await builder_for(FAILING).create_workflow(
        "Broken", workflow_observer=metrics.PrometheusObserver(registry)
    )
    await broken.run_to_completion()

    got = scrape(registry)
    assert got[("ruvon_workflows_started_total", (("workflow_type", "Traced"),))] == 2
    assert got[("ruvon_workflows_completed_total", (("workflow_type", "Traced"),))] == 2
    assert got[("ruvon_workflows_failed_total", (("workflow_type", "Broken"),))] == 1
    assert got[("ruvon_workflows_started_total", (("workflow_type", "Broken"),))] == 1

    def count(name: str, **labels: str) -> float:
        return got[(f"{name}_count", tuple(sorted(labels.items())))]

    step = "ruvon_step_duration_seconds"
    assert count(step, workflow_type="Traced", step="Prepare", status="COMPLETED") == 2
    # A step that pauses (WorkflowPauseDirective) is finished; the input goes to the next step.
    assert count(step, workflow_type="Traced", step="Approve", status="COMPLETED") == 2
    assert count(step, workflow_type="Traced", step="Finish", status="COMPLETED") == 2
    assert count(step, workflow_type="Broken", step="Charge", status="FAILED") == 1
    task = "ruvon_parallel_task_duration_seconds"
    for name in ("left", "right"):
        labels = {"workflow_type": "Traced", "step": "Fan", "task": name, "status": "COMPLETED"}
        assert count(task, **labels) == 2
        # task_a / task_b sleep 0.2 s each: the sums are the reported durations, not zero.
        assert got[(f"{task}_sum", tuple(sorted(labels.items())))] > 0
    labels_seen = {key for name, labels in got for key, _ in labels}
    assert labels_seen <= {"workflow_type", "step", "task", "status", "le"}, "no workflow ids"


async def test_fan_out_indexes_are_dropped_from_task_labels() -> None:
    registry = CollectorRegistry()
    observer = metrics.PrometheusObserver(registry)
    for index in range(5):
        await observer.on_task_completed("wf", "Fan", f"square[{index}]", 0.01)
    got = scrape(registry)
    key = (
        ("status", "COMPLETED"),
        ("step", "Fan"),
        ("task", "square"),
        ("workflow_type", "unknown"),
    )
    assert got[("ruvon_parallel_task_duration_seconds_count", key)] == 5


async def test_observers_on_one_registry_share_its_metrics() -> None:
    registry = CollectorRegistry()
    first, second = metrics.PrometheusObserver(registry), metrics.PrometheusObserver(registry)
    await first.on_workflow_started("a", "T", {})
    await second.on_workflow_started("b", "T", {})
    assert registry.get_sample_value("ruvon_workflows_started_total", {"workflow_type": "T"}) == 2


async def _leases_and_queue(store: Any, builder: WorkflowBuilder) -> None:
    """Three workflows: one queued for serving workers, one leased, one with an expired lease."""
    from ruvon.runtime.start import queue_for_workers

    leases = lease_store_for(store)
    assert leases is not None
    made = [await builder.create_workflow("Traced", persistence_provider=store) for _ in range(3)]
    await queue_for_workers(store, made[0].id)
    await leases.acquire(made[1].id, "someone", ttl=600)
    await leases.acquire(made[2].id, "gone", ttl=-1)


@pytest.mark.parametrize("kind", ["sqlite", "memory"])
async def test_gauges_read_active_leases_and_queue_depth_at_scrape_time(
    kind: str, builder_for: Callable[[str], WorkflowBuilder], tmp_path: Path
) -> None:
    store: Any = (
        SQLitePersistenceProvider(str(tmp_path / "wf.db"))
        if kind == "sqlite"
        else InMemoryPersistenceProvider()
    )
    await store.initialize()
    registry = CollectorRegistry()
    metrics.register_runtime_collector(store, registry)
    assert scrape(registry)[("ruvon_queue_depth", ())] == 0
    await _leases_and_queue(store, builder_for(FLOW))
    got = scrape(registry)
    assert got[("ruvon_runtime_up", ())] == 1
    assert got[("ruvon_active_leases", ())] == 1
    assert got[("ruvon_queue_depth", ())] == 2, "the queued one and the expired lease"
    assert metrics.runtime_counts(store, max_count=1) == metrics.RuntimeCounts(1, 1) or (
        kind == "memory"  # the in-memory count has no cost to bound
    )


def test_a_failing_store_reports_runtime_up_zero(caplog: pytest.LogCaptureFixture) -> None:
    class Unknown(InMemoryPersistenceProvider):
        pass

    registry = CollectorRegistry()
    metrics.register_runtime_collector(Unknown(), registry)
    got = scrape(registry)
    assert got[("ruvon_runtime_up", ())] == 0
    assert ("ruvon_queue_depth", ()) not in got
    assert "cannot read leases from a Unknown" in caplog.text


@pytest.fixture
def postgres_url() -> Iterator[str]:
    base = os.environ.get("RUVON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        import psycopg

        with psycopg.connect(base, connect_timeout=3, autocommit=True) as conn:
            schema = f"ruvon_obs_{uuid.uuid4().hex[:12]}"
            conn.execute(f"CREATE SCHEMA {schema}")
    except Exception as exc:
        message = f"PostgreSQL is not reachable at '{base}' ({exc}); set RUVON_TEST_POSTGRES_URL."
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield f"{base}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.postgres
async def test_gauges_on_postgresql(
    postgres_url: str, builder_for: Callable[[str], WorkflowBuilder]
) -> None:
    from ruvon.implementations.persistence.postgres import PostgresPersistenceProvider

    store = PostgresPersistenceProvider(postgres_url)
    await store.initialize()
    try:
        await _leases_and_queue(store, builder_for(FLOW))
        registry = CollectorRegistry()
        metrics.register_runtime_collector(store, registry)
        got = scrape(registry)
        assert got[("ruvon_active_leases", ())] == 1
        assert got[("ruvon_queue_depth", ())] == 2
    finally:
        await store.close()


def test_render_latest_defaults_to_ruvons_registry() -> None:
    observer = metrics.default_observer()
    assert observer.registry is metrics.REGISTRY and metrics.default_observer() is observer
    body, content_type = metrics.render_latest()
    assert b"ruvon_workflows_started_total" in body or b"ruvon_workflows_started" in body
    assert content_type == metrics.CONTENT_TYPE_LATEST


async def test_the_environment_adds_observers_next_to_the_given_one(
    builder_for: Callable[[str], WorkflowBuilder], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ruvon.implementations.observability.logging import LoggingObserver
    from ruvon.observability import CompositeObserver
    from ruvon.observability.otel import OpenTelemetryObserver

    given = LoggingObserver()
    builder = builder_for(FAILING)
    plain = await builder.create_workflow("Broken", workflow_observer=given)
    assert plain.observer is given, "no switch: the given observer alone"
    monkeypatch.setenv("RUVON_METRICS", "1")
    monkeypatch.setenv("RUVON_OTEL", "1")
    wf = await builder.create_workflow("Broken", workflow_observer=given)
    assert isinstance(wf.observer, CompositeObserver)
    kinds = [type(o) for o in wf.observer.observers]
    assert kinds == [LoggingObserver, OpenTelemetryObserver, metrics.PrometheusObserver]
    assert wf.observer.observers[2] is metrics.default_observer()
    # No SDK tracer provider is installed in this process: nothing is recorded, nothing saved.
    assert wf.engine.trace == {}
    before = metrics.REGISTRY.get_sample_value(
        "ruvon_workflows_failed_total", {"workflow_type": "Broken"}
    )
    await wf.run_to_completion()
    after = metrics.REGISTRY.get_sample_value(
        "ruvon_workflows_failed_total", {"workflow_type": "Broken"}
    )
    assert (after or 0) - (before or 0) == 1
