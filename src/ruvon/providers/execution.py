"""The execution provider interface: where step functions and PARALLEL tasks run.

The engine hands an executor one :class:`ParallelBatch` per PARALLEL step: every task in declared
order, the names of those whose outcomes are already saved (to skip), the concurrency limit, the
deadline and the identity of this run of the step. The executor reports outcomes as they arrive;
how it runs, limits, resumes or collects the tasks is its own business.
"""

from __future__ import annotations

import inspect
import time
from abc import ABC, abstractmethod
from array import array
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import FunctionType
from typing import Any, ClassVar, Protocol, overload

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


class FanOutCalls(Sequence[TaskCall]):
    """The tasks of a dynamic fan-out, one per item, made on demand.

    ``calls[i]`` builds the TaskCall of item ``i`` (named ``<step>[i]``) when asked for, so a
    fan-out over 100,000 items holds only its items, not 100,000 TaskCalls: an executor iterating
    over it keeps alive only the calls it is running.
    """

    __slots__ = ("function", "function_path", "item_var_name", "items", "step_name")

    def __init__(
        self,
        step_name: str,
        function_path: str,
        function: Callable[..., Any] | None,
        items: Sequence[Any],
        item_var_name: str = "item",
    ) -> None:
        self.step_name = step_name
        self.function_path = function_path
        self.function = function
        self.items = items
        self.item_var_name = item_var_name

    def __len__(self) -> int:
        return len(self.items)

    @overload
    def __getitem__(self, index: int) -> TaskCall: ...

    @overload
    def __getitem__(self, index: slice) -> list[TaskCall]: ...

    def __getitem__(self, index: int | slice) -> TaskCall | list[TaskCall]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self.items)))]
        if index < 0:
            index += len(self.items)
        item = self.items[index]  # IndexError past the end, as a list
        return TaskCall(
            self.name(index),
            self.function_path,
            self.function,
            kwargs={self.item_var_name: item, "index": index},
            item=item,
            index=index,
        )

    def __iter__(self) -> Iterator[TaskCall]:
        for index in range(len(self.items)):
            yield self[index]

    def name(self, index: int) -> str:
        """The name of task ``index``: ``<step>[index]``."""
        return f"{self.step_name}[{index}]"

    def index_of(self, name: str) -> int | None:
        """The position of the task called ``name`` (``None``: no task of this fan-out)."""
        prefix = self.step_name
        if (
            not (name.startswith(prefix) and name.endswith("]"))
            or name[len(prefix) : len(prefix) + 1] != "["
        ):
            return None
        digits = name[len(prefix) + 1 : -1]
        # ASCII digits only (str.isdigit() also takes '²', which int() refuses), and no more
        # than an index can have: a stored name is data, and must not break a resume.
        if (
            not (digits.isascii() and digits.isdigit())
            or len(digits) > 18
            or (digits[0] == "0" and len(digits) > 1)
        ):
            return None
        index = int(digits)
        return index if index < len(self.items) else None


