"""Error strategies: what a flow does when a slot handler raises.

The same rules apply to every routine, the entry routine included. A routine's own
handler (``Routine.set_error_handler``) wins over the flow's
(``Flow.set_error_handler``); with neither, the strategy is ``STOP``.
"""

from __future__ import annotations

import builtins
import enum
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from routilux.errors import DefinitionError, UnsafeRestoreError
from routilux.serializable import RestoreContext, Serializable

if TYPE_CHECKING:
    from routilux.flow import Flow
    from routilux.job_state import JobState
    from routilux.routine import Routine

logger = logging.getLogger("routilux.error_handler")


class ErrorStrategy(enum.StrEnum):
    """How a flow reacts to an exception raised by a slot handler.

    Attributes:
        STOP: Fail the job and drop its queued work.
        CONTINUE: Record the error on the routine and let the job go on.
        RETRY: Re-run the failed task with exponential backoff.
        SKIP: Mark the routine skipped and let the job go on.
    """

    STOP = "stop"
    CONTINUE = "continue"
    RETRY = "retry"
    SKIP = "skip"


class ErrorAction(enum.StrEnum):
    """The decision an :class:`ErrorHandler` takes for one failed task."""

    FAIL_JOB = "fail_job"
    CONTINUE = "continue"
    SKIP = "skip"
    RETRY = "retry"


