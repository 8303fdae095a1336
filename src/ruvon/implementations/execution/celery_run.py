"""One PARALLEL step on Celery: its chunks (messages), how they are sent, awaited and collected.

See :mod:`ruvon.implementations.execution.celery` for the executor and the id scheme.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic_core import to_jsonable_python

from ruvon.implementations.execution.celery_watch import BackendWatch, WorkerWatch
from ruvon.implementations.execution.collect import OutcomeSource
from ruvon.providers.execution import ParallelBatch, TaskCall, TaskOutcome
from ruvon.task_runner import timeout_outcome

if TYPE_CHECKING:
    from ruvon.implementations.execution.celery import CeleryExecutor

READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
#: Found on resume: the chunk's message is with a worker, so it is awaited, not sent again.
RUNNING = frozenset({"STARTED", "RETRY"})
#: Seconds between polls while the result backend does not answer.
DOWN_POLL = 0.5


@dataclass(slots=True)
class Chunk:
    """One message: its Celery result handle, its tasks still to run, and what is known of it.

    ``key`` names the chunk's place in the batch as first planned (its id: ``celery._chunk_id``).
    """

    result: Any
    calls: Sequence[TaskCall]
    state: str = "PENDING"
    payload: Any = None
    key: str = ""
    send: bool = True
    stale: bool = False

    @property
    def names(self) -> list[str]:
        """The names of the chunk's tasks, in declared order."""
        return [c.name for c in self.calls]


class CeleryRun(OutcomeSource):
    """One batch on Celery: chunks waiting for a result, chunks not sent yet, chunks taken.

    A chunk's result is forgotten only once the caller came back for the next burst (so it has
    saved the outcomes): a crash before that leaves the result for the next resume to collect.
    """

    def __init__(self, executor: CeleryExecutor, batch: ParallelBatch) -> None:
        super().__init__(batch)
        self.executor = executor
        self.chunks: list[Chunk] | None = None
        self.waiting: dict[str, Chunk] = {}
        self.unsent: deque[Chunk] = deque()
        self.taken: list[Chunk] = []
        self.backend = BackendWatch(
            batch.step_name, executor.backend_url, executor.backend_patience
        )
        self.workers = WorkerWatch(executor.app, executor.worker_check_interval)
        # The caller's trace context, read here on the event loop (chunks are sent from worker
        # threads, which do not see the step's span): the workers' spans join that trace.
        otel = sys.modules.get("ruvon.observability.otel")
        self.trace: dict[str, str] = otel.inject() if otel is not None else {}

    async def next_burst(self, timeout: float | None) -> list[TaskOutcome]:
        executor = self.executor
        if self.chunks is None:
            if self.halted:
                return []
            self.chunks = await executor.threads.call(self._start)
            ready = [c for c in self.chunks if c.state in READY]
            if ready:
                return self._take(ready)
        forget, self.taken = self.taken, []
        finished = await executor.threads.call(self._poll, forget)
        if finished:
            return self._take(finished)
        # While the backend is away, poll it less often.
        pause = executor.poll_interval if self.backend.down_since is None else DOWN_POLL
        await asyncio.sleep(pause if timeout is None else min(pause, timeout))
        return []

    def busy(self) -> bool:
        return bool(self.waiting)

    async def stop(self, finished: bool) -> None:
        executor = self.executor
        if self.waiting:  # revoking is best effort and must not hold up the caller
            executor.threads.submit(executor._revoke, list(self.waiting))
        if finished and self.taken:
            await executor.threads.call(executor._forget, self.taken)

    def late(self, calls: list[TaskCall]) -> list[TaskOutcome]:
        chunk_of = {c.name: chunk for chunk in self.chunks or [] for c in chunk.calls}
        return [
            self.late_outcome(call, chunk_of[call.name])
            if call.name in chunk_of
            else timeout_outcome(call.name, self.batch.timeout, self.batch.step_name)
            for call in calls
        ]

    def _take(self, chunks: list[Chunk]) -> list[TaskOutcome]:
        self.taken = chunks
        return [o for chunk in chunks for o in self.outcomes(chunk)]

    def _start(self) -> list[Chunk]:
        """Plan the chunks, learn what the backend knows of their ids, send the first ones."""
        executor, batch = self.executor, self.batch
        chunks = executor._plan(batch)
        executor._claim(batch, chunks)
        self.waiting = {c.result.id: c for c in chunks if not c.send and c.state not in READY}
        self.unsent = deque(c for c in chunks if c.send)
        self._refill()
        return chunks

    def _poll(self, forget: list[Chunk]) -> list[Chunk]:
        """Forget taken results, check the waiting chunks once, send again those of dead
        workers, send more (runs on a thread)."""
        self.executor._forget(forget)
        finished, error = self.executor._poll(list(self.waiting.values()))
        for chunk in finished:
            del self.waiting[chunk.result.id]
        if error is not None:
            self.backend.failed(error)  # raises once the backend stays down
            return finished  # nothing more to learn or send until it answers again
        self.backend.ok()
        self._resend_lost()
        self._refill()
        return finished

    def _resend_lost(self) -> None:
        """Send again the chunks STARTED on a worker that died (its message would come back only
        after the broker's visibility timeout)."""
        started = {c.result.id: c for c in self.waiting.values() if c.state == "STARTED"}
        lost = self.workers.lost([c.result for c in started.values()])
        if lost:
            chunks = [started[result.id] for result in lost]
            for chunk in chunks:
                chunk.stale, chunk.state = True, "PENDING"  # forget the dead worker's STARTED
            self.executor._send(self.batch, chunks, self.trace)

    def _refill(self) -> None:
        """Send unsent chunks while fewer than ``limit`` tasks are on the workers."""
        limit = self.batch.limit
        if self.halted:  # interrupted: messages not sent yet are never sent
            return
        if limit is None:
            batch, self.unsent = list(self.unsent), deque()
        else:
            busy = sum(len(c.calls) for c in self.waiting.values())
            batch = []
            while not self.halted and self.unsent and busy + len(self.unsent[0].calls) <= limit:
                busy += len(self.unsent[0].calls)
                batch.append(self.unsent.popleft())
        if batch:
            self.executor._send(self.batch, batch, self.trace)
            for chunk in batch:
                chunk.send = False
                self.waiting[chunk.result.id] = chunk

    def outcomes(self, chunk: Chunk) -> list[TaskOutcome]:
        batch = self.batch
        """Turn a finished chunk's payload into one outcome per task of the chunk."""
        by_name: dict[str, TaskOutcome] = {}
        names = set(chunk.names)
        if chunk.state == "SUCCESS" and isinstance(chunk.payload, list):
            for item in chunk.payload:
                if isinstance(item, dict) and item.get("task_name") in names:
                    by_name[item["task_name"]] = outcome_from(item)
        now = time.time()
        return [
            by_name.get(name)
            or TaskOutcome(
                name,
                error=(
                    f"Task '{name}' of step '{batch.step_name}' got no result from its Celery "
                    f"worker (message state {chunk.state}: {chunk.payload!r}). Check the worker's "
                    f"log; the worker must run ruvon's task '{self.executor.task_name}'."
                ),
                error_type="ExecutorError",
                started_at=now,
                ended_at=now,
            )
            for name in chunk.names
        ]

    def late_outcome(self, call: TaskCall, chunk: Chunk) -> TaskOutcome:
        batch, executor = self.batch, self.executor
        """The outcome of a task whose chunk had no result at the deadline."""
        name, timeout = call.name, batch.timeout
        if timeout is not None and (chunk.state == "STARTED" or chunk.send):
            return timeout_outcome(name, timeout, batch.step_name)
        top = call.function_path.split(".", 1)[0]
        from ruvon.implementations.execution.celery_worker import is_user_package  # needs celery

        if not is_user_package(top):
            top = "<your package>"
        limit = timeout if timeout is not None else executor.default_task_timeout
        what = (
            "no Celery worker started it"
            if chunk.state == "PENDING"
            else "no result from a Celery worker"  # started, then lost
        )
        now = time.time()
        return TaskOutcome(
            name,
            error=(
                f"Task '{name}' of step '{batch.step_name}': {what} within {limit:g} s "
                f"(queue '{executor.queue}'). Is a worker running? Start one with "
                f"`ruvon worker --allow {top}` (or python -m "
                f"ruvon.implementations.execution.celery_worker --allow {top}), or raise "
                f"timeout_seconds."
            ),
            error_type="TimeoutError",
            started_at=now,
            ended_at=now,
        )


