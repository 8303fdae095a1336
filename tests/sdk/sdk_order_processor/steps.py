"""The tutorial's sequential steps around the parallel validation."""

from __future__ import annotations

from typing import Any

from ruvon.models import StepContext
from sdk_order_processor.models import OrderState


def validate_order(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {"step": "validate_order"}


def check_validation_results(
    state: OrderState, context: StepContext, **kwargs: Any
) -> dict[str, Any]:
    all_valid = bool(state.inventory_valid and state.payment_valid and state.fraud_check_passed)
    state.validation_complete = True
    state.ready_to_ship = all_valid
    return {"validation_complete": True, "ready_to_ship": all_valid}


def calculate_shipping(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    if not state.ready_to_ship:
        return {}
    return {
        "shipping_cost": 5.00 + len(state.items) * 2.00,
        "estimated_delivery": "3-5 business days",
    }
