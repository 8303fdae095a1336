"""The state of one order while it is checked and reserved over HTTP."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class OrderState(BaseModel):
    order_id: str
    sku: str
    quantity: int
    customer_email: str = ""
    inventory: dict[str, Any] | None = None
    reservation: dict[str, Any] | None = None
    summary: str = ""
