"""Task functions for the Celery tests (importable as celery_kit on the test worker)."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import redis

from ruvon.models import StepContext

SPAN_DB_URL = os.environ.get("RUVON_TEST_SPAN_URL", "redis://127.0.0.1:6379/15")


def span_key(workflow_id: str) -> str:
    """The Redis list where tasks of one workflow record their (name, start, end)."""
    return f"ruvon-test-spans:{workflow_id}"


def record_span(state: Any, context: StepContext) -> dict[str, Any]:
    """Sleep briefly and record when this task ran, in Redis (visible across processes)."""
    start = time.time()
    time.sleep(0.3)
    end = time.time()
    client = redis.Redis.from_url(SPAN_DB_URL)
    try:
        client.rpush(
            span_key(context.workflow_id),
            json.dumps([context.step_name, start, end, os.getpid()]),
        )
        client.expire(span_key(context.workflow_id), 600)
    finally:
        client.close()
    return {}


def noop(state: Any, context: StepContext) -> dict[str, Any]:
    """Do nothing (throughput)."""
    return {}


def die_once(state: Any, context: StepContext) -> dict[str, Any]:
    """Kill the worker process running it the first time; succeed when the message comes back."""
    client = redis.Redis.from_url(SPAN_DB_URL)
    try:
        first = client.set(f"ruvon-test-died:{context.workflow_id}", 1, nx=True, ex=600)
    finally:
        client.close()
    if first:
        os._exit(1)
    return {"c": "after redelivery"}


def square(state: Any, context: StepContext, item: int, index: int) -> dict[str, Any]:
    """A dynamic fan-out task: gets its item and index as keyword arguments."""
    assert context.loop_item == item and context.loop_index == index
    return {"value": item * item, "index": index}


def hold_key(workflow_id: str) -> str:
    """The Redis list where ``hold`` records the pid of each process that started it."""
    return f"ruvon-test-hold:{workflow_id}"


def hold(state: Any, context: StepContext) -> dict[str, Any]:
    """Record this process's pid, hold the task for 1.5 s, return the pid as ``c``."""
    client = redis.Redis.from_url(SPAN_DB_URL)
    try:
        client.rpush(hold_key(context.workflow_id), os.getpid())
        client.expire(hold_key(context.workflow_id), 600)
    finally:
        client.close()
    time.sleep(1.5)
    return {"c": os.getpid()}
