"""State models and step functions of the human_in_loop example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class ExpenseState(BaseModel):
    amount: float
    approved: bool | None = None
    approver: str | None = None
    paid: bool = False


class Approval(BaseModel):
    approved: bool
    approver: str


def record_decision(
    state: ExpenseState, context: StepContext, approved: bool = False, approver: str = ""
) -> dict[str, Any]:
    return {"approved": approved, "approver": approver}


def pay(state: ExpenseState, context: StepContext) -> dict[str, Any]:
    return {"paid": bool(state.approved)}
