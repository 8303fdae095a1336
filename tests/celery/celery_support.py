"""Real Redis and real Celery worker subprocesses for the Celery tests (no fixtures here).

Workers use Redis DB 15 with a queue and node name unique to each start, so runs of this suite in
parallel (or other users of DB 15) never take each other's messages. The DB is not flushed, for the
same reason: every key this suite writes has a unique name or expires.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CORE = HERE.parent / "core"
sys.path[:0] = [p for p in (str(CORE), str(HERE)) if p not in sys.path]

REDIS_URL = "redis://127.0.0.1:6379/15"
EXAMPLE = HERE.parents[1] / "examples" / "parallel_orders"
TUTORIAL_BROKER = "redis://127.0.0.1:6379/0"  # the executor's default, as the tutorial uses it
WORKER_MODULE = "ruvon.implementations.execution.celery_worker"


def redis_or_skip() -> None:
    """Skip when Redis is not reachable locally; fail in CI, where it must be."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as exc:
        message = f"Redis is not reachable at {REDIS_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    finally:
        client.close()


@dataclass
class Worker:
    """A running worker subprocess and how to reach it."""

    process: subprocess.Popen[bytes]
    broker: str
    queue: str
    hostname: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_worker(
    allow: list[str],
    *,
    broker: str,
    log: Path,
    pythonpath: list[Path],
    cwd: Path | None = None,
    concurrency: int = 2,
    pool: str = "prefork",
    extra_env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> Worker:
    """Start a worker subprocess and wait (at most 30 s) until it answers a ping."""
    from ruvon.implementations.execution.celery_worker import make_app

    queue = f"ruvon-test-{uuid.uuid4().hex[:10]}"
    hostname = f"{queue}@localhost"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [*map(str, pythonpath), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "RUVON_CELERY_BROKER_URL": broker,
        "RUVON_CELERY_RESULT_BACKEND": broker,
        "RUVON_CELERY_QUEUE": queue,
        **(extra_env or {}),
    }
    env.pop("RUVON_CELERY_ALLOW", None)
    argv = [sys.executable, "-m", *(command or [WORKER_MODULE])]
    for prefix in allow:
        argv += ["--allow", prefix]
    argv += ["--concurrency", str(concurrency), "--pool", pool, "--hostname", hostname]
    handle = log.open("wb")
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT)
    handle.close()
    worker = Worker(process, broker, queue, hostname, log)
    app = make_app(broker, broker, queue)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"The Celery worker exited early:\n{worker.log_text()}")
            if app.control.ping(destination=[hostname], timeout=0.5):
                return worker
        stop_worker(worker)
        pytest.fail(f"The Celery worker did not answer a ping within 30 s:\n{worker.log_text()}")
    finally:
        app.close()
    raise AssertionError("unreachable")


def stop_worker(worker: Worker) -> None:
    """Stop the worker (warm shutdown, then kill) and drop its queue."""
    import redis

    worker.process.terminate()
    try:
        worker.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.process.kill()
        worker.process.wait(timeout=5)
    client = redis.Redis.from_url(worker.broker)
    try:
        client.delete(worker.queue)
    finally:
        client.close()
