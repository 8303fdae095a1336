"""CeleryExecutor benchmarks against raw Celery. Prints workload, baseline and ratio.

Needs Redis on 127.0.0.1:6379 (DB 14 is used). Starts its own worker subprocesses.

Run: python bench/bench_celery.py
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # bench_kit sits beside this file

import bench_kit  # noqa: E402

from ruvon.builder import WorkflowBuilder  # noqa: E402
from ruvon.implementations.execution.celery import CeleryExecutor  # noqa: E402
from ruvon.implementations.observability.noop import NoopObserver  # noqa: E402
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider  # noqa: E402

BROKER = "redis://127.0.0.1:6379/14"
TASKS, ROUNDS = 1000, 5
RAW_TASK = "bench.noop"


def raw_app(queue: str) -> Any:
    """A plain Celery app with one no-op task: the baseline (JSON, default settings)."""
    from celery import Celery

    app = Celery("bench", broker=BROKER, backend=BROKER)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_default_queue=queue,
        broker_connection_retry_on_startup=True,
    )
    app.task(name=RAW_TASK)(_noop)
    return app


def _noop() -> None:
    return None


def start(argv: list[str], queue: str, ping_app: Any, log: Path) -> subprocess.Popen[bytes]:
    """Start a worker subprocess and wait until it answers a ping."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "RUVON_CELERY_BROKER_URL": BROKER,
        "RUVON_CELERY_RESULT_BACKEND": BROKER,
        "RUVON_CELERY_QUEUE": queue,
    }
    hostname = f"{queue}@localhost"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*argv, "--hostname", hostname], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"worker exited early; see {log}")
        if ping_app.control.ping(destination=[hostname], timeout=0.5):
            return proc
    proc.kill()
    raise SystemExit(f"worker did not answer a ping within 30 s; see {log}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def raw_group_rate(app: Any) -> float:
    """Tasks per second of a raw Celery group of TASKS no-op tasks (best of ROUNDS)."""
    from celery import group

    best = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        result = group(app.signature(RAW_TASK) for _ in range(TASKS)).apply_async()
        result.get(timeout=120)
        best = max(best, TASKS / (time.perf_counter() - started))
        result.forget()
    return best


async def ruvon_rate(executor: CeleryExecutor) -> float:
    """Tasks per second of one PARALLEL step of TASKS no-op tasks, end to end (best of ROUNDS)."""
    config = bench_kit.config_dir(**{"fan.yaml": bench_kit.fan_yaml("Fan", ["task_noop"] * TASKS)})
    builder = WorkflowBuilder(config_dir=config)
    best = 0.0
    for _ in range(ROUNDS):
        started = time.perf_counter()
        workflow = await builder.create_workflow(
            "Fan",
            persistence_provider=InMemoryPersistenceProvider(),
            execution_provider=executor,
            workflow_observer=NoopObserver(),
        )
        await workflow.run_to_completion()
        assert workflow.status == "COMPLETED", workflow.error
        best = max(best, TASKS / (time.perf_counter() - started))
    return best


async def tutorial_sleeps(executor: CeleryExecutor) -> float:
    """Seconds for one PARALLEL step of the tutorial's three sleeps (1.0, 1.5, 2.0 s)."""
    funcs = ["sleep_1_0", "sleep_1_5", "sleep_2_0"]
    config = bench_kit.config_dir(**{"sleeps.yaml": bench_kit.fan_yaml("Sleeps", funcs)})
    builder = WorkflowBuilder(config_dir=config)
    started = time.perf_counter()
    workflow = await builder.create_workflow(
        "Sleeps", persistence_provider=InMemoryPersistenceProvider(), execution_provider=executor
    )
    await workflow.run_to_completion()
    assert workflow.status == "COMPLETED", workflow.error
    return time.perf_counter() - started


def report(title: str, workload: str, ours: str, baseline: str, ratio: str, target: str) -> None:
    print(f"\n== {title}\n   workload: {workload}\n   ruvon:    {ours}\n   baseline: {baseline}")
    print(f"   ratio:    {ratio}   (target: {target})")


def main() -> None:
    logs = Path(bench_kit.config_dir())
    worker = [sys.executable, "-m", "ruvon.implementations.execution.celery_worker"]
    worker += ["--allow", "bench_kit", "--pool", "prefork", "--loglevel", "WARNING"]

    raw_queue = f"bench-raw-{uuid.uuid4().hex[:8]}"
    app = raw_app(raw_queue)
    raw = start(
        [sys.executable, __file__, "--raw-worker", raw_queue], raw_queue, app, logs / "raw.log"
    )
    try:
        baseline = raw_group_rate(app)
    finally:
        stop(raw)
        app.close()

    queue = f"bench-ruvon-{uuid.uuid4().hex[:8]}"
    executor = CeleryExecutor(BROKER, BROKER, queue=queue)
    proc = start([*worker, "--concurrency", "2"], queue, executor.app, logs / "ruvon.log")
    try:
        ours = asyncio.run(ruvon_rate(executor))
    finally:
        stop(proc)
    report(
        "PARALLEL step of 1000 no-op tasks on Celery (worker: prefork, concurrency 2, local Redis)",
        f"{TASKS} tasks in one step, end to end incl. workflow creation; best of {ROUNDS}",
        f"{ours:,.0f} tasks/s (CeleryExecutor, automatic chunks)",
        f"{baseline:,.0f} tasks/s (raw Celery group of {TASKS} no-op tasks; prefork, concurrency 2)",
        f"{ours / baseline:.1f}x",
        ">= 1000 tasks/s",
    )

    proc = start([*worker, "--concurrency", "3"], queue, executor.app, logs / "sleeps.log")
    try:
        elapsed = asyncio.run(tutorial_sleeps(executor))
    finally:
        stop(proc)
        executor.close()
    report(
        "The tutorial's three sleeps on Celery (worker: prefork, concurrency 3)",
        "one PARALLEL step of tasks sleeping 1.0, 1.5 and 2.0 s",
        f"{elapsed:.3f} s",
        "2.0 s (the slowest task)",
        f"{elapsed / 2.0:.3f}x",
        "<= 2.10 s",
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--raw-worker"]:
        queue, rest = sys.argv[2], sys.argv[3:]
        raw_app(queue).worker_main(
            ["worker", "--pool=prefork", "--concurrency=2", "--loglevel=WARNING", *rest]
        )
    else:
        main()
