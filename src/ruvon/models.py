"""Public value types of ruvon: statuses, the step context and the directives a step may raise."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from ruvon.errors import ConfigurationError, RuvonError
from ruvon.runtime import signals


class WorkflowStatus(StrEnum):
    """Status of a workflow. A ``str`` enum, so ``workflow.status == "ACTIVE"`` holds."""

    ACTIVE = "ACTIVE"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    WAITING_HUMAN = "WAITING_HUMAN"
    PENDING_ASYNC = "PENDING_ASYNC"
    PENDING_SUB_WORKFLOW = "PENDING_SUB_WORKFLOW"
    FAILED_ROLLED_BACK = "FAILED_ROLLED_BACK"
    FAILED_CHILD_WORKFLOW = "FAILED_CHILD_WORKFLOW"
    CANCELLED = "CANCELLED"
    FAILED_WORKER_CRASH = "FAILED_WORKER_CRASH"
    SLEEPING = "SLEEPING"
    WAITING_SIGNAL = "WAITING_SIGNAL"
    QUEUED = "QUEUED"

    def __str__(self) -> str:
        return self.value

    @property
    def is_terminal(self) -> bool:
        """Whether no further step can run in this status."""
        return self in _TERMINAL

    @classmethod
    def _missing_(cls, value: object) -> WorkflowStatus | None:
        # The published SDK's names of the one waiting status (WorkflowStatus("PAUSED")).
        if isinstance(value, str) and value.upper() in _SDK_WAITING_NAMES:
            return cls.WAITING_HUMAN
        return None


#: What the published SDK calls a workflow that waits for input.
_SDK_WAITING_NAMES = frozenset({"PAUSED", "WAITING_HUMAN_INPUT"})


_TERMINAL = frozenset(
    {
        WorkflowStatus.COMPLETED,
        WorkflowStatus.FAILED,
        WorkflowStatus.FAILED_ROLLED_BACK,
        WorkflowStatus.FAILED_CHILD_WORKFLOW,
        WorkflowStatus.CANCELLED,
        WorkflowStatus.FAILED_WORKER_CRASH,
    }
)


@dataclass(slots=True, frozen=True)
class LoopState:
    """Where a loop body or fan-out task is: the item and its 0-based index."""

    current_iteration: int
    current_item: Any


@dataclass(slots=True)
class StepContext:
    """What a step or task function learns about where it runs.

    Attributes:
        workflow_id: Id of the running workflow.
        step_name: Name of the step; for a PARALLEL task, the task's name.
        workflow_type: Type of the running workflow.
        parent_step_name: For a PARALLEL task, the name of its step; else ``None``.
        attempt: 1 for the first run of this step or task, 2 for the first retry, and so on.
        validated_input: The user input given to ``next_step``, validated by the step's input model.
        previous_step_result: What the previous step returned.
        metadata: The workflow's metadata (read it; write through returned dicts).
        loop_item: Inside a LOOP body or a dynamic PARALLEL fan-out, the current item.
        loop_index: The current item's index (or the iteration number of a WHILE loop).
        deadline: When the step's ``timeout_seconds`` runs out (``time.time()`` seconds), else
            ``None``. The driver fails the step then; see :meth:`time_left`.
        parent_workflow_id: The id of the parent workflow, when this one is a child.
    """

    workflow_id: str
    step_name: str
    workflow_type: str = ""
    parent_step_name: str | None = None
    attempt: int = 1
    validated_input: Any = None
    previous_step_result: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    loop_item: Any = None
    loop_index: int | None = None
    deadline: float | None = None
    parent_workflow_id: str | None = None

    @property
    def execution_time(self) -> datetime:
        """The current time (UTC), as the published SDK's ``context.execution_time``."""
        return datetime.now(UTC)

    @property
    def loop_state(self) -> LoopState | None:
        """The SDK's view of ``loop_item``/``loop_index``; ``None`` outside loops and fan-outs."""
        if self.loop_index is None:
            return None
        return LoopState(current_iteration=self.loop_index, current_item=self.loop_item)

    @property
    def task_name(self) -> str | None:
        """The task's name inside a PARALLEL step, else ``None``."""
        return self.step_name if self.parent_step_name is not None else None

    @property
    def idempotency_key(self) -> str:
        """A key that is the same for every delivery of one attempt of this step or task.

        Steps run at least once; pass this key to external systems to make side effects idempotent.
        """
        parts = [self.workflow_id, self.parent_step_name or self.step_name]
        if self.parent_step_name is not None:
            parts.append(self.step_name)
        parts.append(str(self.attempt))
        return ":".join(parts)

    @property
    def cancelled(self) -> bool:
        """Whether the workflow was cancelled (or its driver lost its lease) while this code runs.

        Long-running step code should check it (or call :meth:`heartbeat`) and stop early.
        """
        return signals.stopped(self.workflow_id)

    def heartbeat(self) -> None:
        """Raise if this run must stop: the workflow was cancelled or its driver lost its lease.

        Raises:
            WorkflowCancelled: The workflow was cancelled; nothing this code returns is saved.
            LeaseLost: Another driver took the workflow over.
        """
        signals.check(self.workflow_id)
        if self.deadline is not None and time.time() >= self.deadline:
            raise StepTimedOut(
                f"Step '{self.step_name}' of workflow {self.workflow_id} ran past its "
                f"timeout_seconds; stop its work (the driver has failed the step already)."
            )

    def time_left(self) -> float | None:
        """Seconds left before the step's ``timeout_seconds`` runs out (0 when past), or ``None``
        when the step has no timeout."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.time(), 0.0)


class StepTimedOut(RuvonError):
    """A step ran longer than its ``timeout_seconds`` (raised by ``context.heartbeat()``)."""


class WorkflowSleepDirective(RuvonError):
    """Returned or raised by a step function: apply ``result``, then sleep durably before the next
    step (status SLEEPING) for ``seconds``, or until the datetime ``until``.

    ``until`` is an aware ``datetime``, or ISO 8601 text (a naive one is read as UTC). A serving
    worker (``ruvon serve``) wakes the workflow when it is due, across restarts of everything.
    """

    def __init__(
        self,
        seconds: float | None = None,
        until: dt.datetime | str | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        if (seconds is None) == (until is None):
            raise ConfigurationError(
                "WorkflowSleepDirective needs exactly one of seconds=... or until=...; got "
                f"seconds={seconds!r}, until={until!r}."
            )
        super().__init__(f"Sleep {seconds} s." if seconds is not None else f"Sleep until {until}.")
        self.seconds = seconds
        self.until = until
        self.result = result


class WorkflowJumpDirective(RuvonError):
    """Raised by a step function to continue at another step instead of the next one."""

    def __init__(self, target_step_name: str, result: dict[str, Any] | None = None) -> None:
        super().__init__(f"Jump to step '{target_step_name}'.")
        self.target_step_name = target_step_name
        self.result = result


class WorkflowPauseDirective(RuvonError):
    """Raised by a step function to stop the workflow in WAITING_HUMAN until input arrives."""

    def __init__(
        self,
        result: dict[str, Any] | None = None,
        message: str | None = None,
        waiting_for: str | None = None,
    ) -> None:
        super().__init__(message or waiting_for or "The workflow waits for human input.")
        self.result = result
        #: What the workflow waits for (free text, shown to whoever resumes it).
        self.waiting_for = waiting_for


class StartSubWorkflowDirective(RuvonError):
    """Raised by a step function to start a child workflow and wait for it."""

    def __init__(
        self,
        workflow_type: str,
        initial_data: dict[str, Any] | None = None,
        data_region: str | None = None,
        owner_id: str | None = None,
    ) -> None:
        super().__init__(f"Start sub-workflow '{workflow_type}'.")
        self.workflow_type = workflow_type
        self.initial_data = dict(initial_data or {})
        self.data_region = data_region
        self.owner_id = owner_id


class SagaWorkflowException(RuvonError):
    """A saga step failed and the completed steps were compensated."""

    def __init__(
        self,
        message: str,
        step_name: str | None = None,
        original_exception: BaseException | None = None,
    ) -> None:
        super().__init__(message)
        self.step_name = step_name
        self.message = message
        self.original_exception = original_exception


class WorkflowFailedException(RuvonError):
    """A workflow ended FAILED; raised where a caller asked to be told by an exception."""

    def __init__(self, message: str, workflow_id: str | None = None) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
