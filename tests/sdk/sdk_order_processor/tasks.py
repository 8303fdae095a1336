"""The tutorial's three parallel checks (1, 1.5 and 2 s), recording when each ran."""

from __future__ import annotations

import threading
import time
from typing import Any

from ruvon.models import StepContext
from sdk_order_processor.models import OrderState

SPANS: dict[str, tuple[float, float]] = {}
_lock = threading.Lock()


def _span(name: str, started: float) -> None:
    with _lock:
        SPANS[name] = (started, time.monotonic())


def check_inventory(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    started = time.monotonic()
    time.sleep(1)
    in_stock = not any(item.get("sku", "").startswith("OUT") for item in state.items)
    _span("check_inventory", started)
    return {"inventory_valid": in_stock, "inventory_status": "in_stock" if in_stock else "out"}


def verify_payment(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    started = time.monotonic()
    time.sleep(1.5)
    valid = state.total_amount < 10000
    _span("verify_payment", started)
    return {"payment_valid": valid, "payment_status": "approved" if valid else "requires_review"}


def fraud_check(state: OrderState, context: StepContext, **kwargs: Any) -> dict[str, Any]:
    started = time.monotonic()
    time.sleep(2)
    score = sum(map(ord, state.customer_id)) % 100 / 100.0  # the page uses hash(): not stable
    _span("fraud_check", started)
    return {"fraud_check_passed": score < 0.8, "fraud_score": score}
