"""State models and step functions of the async example."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class ReportState(BaseModel):
    rows: int = 0
    sent: bool = False


async def build_report(state: ReportState, context: StepContext) -> dict[str, Any]:
    await asyncio.sleep(0.05)  # a slow export
    return {"rows": 1234}


def send(state: ReportState, context: StepContext) -> dict[str, Any]:
    return {"sent": True}
