"""State models and step functions of the saga example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import StepContext


class TripState(BaseModel):
    booked: list[str] = Field(default_factory=list)


def book_flight(state: TripState, context: StepContext) -> dict[str, Any]:
    return {"booked": [*state.booked, "flight"]}


def book_hotel(state: TripState, context: StepContext) -> dict[str, Any]:
    return {"booked": [*state.booked, "hotel"]}


def book_car(state: TripState, context: StepContext) -> dict[str, Any]:
    raise RuntimeError("no cars left")


def cancel_flight(state: TripState, context: StepContext) -> dict[str, Any]:
    print("  compensating: cancel flight")
    return {"booked": [b for b in state.booked if b != "flight"]}


def cancel_hotel(state: TripState, context: StepContext) -> dict[str, Any]:
    print("  compensating: cancel hotel")
    return {"booked": [b for b in state.booked if b != "hotel"]}
