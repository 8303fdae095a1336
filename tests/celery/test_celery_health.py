"""A Celery step outlives a dead worker and gives up on a dead result backend, loudly once.

A worker killed with SIGKILL while running a task: the executor notices the worker no longer
answers pings and sends the message again, so a second worker finishes the step (without this, the
step would wait for the broker's one-hour visibility timeout, then fail at timeout_seconds). A
result backend that goes away mid-step: one WARNING, then the step fails with an ExecutorError
naming the backend and the way out.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import core_kit
import pytest
import redis
from celery_kit import hold_key
from celery_proxy import Proxy
from celery_support import CORE, HERE, REDIS_URL, Worker, redis_or_skip, start_worker, stop_worker

from ruvon.builder import WorkflowBuilder
from ruvon.errors import ExecutorError
from ruvon.implementations.execution.celery import CeleryExecutor
from ruvon.implementations.execution.celery_watch import BackendWatch
from ruvon.models import WorkflowStatus

pytestmark = [pytest.mark.celery, pytest.mark.redis]

HANG_GUARD_SECONDS = 60  # only stops a hung test; nothing is asserted about time


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    redis_or_skip()
    started: list[Worker] = []
    yield started
    for worker in started:
        stop_worker(worker)


def _start(workers: list[Worker], tmp_path: Path, queue: str | None = None) -> Worker:
    """A single-process worker (threads pool: SIGKILL ends the task too) on ``queue``."""
    extra = {"RUVON_CELERY_QUEUE": queue} if queue else None
    worker = start_worker(
        ["core_kit", "celery_kit"],
        broker=REDIS_URL,
        log=tmp_path / f"worker{len(workers)}.log",
        pythonpath=[CORE, HERE],
        pool="threads",
        concurrency=1,
        extra_env=extra,
    )
    if queue:
        worker.queue = queue
    workers.append(worker)
    return worker


def _builder(tmp_path: Path) -> WorkflowBuilder:
    config = tmp_path / "config"
    config.mkdir(exist_ok=True)
    text = core_kit.parallel_yaml([("h", "celery_kit.hold")], timeout_seconds=120)
    (config / "workflow.yaml").write_text(text, encoding="utf-8")
    return WorkflowBuilder(config_dir=config)


async def _until_started(workflow_id: str, count: int) -> list[int]:
    client = redis.Redis.from_url(REDIS_URL)
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    try:
        while True:
            pids = [int(p) for p in client.lrange(hold_key(workflow_id), 0, -1)]
            if len(pids) >= count:
                return pids
            assert time.monotonic() < deadline, "the task never started"
            await asyncio.sleep(0.05)
    finally:
        client.close()


async def test_the_work_of_a_killed_worker_is_sent_again(
    tmp_path: Path, workers: list[Worker]
) -> None:
    first = _start(workers, tmp_path)
    executor = CeleryExecutor(
        broker_url=REDIS_URL, result_backend=REDIS_URL, queue=first.queue, worker_check_interval=0.3
    )
    try:
        workflow = await _builder(tmp_path).create_workflow("P", execution_provider=executor)
        running = asyncio.ensure_future(workflow.run_to_completion())
        assert await _until_started(workflow.id, 1) == [first.process.pid]
        first.process.kill()  # SIGKILL mid-task: its message stays unacknowledged in Redis
        first.process.wait(timeout=10)
        second = _start(workers, tmp_path, queue=first.queue)
        await asyncio.wait_for(running, HANG_GUARD_SECONDS)
    finally:
        executor.close()
    assert workflow.status == WorkflowStatus.COMPLETED, workflow.error
    assert workflow.state.c == second.process.pid


async def test_a_result_backend_that_stays_down_fails_the_step_with_one_warning(
    tmp_path: Path, workers: list[Worker], caplog: pytest.LogCaptureFixture
) -> None:
    worker = _start(workers, tmp_path)
    url = urlsplit(REDIS_URL)
    proxy = Proxy((url.hostname or "127.0.0.1", url.port or 6379))
    backend = f"redis://127.0.0.1:{proxy.port}{url.path}"
    executor = CeleryExecutor(
        broker_url=REDIS_URL, result_backend=backend, queue=worker.queue, backend_patience=1.0
    )
    try:
        workflow = await _builder(tmp_path).create_workflow("P", execution_provider=executor)
        with caplog.at_level(logging.WARNING, "ruvon.celery"):
            running = asyncio.ensure_future(workflow.run_to_completion())
            await _until_started(workflow.id, 1)
            proxy.cut()
            await asyncio.wait_for(running, HANG_GUARD_SECONDS)
    finally:
        proxy.cut()
        executor.close()
    assert workflow.status == WorkflowStatus.FAILED
    assert workflow.error is not None
    assert f"result backend at {backend} has not answered" in workflow.error
    assert "ruvon retry" in workflow.error
    warnings = [r for r in caplog.records if "Cannot read Celery results" in r.getMessage()]
    assert len(warnings) == 1


def test_backend_warnings_are_rate_limited_and_the_watch_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = BackendWatch("Fan", "redis://nowhere", give_up_after=0.2)
    error = ConnectionError("refused")
    with caplog.at_level(logging.WARNING, "ruvon.celery"):
        for _ in range(50):
            watch.failed(error)
        with pytest.raises(ExecutorError, match=r"Step 'Fan'.*redis://nowhere.*ruvon retry"):
            deadline = time.monotonic() + HANG_GUARD_SECONDS
            while time.monotonic() < deadline:
                watch.failed(error)
    assert sum("Cannot read Celery results" in r.getMessage() for r in caplog.records) == 1
    watch.ok()
    assert watch.down_since is None
