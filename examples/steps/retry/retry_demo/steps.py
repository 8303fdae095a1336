"""State models and step functions of the retry example."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ruvon.models import StepContext


class CallState(BaseModel):
    response: str | None = None


ATTEMPTS: list[int] = []


def flaky_call(state: CallState, context: StepContext) -> dict[str, Any]:
    ATTEMPTS.append(context.attempt)
    print(f"  attempt {context.attempt}")
    if context.attempt < 3:
        raise ConnectionError("service unavailable")
    return {"response": "ok"}
