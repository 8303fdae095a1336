"""The background loops of a serving worker besides claiming: schedules and retention.

``ruvon serve`` calls :func:`start` once and :func:`stop` at the end, so the worker's own loop
stays unaware of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ruvon.runtime.serve import Worker

_log = logging.getLogger("ruvon.runtime")


def start(worker: Worker) -> list[asyncio.Task[None]]:
    """Start the worker's schedule loop and retention loop (as its options say)."""
    from ruvon.runtime import retention, schedules

    tasks: list[asyncio.Task[None]] = []
    stopping = worker.is_stopping
    if worker.options.schedules:
        loop = schedules.schedule_loop(
            worker.builder,
            worker.persistence,
            owner=worker.id,
            stopping=stopping,
            claim_seconds=max(worker.options.lease_seconds, 1.0),
        )
        tasks.append(asyncio.create_task(loop, name="ruvon-serve-schedules"))
    if worker.options.retention:
        loop = retention.retention_loop(
            worker.persistence, dict(worker.options.retention), stopping=stopping
        )
        tasks.append(asyncio.create_task(loop, name="ruvon-serve-retention"))
    return tasks


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel the loops and wait for them; an error of one is logged, not raised."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:
                _log.exception("a background loop of the worker failed")
