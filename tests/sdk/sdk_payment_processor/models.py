"""The "Saga Pattern" tutorial's state model."""

from __future__ import annotations

from pydantic import BaseModel


class PaymentState(BaseModel):
    order_id: str
    customer_id: str
    amount: float
    currency: str = "USD"
    order_created: bool = False
    order_reference: str | None = None
    payment_charged: bool = False
    transaction_id: str | None = None
    payment_method: str | None = None
    inventory_reserved: bool = False
    reservation_id: str | None = None
    shipment_created: bool = False
    tracking_number: str | None = None
    compensations_run: list[str] = []
    workflow_status: str = "pending"
