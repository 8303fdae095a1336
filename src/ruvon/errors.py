"""The one error tree of ruvon.

Every error raised by ruvon is a :class:`RuvonError`. Messages are full sentences that name the file, step,
task or key involved and say how to fix the problem.
"""

from __future__ import annotations

import sys
from typing import Any


class RuvonError(Exception):
    """Base class of every error raised by ruvon."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        # Installed when the first ruvon error occurs, not on import: an uncaught one in a plain
        # script then prints its sentence, not a traceback (ruvon.excepthook says more).
        if sys.excepthook is sys.__excepthook__:
            from ruvon.excepthook import install_short_errors

            install_short_errors()


class DefinitionError(RuvonError, ValueError):
    """A workflow definition (YAML, registry, state model or step function) is invalid."""


class StateModelError(DefinitionError):
    """The state model named by a definition cannot be imported or built."""


class FunctionLoadError(DefinitionError):
    """A step or task function cannot be imported or has the wrong signature."""


class WorkflowNotFound(RuvonError, KeyError):
    """No workflow type (or stored workflow id) of that name is known."""

    def __str__(self) -> str:
        # KeyError quotes its argument; we want the sentence as written.
        return str(self.args[0]) if self.args else ""


class StepFailed(RuvonError):
    """A step raised, returned something that is not a dict, or produced an invalid state."""

    def __init__(
        self, message: str, *, step_name: str | None = None, retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.step_name = step_name
        self.retryable = retryable
        self.log: list[Any] = []  # execution-log entries of the failed run (e.g. its tasks)


class ParallelStepFailed(StepFailed):
    """A PARALLEL step failed: a task failed without ``allow_partial_success`` or the merge failed."""

    def __init__(
        self,
        message: str,
        *,
        step_name: str | None = None,
        failures: dict[str, str] | None = None,
        retryable: bool = True,
    ) -> None:
        super().__init__(message, step_name=step_name, retryable=retryable)
        self.failures: dict[str, str] = dict(failures or {})


class MergeConflict(RuvonError):
    """Two tasks wrote different values to one key under ``merge_conflict_behavior: RAISE_ERROR``."""

    def __init__(self, key: str, first_task: str, second_task: str) -> None:
        super().__init__(
            f"Tasks '{first_task}' and '{second_task}' both returned the key '{key}' with different "
            f"values and merge_conflict_behavior is RAISE_ERROR. Return distinct keys from the two "
            f"tasks, or set merge_conflict_behavior to PREFER_NEW or PREFER_OLD."
        )
        self.key = key
        self.first_task = first_task
        self.second_task = second_task


class WorkflowStateError(RuvonError):
    """An operation is not allowed in the workflow's current status."""


class PersistenceError(RuvonError):
    """The persistence provider failed to save or load."""


class VersionConflict(PersistenceError):
    """Another writer saved the workflow since it was loaded; this write would lose their update."""


class DatabaseNotFound(PersistenceError):
    """A provider opened with ``create=False`` found no ruvon database (and created nothing)."""


class ExpressionError(RuvonError, ValueError):
    """An expression could not be parsed or evaluated, or used something that is not allowed."""


class TemplateError(RuvonError, ValueError):
    """A template could not be rendered."""


class ExecutorError(RuvonError):
    """The execution provider could not run a step or task."""


class ConfigurationError(RuvonError, ValueError):
    """A provider or builder was configured with invalid arguments."""


class StateValidationError(RuvonError, ValueError):
    """Data given for the workflow state (initial data or user input) does not fit its model."""


class SchemaVersionError(PersistenceError):
    """The database was created or migrated by a newer ruvon than this one; it is left untouched."""


class LeaseHeld(WorkflowStateError):
    """Another driver holds the workflow's lease; the message names the owner and the expiry.

    Attributes:
        workflow_id: The workflow.
        owner: The id of the driver that holds the lease.
        expires_at: When its lease ends unless renewed (``time.time()`` seconds).
    """

    def __init__(self, message: str, *, workflow_id: str, owner: str, expires_at: float) -> None:
        super().__init__(message)
        self.workflow_id = workflow_id
        self.owner = owner
        self.expires_at = expires_at


class LeaseLost(VersionConflict):
    """This driver could not renew its lease (another driver took the workflow over); it stopped
    without saving. A VersionConflict: another writer owns the workflow now."""


class WorkflowCancelled(VersionConflict):
    """The workflow was cancelled while this driver ran it; nothing more of this run is saved.
    A VersionConflict: the cancel is the newer write."""
