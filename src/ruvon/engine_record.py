"""The engine's own bookkeeping of one workflow, kept apart from the user's ``metadata``.

It is saved in the store's ``engine`` column as plain JSON data (see :meth:`EngineRecord.to_dict`);
the keys are those schema migration 2 moved out of stored ``metadata``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True, frozen=True)
class Failure:
    """The error that failed a step: the step's name, the message and when (``time.time()``)."""

    step: str
    message: str
    at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The failure as JSON data."""
        return {"step": self.step, "message": self.message, "at": self.at}


@dataclass(slots=True, frozen=True)
class Compensation:
    """One saga compensation that ran: the compensated step, whether it worked and its error."""

    step: str
    ok: bool
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The compensation as JSON data."""
        return {"step": self.step, "ok": self.ok, "error": self.error}


@dataclass(slots=True, frozen=True)
class PendingChild:
    """A child workflow a SUB_WORKFLOW step waits for, and the parent field it fills."""

    child_id: str
    output_key: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The pending child as JSON data."""
        return {"child_id": self.child_id, "output_key": self.output_key}


@dataclass(slots=True, init=False)
class EngineRecord:
    """What the engine records about one workflow while it runs.

    Attributes:
        error: Why the workflow FAILED, or ``None``.
        task_failures: Failed PARALLEL tasks merged with ``allow_partial_success``:
            ``{step: {task: message}}``.
        retries: The errors of earlier failures that ``retry()`` cleared, oldest first.
        loop_progress: Iterations each running LOOP step has finished: ``{step: count}``.
        sub_workflows: Child workflows that SUB_WORKFLOW steps wait for, by step name.
        saga_completed: Steps with a ``compensate_function`` that completed, in order.
        compensations: The compensations that ran when a saga failed.
        wake_at: When a SLEEPING workflow is due, or when a WAIT_FOR_SIGNAL step times out
            (``time.time()`` seconds); ``None`` otherwise.
        signals_seen: The id of the last signal consumed, by signal name (signals are consumed
            once, in order: a later wait takes only newer ones).
        executor: The kind of executor the workflow was started with (``ExecutionProvider.kind``:
            ``sync``, ``thread``, ``celery``), so ``ruvon resume``/``retry`` pick the same one.
        saga_mode: Compensation was turned on with ``enable_saga_mode()`` (the YAML's
            ``saga_mode`` is in the definition).
        paused_by: The step that finished by pausing (``WorkflowPauseDirective``); the workflow
            waits for input for the step after it.
        cancel_reason: Why ``cancel(reason=...)`` cancelled the workflow.
        owner: Who the workflow belongs to (``create_workflow(owner_id=..., org_id=...,
            priority=..., data_region=...)``): the keys given, as plain data.
        trace: The workflow's trace context as W3C headers (``{"traceparent": ...}``), written by
            a tracing observer when the workflow is created, so every process that drives it
            later continues the same trace (see ``ruvon.observability.otel``).
    """

    error: Failure | None = None
    task_failures: dict[str, dict[str, str]] = field(default_factory=dict)
    retries: list[Failure] = field(default_factory=list)
    loop_progress: dict[str, int] = field(default_factory=dict)
    sub_workflows: dict[str, PendingChild] = field(default_factory=dict)
    saga_completed: list[str] = field(default_factory=list)
    compensations: list[Compensation] = field(default_factory=list)
    wake_at: float | None = None
    signals_seen: dict[str, int] = field(default_factory=dict)
    executor: str | None = None
    saga_mode: bool = False
    paused_by: str | None = None
    cancel_reason: str | None = None
    owner: dict[str, Any] = field(default_factory=dict)
    trace: dict[str, str] = field(default_factory=dict)

    def __init__(  # written out: dataclass's factory calls cost twice as much (every workflow)
        self,
        error: Failure | None = None,
        task_failures: dict[str, dict[str, str]] | None = None,
        retries: list[Failure] | None = None,
        loop_progress: dict[str, int] | None = None,
        sub_workflows: dict[str, PendingChild] | None = None,
        saga_completed: list[str] | None = None,
        compensations: list[Compensation] | None = None,
        wake_at: float | None = None,
        signals_seen: dict[str, int] | None = None,
        executor: str | None = None,
        saga_mode: bool = False,
        paused_by: str | None = None,
        cancel_reason: str | None = None,
        owner: dict[str, Any] | None = None,
        trace: dict[str, str] | None = None,
    ) -> None:
        self.error = error
        self.task_failures = {} if task_failures is None else task_failures
        self.retries = [] if retries is None else retries
        self.loop_progress = {} if loop_progress is None else loop_progress
        self.sub_workflows = {} if sub_workflows is None else sub_workflows
        self.saga_completed = [] if saga_completed is None else saga_completed
        self.compensations = [] if compensations is None else compensations
        self.wake_at = wake_at
        self.signals_seen = {} if signals_seen is None else signals_seen
        self.executor = executor
        self.saga_mode = saga_mode
        self.paused_by = paused_by
        self.cancel_reason = cancel_reason
        self.owner = {} if owner is None else owner
        self.trace = {} if trace is None else trace

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON data; empty fields are left out (a new workflow saves ``{}``)."""
        data: dict[str, Any] = {}
        if self.error is not None:
            data["error"] = self.error.to_dict()
        if self.task_failures:
            data["task_failures"] = {step: dict(t) for step, t in self.task_failures.items()}
        if self.retries:
            data["retries"] = [failure.to_dict() for failure in self.retries]
        if self.loop_progress:
            data["loop_progress"] = dict(self.loop_progress)
        if self.sub_workflows:
            data["sub_workflows"] = {s: c.to_dict() for s, c in self.sub_workflows.items()}
        if self.saga_completed:
            data["saga_completed"] = list(self.saga_completed)
        if self.compensations:
            data["compensations"] = [c.to_dict() for c in self.compensations]
        if self.wake_at is not None:
            data["wake_at"] = self.wake_at
        if self.signals_seen:
            data["signals_seen"] = dict(self.signals_seen)
        if self.executor is not None:
            data["executor"] = self.executor
        if self.saga_mode:
            data["saga_mode"] = True
        if self.paused_by is not None:
            data["paused_by"] = self.paused_by
        if self.cancel_reason is not None:
            data["cancel_reason"] = self.cancel_reason
        if self.owner:
            data["owner"] = dict(self.owner)
        if self.trace:
            data["trace"] = dict(self.trace)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> EngineRecord:
        """Read a stored record; entries of the wrong shape (hand-edited rows) are skipped."""
        if not data:
            return cls()
        return cls(
            error=_failure(data.get("error")),
            task_failures={
                str(step): {str(t): str(m) for t, m in tasks.items()}
                for step, tasks in _mapping(data.get("task_failures")).items()
                if isinstance(tasks, Mapping)
            },
            retries=[f for f in map(_failure, _list(data.get("retries"))) if f is not None],
            loop_progress={
                str(step): int(count)
                for step, count in _mapping(data.get("loop_progress")).items()
                if isinstance(count, int)
            },
            sub_workflows={
                str(step): PendingChild(str(child["child_id"]), child.get("output_key"))
                for step, child in _mapping(data.get("sub_workflows")).items()
                if isinstance(child, Mapping) and "child_id" in child
            },
            saga_completed=[str(name) for name in _list(data.get("saga_completed"))],
            compensations=[
                Compensation(str(c.get("step")), bool(c.get("ok")), c.get("error"))
                for c in _list(data.get("compensations"))
                if isinstance(c, Mapping)
            ],
            wake_at=float(wake) if isinstance(wake := data.get("wake_at"), int | float) else None,
            signals_seen={
                str(name): int(seen)
                for name, seen in _mapping(data.get("signals_seen")).items()
                if isinstance(seen, int)
            },
            executor=str(data["executor"]) if isinstance(data.get("executor"), str) else None,
            saga_mode=data.get("saga_mode") is True,
            paused_by=_text(data.get("paused_by")),
            cancel_reason=_text(data.get("cancel_reason")),
            owner=dict(_mapping(data.get("owner"))),
            trace={
                str(k): v
                for k, v in _mapping(data.get("trace")).items()
                if isinstance(v, str) and len(v) <= 512
            },
        )


def _failure(value: Any) -> Failure | None:
    if not isinstance(value, Mapping):
        return None
    at = value.get("at")
    return Failure(
        step=str(value.get("step") or ""),
        message=str(value.get("message") or ""),
        at=float(at) if isinstance(at, int | float) else 0.0,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []
