"""The execution provider interface: where step functions and PARALLEL tasks run."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel


@dataclass(slots=True, frozen=True)
class TaskCall:
    """One task of a PARALLEL step: its name, the dotted path of its function and the function.

    A dynamic fan-out task also has its ``item`` (and index): the function gets them as keyword
    arguments it accepts (``item_var_name`` and ``index``) and as ``context.loop_item``.
    """

    name: str
    function_path: str
    function: Callable[..., Any] | None = None
    kwargs: Mapping[str, Any] | None = None
    item: Any = None
    index: int | None = None


@dataclass(slots=True)
class ParallelBatch:
    """The tasks of one PARALLEL step, with the state they all start from.

    ``planned`` names every task of this batch as first planned (``tasks`` holds those still to
    run), ``run_key`` tells this run of the step from others (retry attempts, loop iterations), and
    ``resumed`` says an earlier process may have dispatched these tasks already: together they let an
    executor whose tasks outlive the caller (Celery) find and collect results instead of re-running.

    ``state`` is the live workflow state: executors must give each task its own copy
    (``state.model_copy(deep=True)`` in process, ``state_message()`` across processes).
    """

    workflow_id: str
    workflow_type: str
    step_name: str
    state_model_path: str
    state: BaseModel
    tasks: list[TaskCall]
    attempt: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)
    share_state: bool = False
    planned: list[str] = field(default_factory=list)
    run_key: str = ""
    resumed: bool = False
    _message: dict[str, Any] | None = None

    def task_state(self) -> BaseModel:
        """The state a task runs on: a private copy, or with ``share_state`` the batch's snapshot.

        A dynamic fan-out over N items shares one snapshot (taken for the step) among its tasks, so
        copying stays O(N) instead of O(N^2); such tasks must treat the state as read-only.
        """
        return self.state if self.share_state else private_state(self.state)

    def state_message(self) -> dict[str, Any]:
        """The state as JSON-compatible data (computed once per batch)."""
        if self._message is None:
            self._message = self.state.model_dump(mode="json")
        return self._message


@dataclass(slots=True)
class TaskOutcome:
    """What one task produced: a result dict, or an error message. Times are ``time.time()``."""

    task_name: str
    result: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the task returned a dict (``None`` counts as an empty dict)."""
        return self.error is None


_ATOMS = (str, int, float, bool, bytes, type(None), frozenset)


def private_state(state: BaseModel) -> BaseModel:
    """A copy of ``state`` that shares nothing mutable with it.

    A shallow copy is enough (and several times cheaper) when every field holds an immutable value.
    """
    if state.__pydantic_extra__ is None and all(type(v) in _ATOMS for v in state.__dict__.values()):
        return state.model_copy()
    return state.model_copy(deep=True)


class ExecutionProvider(ABC):
    """Runs sync step functions and the tasks of PARALLEL steps.

    Async step functions are awaited on the caller's event loop; sync ones go through ``run_step``.
    """

    async def initialize(self) -> None:  # noqa: B027 - optional hook
        """Start pools or connections."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop pools or connections; the provider is unusable afterwards."""

    @abstractmethod
    async def run_step(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run the sync callable ``func(*args)`` and return what it returns or raise what it raises."""

    @abstractmethod
    def run_parallel(
        self, batch: ParallelBatch, timeout: float | None
    ) -> AsyncIterator[list[TaskOutcome]]:
        """Run every task of ``batch``; yield outcomes as soon as tasks end.

        Each item is the list of outcomes that arrived together (at least one), so the caller can
        checkpoint a burst in one write.

        At ``timeout`` seconds, yield a ``TimeoutError`` outcome for every task still unfinished and
        stop; late results of those tasks are discarded. Every task yields exactly one outcome.
        """
