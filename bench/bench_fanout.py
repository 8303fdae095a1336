"""Dynamic fan-out benchmark: 10,000 no-op tasks of one PARALLEL step (iterate_over +
task_function) on the thread pool, end to end, against a bare ThreadPoolExecutor.map over the
same items. Prints the workload, the baseline and the ratio; also the extra memory (tracemalloc
peak and RSS growth). Targets: <= 2 s end to end, < 200 MB extra.

Run: python bench/bench_fanout.py [--items N]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.models import StepContext

WORKERS = 8
DEFINITION = """\
workflow_type: "FanOutBench"
initial_state_model: "bench_fanout.BenchState"
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


def noop(state: BenchState, context: StepContext, item: int = 0) -> dict[str, Any] | None:
    return None


def bare_noop(item: int) -> None:
    return None


def rss_bytes() -> int:
    """Current resident set size (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


async def ruvon_run(builder: WorkflowBuilder, items: int) -> float:
    pool = ThreadPoolExecutionProvider(max_workers=WORKERS)
    started = time.perf_counter()
    workflow = await builder.create_workflow(
        "FanOutBench",
        persistence_provider=InMemoryPersistenceProvider(),
        execution_provider=pool,
        initial_data={"items": list(range(items))},
    )
    await workflow.run_to_completion()
    elapsed = time.perf_counter() - started
    pool.close()
    assert workflow.status == "COMPLETED", workflow.error
    assert len(workflow.state.results) == items
    return elapsed


def bare_run(items: int) -> float:
    started = time.perf_counter()
    with ThreadPoolExecutor(WORKERS) as pool:
        list(pool.map(bare_noop, range(items)))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    sys.modules.setdefault("bench_fanout", sys.modules[__name__])  # the YAML names bench_fanout.*
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "bench.yaml").write_text(DEFINITION, encoding="utf-8")
        builder = WorkflowBuilder(config_dir=tmp)
        builder.get_definition("FanOutBench")  # parse and import once, outside the timing
        asyncio.run(ruvon_run(builder, 100))  # warm-up

        gc.collect()
        rss_before = rss_bytes()
        ours = min(asyncio.run(ruvon_run(builder, args.items)) for _ in range(3))
        rss_delta = max(rss_bytes() - rss_before, 0)
        baseline = min(bare_run(args.items) for _ in range(3))

        gc.collect()
        tracemalloc.start()
        asyncio.run(ruvon_run(builder, args.items))
        _, ruvon_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        bare_run(args.items)
        _, bare_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    mb = 1024 * 1024
    print(f"== dynamic fan-out ({WORKERS} threads, in-memory store, collect_into)")
    print(f"   workload: {args.items} no-op tasks of one PARALLEL step, end to end (best of 3)")
    print(f"   ruvon:    {ours:.3f} s  ({ours / args.items * 1e6:.1f} us/task)   (target: <= 2 s)")
    print(f"   baseline: {baseline:.3f} s  (ThreadPoolExecutor.map over the same items)")
    print(f"   ratio:    {ours / baseline:.1f}x")
    print(
        f"   memory:   tracemalloc peak {ruvon_peak / mb:.1f} MB (baseline {bare_peak / mb:.1f} MB), "
        f"RSS growth {rss_delta / mb:.1f} MB   (target: < 200 MB)"
    )


if __name__ == "__main__":
    main()
