"""State models and step functions of the parameters example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class ShipState(BaseModel):
    weight: float
    carrier: str | None = None


def heavy(state: ShipState, context: StepContext) -> dict[str, Any]:
    return {"carrier": "freight"}


def light(state: ShipState, context: StepContext) -> dict[str, Any]:
    return {"carrier": "parcel"}


def finish(state: ShipState, context: StepContext) -> dict[str, Any]:
    return {}