class ErrorHandler(Serializable):
    """A policy for failed tasks.

    ``RETRY`` counts attempts per task: the task that failed is run again up to
    ``max_retries`` more times, waiting ``retry_delay * retry_backoff ** n`` seconds
    before retry ``n`` (0-based). When the retries are exhausted, or the error is not
    one of ``retryable_exceptions``, the job fails as under ``STOP``: an error that
    retrying could not cure is never silently dropped.

    ``is_critical=True`` marks a routine whose failure must always fail the job: under
    ``CONTINUE`` and ``SKIP`` a critical routine's error still fails the job.

    Args:
        strategy: The strategy, as an :class:`ErrorStrategy` or its string value.
        max_retries: How many times ``RETRY`` re-runs a failed task.
        retry_delay: Seconds before the first retry.
        retry_backoff: Factor by which the delay grows after each retry.
        retryable_exceptions: Exception classes worth retrying; ``None`` means every
            ``Exception``.
        is_critical: Whether any failure of the routine fails the job.

    Raises:
        DefinitionError: If a numeric argument is negative or the strategy is unknown.
    """

    def __init__(
        self,
        strategy: ErrorStrategy | str = ErrorStrategy.STOP,
        max_retries: int = 3,
        retry_delay: float = 1.0,
        retry_backoff: float = 2.0,
        retryable_exceptions: tuple[type[BaseException], ...] | None = None,
        is_critical: bool = False,
    ) -> None:
        super().__init__()
        try:
            self.strategy = ErrorStrategy(strategy)
        except ValueError:
            allowed = ", ".join(repr(s.value) for s in ErrorStrategy)
            raise DefinitionError(
                f"Unknown error strategy {strategy!r}; use one of {allowed} "
                "(or an ErrorStrategy member)."
            ) from None
        if max_retries < 0 or retry_delay < 0 or retry_backoff < 0:
            raise DefinitionError(
                "max_retries, retry_delay and retry_backoff must not be negative; "
                f"got {max_retries}, {retry_delay} and {retry_backoff}."
            )
        self.max_retries = max_retries
        self.retry_delay = retry_delay
        self.retry_backoff = retry_backoff
        self.retryable_exceptions = tuple(retryable_exceptions or ())
        self.is_critical = is_critical
        # Only handle_error() (the 0.10 API) counts here; flows count retries per task.
        self.retry_count = 0
        self.add_serializable_fields(
            [
                "strategy",
                "max_retries",
                "retry_delay",
                "retry_backoff",
                "is_critical",
                "retry_count",
            ]
        )

    def __repr__(self) -> str:
        return (
            f"ErrorHandler(strategy={self.strategy.value!r}, max_retries={self.max_retries}, "
            f"retry_delay={self.retry_delay}, is_critical={self.is_critical})"
        )

    def is_retryable(self, error: BaseException) -> bool:
        """Tells whether ``error`` is worth retrying under this policy.

        Args:
            error: The exception a handler raised.

        Returns:
            True if ``retryable_exceptions`` is empty or ``error`` is one of them.
        """
        if not self.retryable_exceptions:
            return isinstance(error, Exception)
        return isinstance(error, self.retryable_exceptions)

    def delay_before_retry(self, retries_done: int) -> float:
        """Returns the seconds to wait before the next retry.

        Args:
            retries_done: How many retries of the task have already run.
        """
        return float(self.retry_delay * self.retry_backoff**retries_done)

    def decide(self, error: BaseException, retries_done: int) -> ErrorAction:
        """Decides what to do with a task whose handler raised ``error``.

        Args:
            error: The exception the handler raised.
            retries_done: How many retries of this very task have already run.

        Returns:
            The action the flow must take.
        """
        if self.strategy is ErrorStrategy.RETRY:
            if self.is_retryable(error) and retries_done < self.max_retries:
                return ErrorAction.RETRY
            return ErrorAction.FAIL_JOB
        if self.strategy is ErrorStrategy.STOP or self.is_critical:
            return ErrorAction.FAIL_JOB
        if self.strategy is ErrorStrategy.SKIP:
            return ErrorAction.SKIP
        return ErrorAction.CONTINUE

    def handle_error(
        self,
        error: Exception,
        routine: Routine,
        routine_id: str,
        flow: Flow,
        job_state: JobState | None = None,
        context: dict[str, Any] | None = None,
    ) -> bool:
        """Applies the strategy the 0.10 way, for code that calls it directly.

        Flows do not call this (they count retries per task); it keeps a
        handler-wide ``retry_count`` that only :meth:`reset` clears.

        Returns:
            True if execution may go on (CONTINUE, SKIP, a retry is due, or
            retries ran out on a non-critical routine), False to stop.
        """
        del routine, flow, context
        text = f"{type(error).__name__}: {error}"
        if self.strategy is ErrorStrategy.STOP:
            return False
        if self.strategy is ErrorStrategy.CONTINUE:
            if job_state is not None:
                job_state.record_execution(routine_id, "error_continued", {"error": text})
                job_state.update_routine_state(routine_id, {"status": "error_continued"})
            return True
        if self.strategy is ErrorStrategy.SKIP:
            if job_state is not None:
                job_state.update_routine_state(routine_id, {"status": "skipped", "error": text})
            return True
        if not self.is_retryable(error):
            return False
        if self.retry_count < self.max_retries:
            self.retry_count += 1
            time.sleep(self.delay_before_retry(self.retry_count - 1))
            return True
        return not self.is_critical

    def reset(self) -> None:
        """Sets :attr:`retry_count` back to zero."""
        self.retry_count = 0

    def serialize(self) -> dict[str, Any]:
        """Returns the policy (and ``retry_count``) as JSON-compatible data."""
        data = self.to_dict()
        data["_type"] = "ErrorHandler"
        data["retry_count"] = self.retry_count
        return data

    def deserialize(self, data: dict[str, Any], registry: Any = None) -> None:
        """Restores the policy; exception classes resolve only to already-loaded ones."""
        self._restore(data, RestoreContext.of(registry))

    def _restore(self, data: dict[str, Any], ctx: RestoreContext) -> None:
        del ctx
        other = ErrorHandler.from_dict(data)
        self.__dict__.update(
            {k: v for k, v in other.__dict__.items() if k != "fields_to_serialize"}
        )
        self.retry_count = int(data.get("retry_count", 0))

    def to_dict(self) -> dict[str, Any]:
        """Returns a JSON-compatible description of this handler."""
        return {
            "strategy": self.strategy.value,
            "max_retries": self.max_retries,
            "retry_delay": self.retry_delay,
            "retry_backoff": self.retry_backoff,
            "retryable_exceptions": [
                f"{e.__module__}:{e.__qualname__}" for e in self.retryable_exceptions
            ],
            "is_critical": self.is_critical,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ErrorHandler:
        """Rebuilds a handler from :meth:`to_dict` output.

        Args:
            data: The dictionary :meth:`to_dict` returned.

        Returns:
            An equivalent handler.
        """
        exceptions = tuple(_exception_class(p) for p in data.get("retryable_exceptions") or [])
        return cls(
            strategy=data.get("strategy", ErrorStrategy.STOP.value),
            max_retries=int(data.get("max_retries", 3)),
            retry_delay=float(data.get("retry_delay", 1.0)),
            retry_backoff=float(data.get("retry_backoff", 2.0)),
            retryable_exceptions=exceptions or None,
            is_critical=bool(data.get("is_critical", False)),
        )


def _exception_class(path: Any) -> type[BaseException]:
    """Finds an exception class by ``"module:QualName"`` among loaded modules only.

    Raises:
        UnsafeRestoreError: If the module is not loaded or the name is not an
            exception class (saved data never imports a module).
    """
    module_name, _, qualname = str(path).partition(":")
    found: Any = builtins if module_name == "builtins" else sys.modules.get(module_name)
    for part in qualname.split("."):
        found = getattr(found, part, None) if found is not None else None
    if isinstance(found, type) and issubclass(found, BaseException):
        return found
    raise UnsafeRestoreError(
        f"retryable_exceptions names {path!r}, which is not an exception class of a module "
        "loaded in this process; import that module before restoring the handler."
    )
