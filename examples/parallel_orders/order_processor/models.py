from pydantic import BaseModel
from typing import Any, Optional, List, Dict


class OrderState(BaseModel):
    """State for order processing workflow"""

    # Order details
    order_id: str
    customer_id: str
    items: List[Dict[str, Any]]
    total_amount: float

    # Validation results (from parallel checks)
    inventory_valid: Optional[bool] = None
    payment_valid: Optional[bool] = None
    fraud_check_passed: Optional[bool] = None

    # Validation details
    inventory_status: Optional[str] = None
    payment_status: Optional[str] = None
    fraud_score: Optional[float] = None

    # Shipping
    shipping_cost: Optional[float] = None
    estimated_delivery: Optional[str] = None

    # Overall status
    validation_complete: bool = False
    ready_to_ship: bool = False
