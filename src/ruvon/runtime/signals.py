"""Per-workflow stop signals that step code sees through ``context.cancelled``/``heartbeat()``.

A driving session registers one :class:`StopSignal` per workflow it drives; the lease keeper sets
it when the workflow is cancelled or the lease is lost. Step and task code running in this process
(on the event loop or in executor threads) looks it up by workflow id, so no executor has to pass
it along. Code running in other processes (Celery workers) does not see it.
"""

from __future__ import annotations

import threading
from collections import deque

from ruvon.errors import LeaseLost, WorkflowCancelled


class StopSignal:
    """Why the run of one workflow must stop, if it must.

    Attributes:
        workflow_id: The workflow.
        owner: The lease owner driving it.
        cancelled: The workflow was cancelled by someone else.
        lost: The lease could not be renewed (another driver may run the workflow now).
        stopping: The driver is shutting down (SIGTERM): stop after the current step.
        serving: The driver is a serving worker: child workflows go to any worker.
    """

    __slots__ = ("cancelled", "lost", "owner", "serving", "stopping", "workflow_id")

    def __init__(self, workflow_id: str, owner: str) -> None:
        self.workflow_id = workflow_id
        self.owner = owner
        self.cancelled = False
        self.lost = False
        self.stopping = False
        self.serving = False

    def check(self) -> None:
        """Raise WorkflowCancelled or LeaseLost if the run must stop now."""
        if self.cancelled:
            raise WorkflowCancelled(
                f"Workflow {self.workflow_id} was cancelled while owner {self.owner} ran it; this "
                f"run stops and saves nothing more. 'ruvon show {self.workflow_id}' shows it."
            )
        if self.lost:
            raise LeaseLost(
                f"LEASE_LOST: owner {self.owner} could not renew its lease on workflow "
                f"{self.workflow_id} (another driver may run it now); this run stops and saves "
                f"nothing more. Give steps less time than the lease (--lease-seconds) between "
                f"heartbeats, or check the database connection."
            )


_signals: dict[str, StopSignal] = {}
_lock = threading.Lock()


def register(workflow_id: str, owner: str) -> StopSignal:
    """A fresh signal for ``workflow_id`` (replacing an older one of this process)."""
    signal = StopSignal(workflow_id, owner)
    with _lock:  # unregister() reads, then deletes: a store must not fall in between
        _signals[workflow_id] = signal
    return signal


_RETAINED = 1024
_retained: deque[StopSignal] = deque()


def unregister(signal: StopSignal) -> None:
    """Forget ``signal`` unless a newer session of its workflow replaced it already.

    A cancelled or lost signal is kept a while (the last 1024), because task threads of the
    stopped run may still be working and must go on seeing it.
    """
    with _lock:
        if signal.cancelled or signal.lost:
            _retained.append(signal)
            if len(_retained) > _RETAINED:
                signal = _retained.popleft()
            else:
                return
        if _signals.get(signal.workflow_id) is signal:
            del _signals[signal.workflow_id]


def current(workflow_id: str) -> StopSignal | None:
    """The signal of the session driving ``workflow_id`` in this process, if any."""
    return _signals.get(workflow_id)


def stopped(workflow_id: str) -> bool:
    """Whether the workflow was cancelled or its lease lost (``context.cancelled``)."""
    signal = _signals.get(workflow_id)
    return signal is not None and (signal.cancelled or signal.lost)


def check(workflow_id: str) -> None:
    """Raise if the workflow's run must stop (``context.heartbeat()``)."""
    signal = _signals.get(workflow_id)
    if signal is not None:
        signal.check()