@dataclass(slots=True)
class ParallelBatch:
    """One run of one PARALLEL step, as the engine hands it to an executor.

    Run identity: ``workflow_id``, ``step_name``, ``attempt`` (retry attempt) and ``iteration``
    (the enclosing loop's index, if any) tell this run of the step from every other; ``resumed``
    says this process did not start it (the workflow was reloaded in this step, or outcomes were
    already saved), so an earlier process may have dispatched tasks that are still running or done.

    Work: ``tasks`` lists every task of the step in declared order, also those named in ``done``
    (already saved: never run them again), so an executor can plan the same way on every run. For
    a dynamic fan-out it is a :class:`FanOutCalls`, which makes each TaskCall when it is asked for:
    executors should take tasks from ``pending`` as they start them, not all up front.
    ``limit`` bounds the tasks running at once (``None``: the executor's own bound). ``deadline``
    is an absolute ``time.monotonic()`` (``None``: no deadline); ``timeout`` is the step's
    ``timeout_seconds``, for messages.

    ``state`` is the workflow state: executors must give each task its own copy (see
    :meth:`task_state`), or ``state_message()`` across processes.
    """

    workflow_id: str
    workflow_type: str
    step_name: str
    state_model_path: str
    state: BaseModel
    tasks: Sequence[TaskCall]
    attempt: int = 1
    iteration: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    share_state: bool = False
    done: frozenset[str] = frozenset()
    limit: int | None = None
    timeout: float | None = None
    deadline: float | None = None
    resumed: bool = False
    _message: dict[str, Any] | None = None
    _pending_at: array[int] | None = None
    _positions: dict[str, int] | None = None

    @property
    def pending(self) -> Sequence[TaskCall]:
        """The tasks still to run, in declared order (a lazy view when some are ``done``)."""
        if not self.done:
            return self.tasks
        return TaskView(self.tasks, self.pending_positions())

    def pending_positions(self) -> Sequence[int]:
        """The positions in ``tasks`` of the tasks still to run, in declared order."""
        if not self.done:
            return range(len(self.tasks))
        if self._pending_at is None:
            done, tasks = self.done, self.tasks
            if isinstance(tasks, FanOutCalls):
                at = (i for i in range(len(tasks)) if tasks.name(i) not in done)
            else:
                at = (i for i, call in enumerate(tasks) if call.name not in done)
            self._pending_at = array("q", at)
        return self._pending_at

    def position_of(self, outcome: TaskOutcome) -> int | None:
        """The position in ``tasks`` of the task ``outcome`` is of (``None``: not a task of it)."""
        index = outcome.index
        if index is not None and isinstance(self.tasks, FanOutCalls) and index < len(self.tasks):
            return index
        return self.position(outcome.task_name)

    def position(self, name: str) -> int | None:
        """The position in ``tasks`` of the task called ``name`` (``None``: not a task of it)."""
        tasks = self.tasks
        if isinstance(tasks, FanOutCalls):
            return tasks.index_of(name)
        if self._positions is None:
            self._positions = {call.name: i for i, call in enumerate(tasks)}
        return self._positions.get(name)

    @property
    def run_key(self) -> str:
        """``"<attempt>/<iteration>"``: tells runs of the same step of one workflow apart."""
        return f"{self.attempt}/{'' if self.iteration is None else self.iteration}"

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None`` without one; never negative)."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.monotonic(), 0.0)

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


class TaskView(Sequence[TaskCall]):
    """The tasks at the given positions of ``tasks``, made on demand (a fan-out's tasks exist
    only while they are used: see :class:`FanOutCalls`)."""

    __slots__ = ("_at", "_tasks")

    def __init__(self, tasks: Sequence[TaskCall], at: Sequence[int]) -> None:
        self._tasks = tasks
        self._at = at

    def __len__(self) -> int:
        return len(self._at)

    @overload
    def __getitem__(self, index: int) -> TaskCall: ...

    @overload
    def __getitem__(self, index: slice) -> list[TaskCall]: ...

    def __getitem__(self, index: int | slice) -> TaskCall | list[TaskCall]:
        if isinstance(index, slice):
            return [self._tasks[i] for i in self._at[index]]
        return self._tasks[self._at[index]]

    def __iter__(self) -> Iterator[TaskCall]:
        tasks = self._tasks
        for i in self._at:
            yield tasks[i]


@dataclass(slots=True)
class TaskOutcome:
    """What one task produced: a result dict (``None``: it returned nothing), or an error message.

    Times are ``time.time()``.
    """

    task_name: str
    result: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None
    started_at: float = 0.0
    ended_at: float = 0.0
    index: int | None = None  # a fan-out task's item index, when the executor knows it

    @property
    def ok(self) -> bool:
        """Whether the task succeeded (returned a dict or ``None``)."""
        return self.error is None


_ATOMS = (str, int, float, bool, bytes, type(None), frozenset)


def private_state(state: BaseModel) -> BaseModel:
    """A copy of ``state`` that shares nothing mutable with it.

    A shallow copy is enough (and several times cheaper) when every field holds an immutable value.
    """
    if state.__pydantic_extra__ is None and all(type(v) in _ATOMS for v in state.__dict__.values()):
        return state.model_copy()
    return state.model_copy(deep=True)


class Interrupted(KeyboardInterrupt):
    """The executor was interrupted (:meth:`ExecutionProvider.interrupt`): no step or task starts.

    Deliberately a ``KeyboardInterrupt`` and not a ``RuvonError``: like Ctrl-C itself it passes the
    engine's ``except Exception`` handlers, so the interrupted step is not recorded as failed; the
    workflow stays where it was saved, with every task outcome that arrived, ready to resume.
    """