def outcome_from(item: dict[str, Any]) -> TaskOutcome:
    """Rebuild a TaskOutcome from the worker's JSON dict."""
    return TaskOutcome(
        task_name=str(item["task_name"]),
        result=item.get("result"),
        error=item.get("error"),
        error_type=item.get("error_type"),
        started_at=float(item.get("started_at") or 0.0),
        ended_at=float(item.get("ended_at") or 0.0),
    )


def chunk_message(
    batch: ParallelBatch,
    state: dict[str, Any],
    calls: Sequence[TaskCall],
    trace: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON message of one chunk (with ``trace``, the sender's span context: see otel)."""
    message: dict[str, Any] = {
        "v": 1,
        "workflow_id": batch.workflow_id,
        "workflow_type": batch.workflow_type,
        "step_name": batch.step_name,
        "state_model_path": batch.state_model_path,
        "state": state,
        "attempt": batch.attempt,
        "metadata": to_jsonable_python(batch.metadata, fallback=str),
        "share_state": batch.share_state,
        "tasks": [task_message(c) for c in calls],
    }
    if trace:
        message["trace"] = dict(trace)
    return message


def task_message(call: TaskCall) -> dict[str, Any]:
    """One task of a chunk; a dynamic fan-out task also carries its item, index and kwargs."""
    message: dict[str, Any] = {"name": call.name, "function_path": call.function_path}
    if call.index is not None or call.kwargs:
        message["item"] = to_jsonable_python(call.item, fallback=str)
        message["index"] = call.index
        message["kwargs"] = to_jsonable_python(dict(call.kwargs or {}), fallback=str)
    return message
