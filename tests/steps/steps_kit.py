"""State models and step functions for the step-type tests (importable as ``steps_kit``).

Functions record what happened in module-level lists (guarded by a lock, since PARALLEL tasks run
on threads); ``reset()`` clears them between tests.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import (
    StartSubWorkflowDirective,
    StepContext,
    WorkflowJumpDirective,
    WorkflowPauseDirective,
)

CALLS: list[str] = []
SPANS: list[tuple[int, float, float]] = []
COMPENSATIONS: list[str] = []
CONTEXTS: list[tuple[Any, int | None]] = []
KWARGS: list[dict[str, Any]] = []
COUNTS: dict[str, int] = {}
FAIL: dict[str, Any] = {}
HOOKS: dict[int, Any] = {}  # item -> callable(item), run by ``counted`` before it returns
_lock = threading.Lock()


def reset() -> None:
    with _lock:
        for store in (CALLS, SPANS, COMPENSATIONS, CONTEXTS, KWARGS):
            store.clear()
        COUNTS.clear()
        FAIL.clear()
        HOOKS.clear()


def _called(name: str) -> int:
    with _lock:
        CALLS.append(name)
        COUNTS[name] = COUNTS.get(name, 0) + 1
        return COUNTS[name]


class State(BaseModel):
    n: int = 0
    total: int = 0
    amount: float = 0.0
    route: str | None = None
    path: list[str] = Field(default_factory=list)
    items: list[Any] = Field(default_factory=list)
    seen: list[Any] = Field(default_factory=list)
    results: list[Any] = Field(default_factory=list)
    details: dict[str, Any] = Field(default_factory=dict)
    approved: bool | None = None
    reviewer: str | None = None
    note: str | None = None
    value: Any = None
    child: dict[str, Any] | None = None
    child_id: str | None = None


class Approval(BaseModel):
    approved: bool
    reviewer: str


# -- STANDARD / DECISION -----------------------------------------------------------------------
def visit(state: State, context: StepContext) -> dict[str, Any]:
    """Append the step's name to ``path``."""
    _called(context.step_name)
    return {"path": [*state.path, context.step_name]}


