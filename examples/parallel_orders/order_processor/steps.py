"""
Sequential steps for order processing
"""

from order_processor.models import OrderState
from ruvon.models import StepContext


def validate_order(state: OrderState, context: StepContext, **kwargs) -> dict:
    """
    Initial order validation
    """
    print(f"\n📝 Validating order: {state.order_id}")
    print(f"   Customer: {state.customer_id}")
    print(f"   Items: {len(state.items)}")
    print(f"   Total: ${state.total_amount:.2f}\n")

    return {
        "step": "validate_order"
    }


def check_validation_results(state: OrderState, context: StepContext, **kwargs) -> dict:
    """
    Check if all parallel validations passed
    """
    print(f"\n✅ Checking validation results...")

    # Check results from parallel tasks
    inventory_ok = state.inventory_valid == True
    payment_ok = state.payment_valid == True
    fraud_ok = state.fraud_check_passed == True

    print(f"   Inventory: {'✓' if inventory_ok else '✗'} ({state.inventory_status})")
    print(f"   Payment: {'✓' if payment_ok else '✗'} ({state.payment_status})")
    print(f"   Fraud Check: {'✓' if fraud_ok else '✗'} (score: {state.fraud_score:.2f})")

    all_valid = inventory_ok and payment_ok and fraud_ok

    state.validation_complete = True
    state.ready_to_ship = all_valid

    print(f"\n   Overall: {'PASS' if all_valid else 'FAIL'}")

    return {
        "validation_complete": True,
        "ready_to_ship": all_valid
    }


def calculate_shipping(state: OrderState, context: StepContext, **kwargs) -> dict:
    """
    Calculate shipping cost
    """
    if not state.ready_to_ship:
        print("\n❌ Order not ready to ship - skipping shipping calculation")
        return {}

    print(f"\n📮 Calculating shipping for order {state.order_id}")

    # Simple shipping calculation
    shipping_cost = 5.00 + (len(state.items) * 2.00)

    print(f"   Items: {len(state.items)}")
    print(f"   Shipping Cost: ${shipping_cost:.2f}")
    print(f"   Estimated Delivery: 3-5 business days")

    return {
        "shipping_cost": shipping_cost,
        "estimated_delivery": "3-5 business days"
    }
