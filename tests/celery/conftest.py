"""Fixtures for the Celery tests: real Redis, and real worker subprocesses.

The session worker uses Redis DB 15 with a queue and node name unique to the session, so runs of
this suite in parallel (or other users of DB 15) never take each other's messages. The DB is not
flushed, for the same reason: every key this suite writes has a unique name or expires.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery_support import (
    CORE,
    EXAMPLE,
    HERE,
    REDIS_URL,
    TUTORIAL_BROKER,
    Worker,
    redis_or_skip,
    start_worker,
    stop_worker,
)


@pytest.fixture(scope="session")
def celery_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    """A real prefork worker (2 processes) allowed to run core_kit and celery_kit."""
    redis_or_skip()
    log = tmp_path_factory.mktemp("celery") / "worker.log"
    worker = start_worker(
        ["core_kit", "celery_kit"], broker=REDIS_URL, log=log, pythonpath=[CORE, HERE]
    )
    yield worker
    stop_worker(worker)


@pytest.fixture
def celery_executor(celery_worker: Worker) -> Iterator[Any]:
    """A CeleryExecutor talking to the session worker."""
    from ruvon.implementations.execution.celery import CeleryExecutor

    executor = CeleryExecutor(
        broker_url=celery_worker.broker,
        result_backend=celery_worker.broker,
        queue=celery_worker.queue,
        default_task_timeout=30,
    )
    yield executor
    executor.close()


@pytest.fixture(scope="module")
def tutorial(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Worker]]:
    """A copy of the tutorial using CeleryExecutor(), and a worker allowed to run it."""
    redis_or_skip()
    target = tmp_path_factory.mktemp("tutorial") / "parallel_orders"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns("__pycache__"))
    main = target / "main.py"
    text = main.read_text(encoding="utf-8")
    text = text.replace(
        "from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider",
        "from ruvon.implementations.execution.celery import CeleryExecutor",
    ).replace("ThreadPoolExecutionProvider(max_workers=5)", "CeleryExecutor()")
    assert "CeleryExecutor()" in text
    main.write_text(text, encoding="utf-8")
    # Three tasks sleep at once, so the worker needs three processes.
    worker = start_worker(
        ["order_processor"],
        broker=TUTORIAL_BROKER,
        log=target.parent / "worker.log",
        pythonpath=[target],
        cwd=target,
        concurrency=3,
        # fraud_check scores hash(customer_id), so the seed matters where the task runs.
        extra_env={"PYTHONHASHSEED": "100"},
    )
    yield target, worker
    stop_worker(worker)
