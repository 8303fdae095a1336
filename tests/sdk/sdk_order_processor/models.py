"""The "Parallel Execution" tutorial's state model; its ``Dict[str, any]`` page bug is fixed."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    customer_id: str
    items: list[dict[str, Any]]  # the page writes Dict[str, any] (the builtin), a page bug
    total_amount: float
    inventory_valid: bool | None = None
    payment_valid: bool | None = None
    fraud_check_passed: bool | None = None
    inventory_status: str | None = None
    payment_status: str | None = None
    fraud_score: float | None = None
    shipping_cost: float | None = None
    estimated_delivery: str | None = None
    validation_complete: bool = False
    ready_to_ship: bool = False
