"""State models and step functions of the sub_workflow example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class OrderState(BaseModel):
    order_id: str
    check: dict[str, Any] | None = None
    audit_id: str | None = None


class CheckState(BaseModel):
    order_id: str = ""
    score: int = 0
    cleared_by: str | None = None


def score(state: CheckState, context: StepContext) -> dict[str, Any]:
    return {"score": 42}


def audit(state: CheckState, context: StepContext) -> dict[str, Any]:
    return {"score": 1}
