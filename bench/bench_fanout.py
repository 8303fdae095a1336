"""Dynamic fan-out benchmark: N no-op tasks of one PARALLEL step (iterate_over + task_function +
collect_into) on the thread pool with the in-memory store, end to end, over two inputs: N ints
(``list(range(N))``) and N small dicts (``{"id": i, "sku": f"sku-{i}"}``).

Baselines, measured in the same run:
- time: a bare ``ThreadPoolExecutor.map`` over the same items (same number of threads);
- memory: "the data", the tracemalloc peak of building the input list alone. The workflow's own
  peak includes building its input (as a caller would), so ``peak / data`` is what the fan-out
  costs on top of its items. Target: <= 3x.

Run: python bench/bench_fanout.py [--items N] [--workload ints|dicts|all]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import StepContext

WORKERS = 8
MEMORY_TARGET = 3.0
DEFINITION = """\
workflow_type: "{workflow_type}"
initial_state_model: "bench_fanout.{model}"
steps:
  - name: "FanOut"
    type: PARALLEL
    iterate_over: "state.items"
    task_function: "bench_fanout.noop"
    collect_into: "state.results"
"""


class BenchState(BaseModel):
    items: list[int] = Field(default_factory=list)
    results: list[Any] = Field(default_factory=list)


class SkuState(BaseModel):
    items: list[dict[str, Any]] = Field(default_factory=list)
    results: list[Any] = Field(default_factory=list)


def ints(n: int) -> list[Any]:
    return list(range(n))


def skus(n: int) -> list[Any]:
    return [{"id": i, "sku": f"sku-{i}"} for i in range(n)]


# name: (workflow type, state model, input builder, what the input is)
WORKLOADS: dict[str, tuple[str, str, Callable[[int], list[Any]], str]] = {
    "ints": ("FanOutBench", "BenchState", ints, "list(range(N))"),
    "dicts": ("FanOutSkus", "SkuState", skus, '[{"id": i, "sku": f"sku-{i}"} for i in range(N)]'),
}


def noop(state: BaseModel, context: StepContext, item: Any = None) -> dict[str, Any] | None:
    return None


def bare_noop(item: Any) -> None:
    return None


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


async def ruvon_run(builder: WorkflowBuilder, workload: str, items: int) -> float:
    """One end-to-end run; the input is built here, so a traced run's peak includes it."""
    workflow_type, _, build, _ = WORKLOADS[workload]
    pool = ThreadPoolExecutionProvider(max_workers=WORKERS)
    started = time.perf_counter()
    workflow = await builder.create_workflow(
        workflow_type,
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=pool,
        initial_data={"items": build(items)},
    )
    await workflow.run_to_completion()
    elapsed = time.perf_counter() - started
    pool.close()
    assert workflow.status == "COMPLETED", workflow.error
    assert len(workflow.state.results) == items
    return elapsed


def bare_run(workload: str, items: int) -> float:
    data = WORKLOADS[workload][2](items)
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(bare_noop, data))
    return time.perf_counter() - started


def traced_peak(run: Callable[[], Any]) -> int:
    """The tracemalloc peak of ``run()``, in bytes."""
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def bench(builder: WorkflowBuilder, workload: str, items: int) -> None:
    _, _, build, described = WORKLOADS[workload]
    gc.collect()
    rss_before = rss_bytes()
    ours = min(asyncio.run(ruvon_run(builder, workload, items)) for _ in range(3))
    rss_delta = max(rss_bytes() - rss_before, 0)
    baseline = min(bare_run(workload, items) for _ in range(3))

    data = traced_peak(lambda: build(items))
    peak = traced_peak(lambda: asyncio.run(ruvon_run(builder, workload, items)))
    bare_peak = traced_peak(lambda: bare_run(workload, items))

    mib = 1024 * 1024
    ratio = peak / data
    verdict = "met" if ratio <= MEMORY_TARGET else "NOT met"
    print(f"== dynamic fan-out, {workload} ({WORKERS} threads, in-memory store, collect_into)")
    print(
        f"   workload: {items} no-op tasks of one PARALLEL step over {described.replace('N', str(items))}, "
        f"end to end"
    )
    print(
        f"   time:     ruvon {ours:.3f} s ({ours / items * 1e6:.1f} us/task, best of 3); "
        f"baseline ThreadPoolExecutor.map {baseline:.3f} s; ratio {ours / baseline:.2f}x"
    )
    print(
        f"   memory:   ruvon tracemalloc peak {peak / mib:.2f} MiB (building its input included); "
        f"data (peak of building the input) {data / mib:.2f} MiB"
    )
    print(
        f"   ratio:    peak / data = {ratio:.2f}x   (target: <= {MEMORY_TARGET:g}x: {verdict}); "
        f"bare map peak {bare_peak / mib:.2f} MiB ({bare_peak / data:.2f}x); "
        f"RSS growth {rss_delta / mib:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    args = parser.parse_args()
    sys.modules.setdefault("bench_fanout", sys.modules[__name__])  # the YAML names bench_fanout.*
    chosen = list(WORKLOADS) if args.workload == "all" else [args.workload]
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            workflow_type, model, _, _ = WORKLOADS[name]
            text = DEFINITION.format(workflow_type=workflow_type, model=model)
            (Path(tmp) / f"{name}.yaml").write_text(text, encoding="utf-8")
        builder = WorkflowBuilder(config_dir=tmp)
        for name in chosen:
            builder.get_definition(WORKLOADS[name][0])  # parse and import once, outside timing
            asyncio.run(ruvon_run(builder, name, 100))  # warm-up
        for name in chosen:
            bench(builder, name, args.items)


if __name__ == "__main__":
    main()
