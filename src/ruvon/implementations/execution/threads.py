"""Worker threads fed by a SimpleQueue: the cheap hop from the event loop to blocking code.

``loop.run_in_executor`` wraps every call in a ``concurrent.futures.Future``, a work item and a
chained asyncio future; here a call is one queue put, and its result one ``call_soon_threadsafe``.
Threads start on demand up to ``size`` and are daemons, so a task that never returns cannot keep
the process from exiting.

Runaway threads: a task abandoned at its step's deadline keeps its thread until it returns (Python
cannot stop a thread). :meth:`WorkerThreads.strand` lets the pool start one replacement per such
thread, so later steps keep ``size`` workers, but at most ``size`` replacements at a time: the
total never exceeds ``2 * size`` threads, however many tasks run away (beyond that, fewer threads
serve, and a WARNING says so). A stranded thread that finally returns rejoins the pool or exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from queue import SimpleQueue
from typing import Any

log = logging.getLogger("ruvon.executor")

STRANDED_GRACE_SECONDS = 2.0
"""How long ``close()`` waits, in all, for stranded threads to finish (see ``close``)."""

_Job = tuple[Callable[..., Any], tuple[Any, ...], asyncio.AbstractEventLoop | None, Any]


class WorkerThreads:
    """Up to ``size`` daemon threads running calls from one queue.

    Args:
        size: The most threads running calls at once (plus replacements for stranded ones).
        name: Thread name prefix.
    """

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self._name = name
        self._jobs: SimpleQueue[_Job | None] = SimpleQueue()
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._stranded: set[threading.Thread] = set()
        self._idle = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """How many worker threads exist now (stranded ones included)."""
        return len(self._threads)

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` on a worker thread; return (or raise) what it does."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put((func, args, loop, future))
        return await future

    def submit(self, func: Callable[..., Any], *args: Any) -> None:
        """Run ``func(*args)`` on a worker thread without waiting (it must handle its errors)."""
        self._put((func, args, None, None))

    def strand(self, threads: Iterable[threading.Thread]) -> None:
        """Mark threads stuck in abandoned tasks, so replacements may start (bounded, see above)."""
        with self._lock:
            for thread in threads:
                if thread in self._threads and len(self._stranded) < self.size:
                    self._stranded.add(thread)
            full = len(self._stranded) >= self.size
        if full:
            log.warning(
                "%d worker threads of '%s' are stuck in tasks abandoned at a step's deadline; no "
                "more replacements start until they return. Make those tasks return in time.",
                self.size,
                self._name,
            )

    def close(self, wait: bool = True, grace: float = STRANDED_GRACE_SECONDS) -> None:
        """Stop the threads after the calls already queued.

        ``wait`` joins every thread running a call. Stranded threads (calls abandoned at a deadline
        or a cancel) get ``grace`` seconds in all to finish, e.g. a task that saw the stop signal
        and is logging its way out; a call that ignores the signal is left to its daemon thread.
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            stranded = [t for t in threads if t in self._stranded]
            waitable = [t for t in threads if t not in self._stranded]
        for _ in threads:
            self._jobs.put(None)
        if wait:
            me = threading.current_thread()
            for thread in waitable:
                if thread is not me:
                    thread.join()
            until = time.monotonic() + grace
            for thread in stranded:
                if thread is not me:
                    thread.join(max(until - time.monotonic(), 0.0))

    def _put(self, job: _Job) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"The worker threads '{self._name}' are closed.")
            if self._idle:
                self._idle -= 1
                thread = None
            elif len(self._threads) < self.size + len(self._stranded):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.add(thread)
            else:
                thread = None  # every thread is busy: the job waits for the next free one
        self._jobs.put(job)
        if thread is not None:
            thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            job = self._jobs.get()
            if job is None:
                with self._lock:
                    self._threads.discard(me)
                    self._stranded.discard(me)
                return
            func, args, loop, future = job
            del job  # an idle thread must not keep its last job's objects alive
            if loop is None:
                try:
                    func(*args)
                except Exception:  # a fire-and-forget job must not take its thread down
                    log.exception("A job on worker thread %s failed", me.name)
                del func, args
                if not self._rejoin(me):
                    return
                continue
            error: BaseException | None = None
            try:
                value = func(*args)
            except BaseException as exc:  # handed to the awaiting caller, whatever it is
                value, error = None, exc
            del func, args
            # Idle before the caller learns of the result, so its next call reuses this thread.
            stay = self._rejoin(me)
            _settle(loop, future, value, error)
            del value, error, loop, future
            if not stay:
                return

    def _rejoin(self, me: threading.Thread) -> bool:
        """After a job: become idle again, or exit if this stranded thread was replaced."""
        with self._lock:
            if me in self._stranded:
                self._stranded.discard(me)
                if len(self._threads) > self.size:
                    self._threads.discard(me)
                    return False
            self._idle += 1
            return True


def _settle(
    loop: asyncio.AbstractEventLoop, future: Any, value: Any, error: BaseException | None
) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(_resolve, future, value, error)


def _resolve(future: asyncio.Future[Any], value: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
