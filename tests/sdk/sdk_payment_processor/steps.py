"""The saga tutorial's forward steps and compensations.

The page makes ``create_shipment`` fail by un-commenting a ``raise``; here ``FAIL_SHIPMENT`` does.
"""

from __future__ import annotations

import uuid
from typing import Any

from ruvon.models import StepContext
from sdk_payment_processor.models import PaymentState

FAIL_SHIPMENT = False


def create_order(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    ref = f"ORD-{uuid.uuid4().hex[:8].upper()}"
    return {"order_created": True, "order_reference": ref, "workflow_status": "order_created"}


def cancel_order(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    state.compensations_run.append("cancel_order")
    return {"order_created": False, "workflow_status": "order_canceled"}


def charge_payment(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {
        "payment_charged": True,
        "transaction_id": f"TXN-{uuid.uuid4().hex[:12].upper()}",
        "payment_method": "card_****1234",
        "workflow_status": "payment_charged",
    }


def refund_payment(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    state.compensations_run.append("refund_payment")
    return {"payment_charged": False, "workflow_status": "payment_refunded"}


def reserve_inventory(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    return {
        "inventory_reserved": True,
        "reservation_id": f"RES-{uuid.uuid4().hex[:8].upper()}",
        "workflow_status": "inventory_reserved",
    }


def release_inventory(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    state.compensations_run.append("release_inventory")
    return {"inventory_reserved": False, "workflow_status": "inventory_released"}


def create_shipment(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    if FAIL_SHIPMENT:
        raise Exception("Carrier API unavailable")
    return {
        "shipment_created": True,
        "tracking_number": f"TRACK-{uuid.uuid4().hex[:10].upper()}",
        "workflow_status": "completed",
    }


def cancel_shipment(state: PaymentState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    state.compensations_run.append("cancel_shipment")
    return {"shipment_created": False, "workflow_status": "shipment_canceled"}
