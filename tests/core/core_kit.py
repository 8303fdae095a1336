"""Step functions, task functions and a state model for the core tests (importable as core_kit)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ruvon.models import StepContext, WorkflowJumpDirective, WorkflowPauseDirective

SPANS: list[tuple[str, float, float]] = []
CALLS: list[str] = []
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        SPANS.clear()
        CALLS.clear()


class State(BaseModel):
    n: int = 0
    a: Any = None
    b: Any = None
    c: Any = None
    flag: bool = False
    details: dict[str, Any] = Field(default_factory=dict)
    items: list[Any] = Field(default_factory=list)


def _span(name: str, seconds: float) -> None:
    start = time.monotonic()
    time.sleep(seconds)
    with _lock:
        SPANS.append((name, start, time.monotonic()))
        CALLS.append(name)


def increment(state: State, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {"n": state.n + 1}


def set_flag(state: State, context: StepContext) -> dict[str, Any]:
    return {"flag": True, "not_a_field": 1}


def mutate_then_fail(state: State, context: StepContext) -> dict[str, Any]:
    state.n = 999
    raise RuntimeError("payment gateway unreachable")


def bad_type(state: State, context: StepContext) -> dict[str, Any]:
    return {"n": "not a number"}


def returns_list(state: State, context: StepContext) -> Any:
    return [1, 2]


def returns_engine_record(state: State, context: StepContext) -> Any:
    """Returns the engine's private Invocation record, which must not pass for a directive."""
    from ruvon.steps.base import Invocation

    return Invocation(value={"n": 99}, jump_to="First")


def no_params() -> dict[str, Any]:
    return {}


def jump_to_last(state: State, context: StepContext) -> dict[str, Any]:
    raise WorkflowJumpDirective("Last", result={"a": "jumped"})


def pause_for_input(state: State, context: StepContext) -> dict[str, Any]:
    if context.validated_input is None:
        raise WorkflowPauseDirective()
    return {"a": context.validated_input}


async def async_step(state: State, context: StepContext) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"b": "async"}


def task_a(state: State, context: StepContext) -> dict[str, Any]:
    _span(context.step_name, 0.2)
    return {"a": 1, "details": {"sku": "A"}}


def task_b(state: State, context: StepContext) -> dict[str, Any]:
    _span(context.step_name, 0.2)
    return {"b": 2, "details": {"amount": 100}}


def task_c(state: State, context: StepContext) -> dict[str, Any]:
    _span(context.step_name, 0.2)
    return {"c": 3}


def task_same_a(state: State, context: StepContext) -> dict[str, Any]:
    _span(context.step_name, 0.0)
    return {"a": context.step_name}


def task_fail(state: State, context: StepContext) -> dict[str, Any]:
    _span(context.step_name, 0.0)
    raise ValueError(f"{context.step_name} exploded")


def task_slow(state: State, context: StepContext) -> dict[str, Any]:
    _span(context.step_name, 1.5)
    return {"c": "late"}


def task_mutates(state: State, context: StepContext) -> dict[str, Any]:
    state.items.append(context.step_name)
    state.n = 42
    return {}


def task_returns_str(state: State, context: StepContext) -> Any:
    return "done"


def task_counts(state: State, context: StepContext) -> dict[str, Any]:
    with _lock:
        CALLS.append(context.step_name)
    return {context.step_name: True}


async def task_async(state: State, context: StepContext) -> dict[str, Any]:
    start = time.monotonic()
    await asyncio.sleep(0.2)
    with _lock:
        SPANS.append((context.step_name, start, time.monotonic()))
    return {"b": "async-task"}


def task_bad_n(state: State, context: StepContext) -> dict[str, Any]:
    return {"n": "not a number"}


def parallel_yaml(tasks: list[tuple[str, str]], **options: Any) -> str:
    """A workflow "P": one PARALLEL step "Fan" of ``(name, function_path)`` tasks with ``options``,
    then a STANDARD step "After" that increments n. Shared by the core and Celery suites."""
    lines = [
        'workflow_type: "P"',
        'initial_state_model: "core_kit.State"',
        "steps:",
        '  - name: "Fan"',
        '    type: "PARALLEL"',
        "    automate_next: true",
        "    tasks:",
    ]
    for name, func in tasks:
        lines += [f'      - name: "{name}"', f'        function_path: "{func}"']
    lines += [f"    {key}: {value}" for key, value in options.items()]
    lines += ['  - name: "After"', '    function: "core_kit.increment"']
    return "\n".join(lines) + "\n"


def echo_metadata(state: State, context: StepContext) -> dict[str, Any]:
    return {"details": dict(context.metadata)}


BROKEN = {"on": False}


def fails_while_broken(state: State, context: StepContext) -> dict[str, Any]:
    if BROKEN["on"]:
        raise RuntimeError("the service is broken")
    return {"n": state.n + 1}


SHARED_DUMP: dict[str, Any] = {}


class DumpsItself(State):
    """A state whose model_dump returns one dict it keeps (and may change later)."""

    def model_dump(self, **kwargs: Any) -> dict[str, Any]:
        SHARED_DUMP.clear()
        SHARED_DUMP.update(super().model_dump(**kwargs))
        return SHARED_DUMP


class StrictState(State):
    model_config = ConfigDict(extra="forbid")


class OpenState(State):
    model_config = ConfigDict(extra="allow")


def exits(state: State, context: StepContext) -> dict[str, Any]:
    import sys

    sys.exit(3)


def interrupted(state: State, context: StepContext) -> dict[str, Any]:
    raise KeyboardInterrupt
