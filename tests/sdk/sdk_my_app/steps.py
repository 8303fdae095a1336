"""Step functions of the SDK how-to guides (create workflow, decisions, human input, saga)."""

from __future__ import annotations

from typing import Any

from ruvon.models import StepContext, WorkflowPauseDirective
from sdk_my_app import services
from sdk_my_app.state_models import OrderState, PipelineState


# -- create-workflow guide -------------------------------------------------------------------
def validate_order(state: OrderState, context: StepContext) -> dict[str, Any]:
    if state.amount <= 0:
        raise ValueError("Order amount must be positive")
    state.status = "requires_approval" if state.amount > 10000 else "validated"
    return {"status": state.status, "validated_at": context.execution_time, "step_completed": True}


def process_payment(state: OrderState, context: StepContext) -> dict[str, Any]:
    state.payment_id = f"PAY-{state.order_id}"
    return {"payment_id": state.payment_id, "payment_status": "completed"}


def ship_order(state: OrderState, context: StepContext) -> dict[str, Any]:
    state.shipping_id = f"SHIP-{state.order_id}"
    return {"shipping_id": state.shipping_id, "status": "shipped"}


# -- decision guide --------------------------------------------------------------------------
def check_order_amount(state: OrderState, context: StepContext) -> dict[str, Any]:
    return {"amount_checked": True}


def auto_process(state: OrderState, context: StepContext) -> dict[str, Any]:
    return {"status": "auto_processed"}


# -- human-in-the-loop guide -----------------------------------------------------------------
def await_manager_approval(state: OrderState, context: StepContext) -> dict[str, Any]:
    raise WorkflowPauseDirective(
        result={
            "order_id": state.order_id,
            "amount": state.amount,
            "customer_id": state.customer_id,
            "awaiting_approval": True,
        }
    )


def process_order(state: OrderState, context: StepContext, **user_input: Any) -> dict[str, Any]:
    if user_input.get("approved", False):
        state.status = "approved"
        state.approved_by = user_input.get("approved_by")
        return {"approval_processed": True}
    state.status = "rejected"
    state.rejection_reason = user_input.get("rejection_reason")
    raise Exception(f"Order rejected: {state.rejection_reason}")


# -- saga guide ------------------------------------------------------------------------------
def reserve_inventory(state: OrderState, context: StepContext) -> dict[str, Any]:
    reservation_id = services.inventory_service.reserve(state.items)
    state.inventory_reserved = True
    state.reservation_id = reservation_id
    return {"reservation_id": reservation_id}


def charge_payment(state: OrderState, context: StepContext) -> dict[str, Any]:
    transaction_id = services.payment_service.charge(state.customer_id, state.amount)
    state.transaction_id = transaction_id
    return {"transaction_id": transaction_id}


def ship(state: OrderState, context: StepContext) -> dict[str, Any]:
    shipping_id = services.shipping_service.ship(state.order_id, state.items)
    state.shipping_id = shipping_id
    return {"shipping_id": shipping_id}


def release_inventory(state: OrderState, context: StepContext) -> dict[str, Any]:
    if state.reservation_id:
        services.inventory_service.release(state.reservation_id)
        state.inventory_reserved = False
    return {"inventory_released": True}


def refund_payment(state: OrderState, context: StepContext) -> dict[str, Any]:
    if state.transaction_id:
        return {"refund_id": services.payment_service.refund(state.transaction_id)}
    return {"no_refund_needed": True}


def cancel_shipment(state: OrderState, context: StepContext) -> dict[str, Any]:
    if state.shipping_id:
        services.shipping_service.cancel(state.shipping_id)
        return {"shipment_cancelled": True}
    return {"no_shipment_to_cancel": True}


# -- HTTP guide ------------------------------------------------------------------------------
def check_api_response(state: PipelineState, context: StepContext) -> dict[str, Any]:
    return {"response_checked": True}


def process_success(state: PipelineState, context: StepContext) -> dict[str, Any]:
    return {"outcome": "success"}


def handle_error(state: PipelineState, context: StepContext) -> dict[str, Any]:
    return {"outcome": "error"}
