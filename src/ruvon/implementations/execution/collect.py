"""The one deadline loop every executor shares: outcomes stream out until done or the deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from ruvon.providers.execution import (
    ExecutionProvider,
    Interrupted,
    ParallelBatch,
    TaskCall,
    TaskOutcome,
)
from ruvon.task_runner import timeout_outcome


class OutcomeSource:
    """An executor's side of a running batch: where outcomes come from and how it stops.

    Args:
        batch: The batch being run.
    """

    def __init__(self, batch: ParallelBatch) -> None:
        self.batch = batch
        self.halted = False

    def halt(self) -> None:
        """Start no further task (an interrupt); running ones still report. Wake a waiting
        :meth:`next_burst` if needed. Called on the event loop's thread."""
        self.halted = True

    def busy(self) -> bool:
        """Whether started tasks may still report (asked only once halted)."""
        return False

    async def next_burst(self, timeout: float | None) -> list[TaskOutcome]:
        """The outcomes that arrived, waiting at most ``timeout`` seconds (``[]`` if none did).

        Being called again means the caller took (and saved) the previous burst.
        """
        raise NotImplementedError

    async def stop(self, finished: bool) -> None:
        """Stop dispatching and abandon unfinished tasks.

        ``finished`` is true when the caller took every burst (the loop ended on its own), false
        when it stopped iterating early (an error, a cancellation or a crash on its side).
        """

    def late(self, calls: list[TaskCall]) -> list[TaskOutcome]:
        """The outcomes of tasks unfinished at the deadline: ``TimeoutError`` by default."""
        batch = self.batch
        return [timeout_outcome(call.name, batch.timeout, batch.step_name) for call in calls]


YIELD_EVERY = 0.005
"""Seconds the collecting loop may go without letting the event loop run its callbacks."""


async def collect(
    provider: ExecutionProvider, batch: ParallelBatch, source: OutcomeSource
) -> AsyncIterator[list[TaskOutcome]]:
    """Yield ``source``'s bursts until every pending task reported or the deadline passed.

    Then yield the late outcomes (``TimeoutError`` by default) of the tasks still unfinished, in
    declared order, and discard anything the source reports later (each task yields exactly one
    outcome). If ``provider`` is interrupted, the source is halted, the outcomes of running tasks
    are still yielded, and then :class:`Interrupted` is raised.

    Raises:
        Interrupted: The provider was interrupted before every pending task reported.
    """
    # One byte per task (not a set of names): a fan-out over 100,000 items stays small.
    if batch.done:
        waiting = bytearray(len(batch.tasks))
        for i in batch.pending_positions():
            waiting[i] = 1
    else:
        waiting = bytearray(b"\x01") * len(batch.tasks)
    left = len(batch.pending_positions())
    finished = False
    # Outcomes and saves may be ready without the loop ever running its callbacks (an inline
    # store, a busy pool): hand it a turn at least every YIELD_EVERY seconds.
    turn = time.monotonic() + YIELD_EVERY
    provider.active_runs.add(source)
    if provider.interrupted:
        source.halt()
    try:
        while left:
            if source.halted and not source.busy():
                break
            remaining = batch.remaining()
            if remaining is not None and remaining <= 0:
                break
            arrived = []
            for outcome in await source.next_burst(remaining):
                at = batch.position_of(outcome)
                if at is not None and waiting[at]:
                    waiting[at] = 0
                    arrived.append(outcome)
            if arrived:
                left -= len(arrived)
                yield arrived
            now = time.monotonic()
            if now >= turn:  # let the loop's callbacks (an interrupt, lease renewals) run
                await asyncio.sleep(0)
                turn = now + YIELD_EVERY
        finished = True
    finally:
        provider.active_runs.discard(source)
        await source.stop(finished)
    if left and source.halted:
        raise Interrupted(
            f"Step '{batch.step_name}' was interrupted: {left} of {len(batch.tasks)} "
            f"tasks did not run; the outcomes that arrived are saved."
        )
    if left:
        yield source.late([batch.tasks[i] for i in batch.pending_positions() if waiting[i]])
