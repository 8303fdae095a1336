"""State models and step functions of the loop example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from ruvon.models import StepContext


class InvoiceState(BaseModel):
    lines: list[float] = Field(default_factory=list)
    total: float = 0.0
    paid: float = 0.0
    instalments: int = 0


def add_line(
    state: InvoiceState, context: StepContext, line: float = 0.0, index: int = 0
) -> dict[str, Any]:
    print(f"  line {index}: {line} (context.loop_item={context.loop_item})")
    return {"total": state.total + line}


def pay_instalment(state: InvoiceState, context: StepContext) -> dict[str, Any]:
    return {"paid": state.paid + 40.0, "instalments": state.instalments + 1}
