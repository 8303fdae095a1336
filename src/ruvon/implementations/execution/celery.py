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

import asyncio
import inspect
import logging
import math
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_jsonable_python

from ruvon.errors import ConfigurationError, ExecutorError
from ruvon.providers.execution import ExecutionProvider, ParallelBatch, TaskCall, TaskOutcome
from ruvon.task_runner import timeout_outcome

log = logging.getLogger("ruvon.celery")

#: Without ``chunk_size``, a step is split into at most this many messages (2-4 per worker process
#: on a few small workers); steps of up to this many tasks send one task per message.
AUTO_CHUNKS = 16
_READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
#: Found on resume: the chunk's message is with a worker, so it is awaited, not sent again.
_RUNNING = frozenset({"STARTED", "RETRY"})
#: Chunk ids are uuid5 in this namespace (any fixed UUID; changing it orphans in-flight chunks).
_ID_NAMESPACE = uuid.UUID("6f7c1d1e-3b1a-5e4e-9a57-2f0f4b1c8d21")
#: A revoked id is never sent again (workers discard it): the chunk moves to its next id. After this
#: many revoked ids in a row it gets a random one.
_MAX_GENERATIONS = 32


@dataclass(slots=True)
class _Chunk:
    """One message: its Celery result handle, its tasks still to run, and what is known of it.

    ``key`` names the chunk's place in the batch as first planned (see :func:`_chunk_id`).
    """

    result: Any
    calls: list[TaskCall]
    state: str = "PENDING"
    payload: Any = None
    key: str = ""
    send: bool = True
    stale: bool = False

    @property
    def names(self) -> list[str]:
        """The names of the chunk's tasks, in declared order."""
        return [c.name for c in self.calls]


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
    """

    def __init__(
        self,
        broker_url: str | None = None,
        result_backend: str | None = None,
        chunk_size: int | None = None,
        app: Any = None,
        poll_interval: float = 0.01,
        queue: str | None = None,
        default_task_timeout: float = 3600.0,
    ) -> None:
        if chunk_size is not None and chunk_size < 1:
            raise ConfigurationError(
                f"CeleryExecutor(chunk_size={chunk_size}) needs at least one task per message; "
                f"pass a positive chunk_size or None for automatic chunks."
            )
        if poll_interval <= 0 or default_task_timeout <= 0:
            raise ConfigurationError(
                f"CeleryExecutor(poll_interval={poll_interval}, default_task_timeout="
                f"{default_task_timeout}) needs positive numbers of seconds."
            )
        worker = _worker_module()
        self.queue = worker.queue_name(queue)
        self.broker_url = worker.broker_url(broker_url)
        self.app = app if app is not None else worker.make_app(broker_url, result_backend, queue)
        self.chunk_size = chunk_size
        self.poll_interval = poll_interval
        self.default_task_timeout = default_task_timeout
        self._task_name: str = worker.TASK_NAME

    def close(self) -> None:
        """Release the app's broker connections."""
        self.app.close()

    async def run_step(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` in this process on a thread (awaiting it if it is async)."""
        if inspect.iscoroutinefunction(func):
            return await func(*args)
        value = await asyncio.to_thread(func, *args)
        if inspect.isawaitable(value):
            return await value
        return value

    async def run_parallel(
        self, batch: ParallelBatch, timeout: float | None
    ) -> AsyncIterator[list[TaskOutcome]]:
        """Send the tasks to the workers in chunks; yield each chunk's outcomes as it finishes.

        With ``batch.resumed``, chunks an earlier process sent are looked up first: finished ones
        are yielded at once, running ones awaited, and only the others sent.
        """
        loop = asyncio.get_running_loop()
        limit = timeout if timeout is not None else self.default_task_timeout
        deadline = loop.time() + limit
        chunks = await asyncio.to_thread(self._start, batch)
        collected = [c for c in chunks if c.state in _READY]
        pending = {c.result.id: c for c in chunks if c.state not in _READY}
        # Chunks whose outcomes were yielded and the caller came back (so it has saved them): only
        # their results may be forgotten; a crash before that leaves them for the next resume.
        taken: list[_Chunk] = []
        try:
            if collected:
                yield [o for chunk in collected for o in self._outcomes(batch, chunk)]
                taken.extend(collected)
            while pending:
                if loop.time() >= deadline:
                    break
                forget, taken = taken, []
                finished = await asyncio.to_thread(self._poll, list(pending.values()), forget)
                if not finished:
                    await asyncio.sleep(min(self.poll_interval, max(deadline - loop.time(), 0)))
                    continue
                outcomes: list[TaskOutcome] = []
                for chunk in finished:
                    del pending[chunk.result.id]
                    outcomes.extend(self._outcomes(batch, chunk))
                yield outcomes
                taken.extend(finished)
        finally:
            if pending:
                try:  # do not hold up the caller; revoking is best effort
                    loop.run_in_executor(None, self._revoke, list(pending))
                except RuntimeError:  # the loop's executor is already shut down
                    self._revoke(list(pending))
        late = [
            self._late_outcome(batch, call, chunk, timeout)
            for chunk in pending.values()
            for call in chunk.calls
        ]
        if late:
            yield late
        if taken:
            await asyncio.to_thread(self._forget, taken)

    # -- planning, looking up and sending ------------------------------------------------------
    def _start(self, batch: ParallelBatch) -> list[_Chunk]:
        """Plan the chunks, learn what the backend knows of their ids, send those to send."""
        chunks = self._plan(batch)
        self._claim(batch, chunks)
        self._send(batch, [c for c in chunks if c.send])
        return chunks

    def _plan(self, batch: ParallelBatch) -> list[_Chunk]:
        """The chunks of the tasks still to run, cut from the batch as first planned.

        Chunk ``i`` of size ``k`` holds the same tasks on every run of this batch (first run or
        resume), so its id can be found again; a chunk whose tasks all have outcomes is left out.
        """
        todo = {call.name: call for call in batch.tasks}
        names = list(batch.planned) or list(todo)
        known = set(names)
        names += [name for name in todo if name not in known]  # defensive: unplanned tasks
        size = self.chunk_size or max(1, math.ceil(len(names) / AUTO_CHUNKS))
        chunks: list[_Chunk] = []
        for index, start in enumerate(range(0, len(names), size)):
            calls = [todo[name] for name in names[start : start + size] if name in todo]
            if calls:
                key = "\x1f".join(
                    [batch.workflow_id, batch.step_name, batch.run_key, str(index), str(size)]
                )
                chunks.append(_Chunk(None, calls, key=key))
        return chunks

    def _claim(self, batch: ParallelBatch, chunks: list[_Chunk]) -> None:
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
            revoked: list[_Chunk] = []
            for chunk, task_id in zip(undecided, ids, strict=True):
                state, payload = found.get(task_id, ("PENDING", None))
                if state == "REVOKED":
                    revoked.append(chunk)
                    continue
                chunk.result = self.app.AsyncResult(task_id)
                if not batch.resumed:
                    chunk.stale = state != "PENDING"
                elif state in _READY:
                    chunk.state, chunk.payload, chunk.send = state, payload, False
                elif state in _RUNNING:
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

    def _send(self, batch: ParallelBatch, chunks: list[_Chunk]) -> None:
        state = batch.state_message()
        sent: list[str] = []
        for chunk in chunks:
            message = _message(batch, state, chunk.calls)
            try:
                if chunk.stale:
                    chunk.result.forget()
                self.app.send_task(
                    self._task_name,
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
    def _poll(self, chunks: list[_Chunk], forget: list[_Chunk]) -> list[_Chunk]:
        """Forget the results in ``forget``, check each chunk's state once (runs on a thread);
        return the finished ones."""
        self._forget(forget)
        finished = []
        for chunk in chunks:
            try:
                chunk.state = chunk.result.state
            except Exception as exc:  # backend hiccup: retry at the next poll
                log.warning("Polling Celery result %s failed: %s", chunk.result.id, exc)
                continue
            if chunk.state in _READY:
                chunk.payload = chunk.result.result
                finished.append(chunk)
        return finished

    def _forget(self, chunks: list[_Chunk]) -> None:
        """Delete the results of chunks whose outcomes the caller has taken (best effort)."""
        for chunk in chunks:
            try:
                chunk.result.forget()
            except Exception:  # the result expires anyway (result_expires)
                log.debug("Forgetting Celery result %s failed", chunk.result.id, exc_info=True)

    def _outcomes(self, batch: ParallelBatch, chunk: _Chunk) -> list[TaskOutcome]:
        """Turn a finished chunk's payload into one outcome per task of the chunk."""
        by_name: dict[str, TaskOutcome] = {}
        names = set(chunk.names)
        if chunk.state == "SUCCESS" and isinstance(chunk.payload, list):
            for item in chunk.payload:
                if isinstance(item, dict) and item.get("task_name") in names:
                    by_name[item["task_name"]] = _outcome_from(item)
        now = time.time()
        return [
            by_name.get(name)
            or TaskOutcome(
                name,
                error=(
                    f"Task '{name}' of step '{batch.step_name}' got no result from its Celery "
                    f"worker (message state {chunk.state}: {chunk.payload!r}). Check the worker's "
                    f"log; the worker must run ruvon's task '{self._task_name}'."
                ),
                error_type="ExecutorError",
                started_at=now,
                ended_at=now,
            )
            for name in chunk.names
        ]

    def _late_outcome(
        self, batch: ParallelBatch, call: TaskCall, chunk: _Chunk, timeout: float | None
    ) -> TaskOutcome:
        """The outcome of a task whose chunk had no result at the deadline."""
        name = call.name
        if timeout is not None and chunk.state == "STARTED":
            return timeout_outcome(name, timeout, batch.step_name)
        top = call.function_path.split(".", 1)[0]
        limit = timeout if timeout is not None else self.default_task_timeout
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
                f"(queue '{self.queue}'). Is a worker running? Start one with "
                f"`ruvon worker --allow {top}` (or python -m "
                f"ruvon.implementations.execution.celery_worker --allow {top}), or raise "
                f"timeout_seconds."
            ),
            error_type="TimeoutError",
            started_at=now,
            ended_at=now,
        )

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


def _outcome_from(item: dict[str, Any]) -> TaskOutcome:
    """Rebuild a TaskOutcome from the worker's JSON dict."""
    return TaskOutcome(
        task_name=str(item["task_name"]),
        result=item.get("result"),
        error=item.get("error"),
        error_type=item.get("error_type"),
        started_at=float(item.get("started_at") or 0.0),
        ended_at=float(item.get("ended_at") or 0.0),
    )


def _message(batch: ParallelBatch, state: dict[str, Any], calls: list[TaskCall]) -> dict[str, Any]:
    """The JSON message of one chunk (with ``trace``: the sender's span context, see otel)."""
    message = {
        "v": 1,
        "workflow_id": batch.workflow_id,
        "workflow_type": batch.workflow_type,
        "step_name": batch.step_name,
        "state_model_path": batch.state_model_path,
        "state": state,
        "attempt": batch.attempt,
        "metadata": to_jsonable_python(batch.metadata, fallback=str),
        "share_state": batch.share_state,
        "tasks": [_task_message(c) for c in calls],
    }
    if "ruvon.observability.otel" in sys.modules:  # a tracer is in use: workers join its trace
        carrier = sys.modules["ruvon.observability.otel"].inject()
        if carrier:
            message["trace"] = carrier
    return message


def _task_message(call: TaskCall) -> dict[str, Any]:
    """One task of a chunk; a dynamic fan-out task also carries its item, index and kwargs."""
    message: dict[str, Any] = {"name": call.name, "function_path": call.function_path}
    if call.index is not None or call.kwargs:
        message["item"] = to_jsonable_python(call.item, fallback=str)
        message["index"] = call.index
        message["kwargs"] = to_jsonable_python(dict(call.kwargs or {}), fallback=str)
    return message


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
