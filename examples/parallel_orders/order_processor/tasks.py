"""
Parallel tasks for order validation
"""

import asyncio
from order_processor.models import OrderState
from ruvon.models import StepContext


def check_inventory(state: OrderState, context: StepContext, **kwargs) -> dict:
    """
    Check if all items are in stock
    """
    print(f"📦 Checking inventory for order {state.order_id}")

    # Simulate inventory lookup (1 second)
    import time
    time.sleep(1)

    # Check each item
    all_in_stock = True
    for item in state.items:
        sku = item.get('sku')
        quantity = item.get('quantity', 1)
        print(f"   {sku}: {quantity} units")

        # Simulate: items starting with 'OUT' are out of stock
        if sku.startswith('OUT'):
            all_in_stock = False

    status = "in_stock" if all_in_stock else "out_of_stock"
    print(f"   Status: {status}")

    return {
        "inventory_valid": all_in_stock,
        "inventory_status": status
    }


def verify_payment(state: OrderState, context: StepContext, **kwargs) -> dict:
    """
    Verify payment method is valid
    """
    print(f"💳 Verifying payment for order {state.order_id}")

    # Simulate payment verification (1.5 seconds)
    import time
    time.sleep(1.5)

    # Simulate: amounts over $10,000 require manual review
    valid = state.total_amount < 10000

    status = "approved" if valid else "requires_review"
    print(f"   Amount: ${state.total_amount:.2f}")
    print(f"   Status: {status}")

    return {
        "payment_valid": valid,
        "payment_status": status
    }


def fraud_check(state: OrderState, context: StepContext, **kwargs) -> dict:
    """
    Run fraud detection on order
    """
    print(f"🔍 Running fraud check for order {state.order_id}")

    # Simulate fraud detection (2 seconds)
    import time
    time.sleep(2)

    # Simulate fraud score calculation
    fraud_score = hash(state.customer_id) % 100 / 100.0  # 0.0 to 1.0

    passed = fraud_score < 0.8  # Threshold: 0.8

    print(f"   Customer: {state.customer_id}")
    print(f"   Fraud Score: {fraud_score:.2f}")
    print(f"   Status: {'PASS' if passed else 'FAIL'}")

    return {
        "fraud_check_passed": passed,
        "fraud_score": fraud_score
    }