class _Halting(Protocol):
    def halt(self) -> None: ...


class ExecutionProvider(ABC):
    """Runs sync step functions and the tasks of PARALLEL steps.

    Async step functions are awaited on the caller's event loop; sync ones go through
    :meth:`call_blocking`, which an executor overrides to move them off the event loop.
    """

    #: The name the CLI knows this executor by (``--executor``); recorded with each workflow it
    #: starts (``engine["executor"]``) so ``ruvon resume`` picks the same one. ``None``: not recorded.
    kind: ClassVar[str | None] = None
    _interrupted = False  # set on the instance by interrupt()

    @property
    def interrupted(self) -> bool:
        """Whether :meth:`interrupt` was called."""
        return self._interrupted

    def interrupt(self) -> None:
        """Stop dispatching (e.g. on Ctrl-C); call it on the event loop's thread.

        Tasks not started never start; running tasks finish and their outcomes are still yielded
        (so the engine saves them); then ``run_parallel`` raises :class:`Interrupted`, and so does
        every later ``run_step`` or ``run_parallel``.
        """
        self._interrupted = True
        for run in list(self.active_runs):
            run.halt()

    @property
    def active_runs(self) -> set[_Halting]:
        """The PARALLEL runs in progress, which :meth:`interrupt` halts."""
        runs: set[_Halting] | None = getattr(self, "_active_runs", None)
        if runs is None:
            runs = set()
            self._active_runs = runs
        return runs

    async def initialize(self) -> None:  # noqa: B027 - optional hook
        """Start pools or connections."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Stop pools or connections; the provider is unusable afterwards."""

    async def run_step(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` and return what it returns or raise what it raises.

        Coroutine functions are awaited here; others go through :meth:`call_blocking`, and an
        awaitable they return (a sync wrapper of async code) is awaited.
        """
        if self.interrupted:
            raise Interrupted("The executor was interrupted; no further step starts.")
        if not plain_sync(func) and inspect.iscoroutinefunction(func):
            return await func(*args)
        if type(self).call_blocking is _CALL_INLINE:  # not overridden: no coroutine to await
            value = func(*args)
        else:
            value = await self.call_blocking(func, *args)
        if type(value) is dict or value is None:  # the common results, without ABC checks
            return value
        if inspect.isawaitable(value):
            return await value
        return value

    async def call_blocking(self, func: Callable[..., Any], *args: Any) -> Any:
        """Call the sync ``func(*args)``; this default calls it inline, on the event loop."""
        return func(*args)

    @abstractmethod
    def run_parallel(self, batch: ParallelBatch) -> AsyncIterator[list[TaskOutcome]]:
        """Run every task of ``batch.pending``; yield outcomes as soon as tasks end.

        Each item is the list of outcomes that arrived together (at least one), so the caller can
        checkpoint a burst in one write. At most ``batch.limit`` tasks run at once.

        At ``batch.deadline``, yield a ``TimeoutError`` outcome for every task still unfinished and
        stop; late results of those tasks are discarded. Every pending task yields exactly one
        outcome. :func:`ruvon.implementations.execution.collect.collect` is the shared loop.
        """


_CALL_INLINE = ExecutionProvider.call_blocking


_BASE_RUN_STEP = ExecutionProvider.run_step
_INLINE: dict[type[ExecutionProvider], bool] = {}


def calls_inline(executor: ExecutionProvider) -> bool:
    """Whether ``executor`` runs sync step functions inline, through the base ``run_step`` and
    ``call_blocking`` (neither overridden), and was not interrupted: the engine may then call a
    plain function directly, a coroutine less per step. The class check is made once per class."""
    kind = type(executor)
    inline = _INLINE.get(kind)
    if inline is None:
        inline = _INLINE[kind] = (
            kind.run_step is _BASE_RUN_STEP and kind.call_blocking is _CALL_INLINE
        )
    return inline and not executor._interrupted


def plain_sync(func: Callable[..., Any]) -> bool:
    """Whether ``func`` is a plain ``def`` function (not ``async def``, not marked as a coroutine
    function): the common case, told apart without ``inspect``'s unwrapping."""
    return (
        type(func) is FunctionType
        and not func.__code__.co_flags & inspect.CO_COROUTINE
        and not hasattr(func, "_is_coroutine_marker")
    )
