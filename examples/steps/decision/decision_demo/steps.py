"""State models and step functions of the decision example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class OrderState(BaseModel):
    amount: float
    lane: str | None = None


def express(state: OrderState, context: StepContext) -> dict[str, Any]:
    return {"lane": "express"}


def review(state: OrderState, context: StepContext) -> dict[str, Any]:
    return {"lane": "manual review"}


def standard(state: OrderState, context: StepContext) -> dict[str, Any]:
    return {"lane": "standard"}


def finish(state: OrderState, context: StepContext) -> dict[str, Any]:
    print(f"  routed {state.amount} to {state.lane}")
    return {}
