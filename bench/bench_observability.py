"""Observer overhead per step: no observer vs Prometheus vs OpenTelemetry (vs both).

Chains of no-op STANDARD steps in memory with the sync executor, so the observers' cost is not
hidden by real work. OpenTelemetry uses an SDK tracer provider with a no-op exporter behind a
SimpleSpanProcessor (every span is built, ended and handed to an exporter). Prints steps/s and the
ratio against the run without an observer, measured in this process.

Run: python bench/bench_observability.py [--quick]
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_kit sits beside this file

import bench_kit
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from prometheus_client import CollectorRegistry

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.sync import SyncExecutor
from ruvon.implementations.observability.noop import NoopObserver
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.observability.composite import CompositeObserver
from ruvon.observability.metrics import PrometheusObserver
from ruvon.observability.otel import OpenTelemetryObserver
from ruvon.providers.observer import WorkflowObserver

QUICK = "--quick" in sys.argv
WORKFLOWS, STEPS, ROUNDS = (50, 10, 2) if QUICK else (300, 10, 5)


class DropExporter(SpanExporter):
    """Receives every span and keeps none (the cost of the SDK without any I/O)."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Sequence[Any]) -> SpanExportResult:
        self.count += len(spans)
        return SpanExportResult.SUCCESS


async def steps_per_second(builder: WorkflowBuilder, make: Any) -> float:
    persistence = InMemoryPersistenceProvider()
    executor = SyncExecutor()
    observer: WorkflowObserver = make()
    started = time.perf_counter()
    for _ in range(WORKFLOWS):
        workflow = await builder.create_workflow(
            "Chain",
            persistence_provider=persistence,
            execution_provider=executor,
            workflow_observer=observer,
        )
        await workflow.next_step()
        assert workflow.state.n == STEPS and workflow.status == "COMPLETED"
    return WORKFLOWS * STEPS / (time.perf_counter() - started)


async def main() -> None:
    builder = WorkflowBuilder(
        config_dir=bench_kit.config_dir(**{"chain.yaml": bench_kit.chain_yaml(STEPS)})
    )
    exporter = DropExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry()
    cases = {
        "no observer (NoopObserver)": NoopObserver,
        "PrometheusObserver": lambda: PrometheusObserver(registry),
        "OpenTelemetryObserver": lambda: OpenTelemetryObserver(provider),
        "both (CompositeObserver)": lambda: CompositeObserver(
            [PrometheusObserver(registry), OpenTelemetryObserver(provider)]
        ),
    }
    for make in cases.values():  # warm-up: imports, caches
        await steps_per_second(builder, make)
    best = {name: 0.0 for name in cases}
    for _ in range(ROUNDS):  # interleaved, so a noisy neighbour hits every case alike
        for name, make in cases.items():
            best[name] = max(best[name], await steps_per_second(builder, make))
    base = best["no observer (NoopObserver)"]
    print(f"\n== observer overhead: {WORKFLOWS} workflows x {STEPS} no-op steps, in memory, sync")
    print(f"   (best of {ROUNDS} interleaved rounds; {exporter.count} spans exported)")
    for name, rate in best.items():
        extra = (1 / rate - 1 / base) * 1e6
        print(
            f"   {name:28s} {rate:9.0f} steps/s   ratio {rate / base:5.2f}x   +{extra:5.1f} us/step"
        )


if __name__ == "__main__":
    asyncio.run(main())
