"""State model and step functions for the harness tests (importable as ``sdk_harness_kit``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import StepContext

REAL_CALLS: list[str] = []


class Order(BaseModel):
    order_id: str = "ORD-1"
    amount: float = 0.0
    validated: bool = False
    charged: bool = False
    shipped: bool = False
    approved: bool | None = None
    reviewer: str | None = None
    route: str | None = None
    refunded: bool = False
    quote: dict[str, Any] | None = None
    log: list[str] = Field(default_factory=list)


def validate(state: Order, context: StepContext) -> dict[str, Any]:
    REAL_CALLS.append(context.step_name)
    return {"validated": True}


def charge(state: Order, context: StepContext) -> dict[str, Any]:
    REAL_CALLS.append(context.step_name)
    return {"charged": True}


def ship(state: Order, context: StepContext) -> dict[str, Any]:
    REAL_CALLS.append(context.step_name)
    return {"shipped": True}


def refund(state: Order, context: StepContext) -> dict[str, Any]:
    REAL_CALLS.append("refund")
    return {"refunded": True}


def order_definition(**changes: Any) -> dict[str, Any]:
    """A three-step order workflow, as data."""
    definition: dict[str, Any] = {
        "workflow_type": "HarnessOrder",
        "initial_state_model": "sdk_harness_kit.Order",
        "saga_mode": True,
        "steps": [
            {
                "name": "Validate",
                "function": "sdk_harness_kit.validate",
                "automate_next": True,
            },
            {
                "name": "Charge",
                "function": "sdk_harness_kit.charge",
                "compensate_function": "sdk_harness_kit.refund",
                "automate_next": True,
            },
            {"name": "Ship", "function": "sdk_harness_kit.ship"},
        ],
    }
    definition.update(changes)
    return definition


def greet(state: Any, context: StepContext) -> dict[str, Any]:
    """A step over a dict state (``builtins.dict``): reads with ``get`` and ``[]``."""
    return {"greeting": f"Hello, {state.get('name', 'World')}!", "count": state["count"] + 1}


class Decision(BaseModel):
    approved: bool
    reviewer: str


def ask(state: Order, context: StepContext) -> dict[str, Any]:
    """Pause for a decision (the SDK's pattern); the result merges before the wait."""
    from ruvon.models import WorkflowPauseDirective

    raise WorkflowPauseDirective(result={"route": "asked"}, waiting_for="a manager's decision")


def record(
    state: Order, context: StepContext, approved: bool = False, reviewer: str = "", **_: Any
) -> dict[str, Any]:
    """Receive the input as keyword arguments and as context.validated_input."""
    REAL_CALLS.append(f"record:{type(context.validated_input).__name__}")
    return {"log": [*state.log, f"{approved}:{reviewer}"]}


def greet_on_arrival(state: Order, context: StepContext) -> dict[str, Any]:
    """A HUMAN_IN_LOOP function that does not pause: called on arrival, then with the input."""
    REAL_CALLS.append(f"arrival:{context.validated_input is not None}")
    return {"log": [*state.log, "seen"]}