def increment(state: State, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    _called(context.step_name)
    return {"n": state.n + 1}


def jump_to_end(state: State, context: StepContext) -> dict[str, Any]:
    raise WorkflowJumpDirective("End", result={"path": [*state.path, "jumped"]})


def jump_nowhere(state: State, context: StepContext) -> dict[str, Any]:
    raise WorkflowJumpDirective("NoSuchStep")


def boom(state: State, context: StepContext) -> dict[str, Any]:
    _called(context.step_name)
    raise RuntimeError("boom")


def two_params(state: State) -> dict[str, Any]:
    return {}


# -- HUMAN_IN_LOOP -----------------------------------------------------------------------------
def apply_approval(
    state: State,
    context: StepContext,
    approved: bool = False,
    reviewer: str = "",
    **kwargs: Any,
) -> dict[str, Any]:
    _called(context.step_name)
    assert isinstance(context.validated_input, Approval)
    return {"approved": approved, "reviewer": reviewer}


def pause_unless_input(state: State, context: StepContext) -> dict[str, Any]:
    if context.validated_input is None:
        raise WorkflowPauseDirective(result={"note": "needs a note"})
    return {"note": str(context.validated_input["note"])}


# -- LOOP --------------------------------------------------------------------------------------
def add_item(state: State, context: StepContext, item: Any = None, **kwargs: Any) -> dict[str, Any]:
    """Add ``item`` (a loop kwarg named by item_var_name=item) to ``total``; record the context."""
    with _lock:
        CONTEXTS.append((context.loop_item, context.loop_index))
    _called(f"add:{item}")
    if FAIL.get("item") == item:
        raise ValueError(f"item {item} is bad")
    return {"total": state.total + item, "seen": [*state.seen, item]}


def add_order(
    state: State, context: StepContext, order: Any = None, index: int = 0
) -> dict[str, Any]:
    """Loop body naming its item ``order`` (item_var_name: order)."""
    return {"seen": [*state.seen, f"{index}:{order}"]}


def required_item(state: State, context: StepContext, item: Any) -> dict[str, Any]:
    """A body/task function whose item parameter has no default."""
    return {"seen": [*state.seen, item]}


# -- PARALLEL (dynamic fan-out) ----------------------------------------------------------------
def square(state: State, context: StepContext, item: int = 0, **kwargs: Any) -> dict[str, Any]:
    if item < 0:
        raise ValueError(f"negative item {item}")
    return {"value": item * item}


def timed(state: State, context: StepContext, item: int = 0) -> dict[str, Any]:
    start = time.monotonic()
    time.sleep(0.02)
    with _lock:
        SPANS.append((item, start, time.monotonic()))
    return {"value": item}


def detail(state: State, context: StepContext, item: int = 0) -> dict[str, Any]:
    return {"details": {f"k{item}": item, "last": item}, "n": item}


def noop_task(state: State, context: StepContext, item: Any = None) -> dict[str, Any] | None:
    return None


def state_plus_one(state: State, context: StepContext) -> dict[str, Any]:
    return {"n": state.n + 1}


def state_plus_ten(state: State, context: StepContext) -> dict[str, Any]:
    return {"total": state.total + 10}


# -- Saga --------------------------------------------------------------------------------------
def reserve(state: State, context: StepContext) -> dict[str, Any]:
    return {"path": [*state.path, "reserved"]}


def charge(state: State, context: StepContext) -> dict[str, Any]:
    return {"path": [*state.path, "charged"]}


def ship(state: State, context: StepContext) -> dict[str, Any]:
    raise RuntimeError("carrier down")


def undo_reserve(state: State, context: StepContext) -> dict[str, Any]:
    with _lock:
        COMPENSATIONS.append("undo_reserve")
    return {"note": "reservation released"}


def undo_charge(state: State, context: StepContext) -> dict[str, Any]:
    with _lock:
        COMPENSATIONS.append("undo_charge")
    if FAIL.get("undo_charge"):
        raise RuntimeError("refund API down")
    return {}


async def undo_charge_async(state: State, context: StepContext) -> dict[str, Any]:
    await asyncio.sleep(0)
    with _lock:
        COMPENSATIONS.append("undo_charge_async")
    return {}


# -- Sub-workflows -----------------------------------------------------------------------------
def double(state: State, context: StepContext) -> dict[str, Any]:
    return {"n": state.n * 2, "note": "child done"}


def child_fails(state: State, context: StepContext) -> dict[str, Any]:
    raise RuntimeError("child broke")


def start_child(state: State, context: StepContext) -> dict[str, Any]:
    raise StartSubWorkflowDirective("Child", {"n": state.n}, data_region="child")


# -- ASYNC -------------------------------------------------------------------------------------
async def fetch(state: State, context: StepContext) -> dict[str, Any]:
    await asyncio.sleep(0.01)
    _called("fetch")
    return {"value": f"fetched {state.n}"}


def fetch_sync(state: State, context: StepContext) -> dict[str, Any]:
    _called("fetch_sync")
    return {"value": "fetched in a thread"}


async def fetch_fails(state: State, context: StepContext) -> dict[str, Any]:
    await asyncio.sleep(0)
    raise ConnectionError("upstream gone")


# -- Retry -------------------------------------------------------------------------------------
def flaky(state: State, context: StepContext) -> dict[str, Any]:
    """Fail until the third call; record the attempt numbers seen."""
    count = _called("flaky")
    with _lock:
        KWARGS.append({"attempt": context.attempt})
    if count <= int(FAIL.get("flaky_failures", 2)):
        raise ConnectionError(f"flaky failure {count}")
    return {"n": count}


def mutate_then_fail(state: State, context: StepContext) -> dict[str, Any]:
    """Change ``state.items[0]["k"]`` in place (an ``Any`` value), then fail every attempt."""
    state.items[0]["k"] += 1
    raise ConnectionError(f"failure after changing the state in place (attempt {context.attempt})")


def counted(state: State, context: StepContext, item: int = 0) -> dict[str, Any] | None:
    """Count runs per item in COUNTS; run HOOKS[item]; fail items in FAIL["items"]; return None."""
    with _lock:
        COUNTS[f"item{item}"] = COUNTS.get(f"item{item}", 0) + 1
    hook = HOOKS.get(item)
    if hook is not None:
        hook(item)
    if item in FAIL.get("items", ()):
        raise ValueError(f"item {item} fails")
    return {"value": item} if FAIL.get("return_dicts") else None
