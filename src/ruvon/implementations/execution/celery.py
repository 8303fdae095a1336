"""CeleryExecutor: PARALLEL tasks run on Celery workers, merged exactly as the thread pool's.

Start a worker that may run your task functions, then use the executor::

    python -m ruvon.implementations.execution.celery_worker --allow order_processor

    from ruvon.implementations.execution.celery import CeleryExecutor
    execution_provider = CeleryExecutor()

The tasks of a step travel in a few JSON messages (chunks), each carrying the state as JSON and the
dotted paths of the functions; results stream back as chunks finish. STANDARD steps run in this
process on a thread, as with the thread pool.

Each chunk's Celery task id is derived from the workflow id, the step, the batch's ``run_key`` and
the chunk's place in the batch as first planned, so a process that resumes a workflow whose
orchestrator died finds the chunks it had sent: finished ones are collected, running ones awaited,
and only the others sent again. A chunk's result is forgotten only after the caller has taken (and
checkpointed) its outcomes.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import uuid
from array import array
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from ruvon.errors import ConfigurationError, ExecutorError
from ruvon.implementations.execution.celery_run import (
    READY,
    RUNNING,
    CeleryRun,
    Chunk,
    chunk_message,
)
from ruvon.implementations.execution.collect import collect
from ruvon.implementations.execution.threads import WorkerThreads
from ruvon.providers.execution import ExecutionProvider, ParallelBatch, TaskOutcome, TaskView

log = logging.getLogger("ruvon.celery")

#: Without ``chunk_size``, a step is split into at most this many messages (2-4 per worker process
#: on a few small workers); steps of up to this many tasks send one task per message.
AUTO_CHUNKS = 16
#: Chunk ids are uuid5 in this namespace (any fixed UUID; changing it orphans in-flight chunks).
_ID_NAMESPACE = uuid.UUID("6f7c1d1e-3b1a-5e4e-9a57-2f0f4b1c8d21")
#: A revoked id is never sent again (workers discard it): the chunk moves to its next id. After this
#: many revoked ids in a row it gets a random one.
_MAX_GENERATIONS = 32
#: Threads for STANDARD steps and broker round trips of one executor.
_THREADS = 8


class CeleryExecutor(ExecutionProvider):
    """Runs PARALLEL tasks on Celery workers and STANDARD steps in this process.

    Results merge with the same semantics as :class:`ThreadPoolExecutionProvider` (the engine
    merges in declared order). Workers run only allowlisted code (``--allow PREFIX``).

    At a step's ``timeout_seconds`` unfinished chunks are revoked (``terminate=True``) and their
    tasks fail with ``TimeoutError``. Without a step timeout, ``default_task_timeout`` bounds the
    wait for a lost or missing worker. Tasks of one chunk report together, so with
    ``chunk_size > 1`` a timeout fails every task of an unfinished chunk.

    Args:
        broker_url: Broker URL; default ``$RUVON_CELERY_BROKER_URL`` or ``redis://127.0.0.1:6379/0``.
        result_backend: Result backend; default ``$RUVON_CELERY_RESULT_BACKEND`` or the same Redis.
        chunk_size: Tasks per message; default splits a step into at most ``AUTO_CHUNKS`` messages.
        app: A Celery app to use instead of building one (it must accept JSON and route
            ``ruvon.run_tasks`` to a ruvon worker).
        poll_interval: Seconds between polls of the result backend while waiting.
        queue: Queue name; default ``$RUVON_CELERY_QUEUE`` or ``ruvon``.
        default_task_timeout: Seconds to wait for a step without ``timeout_seconds``.
        worker_check_interval: Seconds between pings of the workers running a step's messages; a
            worker missing two pings in a row is dead and its messages are sent again.
        backend_patience: Seconds the result backend may stay unreachable while a step waits;
            then the step fails with an ``ExecutorError`` (warnings meanwhile: one per 10 s).
    """

    kind = "celery"

    def __init__(
        self,
        broker_url: str | None = None,
        result_backend: str | None = None,
        chunk_size: int | None = None,
        app: Any = None,
        poll_interval: float = 0.01,
        queue: str | None = None,
        default_task_timeout: float = 3600.0,
        worker_check_interval: float = 10.0,
        backend_patience: float = 60.0,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ConfigurationError(
                f"CeleryExecutor(chunk_size={chunk_size}) needs at least one task per message; "
                f"pass a positive chunk_size or None for automatic chunks."
            )
        seconds = (poll_interval, default_task_timeout, worker_check_interval, backend_patience)
        if min(seconds) <= 0:
            raise ConfigurationError(
                f"CeleryExecutor(poll_interval={poll_interval}, default_task_timeout="
                f"{default_task_timeout}, worker_check_interval={worker_check_interval}, "
                f"backend_patience={backend_patience}) needs positive numbers of seconds."
            )
        worker = _worker_module()
        self.queue = worker.queue_name(queue)
        self.broker_url = worker.broker_url(broker_url)
        self.app = app if app is not None else worker.make_app(broker_url, result_backend, queue)
        self.chunk_size = chunk_size
        self.poll_interval = poll_interval
        self.default_task_timeout = default_task_timeout
        self.worker_check_interval = worker_check_interval
        self.backend_patience = backend_patience
        self.backend_url = worker.result_backend(result_backend)
        self.task_name: str = worker.TASK_NAME
        self._threads: WorkerThreads | None = None

    def close(self) -> None:
        """Release the app's broker connections and the threads."""
        if self._threads is not None:
            self._threads.close(wait=False)
            self._threads = None
        self.app.close()

    async def call_blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` in this process on a worker thread."""
        return await self.threads.call(func, *args)

    @property
    def threads(self) -> WorkerThreads:
        """Threads for STANDARD steps and for talking to the broker (created on first use)."""
        if self._threads is None:
            self._threads = WorkerThreads(_THREADS, "ruvon-celery")
        return self._threads

    def run_parallel(self, batch: ParallelBatch) -> AsyncIterator[list[TaskOutcome]]:
        """Send the pending tasks to the workers in chunks; yield each chunk's outcomes as it ends.

        With ``batch.resumed``, chunks an earlier process sent are looked up first: finished ones
        are yielded at once, running ones awaited, and only the others sent. With ``batch.limit``,
        chunks hold at most that many tasks and are sent as earlier ones finish, so at most
        ``limit`` tasks are on the workers at once. Without a deadline, ``default_task_timeout``
        bounds the wait.
        """
        if batch.deadline is None:
            batch = dataclasses.replace(
                batch, deadline=time.monotonic() + self.default_task_timeout
            )
        return collect(self, batch, CeleryRun(self, batch))

    # -- planning, looking up and sending ------------------------------------------------------
    def _plan(self, batch: ParallelBatch) -> list[Chunk]:
        """The chunks of the tasks still to run, cut from all the step's tasks in declared order.

        Chunk ``i`` of size ``k`` holds the same tasks on every run of this batch (first run or
        resume), so its id can be found again; a chunk whose tasks all have outcomes is left out.
        """
        tasks = batch.tasks
        count = len(tasks)
        size = self.chunk_size or max(1, math.ceil(count / AUTO_CHUNKS))
        size = min(size, batch.limit or size)
        pending: bytearray | None = None  # one byte per task when some are done (a resume)
        if batch.done:
            pending = bytearray(count)
            for i in batch.pending_positions():
                pending[i] = 1
        chunks: list[Chunk] = []
        for index, start in enumerate(range(0, count, size)):
            end = min(start + size, count)
            at: Sequence[int] = (
                range(start, end)
                if pending is None
                else array("q", (i for i in range(start, end) if pending[i]))
            )
            if at:
                key = "\x1f".join(
                    [batch.workflow_id, batch.step_name, batch.run_key, str(index), str(size)]
                )
                # The tasks are made when the chunk's message is (a fan-out keeps none meanwhile).
                chunks.append(Chunk(None, TaskView(tasks, at), key=key))
        return chunks

    def _claim(self, batch: ParallelBatch, chunks: list[Chunk]) -> None:
        """Give each chunk its id and decide from the backend whether to send, await or collect it.

        A revoked id (a timed-out earlier run of this batch) is skipped for the chunk's next id,
        the same way on every run. Without ``batch.resumed`` any result found is stale (an
        earlier run of the step with the same ``run_key``) and is forgotten before sending.
        """
        undecided = chunks
        for generation in range(_MAX_GENERATIONS):
            ids = [_chunk_id(chunk.key, generation) for chunk in undecided]
            try:
                found = self._lookup(ids)
            except Exception as exc:
                if batch.resumed:  # cannot tell what an earlier process left running
                    raise ExecutorError(
                        f"Step '{batch.step_name}': cannot read the Celery result backend to "
                        f"collect the results of tasks sent before the workflow was resumed: "
                        f"{type(exc).__name__}: {exc}. Is Redis running? Set result_backend or "
                        f"$RUVON_CELERY_RESULT_BACKEND."
                    ) from exc
                log.warning("Looking up Celery results failed (sending anyway): %s", exc)
                found = {}
            revoked: list[Chunk] = []
            for chunk, task_id in zip(undecided, ids, strict=True):
                state, payload = found.get(task_id, ("PENDING", None))
                if state == "REVOKED":
                    revoked.append(chunk)
                    continue
                chunk.result = self.app.AsyncResult(task_id)
                if not batch.resumed:
                    chunk.stale = state != "PENDING"
                elif state in READY:
                    chunk.state, chunk.payload, chunk.send = state, payload, False
                elif state in RUNNING:
                    chunk.state, chunk.send = state, False
            undecided = revoked
            if not undecided:
                return
        for chunk in undecided:
            chunk.result = self.app.AsyncResult(str(uuid.uuid4()))

    def _lookup(self, ids: list[str]) -> dict[str, tuple[str, Any]]:
        """The stored ``(state, result)`` of each id that has one (one round trip when possible)."""
        if not ids:
            return {}
        backend = self.app.backend
        if callable(getattr(backend, "get_key_for_task", None)):
            try:
                values = backend.mget([backend.get_key_for_task(i) for i in ids])
            except NotImplementedError:
                pass
            else:
                found: dict[str, tuple[str, Any]] = {}
                for task_id, value in zip(ids, values, strict=True):
                    if value:
                        meta = backend.decode_result(value)
                        found[task_id] = (str(meta["status"]), meta.get("result"))
                return found
        found = {}
        for task_id in ids:
            result = self.app.AsyncResult(task_id)
            state = str(result.state)
            if state != "PENDING":
                found[task_id] = (state, result.result)
        return found

    def _send(
        self, batch: ParallelBatch, chunks: list[Chunk], trace: dict[str, str] | None = None
    ) -> None:
        state = batch.state_message()
        sent: list[str] = []
        for chunk in chunks:
            message = chunk_message(batch, state, chunk.calls, trace)
            try:
                if chunk.stale:
                    chunk.result.forget()
                self.app.send_task(
                    self.task_name,
                    args=[message],
                    task_id=chunk.result.id,
                    queue=self.queue,
                    retry=True,
                    retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5},
                )
            except Exception as exc:
                self._revoke(sent)
                raise ExecutorError(
                    f"Step '{batch.step_name}': cannot send its tasks to the Celery broker at "
                    f"{self.broker_url}: {type(exc).__name__}: {exc}. Is the broker (Redis) "
                    f"running? Set broker_url or $RUVON_CELERY_BROKER_URL."
                ) from exc
            sent.append(chunk.result.id)

    # -- waiting -----------------------------------------------------------------------------
    def _poll(self, chunks: list[Chunk]) -> tuple[list[Chunk], Exception | None]:
        """Check each chunk's state once (runs on a thread).

        Returns:
            The finished chunks, and the last error of a failed check (retried at the next poll).
        """
        finished = []
        error: Exception | None = None
        for chunk in chunks:
            try:
                chunk.state = chunk.result.state
            except Exception as exc:  # a backend hiccup, or the backend down: see BackendWatch
                error = exc
                continue
            if chunk.state in READY:
                chunk.payload = chunk.result.result
                finished.append(chunk)
        return finished, error

    def _forget(self, chunks: list[Chunk]) -> None:
        """Delete the results of chunks whose outcomes the caller has taken (best effort)."""
        for chunk in chunks:
            try:
                chunk.result.forget()
            except Exception:  # the result expires anyway (result_expires)
                log.debug("Forgetting Celery result %s failed", chunk.result.id, exc_info=True)

    def _revoke(self, ids: list[str]) -> None:
        """Revoke messages still queued or running (best effort; runs on a thread)."""
        if not ids:
            return
        try:
            self.app.control.revoke(ids, terminate=True)
        except Exception as exc:
            log.warning("Revoking %d Celery tasks failed: %s", len(ids), exc)


def _chunk_id(key: str, generation: int) -> str:
    """The Celery task id of a chunk: the same for the same chunk of the same run of a batch."""
    return str(uuid.uuid5(_ID_NAMESPACE, key if not generation else f"{key}\x1f{generation}"))


def _worker_module() -> Any:
    """Import the Celery side lazily, so ruvon works without the celery extra."""
    try:
        from ruvon.implementations.execution import celery_worker
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigurationError(
            f"CeleryExecutor needs Celery, which cannot be imported ({exc}). Install it with: "
            f"pip install 'ruvon[celery]'."
        ) from exc
    return celery_worker


CeleryExecutionProvider = CeleryExecutor
