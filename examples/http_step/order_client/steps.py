"""Plain step functions around the two HTTP steps."""

from __future__ import annotations

from typing import Any

from ruvon.models import StepContext

from order_client.models import OrderState


def normalize(state: OrderState, context: StepContext) -> dict[str, Any]:
    """Clean the input before it is sent anywhere."""
    return {"sku": state.sku.strip().upper(), "customer_email": state.customer_email.lower()}


def summarize(state: OrderState, context: StepContext) -> dict[str, Any]:
    """Read the stored HTTP responses: ``{"status_code", "headers", "body"}``."""
    assert state.reservation is not None
    body = state.reservation["body"]
    return {
        "summary": f"order {state.order_id}: {body['quantity']} x {body['sku']} reserved "
        f"as {body['reservation_id']}"
    }
