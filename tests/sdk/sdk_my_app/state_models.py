"""State models for the SDK how-to guides' ``my_app`` examples (the pages leave them implied)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    customer_id: str = "CUST-1"
    amount: float = 0.0
    items: list[Any] = []
    status: str | None = None
    payment_id: str | None = None
    shipping_id: str | None = None
    error_message: str | None = None
    approved: bool | None = None
    approved_by: str | None = None
    rejection_reason: str | None = None
    step_completed: bool = False
    # saga guide
    inventory_reserved: bool = False
    reservation_id: str | None = None
    transaction_id: str | None = None
    refund_id: str | None = None


class PipelineState(BaseModel):
    user_id: str
    input_data: str = "payload"
    service_response: dict[str, Any] | None = None
    api_response: dict[str, Any] | None = None
    outcome: str | None = None
