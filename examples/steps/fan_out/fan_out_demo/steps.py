"""State models and step functions of the fan_out example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import StepContext


class PriceState(BaseModel):
    skus: list[str] = Field(default_factory=list)
    prices: list[Any] = Field(default_factory=list)


def price(state: PriceState, context: StepContext, sku: str = "") -> dict[str, Any]:
    if sku.startswith("X"):
        raise LookupError(f"no price for {sku}")
    return {"sku": sku, "price": len(sku) * 1.5}
